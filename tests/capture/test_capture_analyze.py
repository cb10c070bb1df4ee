"""Round trip: simulated traffic -> PcapWriter -> analyze(): flows, bytes, names, categories."""

from __future__ import annotations

import dataclasses
import io
import json
import struct

import pytest
from capture_frames import Tcp, dns_over_tcp, fragments, ipv6_fragments, quic_initial, to_ipv6, udp

from hil.capture.analyze import Analysis, DnsRecord, Flow, analyze
from hil.capture.catalog import Catalog
from hil.capture.pcap import PcapWriter
from hil.capture.phases import flows_between, windows
from hil.sim import packets as pk
from hil.sim import traffic

PHONE, PHONE_MAC = "10.20.0.34", "02:00:00:00:00:34"
OTHER, OTHER_MAC = "10.20.0.35", "02:00:00:00:00:35"
GW_MAC, RESOLVER = "02:00:00:00:00:01", "10.20.0.1"
T0 = 1_700_000_000.0


def pcap(frames, nanosecond=False) -> bytes:
    buf = io.BytesIO()
    writer = PcapWriter(buf, nanosecond=nanosecond)
    for ts, frame in sorted(frames, key=lambda f: f[0]):
        writer.write(ts, frame)
    return buf.getvalue()


def lookup(t, qname, answer, answered=True, sport=53000, txid=1, client=PHONE, mac=PHONE_MAC, **kw):
    return traffic.dns_lookup(
        t, client, mac, RESOLVER, GW_MAC, qname, answer, answered, sport, txid, **kw
    )


def https(t, sport, server, sni, up, down, reachable=True, client=PHONE, mac=PHONE_MAC):
    return traffic.tls_session(t, client, mac, sport, server, GW_MAC, sni, up, down, reachable)


def counts(frames, mac=PHONE_MAC):
    """(first, last, packets_up, packets_down) of a conversation's frames; times to the
    microsecond a classic pcap keeps."""
    ups = sum(1 for _, f in frames if f[6:12] == pk.mac_bytes(mac))
    first, last = (pytest.approx(frames[i][0], abs=1e-6) for i in (0, -1))
    return first, last, ups, len(frames) - ups


def expected_tls(frames, sport, server, sni, up, down, dns_name=None, category="unknown"):
    first, last, pu, pd = counts(frames)
    reachable = pd > 0
    server_name = sni or dns_name
    return Flow(
        proto="tcp", src=PHONE, sport=sport, dst=server, dport=443, first=first, last=last,
        packets_up=pu, packets_down=pd,
        bytes_up=len(pk.tls_client_hello(sni)) + up if reachable else 0,
        bytes_down=traffic.server_flight_size(sport) + down if reachable else 0,
        sni=sni if reachable else None, dns_name=dns_name, http_host=None,
        server_name=server_name if reachable or dns_name else None,
        name_source="sni" if sni and reachable else ("dns" if dns_name else None),
        category=category,
    )  # fmt: skip


def expected_dns(frames, sport, qname, answers, rcode=0):
    first, last, pu, pd = counts(frames)
    flow = Flow(
        proto="udp", src=PHONE, sport=sport, dst=RESOLVER, dport=53, first=first, last=last,
        packets_up=pu, packets_down=pd,
        bytes_up=len(frames[0][1]) - 42, bytes_down=sum(len(f) - 42 for _, f in frames[1:]),
        sni=None, dns_name=None, http_host=None, server_name=None, name_source=None,
        category="dns",
    )  # fmt: skip
    record = DnsRecord(first, qname, answers, PHONE, RESOLVER, rcode if pd else None)
    return flow, record


