"""The flow table: client side, flow boundaries, counters, first-bytes reassembly."""

from __future__ import annotations

import pytest

from hil.capture.decode import ACK, FIN, PSH, RST, SYN, Segment
from hil.capture.flows import FlowTable, http_request_host, is_quic
from hil.sim import packets as pk

C, S = "10.0.0.2", "192.0.2.7"


def seg(src, sport, dst, dport, flags=ACK, seq=0, payload=b"", proto="tcp"):
    return Segment(src, dst, sport, dport, proto, flags, seq, 0, payload)


def up(flags=ACK, seq=0, payload=b"", sport=40000):
    return seg(C, sport, S, 443, flags, seq, payload)


def down(flags=ACK, seq=0, payload=b"", dport=40000):
    return seg(S, 443, C, dport, flags, seq, payload)


def test_client_is_the_sender_of_the_syn_even_on_a_low_port():
    table = FlowTable()
    table.add(1.0, seg(S, 80, C, 40000, SYN, 5))
    (flow,) = table.flows
    assert (flow.client_ip, flow.cport, flow.server_ip, flow.sport) == (S, 80, C, 40000)


def test_client_is_the_receiver_of_a_syn_ack_when_the_syn_was_missed():
    table = FlowTable()
    table.add(1.0, down(SYN | ACK, 9))
    table.add(1.1, up(ACK, 1))
    (flow,) = table.flows
    assert (flow.client_ip, flow.packets_up, flow.packets_down) == (C, 1, 1)


@pytest.mark.parametrize(
    "first, client",
    [
        (seg(S, 443, C, 40000), (C, 40000)),  # well-known port is the server's
        (seg(C, 40000, S, 443), (C, 40000)),
        (seg(S, 8080, C, 50000), (C, 50000)),  # neither well-known: higher port is the client
        (seg(C, 50000, S, 8080), (C, 50000)),
        (seg(C, 7000, S, 7000), (C, 7000)),  # equal ports: the first sender
    ],
)
def test_client_without_a_syn(first, client):
    table = FlowTable()
    flow, created = table.add(1.0, first)
    assert created
    assert (flow.client_ip, flow.cport) == client


@pytest.mark.parametrize(
    "first, client",
    [
        (seg(S, 53, C, 40000, 0, proto="udp"), C),  # a response first: port 53 is the server
        (seg(C, 40000, S, 53, 0, proto="udp"), C),
        (seg(S, 5000, C, 6000, 0, proto="udp"), S),  # no well-known port: the first sender
    ],
)
def test_udp_client(first, client):
    flow, _ = FlowTable().add(1.0, first)
    assert flow.client_ip == client


def test_counters_by_direction():
    table = FlowTable()
    table.add(1.0, up(SYN, 100))
    table.add(1.1, down(SYN | ACK, 500))
    table.add(1.2, up(ACK, 101, b"x" * 10))
    table.add(1.3, down(ACK, 501, b"y" * 300))
    table.add(1.4, up(ACK, 111, b"z" * 5))
    (flow,) = table.flows
    assert (flow.first, flow.last) == (1.0, 1.4)
    assert (flow.packets_up, flow.packets_down, flow.bytes_up, flow.bytes_down) == (3, 2, 15, 300)


def test_syn_retransmission_stays_in_the_flow():
    table = FlowTable()
    table.add(1.0, up(SYN, 100))
    table.add(2.0, up(SYN, 100))
    table.add(4.0, up(SYN, 100))
    (flow,) = table.flows
    assert flow.packets_up == 3


@pytest.mark.parametrize("close", [FIN | ACK, RST])
def test_port_reused_with_a_new_syn_after_close_is_a_new_flow(close):
    table = FlowTable()
    table.add(1.0, up(SYN, 100))
    table.add(1.1, down(SYN | ACK, 500))
    table.add(1.2, up(close, 101))
    table.add(5.0, up(SYN, 9000))
    table.add(5.1, down(SYN | ACK, 7000))
    assert [(f.first, f.packets_up, f.packets_down) for f in table.flows] == [
        (1.0, 2, 1),
        (5.0, 1, 1),
    ]


def test_late_packets_of_a_closed_flow_stay_in_it():
    table = FlowTable()
    table.add(1.0, up(SYN, 100))
    table.add(1.1, up(FIN | ACK, 101))
    table.add(1.2, down(FIN | ACK, 500))
    table.add(1.3, up(ACK, 102))
    assert len(table.flows) == 1


def test_udp_idle_timeout_starts_a_new_flow():
    table = FlowTable(udp_timeout=60.0)
    q = seg(C, 5000, S, 53, 0, proto="udp", payload=b"q")
    table.add(0.0, q)
    table.add(59.0, q)
    table.add(119.0, q)  # 60 s after the last: same flow
    table.add(179.5, q)  # 60.5 s: new flow
    assert [f.packets_up for f in table.flows] == [3, 1]


