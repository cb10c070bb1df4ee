"""The production SSH host, gateway and app drivers against the simulated hosts over real SSH."""

import time

import paramiko
import pytest

from hil.capture.analyze import analyze
from hil.remote.gateway import Gateway, GatewayError
from hil.remote.phone import AppError, SimApp
from hil.remote.ssh import SshError, SshHost
from hil.sim import traffic
from hil.sim.app import AppBehaviour
from hil.sim.gateway import SimGateway
from hil.sim.phone import Air, SimPhone
from hil.sim.sshd import SimSshServer

PHONE = "10.20.0.31"


@pytest.fixture
def keys(tmp_path):
    client = paramiko.ECDSAKey.generate()
    client.write_private_key_file(str(tmp_path / "client_key"))
    return client, tmp_path / "client_key"


def serve(tmp_path, name, handler, client_key):
    host_key = paramiko.ECDSAKey.generate()
    srv = SimSshServer(name, host_key, "hil", client_key, handler).start()
    kh = paramiko.HostKeys()
    kh.add(f"[127.0.0.1]:{srv.port}", host_key.get_name(), host_key)
    kh_path = tmp_path / f"known_hosts_{name}"
    kh.save(str(kh_path))
    return srv, kh_path


@pytest.fixture
def gw(tmp_path, keys):
    client, key_path = keys
    sim = SimGateway(tmp_path / "fs", "wlan0")
    srv, kh = serve(tmp_path, "gateway", sim.handle, client)
    host = SshHost("127.0.0.1", srv.port, "hil", key_path, kh, role="gateway")
    yield sim, Gateway(host, "wlan0", "/var/tmp/hil"), srv
    host.close()
    srv.stop()
    sim.stop()


def test_clock_is_the_gateways(gw):
    _, gateway, _ = gw
    assert abs(gateway.now() - time.time()) < 1.0
    assert abs(gateway.clock_offset()) < 0.5


def test_capture_round_trip_is_checked_and_complete(gw, tmp_path):
    sim, gateway, _ = gw
    cap = gateway.start_capture(PHONE, "t1")
    frames = traffic.dns_lookup(time.time(), PHONE, "02:00:0a:14:00:1f", "203.0.113.53",
                                "02:00:00:00:00:01", "flysafe-api.dji.com", "198.51.100.7",
                                answered=True, sport=40001, txid=7)
    for ts, f in frames:
        sim.deliver(ts, f, PHONE, "203.0.113.53")
    sim.deliver(time.time(), frames[0][1], "10.20.0.99", "203.0.113.53")  # another phone
    dest = gateway.stop_capture(cap, tmp_path / "out" / "c.pcap")
    assert not sim.captures  # tcpdump is gone
    result = analyze(dest)
    assert result.packets == len(frames)
    assert [d.qname for d in result.dns][:1] == ["flysafe-api.dji.com"]
    assert "2 packets captured" in gateway.capture_stats(cap)


def test_capture_on_a_wrong_interface_fails_clearly(tmp_path, gw):
    sim, gateway, _ = gw
    gateway.lan_interface = "wlan9"
    with pytest.raises(GatewayError, match="tcpdump on wlan9 exited at start: .*No such device"):
        gateway.start_capture(PHONE, "t2", ready_timeout=1)


def test_cut_and_restore_one_phone_only(gw):
    sim, gateway, _ = gw
    gateway.restore_uplink(PHONE)  # idempotent on a fresh gateway
    gateway.cut_uplink(PHONE)
    gateway.cut_uplink("10.20.0.32")
    assert sim.is_cut(PHONE) and sim.is_cut("10.20.0.32")
    gateway.restore_uplink(PHONE)
    assert not sim.is_cut(PHONE) and sim.is_cut("10.20.0.32")
    gateway.restore_uplink(PHONE)
    assert gateway.cut_phones() == {"10.20.0.32"}


def test_reconnects_after_the_connection_drops(gw):
    _, gateway, srv = gw
    gateway.now()
    srv.drop_connections()
    time.sleep(0.1)
    assert gateway.now() > 0


def test_changed_host_key_is_refused_naming_known_hosts(tmp_path, keys):
    client, key_path = keys
    sim = SimGateway(tmp_path / "fs", "wlan0")
    srv, kh = serve(tmp_path, "gateway", sim.handle, client)
    other = paramiko.ECDSAKey.generate()
    bad = paramiko.HostKeys()
    bad.add(f"[127.0.0.1]:{srv.port}", other.get_name(), other)
    bad.save(str(tmp_path / "kh_bad"))
    try:
        host = SshHost("127.0.0.1", srv.port, "hil", key_path, tmp_path / "kh_bad")
        with pytest.raises(SshError, match=r"host key does not match .*kh_bad.*refusing"):
            host.run(["date", "+%s.%N"])
        (tmp_path / "kh_empty").write_text("")
        host = SshHost("127.0.0.1", srv.port, "hil", key_path, tmp_path / "kh_empty")
        with pytest.raises(SshError, match=r"host key not in .*kh_empty; refusing"):
            host.run(["date", "+%s.%N"])
        host = SshHost("127.0.0.1", srv.port, "hil", key_path, tmp_path / "missing")
        with pytest.raises(SshError, match=r"known_hosts file .*missing does not exist"):
            host.run(["date", "+%s.%N"])
    finally:
        srv.stop()


def test_values_with_shell_metacharacters_arrive_as_one_argument(tmp_path, keys):
    client, key_path = keys
    sim_gw = SimGateway(tmp_path / "fs", "wlan0")
    phone = SimPhone("p", PHONE, "android", AppBehaviour(0.01), sim_gw, Air(sim_gw),
                     lambda: False)
    srv, kh = serve(tmp_path, "phone", phone.handle, client)
    try:
        host = SshHost("127.0.0.1", srv.port, "hil", key_path, kh)
        res = host.run(["hil-app", "set", "diagnostics; reboot", "$(id) `id` 'x'"],
                       check=False)
        assert res.status == 2
        assert "cannot set 'diagnostics; reboot' to \"$(id) `id` 'x'\"" in res.stderr.decode()
        app = SimApp("p", host)
        with pytest.raises(AppError, match="unknown setting"):
            app.set("diagnostics && true", False)
        app.set("diagnostics", False)
        assert app.settings() == {"diagnostics": False, "local_data_mode": False}
        app.launch()
        assert app.running()
    finally:
        srv.stop()
