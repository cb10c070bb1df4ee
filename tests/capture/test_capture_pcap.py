"""The pcap/pcapng reader and the pcap writer."""

from __future__ import annotations

import io
import struct

import pytest

from hil.capture import pcap as pcapmod
from hil.capture.analyze import analyze
from hil.capture.errors import CaptureError
from hil.capture.pcap import SNAPLEN, Packet, PcapngWriter, PcapWriter, read_packets
from hil.sim import traffic

FRAMES = [(1700000000.25, b"\x01" * 60), (1700000000.5, b"\x02" * 100), (1700000001.0, b"\x03")]


def classic(endian: str, nanosecond: bool, records, linktype: int = 1, snaplen: int = 65535):
    """A classic pcap file written by hand in the given byte order."""
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for sec, frac, data in records:
        out += struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data
    return out


def block(endian: str, btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack(endian + "II", btype, total) + body + struct.pack(endian + "I", total)


def shb(endian: str) -> bytes:
    return block(endian, 0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(endian: str, linktype: int, tsresol: int | None = None) -> bytes:
    body = struct.pack(endian + "HHI", linktype, 0, 262144)
    if tsresol is not None:
        body += struct.pack(endian + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
        body += struct.pack(endian + "HH", 0, 0)
    return block(endian, 1, body)


def epb(endian: str, iface: int, ticks: int, data: bytes) -> bytes:
    head = struct.pack(
        endian + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(endian, 6, head + data)


def spb(endian: str, data: bytes) -> bytes:
    return block(endian, 3, struct.pack(endian + "I", len(data)) + data)


def opb(endian: str, iface: int, ticks: int, data: bytes) -> bytes:
    head = struct.pack(
        endian + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(endian, 2, head + data)


def written(frames, **kwargs) -> bytes:
    buf = io.BytesIO()
    writer = PcapWriter(buf, **kwargs)
    for ts, frame in frames:
        writer.write(ts, frame)
    writer.flush()
    return buf.getvalue()


# --- classic pcap ---------------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_classic_pcap_in_both_byte_orders_and_resolutions(endian, nanosecond):
    frac = 123456789 if nanosecond else 123456
    data = classic(endian, nanosecond, [(1700000000, frac, b"abc"), (1700000001, 0, b"de")], 113)
    packets = list(read_packets(data))
    assert [(p.linktype, p.frame) for p in packets] == [(113, b"abc"), (113, b"de")]
    expected = 1700000000 + frac / (10**9 if nanosecond else 10**6)
    assert packets[0].ts == pytest.approx(expected, abs=1e-7)
    assert packets[1].ts == 1700000001.0


def test_linktype_field_ignores_fcs_bits():
    data = classic("<", False, [(1, 0, b"x")], linktype=0x10000000 | 1)
    assert next(read_packets(data)).linktype == 1


def test_writer_round_trip_microseconds():
    data = written(FRAMES)
    magic, major, minor, _, _, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, snaplen, linktype) == (0xA1B2C3D4, 2, 4, SNAPLEN, 1)
    assert list(read_packets(data)) == [Packet(ts, 1, f) for ts, f in FRAMES]


def test_writer_round_trip_nanoseconds_keeps_sub_microsecond_time():
    data = written([(1.000000123, b"x"), (2.5, b"y")], nanosecond=True, linktype=101)
    assert struct.unpack_from("<I", data)[0] == 0xA1B23C4D
    packets = list(read_packets(data))
    assert packets[0].ts == pytest.approx(1.000000123, abs=1e-12)
    assert packets[0].linktype == 101
    assert struct.unpack_from("<II", data, 24) == (1, 123)


def test_writer_rounds_up_into_the_next_second():
    data = written([(4.9999997, b"x")])
    assert struct.unpack_from("<II", data, 24) == (5, 0)


def test_writer_cuts_frames_to_the_snapshot_length():
    big = bytes(SNAPLEN + 10)
    data = written([(1.0, big)])
    assert struct.unpack_from("<II", data, 32) == (SNAPLEN, SNAPLEN + 10)
    assert len(next(read_packets(data)).frame) == SNAPLEN


def test_writer_rejects_negative_time():
    with pytest.raises(ValueError, match="negative"):
        PcapWriter(io.BytesIO()).write(-1.0, b"x")


def test_empty_capture_has_a_header_and_no_packets():
    assert list(read_packets(written([]))) == []


def test_reader_opens_a_path_and_streams(tmp_path):
    path = tmp_path / "c.pcap"
    path.write_bytes(written(FRAMES))
    assert [p.frame for p in read_packets(path)] == [f for _, f in FRAMES]
    with open(path, "rb") as fh:
        assert len(list(read_packets(fh))) == 3


# --- pcapng ---------------------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_interfaces_resolutions_and_blocks(endian):
    data = (
        shb(endian)
        + idb(endian, 1)  # default resolution: microseconds
        + idb(endian, 113, tsresol=9)  # nanoseconds
        + idb(endian, 101, tsresol=0x80 | 10)  # 2^-10 s
        + epb(endian, 0, 1_700_000_000_250_000, b"eth")
        + spb(endian, b"skipped: no timestamp")
        + block(endian, 5, b"interface statistics are skipped")
        + epb(endian, 1, 1_700_000_000_123_456_789, b"sll")
        + epb(endian, 2, 3 * 1024 + 512, b"raw")
        + opb(endian, 0, 2_000_000, b"old")
    )
    packets = list(read_packets(data))
    assert [(p.linktype, p.frame) for p in packets] == [
        (1, b"eth"),
        (113, b"sll"),
        (101, b"raw"),
        (1, b"old"),
    ]
    assert packets[0].ts == 1700000000.25
    assert packets[1].ts == pytest.approx(1700000000.123456789, abs=1e-7)
    assert packets[2].ts == 3.5
    assert packets[3].ts == 2.0


def test_pcapng_new_section_resets_byte_order_and_interfaces():
    data = (
        shb("<") + idb("<", 1) + epb("<", 0, 1_000_000, b"a")
        + shb(">") + idb(">", 276) + epb(">", 0, 2_000_000, b"b")
    )  # fmt: skip
    assert [(p.ts, p.linktype, p.frame) for p in read_packets(data)] == [
        (1.0, 1, b"a"),
        (2.0, 276, b"b"),
    ]


def test_pcapng_packet_on_undescribed_interface_is_corrupt():
    data = shb("<") + idb("<", 1) + epb("<", 3, 0, b"x")
    with pytest.raises(CaptureError, match=r"packet 1\): refers to interface 3, only 1 described"):
        list(read_packets(data))


def test_pcapng_truncated_block_names_offset_and_packet():
    good = shb("<") + idb("<", 1) + epb("<", 0, 0, b"a" * 10)
    bad = epb("<", 0, 0, b"b" * 100)
    data = good + bad[:50]
    with pytest.raises(CaptureError) as info:
        list(read_packets(data))
    err = info.value
    assert str(err) == (
        f"capture <bytes>: truncated block at byte {len(good)} (packet 2): "
        f"header says {len(bad)} bytes, 50 remain"
    )
    assert (err.offset, err.packet) == (len(good), 2)


def test_pcapng_mismatched_trailing_length_is_corrupt():
    data = bytearray(shb("<") + idb("<", 1) + epb("<", 0, 0, b"abcd"))
    data[-4:] = struct.pack("<I", 999)
    with pytest.raises(
        CaptureError,
        match=r"byte 48 \(packet 1\): leading length 36 differs from trailing length 999",
    ):
        list(read_packets(bytes(data)))


def test_pcapng_unknown_byte_order_magic():
    data = bytearray(shb("<"))
    data[8:12] = b"abcd"
    with pytest.raises(CaptureError, match="unknown byte-order magic 0x61626364"):
        list(read_packets(bytes(data)))


# --- damaged files --------------------------------------------------------------------


def test_truncated_packet_names_file_offset_and_packet_number(tmp_path):
    frames = [(float(i), bytes([i]) * 100) for i in range(1, 18)]
    frames[-1] = (17.0, b"\x11" * 1514)
    data = written(frames)
    offset_17 = 24 + 16 * (116)  # 16 records of 16 + 100 bytes
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: offset_17 + 16 + 600])
    with pytest.raises(CaptureError) as info:
        list(read_packets(path))
    err = info.value
    assert str(err) == (
        f"capture {path}: truncated packet record at byte {offset_17} (packet 17): "
        "header says 1514 bytes, 600 remain"
    )
    assert (err.path, err.offset, err.packet) == (str(path), offset_17, 17)
    assert isinstance(err, ValueError)


def test_truncated_record_header():
    data = written(FRAMES)
    with pytest.raises(CaptureError, match=r"record header at byte 24 \(packet 1\): 16 bytes"):
        list(read_packets(data[:30]))


def test_packets_before_the_damage_are_yielded():
    data = written(FRAMES)
    seen = []
    packets = read_packets(data[:-1])
    seen.append(next(packets).frame)
    seen.append(next(packets).frame)
    with pytest.raises(CaptureError):
        next(packets)
    assert seen == [FRAMES[0][1], FRAMES[1][1]]


def test_implausible_record_length_is_corrupt():
    data = bytearray(written(FRAMES))
    struct.pack_into("<I", data, 24 + 8, 5_000_000)
    with pytest.raises(CaptureError, match=r"corrupt packet record at byte 24 \(packet 1\)"):
        list(read_packets(bytes(data)))


def test_not_a_capture():
    with pytest.raises(CaptureError, match=r"not a pcap or pcapng file.*0x3c68746d"):
        list(read_packets(b"<html>oops</html>"))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    with pytest.raises(CaptureError, match=f"capture {path}: empty file"):
        list(read_packets(path))


def test_truncated_file_header():
    with pytest.raises(CaptureError, match="truncated pcap file header at byte 0: 10 of 24"):
        list(read_packets(written([])[:10]))


def test_analyzer_attaches_what_it_read_before_the_error():
    frames = traffic.tls_session(
        10.0, "10.0.0.2", "02:00:00:00:00:02", 40000, "192.0.2.9", "02:00:00:00:00:01",
        "dl.djicdn.com", 3000, 3000, True,
    )  # fmt: skip
    data = written(frames)
    with pytest.raises(CaptureError) as info:
        analyze(data[:-3])
    partial = info.value.partial
    assert partial.packets == len(frames) - 1
    assert len(partial.flows) == 1
    assert partial.flows[0].sni == "dl.djicdn.com"
    assert partial.flows[0].category == "firmware"


# --- damage far into a capture, across many buffer refills ----------------------------


def big_capture(fmt: str) -> tuple[bytes, list[int]]:
    """A few hundred packets of real traffic, and the byte offset of every record."""
    frames = []
    for i in range(6):
        frames += traffic.tls_session(
            10.0 + i, "10.0.0.2", "02:00:00:00:00:02", 40000 + i, "192.0.2.9",
            "02:00:00:00:00:01", "dl.djicdn.com", 20_000, 30_000, True,
        )  # fmt: skip
    frames.sort(key=lambda f: f[0])
    buf = io.BytesIO()
    writer = PcapWriter(buf) if fmt == "pcap" else PcapngWriter(buf, [(1, 9)])
    offsets = []
    for ts, frame in frames:
        offsets.append(buf.tell())
        writer.write(ts, frame)
    return buf.getvalue(), offsets


@pytest.mark.parametrize("buffer", [700, 5000, 1 << 23])
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_truncation_far_in_names_the_record_and_keeps_what_came_before(fmt, buffer,
                                                                       monkeypatch):  # fmt: skip
    monkeypatch.setattr(pcapmod, "BUFFER_SIZE", buffer)
    data, offsets = big_capture(fmt)
    n = len(offsets) * 2 // 3  # the packet cut short, counting from 1
    cut = data[: offsets[n - 1] + 30]
    with pytest.raises(CaptureError) as info:
        analyze(cut)
    err = info.value
    assert (err.offset, err.packet) == (offsets[n - 1], n)
    assert f"at byte {offsets[n - 1]} (packet {n})" in str(err)
    assert err.partial == analyze(data[: offsets[n - 1]])  # exactly the packets before
    assert err.partial.packets == n - 1


@pytest.mark.parametrize("buffer", [700, 1 << 23])
def test_corrupt_length_far_in_pcap(buffer, monkeypatch):
    monkeypatch.setattr(pcapmod, "BUFFER_SIZE", buffer)
    data, offsets = big_capture("pcap")
    n = 200
    bad = bytearray(data)
    struct.pack_into("<I", bad, offsets[n - 1] + 8, 300_000)  # beyond any snapshot length
    with pytest.raises(CaptureError, match=rf"corrupt packet record at byte {offsets[n - 1]} "
                                           rf"\(packet {n}\): captured length 300000"):  # fmt: skip
        list(read_packets(bytes(bad)))
    with pytest.raises(CaptureError) as info:
        analyze(bytes(bad))
    assert info.value.partial.packets == n - 1


@pytest.mark.parametrize("buffer", [700, 1 << 23])
def test_corrupt_block_far_in_pcapng(buffer, monkeypatch):
    monkeypatch.setattr(pcapmod, "BUFFER_SIZE", buffer)
    data, offsets = big_capture("pcapng")
    n = 150
    bad = bytearray(data)
    total = struct.unpack_from("<I", bad, offsets[n - 1] + 4)[0]
    struct.pack_into("<I", bad, offsets[n - 1] + total - 4, total + 4)  # trailer disagrees
    with pytest.raises(CaptureError, match=rf"corrupt block at byte {offsets[n - 1]} \(packet "
                                           rf"{n}\): leading length {total} differs"):  # fmt: skip
        analyze(bytes(bad))


def test_pcapng_writer_round_trip_with_interfaces_and_resolutions():
    buf = io.BytesIO()
    writer = PcapngWriter(buf, [(1, 6), (113, 9), (101, 0x80 | 10)], endian=">")
    writer.write(1700000000.25, b"eth", 0)
    writer.write(1700000000.123456789, b"sll", 1)
    writer.write(3.5, b"raw", 2)
    writer.flush()
    packets = list(read_packets(buf.getvalue()))
    assert [(p.linktype, p.frame) for p in packets] == [(1, b"eth"), (113, b"sll"), (101, b"raw")]
    assert packets[0].ts == 1700000000.25
    assert packets[1].ts == pytest.approx(1700000000.123456789, abs=1e-7)
    assert packets[2].ts == 3.5
    assert buf.getvalue()[8:12] == b"\x1a\x2b\x3c\x4d"  # big-endian byte-order magic


def test_a_record_larger_than_the_buffer(monkeypatch):
    monkeypatch.setattr(pcapmod, "BUFFER_SIZE", 1000)
    data = written([(1.0, b"a" * 50), (2.0, b"b" * 5000), (3.0, b"c" * 10)])
    assert [len(p.frame) for p in read_packets(data)] == [50, 5000, 10]
