"""Streaming reader for pcap and pcapng capture files, and a classic pcap writer.

The reader yields one :class:`Packet` ``(ts, linktype, frame)`` at a time and holds only
the record being read, so a capture of any size is read in constant memory.

Read:
- classic pcap: microsecond (``a1b2c3d4``) and nanosecond (``a1b23c4d``) magic, written
  in either byte order;
- pcapng: any number of sections in either byte order; Interface Description Blocks
  (link type, ``if_tsresol``, ``if_tsoffset``); Enhanced Packet Blocks and the obsolete
  Packet Block. Simple Packet Blocks carry no timestamp: they are counted (so packet
  numbers in messages match Wireshark's frame numbers) but not yielded. Other blocks are
  skipped.

A file that ends inside a record, or whose headers make no sense, raises
:class:`~hil.capture.errors.CaptureError` naming the file, the byte offset of the record
and the packet number. Packets before the bad record have already been yielded.
"""

from __future__ import annotations

import io
import math
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from hil.capture.errors import CaptureError

__all__ = ["SNAPLEN", "Packet", "PcapWriter", "iter_packets", "read_packets"]

#: Snapshot length written by :class:`PcapWriter`, and the largest record the reader
#: accepts from a file that declares a smaller snapshot length (libpcap's own limit).
SNAPLEN = 262144

#: Largest pcapng block the reader accepts before calling the file corrupt.
_MAX_BLOCK = 64 * 1024 * 1024

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000_000),
    b"\xa1\xb2\xc3\xd4": (">", 1_000_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1_000_000_000),
    b"\xa1\xb2\x3c\x4d": (">", 1_000_000_000),
}
_SHB = b"\x0a\x0d\x0d\x0a"
_BOM_LE = b"\x4d\x3c\x2b\x1a"
_BOM_BE = b"\x1a\x2b\x3c\x4d"

_IDB, _OPB, _SPB, _EPB = 1, 2, 3, 6


class Packet(NamedTuple):
    """One captured frame: seconds since the epoch, the link type it is framed in, bytes."""

    ts: float
    linktype: int
    frame: bytes


class _Source:
    """A binary stream that remembers how many bytes have been read from it."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self.stream = stream
        self.name = name
        self.offset = 0

    def read(self, n: int) -> bytes:
        data = self.stream.read(n) if n > 0 else b""
        while 0 < len(data) < n:  # raw streams may return short reads before the end
            more = self.stream.read(n - len(data))
            if not more:
                break
            data += more
        self.offset += len(data)
        return data

    def error(
        self, what: str, offset: int, where: _Where | None = None, detail: str = ""
    ) -> CaptureError:
        """A :class:`CaptureError` about the record at ``offset``."""
        msg = f"capture {self.name}: {what} at byte {offset}"
        packet = None
        if where is not None:
            msg += f" ({where.text()})"
            packet = where.packet
        if detail:
            msg += f": {detail}"
        return CaptureError(msg, path=self.name, offset=offset, packet=packet)


class _Where(NamedTuple):
    """Where a bad record sits: in packet ``packet``, or after ``count`` packets."""

    packet: int | None
    count: int = 0

    def text(self) -> str:
        if self.packet is not None:
            return f"packet {self.packet}"
        return f"after packet {self.count}" if self.count else "before the first packet"


def _packet_where(number: int) -> _Where:
    return _Where(number)


def _after_where(count: int) -> _Where:
    return _Where(None, count)


def read_packets(source: str | os.PathLike[str] | bytes | bytearray | BinaryIO) -> Iterator[Packet]:
    """Yield every packet of a pcap or pcapng capture, in file order.

    ``source`` is a path (the file is opened here and closed when the iteration ends), the
    whole capture as bytes, or an open binary stream positioned at the file header (read,
    not closed). Raises :class:`CaptureError` for a truncated or corrupt capture, after
    yielding the packets that precede the damage.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield from iter_packets(io.BytesIO(bytes(source)), "<bytes>")
    elif hasattr(source, "read"):
        yield from iter_packets(source, str(getattr(source, "name", "<stream>")))  # type: ignore[arg-type]
    else:
        path = os.fspath(source)
        with open(path, "rb") as stream:
            yield from iter_packets(stream, path)


