"""The production SSH host, gateway and app drivers against the simulated hosts over real SSH."""

import time

import paramiko
import pytest

from hil.capture.analyze import analyze
from hil.capture.hosts import stations
from hil.remote.agent import AgentApp
from hil.remote.gateway import Gateway, GatewayError, dropped_packets, nft_script, nft_table
from hil.remote.phone import AppError
from hil.remote.ssh import SshError, SshHost, known_hosts_lines
from hil.sim import packets as pk
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
        with pytest.raises(SshError, match=r"host key does not match .*kh_bad line 1 .*"
                                           r"refusing"):
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
    aircraft_up = [False]
    phone = SimPhone("p", PHONE, "android", AppBehaviour(0.01), sim_gw, Air(sim_gw),
                     lambda: aircraft_up[0])
    srv, kh = serve(tmp_path, "phone", phone.handle, client)
    try:
        host = SshHost("127.0.0.1", srv.port, "hil", key_path, kh)
        res = host.run(["hil-app", "set", "diagnostics; reboot", "$(id) `id` 'x'"],
                       check=False)
        assert res.status == 2
        assert "cannot set 'diagnostics; reboot' to \"$(id) `id` 'x'\"" in res.stderr.decode()
        app = AgentApp("p", host)
        with pytest.raises(AppError, match="unknown setting"):
            app.set("diagnostics && true", False)
        app.set("diagnostics", False)
        assert app.settings() == {"diagnostics": False, "local_data_mode": False}
        app.launch()
        assert app.running()
        assert app.linked() is False  # the app runs, its aircraft is not up
        aircraft_up[0] = True
        assert app.linked() is True
        app.close()
        assert app.linked() is False  # a closed app shows nothing
    finally:
        srv.stop()


def test_the_agent_reports_the_app_version_over_ssh(tmp_path, keys):
    """App.version() through the production path: an agent backend from a bench file's
    phone table, SSH with a checked host key, the simulated phone's agent answering with
    its app model's version (whatever that is: never a made-up one)."""
    from hil.bench import PhoneConfig, SshTarget
    from hil.remote import backends
    from hil.sim.app import VERSION

    client, key_path = keys
    sim_gw = SimGateway(tmp_path / "fs", "wlan0")
    for version in (VERSION, "4.3.40-lab"):
        phone = SimPhone("p", PHONE, "android", AppBehaviour(0.01, version=version), sim_gw,
                         Air(sim_gw), lambda: False)
        srv, kh = serve(tmp_path, "phone", phone.handle, client)
        cfg = PhoneConfig("p", "agent", PHONE, "android",
                          SshTarget("127.0.0.1", srv.port, "hil", key_path, kh))
        app = backends.open_app(cfg)
        try:
            assert app.version() == version
        finally:
            app.disconnect()
            srv.stop()


def deliver_lookup(sim, phone=PHONE, name="flysafe-api.dji.com", sport=40001):
    frames = traffic.dns_lookup(time.time(), phone, "02:00:0a:14:00:1f", "203.0.113.53",
                                "02:00:00:00:00:01", name, "198.51.100.7", answered=True,
                                sport=sport, txid=7)
    for ts, f in frames:
        sim.deliver(ts, f, phone, "203.0.113.53")
    return frames


def _serve_subsystems(monkeypatch, sim):
    """Until the sim's SSH server serves its handler's `ssh_subsystems()` itself: register
    them on its transports, and keep its exec runner off the subsystem channels."""
    from hil.sim import sshd

    if "check_channel_subsystem_request" in vars(sshd._Iface):
        return  # it does

    class Transport(paramiko.Transport):
        def add_server_key(self, key):
            super().add_server_key(key)
            for name, (handler, *args) in sim.ssh_subsystems().items():
                self.set_subsystem_handler(name, handler, *args)

    def subsystem_request(iface, channel, name):
        ok = paramiko.ServerInterface.check_channel_subsystem_request(iface, channel, name)
        if ok:
            vars(iface).setdefault("sftp_ids", set()).add(channel.get_id())
            iface.ready[channel.get_id()].set()
        return ok

    run = sshd.SimSshServer._run

    def run_exec_only(server, iface, chan):
        ev = iface.ready.get(chan.get_id())
        if ev is not None and ev.wait(5.0) and chan.get_id() in vars(iface).get("sftp_ids", ()):
            return
        run(server, iface, chan)

    monkeypatch.setattr(paramiko, "Transport", Transport)  # the client imported its own
    monkeypatch.setattr(sshd._Iface, "check_channel_subsystem_request", subsystem_request,
                        raising=False)
    monkeypatch.setattr(sshd.SimSshServer, "_run", run_exec_only)


