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

import socket
import struct
from dataclasses import dataclass, field

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


class DnsFormatError(ValueError):
    """The bytes are not a well-formed DNS message; the message says where it broke."""


@dataclass(frozen=True, slots=True)
class DnsMessage:
    """One DNS message.

    ``questions`` holds ``(name, qtype)`` pairs. ``answers`` holds the answer section's A,
    AAAA and CNAME records as ``(name, type, value)`` with ``type`` one of ``"A"``,
    ``"AAAA"``, ``"CNAME"`` and ``value`` an address in text form or a name; other record
    types are left out.
    """

    id: int
    is_response: bool
    rcode: int
    questions: list[tuple[str, int]] = field(default_factory=list)
    answers: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def qname(self) -> str | None:
        """The first question's name, or ``None`` for a message without a question."""
        return self.questions[0][0] if self.questions else None


def parse_message(data: bytes) -> DnsMessage:
    """Parse one DNS message; raise :class:`DnsFormatError` if it is cut short or malformed."""
    data = bytes(data)
    if len(data) < 12:
        raise DnsFormatError(f"DNS header needs 12 bytes, message has {len(data)}")
    msg_id, flags, qdcount, ancount = struct.unpack_from("!HHHH", data)
    pos = 12
    questions: list[tuple[str, int]] = []
    for _ in range(qdcount):
        name, pos = read_name(data, pos)
        if pos + 4 > len(data):
            raise DnsFormatError(f"question at byte {pos} is cut short")
        (qtype,) = struct.unpack_from("!H", data, pos)
        questions.append((name, qtype))
        pos += 4
    answers: list[tuple[str, str, str]] = []
    for _ in range(ancount):
        name, pos = read_name(data, pos)
        if pos + 10 > len(data):
            raise DnsFormatError(f"answer record at byte {pos} is cut short")
        rtype, _rclass, _ttl, rdlen = struct.unpack_from("!HHIH", data, pos)
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
            target, end = read_name(data, pos)
            if end != pos + rdlen:
                raise DnsFormatError(f"CNAME data at byte {pos} does not match its length")
            answers.append((name, "CNAME", target))
        pos += rdlen
    return DnsMessage(
        id=msg_id,
        is_response=bool(flags & 0x8000),
        rcode=flags & 0x000F,
        questions=questions,
        answers=answers,
    )


def read_name(data: bytes, pos: int) -> tuple[str, int]:
    """Read the (possibly compressed) name at ``pos``; return it and the offset after it."""
    labels: list[str] = []
    length = 0  # wire length of the name so far, including length bytes
    end = -1  # where the name ends in the place it started, once a pointer is followed
    limit = pos  # a pointer must point before the name that uses it
    while True:
        if pos >= len(data):
            raise DnsFormatError(f"name at byte {pos} is cut short")
        size = data[pos]
        if size & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise DnsFormatError(f"compression pointer at byte {pos} is cut short")
            target = ((size & 0x3F) << 8) | data[pos + 1]
            if target >= limit:
                raise DnsFormatError(
                    f"compression pointer at byte {pos} points forward to byte {target}"
                )
            if end < 0:
                end = pos + 2
            limit = pos = target
            continue
        if size & 0xC0:
            raise DnsFormatError(f"unsupported label type 0x{size & 0xC0:02x} at byte {pos}")
        length += size + 1
        if length > _MAX_NAME:
            raise DnsFormatError(f"name at byte {pos} is longer than {_MAX_NAME} bytes")
        if size == 0:
            return ".".join(labels), (end if end >= 0 else pos + 1)
        if pos + 1 + size > len(data):
            raise DnsFormatError(f"label at byte {pos} is cut short")
        labels.append(_label_text(data[pos + 1 : pos + 1 + size]))
        pos += 1 + size


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