def iter_packets(stream: BinaryIO, name: str) -> Iterator[Packet]:
    """Yield the packets of the capture in ``stream``; ``name`` is used in error messages."""
    src = _Source(stream, name)
    magic = src.read(4)
    if len(magic) == 0:
        raise src.error("empty file, no capture header", 0)
    if magic in _PCAP_MAGICS:
        yield from _read_pcap(src, magic)
    elif magic == _SHB:
        yield from _read_pcapng(src)
    elif len(magic) < 4:
        raise src.error("truncated file header", 0, detail=f"{len(magic)} of 4 magic bytes")
    else:
        raise src.error(
            "not a pcap or pcapng file", 0, detail=f"unknown magic number 0x{magic.hex()}"
        )


def _read_pcap(src: _Source, magic: bytes) -> Iterator[Packet]:
    endian, units = _PCAP_MAGICS[magic]
    rest = src.read(20)
    if len(rest) < 20:
        raise src.error(
            "truncated pcap file header", 0, detail=f"{4 + len(rest)} of 24 bytes present"
        )
    major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(endian + "HHiIII", rest)
    if major != 2:
        raise src.error("unsupported pcap version", 4, detail=f"{major}.{minor} (expected 2.4)")
    linktype = network & 0xFFFF  # upper bits carry FCS information
    limit = max(snaplen, SNAPLEN)
    header = struct.Struct(endian + "IIII")
    number = 0
    while True:
        offset = src.offset
        rec = src.read(16)
        if not rec:
            return
        number += 1
        where = _packet_where(number)
        if len(rec) < 16:
            raise src.error(
                "truncated packet record header",
                offset,
                where,
                f"16 bytes needed, {len(rec)} remain",
            )
        sec, frac, incl, _orig = header.unpack(rec)
        if incl > limit:
            raise src.error(
                "corrupt packet record",
                offset,
                where,
                f"captured length {incl} exceeds the snapshot length {limit}",
            )
        data = src.read(incl)
        if len(data) < incl:
            raise src.error(
                "truncated packet record",
                offset,
                where,
                f"header says {incl} bytes, {len(data)} remain",
            )
        yield Packet(sec + frac / units, linktype, data)


class _Interface(NamedTuple):
    linktype: int
    units: int  # timestamp ticks per second
    tsoffset: int  # seconds added to every timestamp


def _read_pcapng(src: _Source) -> Iterator[Packet]:
    endian = ""
    interfaces: list[_Interface] = []
    count = 0  # packet blocks seen, including simple packet blocks
    first = True  # the caller has read the first block's 4-byte type already
    while True:
        if first:
            offset, head, first = 0, _SHB + src.read(4), False
        else:
            offset, head = src.offset, src.read(8)
        if not head:
            return
        if len(head) < 8:
            raise src.error(
                "truncated block header",
                offset,
                _after_where(count),
                f"8 bytes needed, {len(head)} remain",
            )
        if head[:4] == _SHB:
            bom = src.read(4)
            if bom == _BOM_LE:
                endian = "<"
            elif bom == _BOM_BE:
                endian = ">"
            elif len(bom) < 4:
                raise src.error(
                    "truncated section header block",
                    offset,
                    _after_where(count),
                    f"{len(bom)} of 4 byte-order bytes remain",
                )
            else:
                raise src.error(
                    "corrupt section header block",
                    offset,
                    _after_where(count),
                    f"unknown byte-order magic 0x{bom.hex()}",
                )
            (total,) = struct.unpack(endian + "I", head[4:8])
            body = _read_block_rest(src, endian, offset, total, 12, 28, _after_where(count))
            major = struct.unpack(endian + "H", body[:2])[0]
            if major != 1:
                raise src.error(
                    "unsupported pcapng version",
                    offset,
                    _after_where(count),
                    f"section header says version {major}, expected 1",
                )
            interfaces = []
            continue
        if not endian:  # unreachable: the file starts with a section header block
            raise src.error("block outside a section", offset, _after_where(count))
        btype, total = struct.unpack(endian + "II", head)
        is_packet = btype in (_EPB, _OPB, _SPB)
        where = _packet_where(count + 1) if is_packet else _after_where(count)
        body = _read_block_rest(src, endian, offset, total, 8, 12, where)
        if btype == _IDB:
            interfaces.append(_parse_idb(src, endian, body, offset, where))
        elif btype in (_EPB, _OPB):
            count += 1
            yield _parse_packet_block(src, endian, btype, body, interfaces, offset, where)
        elif btype == _SPB:
            count += 1