@pytest.fixture
def sftp_gw(tmp_path, keys, monkeypatch):
    """A simulated gateway whose SSH server also serves SFTP (the driver's fetch path)."""
    client, key_path = keys
    sim = SimGateway(tmp_path / "fs", "wlan0")
    _serve_subsystems(monkeypatch, sim)
    srv, kh = serve(tmp_path, "gateway", sim.handle, client)
    host = SshHost("127.0.0.1", srv.port, "hil", key_path, kh, role="gateway")
    yield sim, Gateway(host, "wlan0", "/var/tmp/hil"), srv
    host.close()
    srv.stop()
    sim.stop()


def test_capture_is_fetched_over_sftp(sftp_gw, tmp_path, caplog):
    sim, gateway, _ = sftp_gw
    cap = gateway.start_capture(PHONE, "sftp")
    frames = deliver_lookup(sim)
    dest = gateway.stop_capture(cap, tmp_path / "c.pcap")
    assert analyze(dest).packets == len(frames)
    assert gateway.ssh.sftp().stat(cap.path).st_size == dest.stat().st_size
    assert not [r for r in caplog.records if "tail -c" in r.getMessage()]


def test_without_sftp_the_fetch_reads_with_tail(tmp_path, keys, caplog):
    client, key_path = keys
    sim = SimGateway(tmp_path / "fs", "wlan0")
    # a plain function as handler: a server with exec only, no SFTP (dropbear without it)
    srv, kh = serve(tmp_path, "gateway", lambda line, stdin: sim.handle(line, stdin), client)
    try:
        gateway = Gateway(SshHost("127.0.0.1", srv.port, "hil", key_path, kh), "wlan0",
                          "/var/tmp/hil")
        cap = gateway.start_capture(PHONE, "tail")
        frames = deliver_lookup(sim)
        dest = gateway.stop_capture(cap, tmp_path / "c.pcap")
        assert analyze(dest).packets == len(frames)
        assert [r for r in caplog.records if "tail -c" in r.getMessage()]
    finally:
        srv.stop()
        sim.stop()


def test_capture_excludes_the_ssh_port_and_runs_as_the_login_user(gw, tmp_path):
    sim, gateway, _ = gw
    cap = gateway.start_capture(PHONE, "cmd")
    argv = sim.captures[cap.pid].argv
    assert argv[:6] == ["tcpdump", "-U", "--immediate-mode", "-B", "16384", "-n"]
    assert argv[6:8] == ["-Z", "hil"]
    assert argv[-13:] == ["-w", cap.path, "(", "host", PHONE, "or", "ip6", ")", "and", "not",
                          "tcp", "port", "22"]  # fmt: skip
    gateway.stop_capture(cap, tmp_path / "c.pcap")


def test_a_capture_without_the_phones_mac_keeps_the_lans_ipv6_to_show_the_phones(gw, tmp_path):
    """Without a MAC the phone is its IPv4 address; its IPv6 frames are kept all the same
    (with every IPv6 frame of the LAN), so that the MAC its IPv4 frames carry shows them."""
    sim, gateway, _ = gw
    cap = gateway.start_capture(PHONE, "nomac")
    phone_mac, gw_mac = "02:00:0a:14:00:1f", "02:00:00:00:00:01"
    kept = deliver_lookup(sim)  # the phone's IPv4
    deliver_lookup(sim, "10.20.0.99", sport=40002)  # another station's IPv4: not kept
    v6 = pk.udp_frame(phone_mac, gw_mac, "2001:db8:20::31", "2001:db8:ffff::5", 40003, 443,
                      b"diagnostics")  # fmt: skip
    sim.deliver(time.time(), v6, "2001:db8:20::31", "2001:db8:ffff::5")
    dest = gateway.stop_capture(cap, tmp_path / "c.pcap")
    assert analyze(dest).packets == len(kept) + 1
    assert stations(dest).ipv6_of(phone_mac) == ["2001:db8:20::31"]


