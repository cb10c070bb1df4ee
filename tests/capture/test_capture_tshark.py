"""Wireshark's tshark reads the simulator's captures cleanly and sees what analyze() sees."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from capture_frames import Tcp, pcap, to_ipv6

from fixtures.tools import need_tool
from hil.capture.analyze import analyze
from hil.capture.pcap import PcapWriter
from hil.sim import packets as pk
from hil.sim import traffic

TSHARK = shutil.which("tshark") or "tshark"


@pytest.fixture(autouse=True)
def _tshark():
    need_tool("tshark")

PHONE, PHONE_MAC, GW_MAC, RESOLVER = (
    "10.20.0.34",
    "02:00:00:00:00:34",
    "02:00:00:00:00:01",
    "10.20.0.1",
)
T0 = 1_700_000_000.0


def run_tshark(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TSHARK, *args], capture_output=True, text=True, timeout=120, check=False)


def complaints(stderr: str) -> list[str]:
    """stderr lines other than the note tshark prints when run as root."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not line.startswith("Running as user")
    ]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    frames = []
    names = [
        ("mydjiflight.dji.com", "203.0.113.10", 60_000, 2_000),
        ("flysafe-api.dji.com", "203.0.113.20", 800, 40_000),
        ("statistical-report.djiservice.org", "203.0.113.30", 3_000, 500),
        ("upload.skypixel.com", "198.51.100.5", 400_000, 1_000),
    ]
    for i, (name, ip, up, down) in enumerate(names):
        t = T0 + i
        frames += traffic.dns_lookup(
            t, PHONE, PHONE_MAC, RESOLVER, GW_MAC, name, ip, True, 53000 + i, i + 1
        )
        frames += traffic.tls_session(
            t + 0.01, PHONE, PHONE_MAC, 41000 + i, ip, GW_MAC, name, up, down, True
        )
    frames += traffic.dns_lookup(
        T0 + 9, PHONE, PHONE_MAC, RESOLVER, GW_MAC, "active.dji.com", None, False, 53999, 99
    )
    frames += traffic.tls_session(
        T0 + 9.5, PHONE, PHONE_MAC, 41999, "203.0.113.99", GW_MAC, "active.dji.com", 0, 0, False
    )
    path = tmp_path_factory.mktemp("tshark") / "sim.pcap"
    with open(path, "wb") as fh:
        writer = PcapWriter(fh)
        for ts, frame in sorted(frames, key=lambda f: f[0]):
            writer.write(ts, frame)
        writer.flush()
    return path


def test_tshark_reads_the_capture_and_sees_the_same_names(capture):
    proc = run_tshark(
        "-r", str(capture), "-T", "fields",
        "-e", "tls.handshake.extensions_server_name", "-e", "dns.qry.name",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert complaints(proc.stderr) == []  # e.g. "appears to have been cut short"
    snis, qnames = set(), set()
    for line in proc.stdout.splitlines():
        sni, qname = line.split("\t")
        snis.update(filter(None, sni.split(",")))
        qnames.update(filter(None, qname.split(",")))
    result = analyze(capture)
    assert snis == {f.sni for f in result.flows if f.sni}
    assert qnames == {r.qname for r in result.dns}
    assert len(snis) == 4
    assert "active.dji.com" in qnames


def test_tshark_finds_every_checksum_good(capture):
    proc = run_tshark(
        "-r", str(capture),
        "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
        "-o", "udp.check_checksum:TRUE",
        "-T", "fields", "-e", "ip.checksum.status", "-e", "tcp.checksum.status",
        "-e", "udp.checksum.status",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    statuses = [line.split("\t") for line in proc.stdout.splitlines()]
    assert statuses
    for ip, tcp, udp in statuses:
        assert ip == "1"  # 1 = good
        assert (tcp or udp) == "1"


def test_tshark_dissects_client_hellos_and_finds_no_malformed_packets(capture):
    proc = run_tshark("-r", str(capture), "-Y", "_ws.malformed || _ws.expert.severity >= 6291456")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""  # no malformed packet, no expert warning or error
    hellos = run_tshark("-r", str(capture), "-Y", "tls.handshake.type == 1", "-T", "fields",
                        "-e", "tls.handshake.extensions.supported_version")  # fmt: skip
    assert hellos.stdout.splitlines() == ["0x0304,0x0303"] * 4


def test_post_quantum_client_hello_over_ipv6_in_two_segments(tmp_path):
    """The simulator's post-quantum ClientHello (the IPv6-heavy bench mix sends them) is one
    that Wireshark reads: its hybrid key share, and the server name hil reads too."""
    hello = pk.tls_client_hello("upload.skypixel.com", post_quantum=True)
    assert len(hello) > 1448  # it no longer fits one full-size segment
    conn = Tcp("203.0.113.7", 42000)
    t = conn.open(T0)
    conn.send(t, "c", pk.ACK, hello[:1448])
    conn.send(t + 0.001, "c", pk.ACK | pk.PSH, hello[1448:])
    path = tmp_path / "pq.pcap"
    path.write_bytes(pcap([(ts, to_ipv6(f)) for ts, f in conn.frames]))
    proc = run_tshark("-r", str(path), "-Y", "tls.handshake.type == 1", "-T", "fields",
                      "-e", "tls.handshake.extensions_server_name",
                      "-e", "tls.handshake.extensions_key_share_group")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sni, groups = proc.stdout.strip().split("\t")
    assert sni == "upload.skypixel.com"
    assert [int(g, 0) for g in groups.split(",")][:2] == [0x11EC, 0x001D]  # hybrid, x25519
    assert analyze(path).flows[0].sni == "upload.skypixel.com"
