"""Decode a captured frame down to its TCP segment or UDP datagram.

:func:`decode` takes the link type and bytes of one frame and returns a :class:`Segment`
(addresses, ports, protocol, TCP flags and sequence numbers, transport payload) or
``None`` for anything it ignores: other link types, ARP and other non-IP ethertypes,
IP protocols other than TCP and UDP, non-first IP fragments, IPsec, and frames too short
or malformed to hold the headers they announce.

Link types: Ethernet (1, any number of 802.1Q / 802.1ad VLAN tags, PPPoE session
frames), Linux cooked capture SLL (113) and SLL2 (276), raw IP (101, 228 = IPv4,
229 = IPv6).

The payload is trimmed to the IP datagram's own length, so Ethernet padding never counts
as payload. A first IP fragment yields the part of the payload it carries.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

__all__ = [
    "ACK",
    "FIN",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_RAW",
    "PSH",
    "RST",
    "SYN",
    "Segment",
    "decode",
]

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_PPPOE_SESSION = 0x8864
_PPP_IPV4, _PPP_IPV6 = 0x0021, 0x0057
_TCP, _UDP = 6, 17
# IPv6 extension headers that are walked over to reach the transport header.
_V6_HOP, _V6_ROUTING, _V6_FRAGMENT, _V6_AH, _V6_DSTOPTS = 0, 43, 44, 51, 60


@dataclass(frozen=True, slots=True)
class Segment:
    """A TCP segment or UDP datagram as seen on the wire.

    ``src``/``dst`` are IP addresses in text form (IPv6 compressed as ``inet_ntop`` writes
    it). ``proto`` is ``"tcp"`` or ``"udp"``. ``flags``, ``seq`` and ``ack`` are the TCP
    header's (0 for UDP). ``payload`` is the transport payload.
    """

    src: str
    dst: str
    sport: int
    dport: int
    proto: str
    flags: int
    seq: int
    ack: int
    payload: bytes


def decode(linktype: int, frame: bytes) -> Segment | None:
    """Return the TCP/UDP :class:`Segment` carried by ``frame``, or ``None`` to ignore it."""
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        return _by_ethertype(frame, 12)
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        return _by_ethertype(frame, 14)
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return None
        (ethertype,) = struct.unpack_from("!H", frame, 0)
        return _by_type(ethertype, frame, 20)
    if linktype == LINKTYPE_RAW:
        if not frame:
            return None
        version = frame[0] >> 4
        if version == 4:
            return _ipv4(frame, 0)
        if version == 6:
            return _ipv6(frame, 0)
        return None
    if linktype == LINKTYPE_IPV4:
        return _ipv4(frame, 0)
    if linktype == LINKTYPE_IPV6:
        return _ipv6(frame, 0)
    return None


def _by_ethertype(frame: bytes, pos: int) -> Segment | None:
    """Dispatch on the ethertype at ``pos`` (followed by the network header)."""
    (ethertype,) = struct.unpack_from("!H", frame, pos)
    return _by_type(ethertype, frame, pos + 2)


def _by_type(ethertype: int, frame: bytes, pos: int) -> Segment | None:
    while ethertype in _VLAN_TAGS:  # a 4-byte tag: TCI, then the next ethertype
        if len(frame) < pos + 4:
            return None
        (ethertype,) = struct.unpack_from("!H", frame, pos + 2)
        pos += 4
    if ethertype == _PPPOE_SESSION:  # 6-byte PPPoE header, then the PPP protocol
        if len(frame) < pos + 8:
            return None
        (ppp,) = struct.unpack_from("!H", frame, pos + 6)
        ethertype = {_PPP_IPV4: _ETH_IPV4, _PPP_IPV6: _ETH_IPV6}.get(ppp, 0)
        pos += 8
    if ethertype == _ETH_IPV4:
        return _ipv4(frame, pos)
    if ethertype == _ETH_IPV6:
        return _ipv6(frame, pos)
    return None


def _ipv4(frame: bytes, pos: int) -> Segment | None:
    if len(frame) < pos + 20 or frame[pos] >> 4 != 4:
        return None
    ihl = (frame[pos] & 0x0F) * 4
    total, frag, proto = struct.unpack_from("!H2xHxB", frame, pos + 2)
    if ihl < 20 or len(frame) < pos + ihl:
        return None
    if frag & 0x1FFF:  # not the first fragment: no transport header here
        return None
    # A total length of 0 is what captures of TSO-offloaded packets show: use the frame.
    end = len(frame) if total == 0 else min(len(frame), pos + total)
    if end < pos + ihl:
        return None
    src = socket.inet_ntop(socket.AF_INET, frame[pos + 12 : pos + 16])
    dst = socket.inet_ntop(socket.AF_INET, frame[pos + 16 : pos + 20])
    return _transport(proto, src, dst, frame[pos + ihl : end])


def _ipv6(frame: bytes, pos: int) -> Segment | None:
    if len(frame) < pos + 40 or frame[pos] >> 4 != 6:
        return None
    (plen,) = struct.unpack_from("!H", frame, pos + 4)
    nxt = frame[pos + 6]
    end = len(frame) if plen == 0 else min(len(frame), pos + 40 + plen)
    src = socket.inet_ntop(socket.AF_INET6, frame[pos + 8 : pos + 24])
    dst = socket.inet_ntop(socket.AF_INET6, frame[pos + 24 : pos + 40])
    here = pos + 40
    while nxt not in (_TCP, _UDP):
        if end < here + 8:
            return None
        if nxt in (_V6_HOP, _V6_ROUTING, _V6_DSTOPTS):
            length = (frame[here + 1] + 1) * 8
        elif nxt == _V6_FRAGMENT:
            (offset,) = struct.unpack_from("!H", frame, here + 2)
            if offset & 0xFFF8:  # not the first fragment
                return None
            length = 8
        elif nxt == _V6_AH:
            length = (frame[here + 1] + 2) * 4
        else:  # ESP, no next header, ICMPv6, anything else
            return None
        nxt = frame[here]
        here += length
    if end < here:
        return None
    return _transport(nxt, src, dst, frame[here:end])


def _transport(proto: int, src: str, dst: str, data: bytes) -> Segment | None:
    if proto == _TCP:
        if len(data) < 20:
            return None
        sport, dport, seq, ack, offset, flags = struct.unpack_from("!HHIIBB", data)
        doff = (offset >> 4) * 4
        if doff < 20 or doff > len(data):
            return None
        return Segment(src, dst, sport, dport, "tcp", flags, seq, ack, bytes(data[doff:]))
    if proto == _UDP:
        if len(data) < 8:
            return None
        sport, dport, length = struct.unpack_from("!HHH", data)
        # Length 0 (jumbograms) or a datagram cut by a first fragment: use what is here.
        end = len(data) if length < 8 else min(length, len(data))
        return Segment(src, dst, sport, dport, "udp", 0, 0, 0, bytes(data[8:end]))
    return None
