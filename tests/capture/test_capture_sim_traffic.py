"""The simulator's frame builders (hil.sim.packets) and conversations (hil.sim.traffic)."""

from __future__ import annotations

import itertools
import struct

import pytest

from hil.sim import packets as pk
from hil.sim import traffic

PHONE, PHONE_MAC = "10.20.0.34", "02:00:00:00:00:34"
GW_MAC, RESOLVER, SERVER = "02:00:00:00:00:01", "10.20.0.1", "203.0.113.10"


def ones_complement_sum(data: bytes) -> int:
    """Written apart from the builder's checksum so the test checks it independently."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def assert_checksums(frame: bytes) -> None:
    assert frame[12:14] == b"\x08\x00"
    ip = frame[14:]
    ihl = (ip[0] & 0xF) * 4
    assert ones_complement_sum(ip[:ihl]) == 0xFFFF
    total = struct.unpack_from("!H", ip, 2)[0]
    assert total == len(ip)
    transport = ip[ihl:total]
    pseudo = ip[12:20] + bytes([0, ip[9]]) + struct.pack("!H", len(transport))
    assert ones_complement_sum(pseudo + transport) == 0xFFFF


def tcp_fields(frame: bytes):
    sport, dport, seq, ack, off, flags = struct.unpack_from("!HHIIBB", frame, 34)
    return sport, dport, seq, ack, flags, frame[34 + (off >> 4) * 4 :]


def session(**kwargs):
    args = {
        "t": 50.0,
        "client_ip": PHONE,
        "client_mac": PHONE_MAC,
        "sport": 41000,
        "server_ip": SERVER,
        "gw_mac": GW_MAC,
        "sni": "mydjiflight.dji.com",
        "up_bytes": 10_000,
        "down_bytes": 4_000,
        "reachable": True,
    }
    args.update(kwargs)
    return traffic.tls_session(**args)


def test_internet_checksum_known_value():
    # The example of RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert pk.internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2


def test_frames_have_correct_checksums():
    frames = session() + traffic.dns_lookup(
        1.0, PHONE, PHONE_MAC, RESOLVER, GW_MAC, "a.example", "192.0.2.1", True, 5000, 1
    )
    for _, frame in frames:
        assert_checksums(frame)
    odd = pk.udp_frame(PHONE_MAC, GW_MAC, PHONE, RESOLVER, 1, 2, b"odd")
    assert_checksums(odd)


def test_dns_lookup_answered_and_not():
    answered = traffic.dns_lookup(
        5.0, PHONE, PHONE_MAC, RESOLVER, GW_MAC, "a.example", "192.0.2.1", True, 5000, 7
    )
    assert [ts for ts, _ in answered] == [5.0, 5.002]
    query, response = (f for _, f in answered)
    assert query[:6] == pk.mac_bytes(GW_MAC)
    assert query[6:12] == pk.mac_bytes(PHONE_MAC)
    assert query[42:] == pk.dns_query(7, "a.example")
    assert response[42:] == pk.dns_response(7, "a.example", ["192.0.2.1"])
    silent = traffic.dns_lookup(
        5.0, PHONE, PHONE_MAC, RESOLVER, GW_MAC, "a.example", "192.0.2.1", False, 5000, 7
    )
    assert silent == answered[:1]


def test_session_shape_and_timing():
    frames = session()
    times = [ts for ts, _ in frames]
    assert times[0] == 50.0
    assert all(b > a for a, b in itertools.pairwise(times))
    flags = [tcp_fields(f)[4] for _, f in frames]
    assert flags[:3] == [pk.SYN, pk.SYN | pk.ACK, pk.ACK]
    assert flags[-3:] == [pk.FIN | pk.ACK, pk.FIN | pk.ACK, pk.ACK]
    assert max(len(tcp_fields(f)[5]) for _, f in frames) == traffic.MSS


def test_session_byte_accounting_and_stream_content():
    frames = session(up_bytes=20_000, down_bytes=7)
    up = b"".join(tcp_fields(f)[5] for _, f in frames if f[6:12] == pk.mac_bytes(PHONE_MAC))
    down = b"".join(tcp_fields(f)[5] for _, f in frames if f[6:12] == pk.mac_bytes(GW_MAC))
    hello = pk.tls_client_hello("mydjiflight.dji.com")
    assert up.startswith(hello)
    assert len(up) == len(hello) + 20_000
    assert up[len(hello)] == 23  # application data records follow
    assert len(down) == traffic.server_flight_size(41000) + 7


def test_session_sequence_numbers_are_contiguous():
    frames = session(up_bytes=5000, down_bytes=0)
    client = [tcp_fields(f) for _, f in frames if f[6:12] == pk.mac_bytes(PHONE_MAC)]
    expected = client[0][2] + 1
    for _sport, _dport, seq, _ack, flags, payload in client[1:]:
        assert seq == expected % 2**32
        expected += len(payload) + (1 if flags & pk.FIN else 0)


def test_unreachable_server_gets_only_syn_retransmissions():
    frames = session(reachable=False, rto=0.5, syn_retries=3)
    assert [ts for ts, _ in frames] == [50.0, 50.5, 51.5, 53.5]
    fields = [tcp_fields(f) for _, f in frames]
    assert {(f[2], f[4]) for f in fields} == {(fields[0][2], pk.SYN)}
    assert all(f[6:12] == pk.mac_bytes(PHONE_MAC) for _, f in frames)


def test_sessions_are_deterministic():
    assert session() == session()
    assert session(sport=41001) != session()


@pytest.mark.parametrize("total", [0, 6, 100, 16389, 16390, 16389 * 2, 16389 * 2 + 1, 100_000])
def test_application_data_totals_exactly(total):
    data = pk.tls_application_data(total)
    assert len(data) == total
    pos = 0
    while pos < len(data):
        ctype, version, length = struct.unpack_from("!BHH", data, pos)
        assert (ctype, version) == (23, 0x0303)
        assert 1 <= length <= pk.MAX_TLS_RECORD
        pos += 5 + length
    assert pos == total


@pytest.mark.parametrize("total", [1, 5])
def test_application_data_too_small_for_a_record(total):
    with pytest.raises(ValueError, match="at least 6"):
        pk.tls_application_data(total)
