"""Parse DNS messages: the question and the A / AAAA / CNAME answers.

:func:`parse_message` reads one DNS message (a UDP payload) and returns a
:class:`DnsMessage`; :func:`split_tcp_stream` and :func:`parse_tcp_stream` read DNS over
TCP, where every message is preceded by its 2-byte length.

Names are returned lower-cased (DNS names compare case-insensitively and resolvers
randomise case), without the trailing dot; the root is ``""``. Bytes outside printable
ASCII, dots and backslashes inside a label are written as ``\\DDD`` (decimal), as ``dig``
does. Compression pointers are followed only backwards, which makes loops impossible;
names longer than 255 bytes are rejected.

A message that is cut short or malformed raises :class:`DnsFormatError`.
"""

from __future__ import annotations

import re
import socket
import struct
from typing import NamedTuple

__all__ = [
    "TYPE_A",
    "TYPE_AAAA",
    "TYPE_CNAME",
    "DnsFormatError",
    "DnsMessage",
    "parse_message",
    "parse_tcp_stream",
    "split_tcp_stream",
]

TYPE_A, TYPE_CNAME, TYPE_AAAA = 1, 5, 28
_TYPE_NAMES = {TYPE_A: "A", TYPE_CNAME: "CNAME", TYPE_AAAA: "AAAA"}
_MAX_NAME = 255
_HEADER = struct.Struct("!HHHH").unpack_from  # id, flags, questions, answers
_QTYPE = struct.Struct("!H").unpack_from
_RECORD = struct.Struct("!HHIH").unpack_from  # type, class, TTL, data length


class DnsFormatError(ValueError):
    """The bytes are not a well-formed DNS message; the message says where it broke."""


class DnsMessage(NamedTuple):
    """One DNS message.

    ``questions`` holds ``(name, qtype)`` pairs. ``answers`` holds the answer section's A,
    AAAA and CNAME records as ``(name, type, value)`` with ``type`` one of ``"A"``,
    ``"AAAA"``, ``"CNAME"`` and ``value`` an address in text form or a name; other record
    types are left out.
    """

    id: int
    is_response: bool
    rcode: int
    questions: list[tuple[str, int]] = []
    answers: list[tuple[str, str, str]] = []

    @property
    def qname(self) -> str | None:
        """The first question's name, or ``None`` for a message without a question."""
        return self.questions[0][0] if self.questions else None


def parse_message(data: bytes) -> DnsMessage:
    """Parse one DNS message; raise :class:`DnsFormatError` if it is cut short or malformed."""
    data = bytes(data)
    if len(data) < 12:
        raise DnsFormatError(f"DNS header needs 12 bytes, message has {len(data)}")
    msg_id, flags, qdcount, ancount = _HEADER(data)
    pos = 12
    memo: dict[int, tuple[str, int]] = {}
    questions: list[tuple[str, int]] = []
    for _ in range(qdcount):
        name, pos = _read_name(data, pos, memo)
        if pos + 4 > len(data):
            raise DnsFormatError(f"question at byte {pos} is cut short")
        (qtype,) = _QTYPE(data, pos)
        questions.append((name, qtype))
        pos += 4
    answers: list[tuple[str, str, str]] = []
    for _ in range(ancount):
        name, pos = _read_name(data, pos, memo)
        if pos + 10 > len(data):
            raise DnsFormatError(f"answer record at byte {pos} is cut short")
        rtype, _rclass, _ttl, rdlen = _RECORD(data, pos)
        pos += 10
        if pos + rdlen > len(data):
            raise DnsFormatError(
                f"answer data at byte {pos} says {rdlen} bytes, {len(data) - pos} remain"
            )
        rdata = data[pos : pos + rdlen]
        if rtype == TYPE_A and rdlen == 4:
            answers.append((name, "A", socket.inet_ntop(socket.AF_INET, rdata)))
        elif rtype == TYPE_AAAA and rdlen == 16:
            answers.append((name, "AAAA", socket.inet_ntop(socket.AF_INET6, rdata)))
        elif rtype == TYPE_CNAME:
            target, end = _read_name(data, pos, memo)
            if end != pos + rdlen:
                raise DnsFormatError(f"CNAME data at byte {pos} does not match its length")
            answers.append((name, "CNAME", target))
        pos += rdlen
    return DnsMessage(msg_id, bool(flags & 0x8000), flags & 0x000F, questions, answers)


def read_name(data: bytes, pos: int) -> tuple[str, int]:
    """Read the (possibly compressed) name at ``pos``; return it and the offset after it."""
    return _read_name(bytes(data), pos, {})