def test_whole_lan_capture_keeps_every_device(gw, tmp_path):
    sim, gateway, _ = gw
    cap = gateway.start_capture(None, "lan")
    n = len(deliver_lookup(sim)) + len(deliver_lookup(sim, "10.20.0.99", sport=40002))
    dest = gateway.stop_capture(cap, tmp_path / "lan.pcap")
    assert analyze(dest).packets == n
    assert not sim.tables  # no phone, no table


def test_a_stale_capture_of_a_crashed_run_is_stopped_and_kept(gw, tmp_path, caplog):
    sim, gateway, srv = gw
    crashed = gateway.start_capture(PHONE, "crashed")
    gateway.ssh.close()
    nxt = Gateway(gateway.ssh, "wlan0", "/var/tmp/hil")  # the next run's driver
    cap = nxt.start_capture(PHONE, "next")
    assert list(sim.captures) == [cap.pid] and crashed.pid != cap.pid
    assert (sim.root / crashed.path.lstrip("/")).is_file()  # its evidence stays
    assert any(f"pid {crashed.pid}" in r.getMessage() for r in caplog.records)
    with pytest.raises(GatewayError, match="already running"):
        nxt.start_capture(PHONE, "twice")
    nxt.stop_capture(cap, tmp_path / "c.pcap")
    assert not sim.captures
    assert not (sim.root / "var/tmp/hil/hil-capture-10.20.0.31.pid").exists()


def test_lan_captures_of_two_stations_run_at_once_and_a_crashed_one_is_found(gw, tmp_path):
    sim, gateway, _ = gw
    other = Gateway(gateway.ssh, "wlan0", "/var/tmp/hil")  # another worker's driver
    a = gateway.start_capture(None, "lan-a", owner=PHONE)
    b = other.start_capture(None, "lan-b", owner="10.20.0.32")
    assert sorted(sim.captures) == sorted([a.pid, b.pid])  # neither stopped the other
    n = len(deliver_lookup(sim))
    assert analyze(other.stop_capture(b, tmp_path / "b.pcap")).packets == n
    # a run that crashed with `a` running: the next run's reconcile stops it
    nxt = Gateway(gateway.ssh, "wlan0", "/var/tmp/hil")
    done = nxt.reconcile([PHONE])
    assert not sim.captures and any(f"lan-{PHONE}" in d for d in done), done


def test_a_deleted_capture_is_a_clear_error(gw, tmp_path):
    sim, gateway, _ = gw
    cap = gateway.start_capture(PHONE, "gone")
    (sim.root / cap.path.lstrip("/")).unlink()
    with pytest.raises(GatewayError, match="capture /var/tmp/hil/gone.pcap is not on the "
                                           "gateway any more"):
        gateway.stop_capture(cap, tmp_path / "c.pcap")
    assert not sim.captures and not list(tmp_path.glob("c.pcap*"))


def test_a_capture_that_differs_from_the_gateways_checksum_is_refused(gw, tmp_path,
                                                                       monkeypatch):
    """The file changed between the gateway's sha256sum and the copy (or the copy was
    damaged): no capture is handed on, and the gateway's file is kept for another try."""
    sim, gateway, _ = gw
    cap = gateway.start_capture(PHONE, "changed")
    remote = sim.root / cap.path.lstrip("/")
    run = gateway.ssh.run

    def run_then_append(argv, **kw):
        res = run(argv, **kw)
        if argv[:1] == ["sha256sum"]:
            with open(remote, "ab") as f:
                f.write(b"bytes that arrived after the checksum")
        return res

    monkeypatch.setattr(gateway.ssh, "run", run_then_append)
    with pytest.raises(GatewayError, match=r"fetched /var/tmp/hil/changed.pcap has sha256 "
                                           r"[0-9a-f]{64}, the gateway says [0-9a-f]{64}; the "
                                           r"remote file is kept"):
        gateway.stop_capture(cap, tmp_path / "c.pcap")
    assert not (tmp_path / "c.pcap").exists() and remote.exists()