def test_flows_of_both_protocols_and_ports_are_distinct():
    table = FlowTable()
    table.add(1.0, up(SYN, 1, sport=40000))
    table.add(1.0, up(SYN, 1, sport=40001))
    table.add(1.0, seg(C, 40000, S, 443, 0, proto="udp"))
    assert len(table.flows) == 3


# --- first bytes: SNI and HTTP Host ----------------------------------------------------

SNI = "mydjiflight.dji.com"


def handshake(table, isn=1000):
    table.add(1.0, up(SYN, isn))
    table.add(1.1, down(SYN | ACK, 5000))
    table.add(1.2, up(ACK, isn + 1))


def test_sni_from_a_client_hello_in_three_segments_out_of_order_with_a_retransmission():
    hello = pk.tls_client_hello(SNI, padding=600)
    cut = hello.index(SNI.encode()) + 5  # the first segment ends inside the name
    a, c = hello[:cut], hello[500:]
    table = FlowTable()
    handshake(table, isn=0xFFFFFF00)  # sequence numbers wrap inside the hello
    base = 0xFFFFFF01
    table.add(1.3, up(ACK | PSH, (base + 500) % 2**32, c))
    table.add(1.4, up(ACK, base, a))
    table.add(1.5, up(ACK, base, a))  # retransmission
    assert table.flows[0].sni is None
    table.add(1.6, up(ACK, (base + 50) % 2**32, hello[50:500]))  # overlaps a, fills the gap
    (flow,) = table.flows
    assert flow.sni == SNI
    assert flow.bytes_up == len(c) + 2 * len(a) + 450
    assert flow.hello is None  # decided: the reassembly buffer is released


def test_sni_without_a_syn_seen():
    hello = pk.tls_client_hello(SNI)
    table = FlowTable()
    table.add(1.0, up(ACK, 777, hello[:100]))
    table.add(1.1, up(ACK, 877, hello[100:]))
    assert table.flows[0].sni == SNI


def test_server_bytes_never_feed_the_client_stream():
    table = FlowTable()
    handshake(table)
    table.add(1.3, down(ACK, 5001, pk.tls_client_hello("evil.example")))
    assert table.flows[0].sni is None


def test_http_host_from_the_first_request():
    table = FlowTable()
    handshake(table)
    table.add(1.3, up(ACK, 1001, b"GET /generate_204 HTTP/1.1\r\nHo"))
    table.add(1.4, up(ACK, 1031, b"st: ConnectivityCheck.gstatic.com\r\nUser-Agent: x\r\n\r\n"))
    (flow,) = table.flows
    assert (flow.http_host, flow.sni) == ("connectivitycheck.gstatic.com", None)


def test_gives_up_after_the_first_bytes_limit():
    table = FlowTable(first_bytes=1000)
    handshake(table)
    hello = pk.tls_client_hello(None, padding=5000)
    table.add(1.3, up(ACK, 1001, hello[:1448]))
    (flow,) = table.flows
    assert flow.sni is None
    assert flow.hello is None


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", (True, "example.com")),
        (b"POST /up HTTP/1.1\r\nhost:  Example.COM:8080 \r\n\r\n", (True, "example.com")),
        (b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", (True, "2001:db8::1")),
        (b"GET / HTTP/1.1\r\nHost: example.com.\r\n\r\n", (True, "example.com")),
        (b"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", (True, None)),
        (b"GET / HTTP/1.1\r\nAccept: */*\r\n", (False, None)),
        (b"GE", (False, None)),
        (b"", (False, None)),
        (b"\x16\x03\x01\x02\x00", (True, None)),
        (b"GETX / HTTP/1.1\r\n", (True, None)),
    ],
)
def test_http_request_host(data, expected):
    assert http_request_host(data) == expected


@pytest.mark.parametrize(
    "payload, quic",
    [
        (bytes([0xC3]) + (1).to_bytes(4, "big") + bytes([8]) + bytes(30), True),  # v1 Initial
        (bytes([0xD0]) + bytes.fromhex("6b3343cf") + bytes([8]) + bytes(30), True),  # v2
        (bytes([0xC0]) + bytes.fromhex("ff00001d") + bytes([8]) + bytes(30), True),  # draft-29
        (bytes([0xC3]) + b"Q046" + bytes([8]) + bytes(30), True),  # Google QUIC, IETF header
        (bytes([0xC3]) + b"T051" + bytes([8]) + bytes(30), True),
        (bytes([0x0D]) + bytes(8) + b"Q043" + bytes(20), True),  # Google QUIC public header
        (bytes([0x09]) + bytes(8) + b"Q039" + bytes(20), True),
        (bytes([0xC3]) + (1).to_bytes(4, "big") + bytes([40]) + bytes(30), False),  # CID > 20
        (bytes([0xC3]) + (7).to_bytes(4, "big") + bytes([8]) + bytes(30), False),  # no such version
        (bytes([0x41]) + bytes(40), False),  # short header: cannot tell
        (pk.dns_query(1, "a.example"), False),
        (b"\x16\x03\x01\x02\x00" + bytes(30), False),
        (b"", False),
    ],
)
def test_is_quic(payload, quic):
    assert is_quic(payload) is quic
