"""The numpy batch engine and the per-packet engine give identical analyses.

numpy counts bulk TCP segments a batch at a time and leaves to the per-packet engine
whatever can change a flow (see hil.capture.vector). These tests draw random traffic
with everything that could trip that split: conversations overlapping in time, client
ports reused with a new SYN (even within one batch), retransmitted SYNs, ClientHellos
over several segments and several batches, flows first seen mid-connection, DNS over
TCP, VLAN-tagged and untagged frames mixed, IPv4 options, IP fragments, UDP, IPv6
sessions among IPv4 ones (with extension headers, fragmented TCP segments and SYNs); and
read them through buffers of many sizes, so that batch boundaries fall everywhere.
"""

from __future__ import annotations

import random
import struct

import pytest
from capture_frames import (
    GW_MAC,
    PHONE_MAC,
    RESOLVER,
    Tcp,
    dns_over_tcp,
    fragments,
    ipv6_fragments,
    pcap,
    pcapng,
    quic_initial,
    to_ipv6,
    to_sll,
    to_vlan,
    udp,
    with_ipv6_options,
)  # fmt: skip

from hil.capture import analyze as analyze_module
from hil.capture import pcap as pcapmod
from hil.capture.analyze import _run
from hil.sim import packets as pk
from hil.sim import traffic

pytestmark = pytest.mark.skipif(
    analyze_module._vector is None, reason="numpy is not installed: there is one engine only"
)

NAMES = ["mydjiflight.dji.com", "flysafe-api.dji.com", "upload.skypixel.com", "a.example"]


def with_ip_options(frame: bytes) -> bytes:
    """The frame with 4 bytes of IPv4 options (a no-op and end-of-list)."""
    ip = frame[14:]
    total = struct.unpack_from("!H", ip, 2)[0]
    head = bytes([0x46]) + ip[1:2] + struct.pack("!H", total + 4) + ip[4:20] + b"\x01\x00\x00\x00"
    return frame[:14] + head + ip[20:]


def random_traffic(seed: int, sessions: int = 60,
                   ipv6: float = 0.0) -> list[tuple[float, bytes]]:  # fmt: skip
    """Random sessions, a share ``ipv6`` of them over IPv6."""
    rng = random.Random(seed)
    frames: list[tuple[float, bytes]] = []
    t = 1_700_000_000.0
    for n in range(sessions):
        before = len(frames)
        t += rng.uniform(0.0, 0.02)  # sessions overlap
        server = f"203.0.113.{rng.randrange(1, 8)}"
        name = rng.choice(NAMES)
        kind = rng.random()
        if kind < 0.15:
            frames += traffic.dns_lookup(t, "10.20.0.34", PHONE_MAC, RESOLVER, GW_MAC, name,
                                         server, rng.random() < 0.9, 50000 + n, n)  # fmt: skip
        elif kind < 0.25:
            got, _ = dns_over_tcp(t, RESOLVER, 40000 + n, name, server, n,
                                  split=rng.choice([None, 3, 20]))  # fmt: skip
            frames += got
        elif kind < 0.32:
            frames += [udp(t, server, 41000 + n, 443, quic_initial()),
                       udp(t + 0.01, server, 41000 + n, 443, bytes(100), up=False)]  # fmt: skip
        elif kind < 0.4:  # a DNS answer in IP fragments
            big = traffic.dns_lookup(t, "10.20.0.34", PHONE_MAC, RESOLVER, GW_MAC, name,
                                     [f"198.51.100.{i}" for i in range(1, 60)], True, 52000 + n,
                                     n)  # fmt: skip
            if rng.random() < ipv6:
                big = [(ts, to_ipv6(f)) for ts, f in big]
                pieces = ipv6_fragments(big[1][1], 256)
            else:
                pieces = fragments(big[1][1], 256)
            rng.shuffle(pieces)
            frames += [big[0]] + [(big[1][0] + i * 1e-5, p) for i, p in enumerate(pieces)]
            continue
        else:  # TCP: a connection, perhaps reusing a port, perhaps seen from the middle
            port = rng.choice([42000, 42001, 42002, 42000 + n])
            conn = Tcp(server, port, isn=rng.randrange(2**32), server_isn=rng.randrange(2**32))
            s = conn.open(t) if rng.random() < 0.9 else t
            if rng.random() < 0.2:  # a retransmitted SYN
                conn.send(s, "c", pk.SYN, seq=(conn.seq["c"] - 1) % 2**32)
            hello = pk.tls_client_hello(name if rng.random() < 0.8 else None,
                                        padding=rng.choice([0, 0, 3000, 9000]))  # fmt: skip
            cuts = sorted(rng.sample(range(1, len(hello)), rng.choice([0, 1, 2])))
            base = conn.seq["c"]
            parts = list(zip([0, *cuts], [*cuts, len(hello)], strict=True))
            rng.shuffle(parts)
            for i, (a, b) in enumerate(parts):
                conn.send(s + i * 1e-4, "c", pk.ACK, hello[a:b], seq=(base + a) % 2**32)
            conn.seq["c"] = (base + len(hello)) % 2**32
            for i in range(rng.randrange(0, 40)):  # bulk both ways
                side = "c" if rng.random() < 0.5 else "s"
                conn.send(s + 0.001 + i * 1e-4, side, pk.ACK, bytes(rng.choice([0, 1448, 700])))
            if rng.random() < 0.7:
                conn.close(s + 0.01)
            frames += conn.frames
        if rng.random() < ipv6:
            frames[before:] = [(ts, to_ipv6(f)) for ts, f in frames[before:]]
    out = []
    for ts, frame in frames:
        ethertype = frame[12:14]
        roll = rng.random()
        if ethertype == b"\x08\x00" and frame[14] == 0x45 and roll < 0.05:
            frame = with_ip_options(frame)
        elif ethertype == b"\x86\xdd" and frame[20] in (6, 17) and roll < 0.05:
            frame = with_ipv6_options(frame, rng.choice([0, 60]))
        elif ethertype == b"\x86\xdd" and frame[20] == 6 and roll < 0.08:  # TCP in fragments
            pieces = ipv6_fragments(frame, rng.choice([8, 16, 512]))
            out += [(ts, to_vlan(p) if rng.random() < 0.3 else p) for p in pieces]
            continue
        if rng.random() < 0.3:
            frame = to_vlan(frame)
        out.append((ts, frame))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_engines_agree_on_random_traffic(seed, monkeypatch):
    frames = random_traffic(seed)
    data = pcap(frames)
    reference = _run(data, None, False)
    assert reference.packets == len(frames)
    flow_packets = sum(f.packets_up + f.packets_down for f in reference.flows)
    assert reference.packets == flow_packets + reference.ignored
    for size in (600, 3000, 20000, 1 << 23):
        monkeypatch.setattr(pcapmod, "BUFFER_SIZE", size)
        assert _run(data, None, True) == reference, f"buffer of {size} bytes"
        assert _run(data, None, False) == reference, f"buffer of {size} bytes"


