"""Find the server name (SNI) in a TLS ClientHello.

:func:`scan_client_hello` takes the first bytes a client sent on a TCP connection, in
sequence order (the caller concatenates the in-order payload of however many segments it
has), and answers one of:

- ``NEED_MORE``: the bytes so far are a plausible start of a ClientHello but do not yet
  reach the server name extension, or the end of the ClientHello; call again with more;
- ``NOT_TLS``: the bytes are not a TLS handshake record holding a ClientHello, or the
  ClientHello is malformed (``detail`` says what);
- ``SNI``: the server_name extension is complete; ``sni`` holds the host name;
- ``NO_SNI``: the whole ClientHello is present and has no host name in it.

The scan stops as soon as the server_name extension is read, so a name early in a large
ClientHello is found without the rest. A ClientHello split over several TLS records
(handshake fragmentation) is read across them. Host names are lower-cased, without a
trailing dot.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

__all__ = ["HelloScan", "HelloStatus", "scan_client_hello"]

_HANDSHAKE = 22
_CLIENT_HELLO = 1
_EXT_SERVER_NAME = 0
_MAX_RECORD = 16384 + 2048  # largest TLSCiphertext fragment


class HelloStatus(enum.Enum):
    """What :func:`scan_client_hello` concluded about the bytes it was given."""

    NEED_MORE = "need_more"
    NOT_TLS = "not_tls"
    SNI = "sni"
    NO_SNI = "no_sni"


@dataclass(frozen=True, slots=True)
class HelloScan:
    """The answer of :func:`scan_client_hello`: a status, the name when found, a reason."""

    status: HelloStatus
    sni: str | None = None
    detail: str = ""


class _NeedMore(Exception):
    pass


class _Malformed(Exception):
    pass


def scan_client_hello(data: bytes) -> HelloScan:
    """Look for the SNI in ``data``, the client's first bytes of a TCP stream in order."""
    data = bytes(data)
    quick = _whole_hello_in_one_record(data)
    if quick is not None:
        return quick
    try:
        body, complete = _handshake_bytes(data)
        return _scan_hello(body, complete)
    except _NeedMore:
        return HelloScan(HelloStatus.NEED_MORE)
    except _Malformed as exc:
        return HelloScan(HelloStatus.NOT_TLS, detail=str(exc))


def _whole_hello_in_one_record(data: bytes) -> HelloScan | None:
    """The answer for the usual case, a well-formed ClientHello within the first record,
    read without ceremony, whole or a prefix of it (the first segment of several);
    ``None`` for anything else: the careful scan decides."""
    if len(data) < 9 or data[0] != _HANDSHAKE or data[1] != 3 or data[5] != _CLIENT_HELLO:
        return None
    record = (data[3] << 8) | data[4]
    end = 9 + int.from_bytes(data[6:9], "big")
    if record == 0 or record > _MAX_RECORD or end > 5 + record or end < 9 + 38:
        return None
    have = min(len(data), end)
    more = HelloScan(HelloStatus.NEED_MORE) if have < end else None  # what running out means
    if have <= 9:
        return more
    if data[9] != 3:  # version major
        return None
    if have < 9 + 35:  # version, random, session id length
        return more
    if data[9 + 34] > 32:
        return None
    pos = 9 + 35 + data[9 + 34]
    if pos + 2 > have:
        return more
    suites = (data[pos] << 8) | data[pos + 1]
    if suites % 2 or suites == 0:
        return None
    pos += 2 + suites
    if pos + 1 > have:
        return more
    pos += 1 + data[pos]  # compression methods
    if pos >= have:
        if pos > have or more is not None:
            return more
        return HelloScan(HelloStatus.NO_SNI, detail="ClientHello has no extensions")
    if pos + 2 > have:
        return more
    ext_end = pos + 2 + ((data[pos] << 8) | data[pos + 1])
    if more is None and ext_end != end:
        return None
    pos += 2
    while pos < ext_end:
        if pos + 4 > have:
            return more
        ext_type = (data[pos] << 8) | data[pos + 1]
        ext_len = (data[pos + 2] << 8) | data[pos + 3]
        pos += 4
        if pos + ext_len > ext_end:
            return None
        if pos + ext_len > have:
            return more
        if ext_type == _EXT_SERVER_NAME:
            if ext_len < 2 or 2 + ((data[pos] << 8) | data[pos + 1]) != ext_len:
                return None
            at, stop = pos + 2, pos + ext_len
            while at + 3 <= stop:
                size = (data[at + 1] << 8) | data[at + 2]
                if at + 3 + size > stop:
                    return None
                if data[at] == 0 and size:
                    name = data[at + 3 : at + 3 + size]
                    return HelloScan(HelloStatus.SNI, sni=name.decode("ascii", "backslashreplace")
                                     .lower().rstrip("."))  # fmt: skip
                at += 3 + size
            if at != stop:
                return None
            return HelloScan(HelloStatus.NO_SNI, detail="server_name has no host name")
        pos += ext_len
    if more is not None or pos != end:
        return more if pos == ext_end else None
    return HelloScan(HelloStatus.NO_SNI, detail="no server_name extension")