def test_a_power_on_session_round_trips_exactly():
    photo = 250_000
    d1 = lookup(T0, "mydjiflight.dji.com", "203.0.113.10", sport=53001, txid=1)
    s1 = https(T0 + 0.01, 41001, "203.0.113.10", "mydjiflight.dji.com", 50_000, 2_000)
    d2 = lookup(T0 + 1, "flysafe-api.dji.com", "203.0.113.20", sport=53002, txid=2,
                cname="flysafe.cdn.example.net")  # fmt: skip
    s2 = https(T0 + 1.01, 41002, "203.0.113.20", None, 700, 90_000)  # no SNI: DNS names it
    d3 = lookup(T0 + 2, "statistical-report.djiservice.org", "203.0.113.30", answered=False,
                sport=53003, txid=3)  # fmt: skip
    s3 = https(T0 + 2.5, 41003, "203.0.113.30", "statistical-report.djiservice.org", 500, 0,
               reachable=False)  # fmt: skip
    s4 = https(T0 + 3, 41004, "198.51.100.5", "upload.skypixel.com", photo, 300)
    s5 = https(T0 + 4, 41005, "198.51.100.99", "telemetry.example.net", 1_000, 1_000)
    d6 = lookup(T0 + 5, "nx.example.org", None, sport=53006, txid=6)
    frames = d1 + s1 + d2 + s2 + d3 + s3 + s4 + s5 + d6

    result = analyze(pcap(frames))

    f1, r1 = expected_dns(d1, 53001, "mydjiflight.dji.com",
                          [("mydjiflight.dji.com", "A", "203.0.113.10")])  # fmt: skip
    f2, r2 = expected_dns(d2, 53002, "flysafe-api.dji.com", [
        ("flysafe-api.dji.com", "CNAME", "flysafe.cdn.example.net"),
        ("flysafe.cdn.example.net", "A", "203.0.113.20"),
    ])  # fmt: skip
    f3, r3 = expected_dns(d3, 53003, "statistical-report.djiservice.org", [])
    f6, r6 = expected_dns(d6, 53006, "nx.example.org", [], rcode=3)
    assert result.packets == len(frames)
    assert result.ignored == 0
    assert result.dns == [r1, r2, r3, r6]
    assert result.flows == [
        f1,
        expected_tls(s1, 41001, "203.0.113.10", "mydjiflight.dji.com", 50_000, 2_000,
                     dns_name="mydjiflight.dji.com", category="flightlog"),
        f2,
        expected_tls(s2, 41002, "203.0.113.20", None, 700, 90_000,
                     dns_name="flysafe-api.dji.com", category="nfz"),
        f3,
        expected_tls(s3, 41003, "203.0.113.30", None, 0, 0),
        expected_tls(s4, 41004, "198.51.100.5", "upload.skypixel.com", photo, 300,
                     category="media"),
        expected_tls(s5, 41005, "198.51.100.99", "telemetry.example.net", 1_000, 1_000),
        f6,
    ]  # fmt: skip
    media = result.flows[6]
    assert media.bytes_up >= photo  # a positive control can reason on volume
    unreachable = result.flows[5]
    assert (unreachable.packets_up, unreachable.packets_down) == (4, 0)


def test_client_hello_split_over_three_segments_in_a_capture():
    sni = "account-api.dji.com"
    hello = pk.tls_client_hello(sni, padding=2500)
    cut1 = hello.index(sni.encode()) + 4  # the name itself is split
    cut2 = 1800
    parts = [hello[:cut1], hello[cut1:cut2], hello[cut2:]]
    isn_c, isn_s, srv = 1000, 9000, "203.0.113.40"

    def frame(from_client, seq, ack, flags, payload=b""):
        if from_client:
            return pk.tcp_frame(PHONE_MAC, GW_MAC, PHONE, srv, 42000, 443, seq, ack, flags, payload)
        return pk.tcp_frame(GW_MAC, PHONE_MAC, srv, PHONE, 443, 42000, seq, ack, flags, payload)

    frames = [
        (1.0, frame(True, isn_c, 0, pk.SYN)),
        (1.1, frame(False, isn_s, isn_c + 1, pk.SYN | pk.ACK)),
        (1.2, frame(True, isn_c + 1, isn_s + 1, pk.ACK)),
        (1.3, frame(True, isn_c + 1 + cut2, isn_s + 1, pk.ACK | pk.PSH, parts[2])),  # early
        (1.4, frame(True, isn_c + 1, isn_s + 1, pk.ACK, parts[0])),
        (1.5, frame(True, isn_c + 1 + cut1, isn_s + 1, pk.ACK, parts[1])),
        (1.6, frame(False, isn_s + 1, isn_c + 1 + len(hello), pk.ACK)),
    ]
    (flow,) = analyze(pcap(frames)).flows
    assert (flow.sni, flow.server_name, flow.name_source, flow.category) == (
        sni, sni, "sni", "account",
    )  # fmt: skip
    assert (flow.bytes_up, flow.packets_up, flow.packets_down) == (len(hello), 5, 2)


