"""Generated captures with known answers: every framing and file format, both engines.

One scene holds what the analyzer must get right: DNS over UDP and TCP (a CNAME chain,
an answer split over two segments), TLS with the ClientHello in one segment and in two
out of order, a flow named only by DNS, plain HTTP, IETF and Google QUIC, a client port
reused with a new SYN, a UDP conversation resumed after the idle timeout, a non-IP frame.
The expected flows and lookups are written down from how the scene is built (the
simulator's byte accounting, payload sizes), not from the analyzer.

The scene is then written as classic pcap (micro- and nanoseconds), as pcapng (either
byte order; three interfaces with their own link type and timestamp resolution, frames
spread over them), framed as Ethernet, 802.1Q, Linux SLL and SLL2, raw IP, and carried
over IPv6; each must give the same answers, with numpy's batch engine and without it,
with the reader's buffer small enough that records straddle many refills.
"""

from __future__ import annotations

import pytest
from capture_frames import (
    FRAMINGS,
    GW_MAC,
    PHONE,
    PHONE_MAC,
    RESOLVER,
    Tcp,
    dns_over_tcp,
    gquic_chlo,
    pcap,
    pcapng,
    quic_initial,
    to_ipv6,
    to_raw,
    to_sll,
    udp,
    v6,
)  # fmt: skip

from hil.capture import pcap as pcapmod
from hil.capture.analyze import DnsRecord, Flow, _run
from hil.sim import packets as pk
from hil.sim import traffic

T0 = 1_700_000_000.0
FLIGHT, NFZ, ACCT, HTTP = "203.0.113.10", "203.0.113.20", "203.0.113.30", "203.0.113.40"
FW, QUIC, REUSE, NTP, GQUIC = ("203.0.113.50", "198.51.100.60", "203.0.113.70",
                               "203.0.113.80", "198.51.100.90")  # fmt: skip