def _handshake_bytes(data: bytes) -> tuple[bytes, bool]:
    """Concatenate the handshake records' payloads up to the end of the ClientHello.

    Returns the handshake bytes (type, length, body...) available so far and whether the
    whole ClientHello message is among them.
    """
    out = bytearray()
    pos = 0
    needed = None  # total handshake bytes of the ClientHello, once its header is read
    while True:
        if needed is not None and len(out) >= needed:
            return bytes(out[:needed]), True
        if pos >= len(data):
            if not out and not data:
                raise _NeedMore
            return bytes(out), False
        if data[pos] != _HANDSHAKE:
            if pos == 0:
                raise _Malformed(f"first byte 0x{data[0]:02x} is not a TLS handshake record")
            raise _Malformed(f"record at byte {pos} interrupts the ClientHello")
        if pos + 1 < len(data) and data[pos + 1] != 3:
            raise _Malformed(f"record at byte {pos} has version major {data[pos + 1]}, not 3")
        if pos + 5 > len(data):
            return bytes(out), False
        (length,) = struct.unpack_from("!H", data, pos + 3)
        if length == 0 or length > _MAX_RECORD:
            raise _Malformed(f"record at byte {pos} has implausible length {length}")
        out += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if needed is None and len(out) >= 4:
            if out[0] != _CLIENT_HELLO:
                raise _Malformed(f"handshake message type {out[0]} is not a ClientHello")
            needed = 4 + int.from_bytes(out[1:4], "big")


class _Reader:
    """Reads a ClientHello body; running out of bytes means 'need more' or 'malformed'."""

    def __init__(self, data: bytes, complete: bool, end: int | None = None) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data) if end is None else end
        self.complete = complete

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > self.end:
            if self.complete or self.end < len(self.data):
                raise _Malformed(f"{what} runs past the end of its container")
            raise _NeedMore
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")

    def at_end(self) -> bool:
        return self.pos >= self.end


def _scan_hello(hs: bytes, complete: bool) -> HelloScan:
    if len(hs) < 4:
        raise _NeedMore
    r = _Reader(hs, complete)
    r.take(4, "handshake header")
    major = r.u8("client version")
    r.u8("client version")
    if major != 3:
        raise _Malformed(f"ClientHello version major {major} is not 3")
    r.take(32, "random")
    sid_len = r.u8("session id length")
    if sid_len > 32:
        raise _Malformed(f"session id length {sid_len} exceeds 32")
    r.take(sid_len, "session id")
    suites_len = r.u16("cipher suites length")
    if suites_len % 2 or suites_len == 0:
        raise _Malformed(f"cipher suites length {suites_len} is not a positive even number")
    r.take(suites_len, "cipher suites")
    r.take(r.u8("compression methods length"), "compression methods")
    if complete and r.at_end():
        return HelloScan(HelloStatus.NO_SNI, detail="ClientHello has no extensions")
    ext_total = r.u16("extensions length")
    ext_end = r.pos + ext_total
    if complete and ext_end != r.end:
        raise _Malformed("extensions length does not match the ClientHello length")
    while r.pos < ext_end:
        ext_type = r.u16("extension type")
        ext_len = r.u16("extension length")
        if r.pos + ext_len > ext_end:
            raise _Malformed(f"extension {ext_type} runs past the extensions block")
        data = r.take(ext_len, f"extension {ext_type}")
        if ext_type == _EXT_SERVER_NAME:
            name = _server_name(data)
            if name is not None:
                return HelloScan(HelloStatus.SNI, sni=name)
            return HelloScan(HelloStatus.NO_SNI, detail="server_name has no host name")
    if not complete:
        raise _NeedMore  # unreachable in practice: ext_end lies within the hello
    return HelloScan(HelloStatus.NO_SNI, detail="no server_name extension")


def _server_name(ext: bytes) -> str | None:
    r = _Reader(ext, complete=True)
    list_end = r.u16("server name list length") + 2
    if list_end > len(ext):
        raise _Malformed("server name list runs past its extension")
    r.end = list_end
    while not r.at_end():
        name_type = r.u8("server name type")
        name = r.take(r.u16("server name length"), "server name")
        if name_type == 0 and name:
            return name.decode("ascii", "backslashreplace").lower().rstrip(".")
    return None