def test_each_phone_has_its_own_table_while_the_harness_works_with_it(gw, tmp_path):
    sim, gateway, _ = gw
    cap = gateway.start_capture(PHONE, "quic")
    assert sim.tables == {PHONE: set()}  # UDP 443 dropped, uplink not cut
    gateway.cut_uplink(PHONE)
    gateway.restore_uplink(PHONE)  # mid-capture: the table stays for QUIC
    assert sim.tables == {PHONE: set()}
    gateway.stop_capture(cap, tmp_path / "c.pcap")
    gateway.restore_uplink(PHONE)  # the teardown: the table goes
    assert sim.tables == {}


def test_dropped_packets_are_read_from_tcpdumps_report():
    assert dropped_packets("tcpdump: listening on wlan0\n601 packets captured\n614 packets "
                           "received by filter\n13 packets dropped by kernel\n") == 13
    assert dropped_packets("3 packets captured\n0 packets dropped by kernel\n") == 0
    assert dropped_packets("") == 0


def test_nft_script_by_mac_cuts_both_families_and_neighbours_parse():
    from hil.remote.gateway import neighbours
    mac = "02:1a:2b:3c:4d:5e"
    cut = nft_script("10.20.0.31", cut=True, mac=mac, ipv6=("2001:db8:20::31",))
    assert f"ether saddr {mac} udp dport 443 drop" in cut
    assert f'ether saddr {mac} meta nfproto ipv4 drop comment "hil: uplink cut (IPv4)"' in cut
    assert f'ether saddr {mac} meta nfproto ipv6 drop comment "hil: uplink cut (IPv6)"' in cut
    assert "ip6 daddr { 2001:db8:20::31 } drop" in cut and "ip daddr 10.20.0.31 drop" in cut
    assert "uplink cut" not in nft_script("10.20.0.31", cut=False, mac=mac)
    listing = (f"2001:db8:20::31 lladdr {mac} REACHABLE\n"
               f"fe80::1a lladdr {mac.upper()} STALE\n"
               "2001:db8:20::99 lladdr 02:00:00:00:00:09 REACHABLE\n"
               f"2001:db8:20::77 lladdr {mac} FAILED\n10.20.0.31 lladdr {mac} DELAY\n"
               "2001:db8:20::88 INCOMPLETE\n")
    assert neighbours(listing, mac) == {"2001:db8:20::31", "fe80::1a", "10.20.0.31"}


def test_nft_script_replaces_one_phones_table_atomically():
    assert nft_table("10.20.0.31") == "hil_10_20_0_31"
    cut = nft_script("10.20.0.31", cut=True)
    lines = cut.splitlines()
    assert lines[:2] == ["table inet hil_10_20_0_31", "delete table inet hil_10_20_0_31"]
    assert "type filter hook forward priority filter - 10; policy accept;" in cut
    assert 'ip saddr 10.20.0.31 udp dport 443 drop comment "' in cut
    assert 'ip saddr 10.20.0.31 drop comment "hil: uplink cut"' in cut
    assert 'ip daddr 10.20.0.31 drop comment "hil: uplink cut"' in cut
    assert "uplink cut" not in nft_script("10.20.0.31", cut=False)
    with pytest.raises(ValueError):
        nft_script("10.20.0.31; flush ruleset", cut=True)


def test_known_hosts_lines_finds_plain_and_hashed_entries(tmp_path):
    key = paramiko.ECDSAKey.generate()
    kh = paramiko.HostKeys()
    kh.add("[127.0.0.1]:2222", key.get_name(), key)
    kh.add(paramiko.HostKeys.hash_host("gw.lab"), key.get_name(), key)
    path = tmp_path / "known_hosts"
    kh.save(str(path))
    path.write_text("# the lab's gateways\n" + path.read_text())
    assert [n for n, _, _ in known_hosts_lines(path, "[127.0.0.1]:2222")] == [2]
    assert [n for n, _, _ in known_hosts_lines(path, "gw.lab")] == [3]
    assert known_hosts_lines(path, "other") == []