@pytest.mark.parametrize("seed", range(6))
def test_engines_agree_on_ipv6_among_ipv4(seed, monkeypatch):
    frames = random_traffic(200 + seed, ipv6=0.4 if seed % 2 else 1.0)
    data = pcap(frames)
    reference = _run(data, None, False)
    assert reference.packets == len(frames)
    assert any(":" in f.src for f in reference.flows)
    flow_packets = sum(f.packets_up + f.packets_down for f in reference.flows)
    assert reference.packets == flow_packets + reference.ignored
    for size in (600, 3000, 20000, 1 << 23):
        monkeypatch.setattr(pcapmod, "BUFFER_SIZE", size)
        assert _run(data, None, True) == reference, f"buffer of {size} bytes"


def test_ipv6_bulk_segments_are_counted_in_batches(monkeypatch):
    conn = Tcp("203.0.113.9", 42000)
    s = conn.open(1_700_000_000.0)
    conn.send(s, "c", pk.ACK, pk.tls_client_hello("upload.skypixel.com", post_quantum=True))
    for i in range(400):
        conn.send(s + 0.001 + i * 1e-4, "c", pk.ACK, bytes(1448))
    conn.close(s + 0.1)
    data = pcap([(ts, to_ipv6(f)) for ts, f in conn.frames])
    reference = _run(data, None, False)
    seen = []
    engine = analyze_module._Analyzer.packet

    def counted(self, ts, linktype, buf, start, caplen):
        seen.append(ts)
        return engine(self, ts, linktype, buf, start, caplen)

    monkeypatch.setattr(analyze_module._Analyzer, "packet", counted)
    assert _run(data, None, True) == reference
    assert reference.flows[0].sni == "upload.skypixel.com"
    assert reference.flows[0].packets_up == 405  # SYN, ACK, hello, 400, FIN, ACK
    assert len(seen) < 10  # the handshake and the ClientHello; the bulk in one sum


@pytest.mark.parametrize("seed", range(3))
def test_engines_agree_on_pcapng_with_mixed_link_types(seed, monkeypatch):
    frames = random_traffic(100 + seed, ipv6=0.3)
    data = pcapng(frames, [(1, 6), (113, 9)],
                  pick=lambda i, f: (0, f) if i % 4 else (1, to_sll(f)))  # fmt: skip
    reference = _run(data, None, False)
    for size in (900, 1 << 23):
        monkeypatch.setattr(pcapmod, "BUFFER_SIZE", size)
        assert _run(data, None, True) == reference


def test_flows_differing_only_in_client_port_are_counted_in_batches(monkeypatch):
    """Fifty connections from one phone to one server and port, interleaved: their keys
    differ in the ports alone, which must still tell them apart in the batch's hash
    (else every batch falls back to one packet at a time)."""
    conns = [Tcp("203.0.113.9", 42000 + i) for i in range(50)]
    frames = []
    for i, conn in enumerate(conns):
        conn.open(1_700_000_000.0 + i * 1e-3)
    for k in range(60):
        for i, conn in enumerate(conns):
            conn.send(1_700_000_001.0 + k * 1e-2 + i * 1e-4, "c", pk.ACK, bytes(1448))
    for conn in conns:
        frames += conn.frames
    data = pcap(sorted(frames, key=lambda f: f[0]))
    reference = _run(data, None, False)
    seen = []
    engine = analyze_module._Analyzer.packet

    def counted(self, ts, linktype, buf, start, caplen):
        seen.append(ts)
        return engine(self, ts, linktype, buf, start, caplen)

    monkeypatch.setattr(analyze_module._Analyzer, "packet", counted)
    assert _run(data, None, True) == reference
    assert len(reference.flows) == 50 and {f.packets_up for f in reference.flows} == {62}
    assert len(seen) < 200  # the handshakes; the 3,000 bulk segments in sums