def test_sni_wins_over_dns_and_dns_over_http():
    frames = lookup(T0, "active.dji.com", "203.0.113.50")
    frames += https(T0 + 1, 41000, "203.0.113.50", "account-api.dji.com", 6, 6)
    srv = "203.0.113.60"
    frames += lookup(T0 + 2, "connectivitycheck.gstatic.com", srv, sport=53001, txid=2)
    request = b"GET /generate_204 HTTP/1.1\r\nHost: captive.apple.com\r\n\r\n"
    frames += [
        (T0 + 3, pk.tcp_frame(PHONE_MAC, GW_MAC, PHONE, srv, 42001, 80, 1, 0, pk.SYN)),
        (T0 + 3.1, pk.tcp_frame(PHONE_MAC, GW_MAC, PHONE, srv, 42001, 80, 2, 1, pk.ACK, request)),
        (T0 + 4, pk.tcp_frame(PHONE_MAC, GW_MAC, PHONE, "198.51.100.7", 42002, 80, 2, 1, pk.ACK,
                              request)),
    ]  # fmt: skip
    flows = [f for f in analyze(pcap(frames)).flows if f.proto == "tcp"]
    names = [
        (f.sni, f.dns_name, f.http_host, f.server_name, f.name_source, f.category) for f in flows
    ]
    assert names == [
        ("account-api.dji.com", "active.dji.com", None, "account-api.dji.com", "sni", "account"),
        (None, "connectivitycheck.gstatic.com", "captive.apple.com",
         "connectivitycheck.gstatic.com", "dns", "os"),
        (None, None, "captive.apple.com", "captive.apple.com", "http", "os"),
    ]  # fmt: skip


def test_dns_answer_after_the_flow_started_does_not_name_it():
    frames = https(T0, 41000, "203.0.113.70", None, 6, 6)
    frames += lookup(T0 + 0.001, "dl.djicdn.com", "203.0.113.70")
    (flow,) = [f for f in analyze(pcap(frames)).flows if f.proto == "tcp"]
    assert (flow.dns_name, flow.server_name, flow.category) == (None, None, "unknown")


def test_latest_answer_names_the_flow_and_own_client_answers_come_first():
    ip = "203.0.113.80"
    frames = lookup(T0, "dl.djicdn.com", ip, sport=53001, txid=1)
    frames += lookup(T0 + 1, "active.dji.com", ip, sport=53002, txid=2)
    frames += lookup(T0 + 2, "mydjiflight.dji.com", ip, sport=53003, txid=3, client=OTHER,
                     mac=OTHER_MAC)  # fmt: skip
    frames += https(T0 + 3, 41000, ip, None, 6, 6)
    frames += https(T0 + 4, 41001, ip, None, 6, 6, client=OTHER, mac=OTHER_MAC)
    frames += https(T0 + 5, 41002, ip, None, 6, 6, client="10.20.0.36", mac="02:00:00:00:00:36")
    flows = [f for f in analyze(pcap(frames)).flows if f.proto == "tcp"]
    assert [(f.src, f.dns_name) for f in flows] == [
        (PHONE, "active.dji.com"),  # latest of this phone's answers, not the other phone's
        (OTHER, "mydjiflight.dji.com"),
        ("10.20.0.36", "mydjiflight.dji.com"),  # no own answer: the latest of any client
    ]


def test_retransmitted_query_is_one_lookup():
    query = lookup(T0, "a.example", "192.0.2.1", answered=False)
    answered = lookup(T0 + 1, "a.example", "192.0.2.1")
    dns = analyze(pcap(query + answered)).dns
    assert [(r.ts, r.answers, r.rcode) for r in dns] == [(T0, [("a.example", "A", "192.0.2.1")], 0)]


def test_nanosecond_capture_from_a_path(tmp_path):
    frames = https(T0 + 0.000000123, 41000, "203.0.113.90", "dl.djicdn.com", 6, 6)
    path = tmp_path / "ns.pcap"
    path.write_bytes(pcap(frames, nanosecond=True))
    (flow,) = analyze(path).flows
    assert flow.first == pytest.approx(T0 + 0.000000123, abs=1e-6)
    assert flow.category == "firmware"


def test_custom_catalog():
    catalog = Catalog.from_toml(
        'version = 1\n[[endpoint]]\npattern = "*.example.net"\ncategory = "maps"\n'
        'source = "test"\nverified = true\n'
    )
    frames = https(T0, 41000, "203.0.113.91", "tiles.example.net", 6, 6)
    assert analyze(pcap(frames), catalog=catalog).flows[0].category == "maps"


