"""What real gateways do to the gateway driver, each fault on a fresh netns bench.

After each test the driver's own teardown has run and the test checks that no tcpdump,
nft table or capture state is left on the gateway; the `world` fixture then checks that
the namespaces and every process in them (sshd included) are gone.
"""

from __future__ import annotations

import base64
import time

import paramiko
import pytest
from netns_helpers import (  # noqa: F401 - the fixtures are used by name
    CAPTURE_DIR,
    SPARK_PHONE,
    app,
    gateway_fixture,
    gateway_leftovers,
    power_session,
    world_fixture,
)

from hil.capture.analyze import analyze
from hil.capture.catalog import Catalog
from hil.remote.gateway import GatewayError
from hil.remote.ssh import HostKeyRefused, SshError
from hil.sim.app import DIAGNOSTICS, NFZ


@pytest.fixture
def clean(world, gateway):
    """After the test: the driver's teardown (as fixtures/ does it), then nothing left."""
    yield
    gateway.restore_uplink(SPARK_PHONE.ip)
    assert gateway_leftovers(world) == []


def flows_named(pcap, name):
    return [f for f in analyze(pcap, Catalog.load()).flows if f.server_name == name]


def test_ssh_drop_mid_capture_reconnects_and_fetches_it_whole(world, gateway, clean, tmp_path):
    app(world, SPARK_PHONE).launch()
    cap = gateway.start_capture(SPARK_PHONE.ip, "ssh-drop")
    before = power_session(world, SPARK_PHONE)
    assert world.drop_ssh("gateway") >= 1  # the network drops the harness's connection
    after = power_session(world, SPARK_PHONE)
    assert world.processes("gateway").count("tcpdump") == 1  # the capture kept running
    pcap = gateway.stop_capture(cap, tmp_path / "c.pcap")  # reconnects, stops, fetches
    nfz = flows_named(pcap, NFZ)
    assert [f.first > after for f in nfz] == [False, True], "both sessions are in it"
    assert nfz[0].first > before and len(flows_named(pcap, DIAGNOSTICS)) == 2
    assert f"{analyze(pcap).packets} packets captured" in gateway.capture_stats(cap)


def test_a_fetch_cut_off_by_a_drop_resumes(world, gateway, clean, tmp_path, monkeypatch,
                                          caplog):
    cap = gateway.start_capture(SPARK_PHONE.ip, "fetch-drop")
    bulk = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for i in range(1500):\n    s.sendto(bytes(1400), ('198.51.100.9', 4433))\n")
    world.phone_ssh(SPARK_PHONE.name).run(["python3", "-c", bulk])
    time.sleep(0.2)
    reads = {"n": 0}
    real_read = paramiko.SFTPFile.read

    def read_then_drop(self, size=None):
        reads["n"] += 1
        if reads["n"] == 3:  # a third of a MB in: the connection goes
            world.drop_ssh("gateway")
            raise paramiko.SSHException("Server connection dropped: (simulated by the test)")
        return real_read(self, size)

    monkeypatch.setattr(paramiko.SFTPFile, "read", read_then_drop)
    monkeypatch.setattr("hil.remote.gateway._CHUNK", 128 * 1024)
    pcap = gateway.stop_capture(cap, tmp_path / "c.pcap")  # sha256-checked by the driver
    assert reads["n"] > 4
    assert any("resuming" in r.message for r in caplog.records)
    assert f"{analyze(pcap).packets} packets captured" in gateway.capture_stats(cap)
    assert not (tmp_path / "c.pcap.part").exists()


def test_sshd_restart_mid_capture(world, gateway, clean, tmp_path):
    app(world, SPARK_PHONE).launch()
    cap = gateway.start_capture(SPARK_PHONE.ip, "sshd-restart")
    power_session(world, SPARK_PHONE)
    key = world.restart_sshd("gateway", delay=1.0)  # sessions end; back in a second
    assert world.info["gateway"]["host_key"] == key  # same host, same key
    assert world.processes("gateway").count("tcpdump") == 1
    t0 = time.monotonic()
    pcap = gateway.stop_capture(cap, tmp_path / "c.pcap")  # retries until sshd is back
    assert time.monotonic() - t0 >= 0.8
    assert len(flows_named(pcap, NFZ)) == 1 and len(flows_named(pcap, DIAGNOSTICS)) == 1
    assert "tcpdump" not in world.processes("gateway")


