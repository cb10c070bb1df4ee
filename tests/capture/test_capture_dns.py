"""DNS message parsing."""

from __future__ import annotations

import struct

import pytest

from hil.capture.dns import (
    DnsFormatError,
    parse_message,
    parse_tcp_stream,
    read_name,
    split_tcp_stream,
)
from hil.sim import packets as pk


def test_query():
    msg = parse_message(pk.dns_query(0x1234, "flysafe-api.dji.com"))
    assert (msg.id, msg.is_response, msg.rcode) == (0x1234, False, 0)
    assert msg.questions == [("flysafe-api.dji.com", 1)]
    assert msg.qname == "flysafe-api.dji.com"
    assert msg.answers == []


def test_response_with_compressed_a_records():
    msg = parse_message(pk.dns_response(7, "active.dji.com", ["192.0.2.1", "192.0.2.2"]))
    assert msg.is_response
    assert msg.answers == [
        ("active.dji.com", "A", "192.0.2.1"),
        ("active.dji.com", "A", "192.0.2.2"),
    ]


def test_response_with_cname_chain_and_aaaa():
    data = pk.dns_response(
        9, "dl.djicdn.com", ["2001:db8::1"], cname="dl.cdn.example.net", qtype=28
    )
    msg = parse_message(data)
    assert msg.questions == [("dl.djicdn.com", 28)]
    assert msg.answers == [
        ("dl.djicdn.com", "CNAME", "dl.cdn.example.net"),
        ("dl.cdn.example.net", "AAAA", "2001:db8::1"),
    ]


def test_nxdomain():
    msg = parse_message(pk.dns_response(1, "nope.example", [], rcode=3))
    assert (msg.rcode, msg.answers) == (3, [])


def test_names_are_lower_cased_and_odd_bytes_escaped():
    data = bytearray(pk.dns_query(1, "MyDjiFlight.DJI.com"))
    assert parse_message(bytes(data)).qname == "mydjiflight.dji.com"
    raw = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x03a.b\x02\x00z\x00" + b"\x00\x01\x00\x01"
    assert parse_message(raw).qname == "a\\046b.\\000z"


def test_other_record_types_are_left_out():
    base = pk.dns_response(3, "x.example", ["192.0.2.3"])
    header = bytearray(base[:12])
    struct.pack_into("!H", header, 6, 2)
    txt = b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, 4) + b"\x03abc"
    msg = parse_message(bytes(header) + base[12:] + txt)
    assert msg.answers == [("x.example", "A", "192.0.2.3")]


def test_pointer_loop_is_rejected():
    # A question whose name is a pointer to itself.
    data = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    with pytest.raises(DnsFormatError, match="points forward"):
        parse_message(data)


def test_two_pointers_pointing_at_each_other_are_rejected():
    data = b"\x00" * 12 + b"\xc0\x0e" + b"\xc0\x0c"
    with pytest.raises(DnsFormatError, match="points forward"):
        read_name(data, 12)
    with pytest.raises(DnsFormatError, match="points forward"):
        read_name(data, 14)


def test_name_longer_than_255_bytes_is_rejected():
    labels = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"
    data = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + labels + b"\x00\x01\x00\x01"
    with pytest.raises(DnsFormatError, match="longer than 255"):
        parse_message(data)


@pytest.mark.parametrize("cut", [5, 13, 30, 40, 60])
def test_cut_short_messages_raise(cut):
    data = pk.dns_response(7, "active.dji.com", ["192.0.2.1", "192.0.2.2"])
    with pytest.raises(DnsFormatError):
        parse_message(data[:cut])


def test_tcp_stream_split_and_parse():
    q = pk.dns_query(1, "a.example")
    r = pk.dns_response(1, "a.example", ["192.0.2.1"])
    stream = struct.pack("!H", len(q)) + q + struct.pack("!H", len(r)) + r
    partial = struct.pack("!H", 100) + b"abc"
    messages, rest = split_tcp_stream(stream + partial)
    assert messages == [q, r]
    assert rest == partial
    parsed = parse_tcp_stream(stream)
    assert [m.is_response for m in parsed] == [False, True]
    assert parsed[1].answers == [("a.example", "A", "192.0.2.1")]
    assert split_tcp_stream(b"\x00") == ([], b"\x00")