def test_non_ip_packets_are_counted_as_ignored():
    arp = pk.ethernet("ff:ff:ff:ff:ff:ff", PHONE_MAC, 0x0806, bytes(28))
    result = analyze(pcap([(1.0, arp)]))
    assert (result.packets, result.ignored, result.flows, result.dns) == (1, 1, [], [])


def test_to_dict_is_json_with_exactly_the_flow_fields():
    frames = lookup(T0, "a.example", "192.0.2.1") + https(T0 + 1, 41000, "192.0.2.1", None, 6, 6)
    result = analyze(pcap(frames))
    flow_keys = [f.name for f in dataclasses.fields(Flow)]
    assert flow_keys == [
        "proto", "src", "sport", "dst", "dport", "first", "last", "packets_up", "packets_down",
        "bytes_up", "bytes_down", "sni", "dns_name", "http_host", "server_name", "name_source",
        "category", "quic",
    ]  # fmt: skip
    assert list(result.flows[1].to_dict()) == flow_keys
    data = json.loads(json.dumps(result.to_dict()))
    assert data["flows"][1]["dns_name"] == "a.example"
    assert data["dns"][0]["answers"] == [["a.example", "A", "192.0.2.1"]]
    assert isinstance(result, Analysis)


def test_flows_in_a_phase():
    frames = []
    for i in range(5):
        frames += https(T0 + i, 41000 + i, "192.0.2.1", None, 6, 6)
    result = analyze(pcap(frames), bounds=[T0 + 1, T0 + 3, T0 + 10, T0 + 20])
    inside = flows_between(result, T0 + 1, T0 + 3)
    assert [f.sport for f in inside] == [41001, 41002]
    assert inside == result.flows[1:3]  # each whole: none crosses an edge
    assert flows_between(result, T0 + 10, T0 + 20) == []


# --- fragments, DNS over TCP, QUIC ----------------------------------------------------


def big_answer(t=T0, sport=53100, txid=77, count=50):
    addresses = [f"198.51.100.{i}" for i in range(1, count + 1)]
    return lookup(t, "many.example", addresses, sport=sport, txid=txid), addresses


def test_dns_answer_in_ipv4_fragments_out_of_order_is_reassembled():
    (query, response), addresses = big_answer()
    pieces = fragments(response[1], 256)
    assert len(pieces) == 4
    frames = [query] + [(response[0] + i * 1e-4, p) for i, p in enumerate(reversed(pieces))]
    result = analyze(pcap(frames))
    (record,) = result.dns
    assert [a[2] for a in record.answers] == addresses
    (flow,) = result.flows
    assert (flow.packets_up, flow.packets_down) == (1, 4)  # every fragment is a packet
    assert flow.bytes_down == len(response[1]) - 42  # the whole datagram's payload
    assert result.ignored == 0


def test_fragments_of_a_datagram_never_completed_are_ignored():
    (query, response), _ = big_answer()
    pieces = fragments(response[1], 256)
    result = analyze(pcap([query, (response[0], pieces[0]), (response[0] + 0.1, pieces[2])]))
    assert result.ignored == 2
    assert [(f.packets_up, f.packets_down) for f in result.flows] == [(1, 0)]
    assert result.dns[0].answers == []


def test_dns_answer_in_ipv6_fragments_is_reassembled():
    (query, response), addresses = big_answer()
    v6response = to_ipv6(response[1])
    pieces = ipv6_fragments(v6response, 256)
    frames = [(query[0], to_ipv6(query[1]))] + [(response[0], p) for p in pieces]
    result = analyze(pcap(frames))
    assert [a[2] for a in result.dns[0].answers] == addresses
    assert [(f.packets_up, f.packets_down) for f in result.flows] == [(1, len(pieces))]