def scene(family: int = 4) -> tuple[list[tuple[float, bytes]], list[Flow], list[DnsRecord]]:
    """The frames (Ethernet IPv4), and the flows and lookups they must give."""
    ip = v6 if family == 6 else (lambda a: a)
    rtype = "AAAA" if family == 6 else "A"
    frames: list[tuple[float, bytes]] = []
    flows: list[Flow] = []
    lookups: list[DnsRecord] = []

    def flow(proto, sport, server, dport, conv_frames, counts, first=None, **names):
        pu, pd, bu, bd = counts
        first = conv_frames[0][0] if first is None else first
        last = max(t for t, _ in conv_frames)
        fields = dict(sni=None, dns_name=None, http_host=None, server_name=None,
                      name_source=None, category="unknown", quic=False)  # fmt: skip
        fields.update(names)
        flows.append(Flow(proto, ip(PHONE), sport, ip(server), dport,
                          pytest.approx(first, abs=2e-6), pytest.approx(last, abs=2e-6),
                          pu, pd, bu, bd, **fields))  # fmt: skip

    def lookup(t, name, answer, sport, txid, cname=None):
        got = traffic.dns_lookup(t, PHONE, PHONE_MAC, RESOLVER, GW_MAC, name, ip(answer), True,
                                 sport, txid, cname=cname)  # fmt: skip
        frames.extend(got)
        payloads = [len(f) - 42 for _, f in got]
        flow("udp", sport, RESOLVER, 53, got, (1, 1, payloads[0], payloads[1]), category="dns")
        answers = [(name, "CNAME", cname)] if cname else []
        answers.append((cname or name, rtype, ip(answer)))
        lookups.append(DnsRecord(pytest.approx(t, abs=2e-6), name, answers, ip(PHONE),
                                 ip(RESOLVER), 0))  # fmt: skip

    def tls(t, sport, server, sni, up, down):
        got = traffic.tls_session(t, PHONE, PHONE_MAC, sport, server, GW_MAC, sni, up, down, True)
        frames.extend(got)
        ups = sum(1 for _, f in got if f[6:12] == pk.mac_bytes(PHONE_MAC))
        counts = (ups, len(got) - ups, len(pk.tls_client_hello(sni)) + up,
                  traffic.server_flight_size(sport) + down)  # fmt: skip
        return got, counts

    lookup(T0, "mydjiflight.dji.com", FLIGHT, 53001, 1)
    got, counts = tls(T0 + 0.01, 41001, FLIGHT, "mydjiflight.dji.com", 50_000, 2_000)
    flow("tcp", 41001, FLIGHT, 443, got, counts, sni="mydjiflight.dji.com",
         dns_name="mydjiflight.dji.com", server_name="mydjiflight.dji.com", name_source="sni",
         category="flightlog")  # fmt: skip

    lookup(T0 + 1, "flysafe-api.dji.com", NFZ, 53002, 2, cname="flysafe.cdn.example.net")
    got, counts = tls(T0 + 1.01, 41002, NFZ, None, 700, 90_000)
    flow("tcp", 41002, NFZ, 443, got, counts, dns_name="flysafe-api.dji.com",
         server_name="flysafe-api.dji.com", name_source="dns", category="nfz")  # fmt: skip

    # A ClientHello in two segments, the second first; the name is cut in two.
    conn = Tcp(ACCT, 41003)
    t = conn.open(T0 + 2)
    hello = pk.tls_client_hello("account-api.dji.com", padding=1500)
    cut = hello.index(b"account-api") + 4
    base = conn.seq["c"]
    conn.send(t, "c", pk.ACK | pk.PSH, hello[cut:], seq=base + cut)
    conn.send(t + 0.001, "c", pk.ACK, hello[:cut], seq=base)
    conn.seq["c"] = base + len(hello)
    conn.send(t + 0.002, "s", pk.ACK, b"\x16\x03\x03" + bytes(600))
    conn.close(t + 0.003)
    frames.extend(conn.frames)
    flow("tcp", 41003, ACCT, 443, conn.frames, conn.count(), sni="account-api.dji.com",
         server_name="account-api.dji.com", name_source="sni", category="account")  # fmt: skip

    conn = Tcp(HTTP, 41004, 80)
    t = conn.open(T0 + 3)
    conn.send(t, "c", pk.ACK | pk.PSH,
              b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n")
    conn.send(t + 0.001, "s", pk.ACK | pk.PSH, b"HTTP/1.1 204 No Content\r\n\r\n")
    conn.close(t + 0.002)
    frames.extend(conn.frames)
    flow("tcp", 41004, HTTP, 80, conn.frames, conn.count(),
         http_host="connectivitycheck.gstatic.com", server_name="connectivitycheck.gstatic.com",
         name_source="http", category="os")  # fmt: skip

    got, conn = dns_over_tcp(T0 + 4, RESOLVER, 41005, "dl.djicdn.com", ip(FW), 5)
    frames.extend(got)
    flow("tcp", 41005, RESOLVER, 53, got, conn.count(), category="dns")
    lookups.append(DnsRecord(pytest.approx(got[3][0], abs=2e-6), "dl.djicdn.com",
                             [("dl.djicdn.com", rtype, ip(FW))], ip(PHONE), ip(RESOLVER), 0))
    got, counts = tls(T0 + 4.5, 41006, FW, None, 3000, 10_000)
    flow("tcp", 41006, FW, 443, got, counts, dns_name="dl.djicdn.com",
         server_name="dl.djicdn.com", name_source="dns", category="firmware")  # fmt: skip

    lookup(T0 + 5, "www.skypixel.com", QUIC, 53008, 8)
    got = [udp(T0 + 5.1, QUIC, 41008, 443, quic_initial()),
           udp(T0 + 5.12, QUIC, 41008, 443, b"\xc1\x00\x00\x00\x01" + bytes(300), up=False),
           udp(T0 + 5.13, QUIC, 41008, 443, b"\x41" + bytes(60))]  # fmt: skip
    frames.extend(got)
    flow("udp", 41008, QUIC, 443, got, (2, 1, len(quic_initial()) + 61, 305),
         dns_name="www.skypixel.com", server_name="www.skypixel.com", name_source="dns",
         category="media", quic=True)  # fmt: skip

    for n, (t, sni, isn, category) in enumerate([(T0 + 6, "active.dji.com", 5000, "activation"),
                                                 (T0 + 7, "account-api.dji.com", 777777,
                                                  "account")]):  # fmt: skip
        conn = Tcp(REUSE, 41010, isn=isn, server_isn=isn + n)
        t = conn.open(t)
        conn.send(t, "c", pk.ACK | pk.PSH, pk.tls_client_hello(sni))
        conn.send(t + 0.001, "s", pk.ACK, b"\x16\x03\x03" + bytes(100))
        conn.close(t + 0.002)
        frames.extend(conn.frames)
        flow("tcp", 41010, REUSE, 443, conn.frames, conn.count(), sni=sni, server_name=sni,
             name_source="sni", category=category)  # fmt: skip

    ntp = [udp(T0 + 8, NTP, 41011, 123, b"\x23" + bytes(47)),
           udp(T0 + 8.001, NTP, 41011, 123, b"\x24" + bytes(47), up=False)]  # fmt: skip
    frames.extend(ntp)
    flow("udp", 41011, NTP, 123, ntp, (1, 1, 48, 48))
    frames.append((T0 + 9, pk.ethernet("ff:ff:ff:ff:ff:ff", PHONE_MAC, 0x0806, bytes(28))))
    got = [udp(T0 + 9.5, GQUIC, 41012, 443, gquic_chlo())]
    frames.extend(got)
    flow("udp", 41012, GQUIC, 443, got, (1, 0, len(gquic_chlo()), 0), quic=True)
    later = [udp(T0 + 80, NTP, 41011, 123, b"\x23" + bytes(47))]  # 72 s idle: a new flow
    frames.extend(later)
    flow("udp", 41011, NTP, 123, later, (1, 0, 48, 0))
    flows.sort(key=lambda f: f.first.expected)
    return frames, flows, lookups


def analyze_both(data: bytes, monkeypatch, accelerate: bool, small_buffer: bool):
    if small_buffer:
        monkeypatch.setattr(pcapmod, "BUFFER_SIZE", 4096)
    return _run(data, None, accelerate)


ENGINES = [pytest.param(True, id="numpy"), pytest.param(False, id="per-packet")]
BUFFERS = [pytest.param(False, id="8MB"), pytest.param(True, id="4KB")]


def check(result, flows, lookups, packets):
    assert result.packets == packets
    assert result.ignored == 1  # the ARP frame
    assert result.flows == flows
    assert result.dns == lookups
    assert packets == result.ignored + sum(f.packets_up + f.packets_down for f in result.flows)


@pytest.mark.parametrize("small", BUFFERS)
@pytest.mark.parametrize("accelerate", ENGINES)
@pytest.mark.parametrize("framing", list(FRAMINGS))
def test_classic_pcap_every_framing(framing, accelerate, small, monkeypatch):
    frames, flows, lookups = scene()
    linktype, reframe = FRAMINGS[framing]
    data = pcap([(t, reframe(f)) for t, f in frames], linktype)
    check(analyze_both(data, monkeypatch, accelerate, small), flows, lookups, len(frames))


@pytest.mark.parametrize("accelerate", ENGINES)
def test_nanosecond_pcap(accelerate, monkeypatch):
    frames, flows, lookups = scene()
    data = pcap(frames, nanosecond=True)
    check(analyze_both(data, monkeypatch, accelerate, True), flows, lookups, len(frames))


@pytest.mark.parametrize("small", BUFFERS)
@pytest.mark.parametrize("accelerate", ENGINES)
def test_over_ipv6(accelerate, small, monkeypatch):
    frames, flows, lookups = scene(family=6)
    v6frames = [(t, to_ipv6(f) if f[12:14] == b"\x08\x00" else f) for t, f in frames]
    check(analyze_both(pcap(v6frames), monkeypatch, accelerate, small), flows, lookups,
          len(frames))  # fmt: skip


@pytest.mark.parametrize("small", BUFFERS)
@pytest.mark.parametrize("accelerate", ENGINES)
@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_one_interface(endian, accelerate, small, monkeypatch):
    frames, flows, lookups = scene()
    data = pcapng(frames, [(1, 9)], endian=endian)
    check(analyze_both(data, monkeypatch, accelerate, small), flows, lookups, len(frames))


@pytest.mark.parametrize("small", BUFFERS)
@pytest.mark.parametrize("accelerate", ENGINES)
def test_pcapng_three_interfaces_own_link_type_and_resolution(accelerate, small, monkeypatch):
    """Ethernet in microseconds, SLL in nanoseconds, raw IP in 2^-20 s, frame after frame."""
    frames, flows, lookups = scene()
    framings = [lambda f: f, to_sll, to_raw]
    data = pcapng(frames, [(1, 6), (113, 9), (101, 0x80 | 20)],
                  pick=lambda i, f: (i % 3, framings[i % 3](f)))  # fmt: skip
    check(analyze_both(data, monkeypatch, accelerate, small), flows, lookups, len(frames))