def test_capture_file_deleted_on_the_gateway_is_a_clear_error(world, gateway, clean,
                                                              tmp_path):
    app(world, SPARK_PHONE).launch()
    cap = gateway.start_capture(SPARK_PHONE.ip, "deleted")
    power_session(world, SPARK_PHONE)
    world.exec("gateway", ["rm", cap.path])
    with pytest.raises(GatewayError, match=rf"capture {cap.path} is not on the gateway any "
                                           r"more \(deleted"):
        gateway.stop_capture(cap, tmp_path / "c.pcap")
    assert "tcpdump" not in world.processes("gateway")  # stopped all the same
    assert not list(tmp_path.iterdir())  # no empty or partial file passes for evidence


def test_changed_host_key_is_refused_naming_known_hosts_and_line(world, gateway, clean):
    assert gateway.now() > 0  # trusted and connected
    trusted = world.known_hosts.read_text()
    new_key = world.restart_sshd("gateway", rekey=True)  # reinstalled, or someone else
    kind, blob = new_key.split()
    new = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    with pytest.raises(HostKeyRefused) as refused:
        gateway.now()
    msg = str(refused.value)
    assert f"host key does not match {world.known_hosts} line 1 " in msg, msg
    assert new.fingerprint in msg and "refusing to connect" in msg
    with pytest.raises(HostKeyRefused, match=r"line 1 "):  # a fresh connection too
        world.gateway_ssh().run(["true"])
    assert world.known_hosts.read_text() == trusted  # nothing was accepted
    # the technician checks the new key by hand and updates that line: trusted again
    world.info["gateway"]["host_key"] = new_key
    world.write_known_hosts()
    assert gateway.now() > 0


def test_values_with_shell_metacharacters_reach_the_programs_literally(world, gateway, clean,
                                                                       tmp_path):
    """Through real sshds and real shells: each value arrives as one literal argument."""
    marks = [world.dir / f"pwned-{i}" for i in range(5)]
    evil = (f"diagnostics; touch {marks[0]} && true", f"$(touch {marks[1]}) `touch {marks[2]}`"
            f" 'q' \"d\" | > * ~ \\ \n# {{a,b}} ${{HOME}} !!")
    phone = world.phone_ssh(SPARK_PHONE.name)
    res = phone.run(["hil-app", "set", *evil], check=False)
    assert res.status == 2, res
    assert f"cannot set {evil[0]!r} to {evil[1]!r}" in res.stderr.decode()
    assert phone.run(["printf", "%s", evil[1]]).text == evil[1]
    app(world, SPARK_PHONE).set("diagnostics", False)  # the plain value still works

    # the shell's working folder on the gateway is the login's home, the world's folder
    name = f"evil; touch {marks[3].name} $(touch {marks[4].name}) 'q' * ~"
    cap = gateway.start_capture(SPARK_PHONE.ip, name)
    assert cap.path == f"{CAPTURE_DIR}/{name}.pcap"
    listing = world.exec("gateway", ["ls", "-1", CAPTURE_DIR])["stdout"].splitlines()
    assert f"{name}.pcap" in listing, listing
    gateway.stop_capture(cap, tmp_path / "c.pcap")
    assert not [m for m in marks if m.exists()]
    with pytest.raises(GatewayError, match="plain file name"):
        gateway.start_capture(SPARK_PHONE.ip, "../../etc/evil")
    with pytest.raises(GatewayError, match="not a phone's IPv4 address"):
        gateway.cut_uplink("10.20.0.31; nft flush ruleset")
    with pytest.raises(SshError):  # a value is never a second command
        gateway.ssh.run(["nft", "list tables; touch " + str(marks[0])])
    assert not marks[0].exists()
