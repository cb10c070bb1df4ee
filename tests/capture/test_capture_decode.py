"""Frame decoding: link types, VLAN, IPv4/IPv6, TCP/UDP."""

from __future__ import annotations

import socket
import struct

import pytest

from hil.capture.decode import ACK, PSH, SYN, Segment, decode
from hil.sim import packets as pk

CLIENT, SERVER = "10.0.0.2", "192.0.2.7"
MAC_C, MAC_G = "02:00:00:00:00:02", "02:00:00:00:00:01"


def tcp_packet(payload=b"hello", flags=ACK | PSH) -> bytes:
    seg = pk.tcp_segment(CLIENT, SERVER, 40000, 443, 1000, 2000, flags, payload)
    return pk.ipv4(CLIENT, SERVER, pk.IPPROTO_TCP, seg)


def udp_packet(payload=b"query") -> bytes:
    return pk.ipv4(
        CLIENT, SERVER, pk.IPPROTO_UDP, pk.udp_datagram(CLIENT, SERVER, 5353, 53, payload)
    )


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    return (
        struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64)
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + payload
    )


def udp6(payload: bytes) -> bytes:
    return struct.pack("!HHHH", 1234, 53, 8 + len(payload), 0) + payload


EXPECTED_TCP = Segment(CLIENT, SERVER, 40000, 443, "tcp", ACK | PSH, 1000, 2000, b"hello")


def test_ethernet_tcp():
    frame = pk.ethernet(MAC_G, MAC_C, 0x0800, tcp_packet())
    assert decode(1, frame) == EXPECTED_TCP


def test_ethernet_udp():
    seg = decode(1, pk.ethernet(MAC_G, MAC_C, 0x0800, udp_packet()))
    assert (seg.proto, seg.sport, seg.dport, seg.flags, seg.payload) == (
        "udp",
        5353,
        53,
        0,
        b"query",
    )


def test_ethernet_padding_is_not_payload():
    frame = pk.ethernet(MAC_G, MAC_C, 0x0800, tcp_packet(b"", ACK))
    assert len(frame) == 54
    assert decode(1, frame + b"\x00" * 6).payload == b""


@pytest.mark.parametrize("tags", [[0x8100], [0x88A8, 0x8100]])
def test_vlan_tags(tags):
    frame = pk.mac_bytes(MAC_G) + pk.mac_bytes(MAC_C)
    for tpid in tags:
        frame += struct.pack("!HH", tpid, 42)
    frame += struct.pack("!H", 0x0800) + tcp_packet()
    assert decode(1, frame) == EXPECTED_TCP


def test_pppoe_session():
    ppp = struct.pack("!BBHHH", 0x11, 0, 7, 2 + len(tcp_packet()), 0x0021)
    frame = pk.mac_bytes(MAC_G) + pk.mac_bytes(MAC_C) + b"\x88\x64" + ppp + tcp_packet()
    assert decode(1, frame) == EXPECTED_TCP


def test_linux_cooked_sll():
    header = struct.pack("!HHH8sH", 0, 1, 6, pk.mac_bytes(MAC_C) + b"\0\0", 0x0800)
    assert decode(113, header + tcp_packet()) == EXPECTED_TCP


def test_linux_cooked_sll2():
    header = struct.pack("!HHIHBB8s", 0x0800, 0, 3, 1, 0, 6, pk.mac_bytes(MAC_C) + b"\0\0")
    assert len(header) == 20
    assert decode(276, header + tcp_packet()) == EXPECTED_TCP


@pytest.mark.parametrize("linktype", [101, 228])
def test_raw_ipv4(linktype):
    assert decode(linktype, tcp_packet()) == EXPECTED_TCP


@pytest.mark.parametrize("linktype", [101, 229])
def test_raw_ipv6(linktype):
    seg = decode(linktype, ipv6("2001:db8::2", "2001:db8::53", 17, udp6(b"q")))
    assert (seg.src, seg.dst, seg.proto, seg.dport, seg.payload) == (
        "2001:db8::2",
        "2001:db8::53",
        "udp",
        53,
        b"q",
    )


def test_ipv6_over_ethernet_with_extension_headers():
    hop_by_hop = bytes([60, 0]) + b"\x01\x04\x00\x00\x00\x00"  # next: destination options
    dest_opts = bytes([17, 0]) + b"\x01\x04\x00\x00\x00\x00"  # next: UDP
    packet = ipv6("fe80::1", "ff02::fb", 0, hop_by_hop + dest_opts + udp6(b"x"))
    seg = decode(1, pk.ethernet(MAC_G, MAC_C, 0x86DD, packet))
    assert (seg.src, seg.proto, seg.payload) == ("fe80::1", "udp", b"x")


def test_ipv6_fragments():
    first = bytes([17, 0]) + struct.pack("!HI", 0x0001, 99)  # offset 0, more fragments
    later = bytes([17, 0]) + struct.pack("!HI", 0x0010, 99)  # offset 2 (x 8 bytes)
    assert (
        decode(101, ipv6("2001:db8::1", "2001:db8::2", 44, first + udp6(b"abc"))).payload == b"abc"
    )
    assert decode(101, ipv6("2001:db8::1", "2001:db8::2", 44, later + b"rest of it")) is None


def test_ipv4_non_first_fragment_is_skipped_first_is_kept():
    packet = bytearray(udp_packet(b"x" * 40))
    struct.pack_into("!H", packet, 6, 0x2000)  # more fragments, offset 0
    assert decode(101, bytes(packet)).payload == b"x" * 40
    struct.pack_into("!H", packet, 6, 0x0005)  # offset 40 bytes
    assert decode(101, bytes(packet)) is None


def test_ipv4_header_options_are_skipped():
    seg = pk.tcp_segment(CLIENT, SERVER, 1, 2, 0, 0, SYN)
    plain = pk.ipv4(CLIENT, SERVER, 6, seg)
    with_opts = bytes([0x46]) + plain[1:2] + struct.pack("!H", len(plain) + 4) + plain[4:20]
    assert decode(101, with_opts + b"\x01\x01\x01\x00" + seg).flags == SYN


@pytest.mark.parametrize(
    "linktype, frame",
    [
        (1, pk.ethernet(MAC_G, MAC_C, 0x0806, b"\x00" * 28)),  # ARP
        (1, pk.ethernet(MAC_G, MAC_C, 0x0800, pk.ipv4(CLIENT, SERVER, 1, b"\x08\0" * 4))),  # ICMP
        (1, b"\x00" * 10),  # shorter than an Ethernet header
        (1, pk.ethernet(MAC_G, MAC_C, 0x0800, tcp_packet()[:30])),  # TCP header cut
        (101, b"\x55" * 30),  # neither IPv4 nor IPv6
        (105, tcp_packet()),  # 802.11: not a supported link type
        (101, ipv6("::1", "::1", 50, b"\0" * 16)),  # ESP
    ],
)
def test_ignored(linktype, frame):
    assert decode(linktype, frame) is None