def _read_block_rest(
    src: _Source, endian: str, offset: int, total: int, already: int, minimum: int, where: _Where
) -> bytes:
    """Read the rest of a block whose first ``already`` bytes are read; return its body."""
    if total < minimum or total % 4 or total > _MAX_BLOCK:
        raise src.error(
            "corrupt block",
            offset,
            where,
            f"block length {total} is not a multiple of 4 between {minimum} and {_MAX_BLOCK}",
        )
    rest = src.read(total - already)
    if len(rest) < total - already:
        raise src.error(
            "truncated block",
            offset,
            where,
            f"header says {total} bytes, {already + len(rest)} remain",
        )
    (trailer,) = struct.unpack(endian + "I", rest[-4:])
    if trailer != total:
        raise src.error(
            "corrupt block",
            offset,
            where,
            f"leading length {total} differs from trailing length {trailer}",
        )
    return rest[:-4]


def _options(
    src: _Source, endian: str, data: bytes, offset: int, where: _Where
) -> dict[int, bytes]:
    opts: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(data):
        code, length = struct.unpack_from(endian + "HH", data, pos)
        pos += 4
        if code == 0:
            break
        if pos + length > len(data):
            raise src.error(
                "corrupt block options",
                offset,
                where,
                f"option {code} says {length} bytes, {len(data) - pos} remain",
            )
        opts.setdefault(code, data[pos : pos + length])
        pos += (length + 3) & ~3
    return opts


def _parse_idb(src: _Source, endian: str, body: bytes, offset: int, where: _Where) -> _Interface:
    if len(body) < 8:
        raise src.error(
            "corrupt interface description block",
            offset,
            where,
            f"body has {len(body)} bytes, 8 needed",
        )
    linktype, _reserved, _snaplen = struct.unpack_from(endian + "HHI", body)
    opts = _options(src, endian, body[8:], offset, where)
    units = 1_000_000
    resol = opts.get(9)
    if resol:
        value = resol[0]
        units = 2 ** (value & 0x7F) if value & 0x80 else 10**value
    tsoffset = 0
    raw = opts.get(14)
    if raw is not None and len(raw) == 8:
        (tsoffset,) = struct.unpack(endian + "q", raw)
    return _Interface(linktype, units, tsoffset)


def _parse_packet_block(
    src: _Source,
    endian: str,
    btype: int,
    body: bytes,
    interfaces: list[_Interface],
    offset: int,
    where: _Where,
) -> Packet:
    fixed = 20  # both block kinds have 20 bytes before the packet data
    if len(body) < fixed:
        raise src.error(
            "corrupt packet block", offset, where, f"body has {len(body)} bytes, {fixed} needed"
        )
    if btype == _EPB:
        iface, high, low, caplen, _orig = struct.unpack_from(endian + "IIIII", body)
    else:
        iface, _drops, high, low, caplen, _orig = struct.unpack_from(endian + "HHIIII", body)
    if caplen > len(body) - fixed:
        raise src.error(
            "corrupt packet block",
            offset,
            where,
            f"captured length {caplen} exceeds the {len(body) - fixed} bytes of the block",
        )
    if iface >= len(interfaces):
        raise src.error(
            "corrupt packet block",
            offset,
            where,
            f"refers to interface {iface}, only {len(interfaces)} described",
        )
    intf = interfaces[iface]
    secs, ticks = divmod((high << 32) | low, intf.units)
    ts = intf.tsoffset + secs + ticks / intf.units
    return Packet(ts, intf.linktype, body[fixed : fixed + caplen])


class PcapWriter:
    """Write frames as a classic pcap file (little-endian, version 2.4, snaplen 262144).

    The file header is written at construction, so a writer that never gets a frame still
    leaves a valid empty capture. Timestamps are stored in microseconds, or nanoseconds
    when ``nanosecond`` is true, rounded to the nearest unit. Frames longer than the
    snapshot length are cut to it (the record keeps the original length).
    """

    def __init__(self, fileobj: BinaryIO, linktype: int = 1, nanosecond: bool = False) -> None:
        self._f = fileobj
        self._units = 1_000_000_000 if nanosecond else 1_000_000
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self._f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, SNAPLEN, linktype))

    def write(self, ts: float, frame: bytes) -> None:
        """Append one frame captured at ``ts`` seconds since the epoch (ts >= 0)."""
        if ts < 0:
            raise ValueError(f"pcap timestamps cannot be negative: {ts}")
        sec = math.floor(ts)
        frac = round((ts - sec) * self._units)
        if frac >= self._units:
            sec, frac = sec + 1, frac - self._units
        if sec > 0xFFFFFFFF:
            raise ValueError(f"timestamp {ts} does not fit a classic pcap record")
        incl = min(len(frame), SNAPLEN)
        self._f.write(struct.pack("<IIII", sec, frac, incl, len(frame)))
        self._f.write(bytes(frame[:incl]))

    def flush(self) -> None:
        """Push written records to the underlying file."""
        self._f.flush()