def test_dns_over_tcp_pipelined_and_split():
    conn = Tcp(RESOLVER, 45000, 53)
    t = conn.open(T0)
    q1, q2 = pk.dns_query(1, "a.example"), pk.dns_query(2, "b.example")
    conn.send(t, "c", pk.ACK | pk.PSH, b"".join(struct.pack("!H", len(q)) + q for q in (q1, q2)))
    r1 = pk.dns_response(1, "a.example", ["192.0.2.1"])
    r2 = pk.dns_response(2, "b.example", ["192.0.2.2"], cname="b.cdn.example")
    stream = b"".join(struct.pack("!H", len(r)) + r for r in (r1, r2))
    for i, at in enumerate(range(0, len(stream), 7)):  # responses 7 bytes a segment
        conn.send(t + 0.001 * (i + 1), "s", pk.ACK, stream[at : at + 7])
    frames = conn.frames + https(T0 + 5, 45001, "192.0.2.2", None, 6, 6)
    result = analyze(pcap(frames))
    assert [(d.qname, d.answers, d.client, d.server) for d in result.dns] == [
        ("a.example", [("a.example", "A", "192.0.2.1")], PHONE, RESOLVER),
        ("b.example", [("b.example", "CNAME", "b.cdn.example"),
                       ("b.cdn.example", "A", "192.0.2.2")], PHONE, RESOLVER),
    ]  # fmt: skip
    assert result.flows[-1].dns_name == "b.example"  # named by the answer that came over TCP


def test_name_resolution_reads_dns_and_a_catalogued_name_comes_first():
    """UDP/TCP 53 and DNS over TLS (TCP 853) read `dns` when the catalog does not name the
    flow; a name it lists keeps its category on those ports; UDP 853 is not DNS over TLS;
    a catalog entry may itself say `dns` (a DNS-over-HTTPS resolver on 443)."""
    catalog = Catalog.from_toml("version = 1\n" + "".join(
        f'[[endpoint]]\npattern = "{name}"\ncategory = "{category}"\nsource = "test"\n'
        "verified = false\n"
        for name, category in [("mydjiflight.dji.com", "flightlog"), ("doh.example.net", "dns")]))
    frames = lookup(T0, "a.example", "192.0.2.1", sport=53001)
    frames += dns_over_tcp(T0 + 1, RESOLVER, 45010, "b.example", "192.0.2.2", 2)[0]
    for i, (sni, port) in enumerate([("dns.example.net", 853), ("mydjiflight.dji.com", 853),
                                     ("doh.example.net", 443)]):
        frames += traffic.tls_session(T0 + 2 + i, PHONE, PHONE_MAC, 45011 + i, "192.0.2.85",
                                      GW_MAC, sni, 100, 100, True, port=port)
    frames.append(udp(T0 + 6, "192.0.2.86", 45020, 853, bytes(60)))
    flows = analyze(pcap(frames), catalog).flows
    assert [(f.proto, f.dport, f.server_name, f.category) for f in flows] == [
        ("udp", 53, None, "dns"),
        ("tcp", 53, None, "dns"),
        ("tcp", 853, "dns.example.net", "dns"),
        ("tcp", 853, "mydjiflight.dji.com", "flightlog"),
        ("tcp", 443, "doh.example.net", "dns"),
        ("udp", 853, None, "unknown"),
    ]  # fmt: skip


def test_quic_flows_are_marked_and_get_no_guessed_name():
    frames = lookup(T0, "upload.skypixel.com", "198.51.100.7")
    frames += [udp(T0 + 1, "198.51.100.7", 45002, 443, quic_initial()),
               udp(T0 + 1.01, "198.51.100.7", 45002, 443, bytes(40), up=False),
               udp(T0 + 2, "198.51.100.8", 45003, 443, quic_initial()),
               udp(T0 + 3, "198.51.100.9", 45004, 443, b"\x17" + bytes(100))]  # fmt: skip
    flows = analyze(pcap(frames)).flows[1:]
    assert [(f.quic, f.sni, f.dns_name, f.server_name, f.name_source, f.category)
            for f in flows] == [
        (True, None, "upload.skypixel.com", "upload.skypixel.com", "dns", "media"),
        (True, None, None, None, None, "unknown"),
        (False, None, None, None, None, "unknown"),
    ]  # fmt: skip


def test_phase_windows_move_earlier_by_the_clock_slack():
    phases = [(10.0, 20.0), (20.0, 30.0), (30.0, 31.0)]
    assert windows(phases, 0.0) == phases
    # traffic up to 5 ms before a phase's stamped start is that phase's; the last keeps
    # its end, so no traffic of the session falls outside every window
    assert windows(phases, 0.005) == [(9.995, 19.995), (19.995, 29.995), (29.995, 31.0)]