def _read_name(data: bytes, pos: int, memo: dict[int, tuple[str, int]]) -> tuple[str, int]:
    """:func:`read_name`, remembering in ``memo`` (offset -> (name, wire length)) the
    names read in this message: a pointer to one of them ends the walk at once."""
    # The usual name first: plain labels up to a zero byte, no pointer, seen lately.
    end = pos
    size_of_data = len(data)
    while end < size_of_data:
        size = data[end]
        if not size or size & 0xC0:
            break
        end += size + 1
    if end < size_of_data and not data[end] and end - pos < _MAX_NAME:
        text = _WIRE_CACHE.get(data[pos : end + 1])
        if text is not None:
            memo[pos] = (text, end + 1 - pos)
            return text, end + 1
    return _walk_name(data, pos, memo)


def _walk_name(data: bytes, pos: int, memo: dict[int, tuple[str, int]]) -> tuple[str, int]:
    """:func:`_read_name` label by label."""
    start = pos
    labels: list[bytes] = []
    length = 0  # wire length of the name so far, including length bytes
    end = -1  # where the name ends in the place it started, once a pointer is followed
    limit = pos  # a pointer must point before the name that uses it
    size_of_data = len(data)
    while True:
        if pos >= size_of_data:
            raise DnsFormatError(f"name at byte {pos} is cut short")
        size = data[pos]
        if size >= 0xC0:
            if pos + 1 >= size_of_data:
                raise DnsFormatError(f"compression pointer at byte {pos} is cut short")
            target = ((size & 0x3F) << 8) | data[pos + 1]
            if target >= limit:
                raise DnsFormatError(
                    f"compression pointer at byte {pos} points forward to byte {target}"
                )
            if end < 0:
                end = pos + 2
            known = memo.get(target)
            if known is not None:
                text, wire = known
                if length + wire > _MAX_NAME:
                    raise DnsFormatError(f"name at byte {pos} is longer than {_MAX_NAME} bytes")
                if labels:
                    text = _name_text(labels) + "." + text if text else _name_text(labels)
                memo[start] = (text, length + wire)
                return text, end
            limit = pos = target
            continue
        if size & 0xC0:
            raise DnsFormatError(f"unsupported label type 0x{size & 0xC0:02x} at byte {pos}")
        length += size + 1
        if length > _MAX_NAME:
            raise DnsFormatError(f"name at byte {pos} is longer than {_MAX_NAME} bytes")
        if size == 0:
            text = _name_text(labels)
            memo[start] = (text, length)
            if end >= 0:
                return text, end
            if len(_WIRE_CACHE) >= 4096:
                _WIRE_CACHE.clear()
            _WIRE_CACHE[data[start : pos + 1]] = text  # a plain name, as on the wire
            return text, pos + 1
        if pos + 1 + size > size_of_data:
            raise DnsFormatError(f"label at byte {pos} is cut short")
        labels.append(data[pos + 1 : pos + 1 + size])
        pos += 1 + size


_PLAIN_LABEL = re.compile(rb"[\x21-\x2d\x2f-\x5b\x5d-\x7e]*")
_TEXT_CACHE: dict[tuple[bytes, ...], str] = {}  # labels -> name, for names seen lately
_WIRE_CACHE: dict[bytes, str] = {}  # a plain name's wire bytes -> name, for names seen lately


def _name_text(labels: list[bytes]) -> str:
    key = tuple(labels)
    text = _TEXT_CACHE.get(key)
    if text is not None:
        return text
    if _PLAIN_LABEL.fullmatch(b"".join(labels)):  # the usual case: nothing to escape
        text = b".".join(labels).decode("ascii").lower()
    else:
        text = ".".join(map(_label_text, labels))
    if len(_TEXT_CACHE) >= 4096:
        _TEXT_CACHE.clear()
    _TEXT_CACHE[key] = text
    return text


def _label_text(raw: bytes) -> str:
    out = []
    for b in raw:
        if 0x21 <= b <= 0x7E and b not in (0x2E, 0x5C):
            out.append(chr(b).lower())
        else:
            out.append(f"\\{b:03d}")
    return "".join(out)


def split_tcp_stream(stream: bytes) -> tuple[list[bytes], bytes]:
    """Split a DNS-over-TCP byte stream into messages.

    Returns the complete messages (without their 2-byte length prefix) and the bytes left
    over at the end that do not yet form a complete message.
    """
    messages: list[bytes] = []
    pos = 0
    while pos + 2 <= len(stream):
        (size,) = struct.unpack_from("!H", stream, pos)
        if pos + 2 + size > len(stream):
            break
        messages.append(bytes(stream[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    return messages, bytes(stream[pos:])


def parse_tcp_stream(stream: bytes) -> list[DnsMessage]:
    """Parse every complete message of a DNS-over-TCP byte stream, in order."""
    messages, _rest = split_tcp_stream(stream)
    return [parse_message(m) for m in messages]
