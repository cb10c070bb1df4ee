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

The analyzer uses the position-based core underneath (:func:`ip_header`,
:func:`transport`), which reads the frame in place without copying it and leaves IP
fragments to a reassembler (:class:`hil.capture.flows.Reassembler`).
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
    "ip_header",
    "network_offset",
    "transport",
    "walk_ipv6_options",
]

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

TCP, UDP = 6, 17
_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_PPPOE_SESSION = 0x8864
_PPP_IPV4, _PPP_IPV6 = 0x0021, 0x0057
# IPv6 extension headers that are walked over to reach the transport header.
_V6_HOP, _V6_ROUTING, _V6_FRAGMENT, _V6_AH, _V6_DSTOPTS = 0, 43, 44, 51, 60

_U16 = struct.Struct("!H").unpack_from
_TCP_HEAD = struct.Struct("!HHIIBB").unpack_from
_UDP_HEAD = struct.Struct("!HHH").unpack_from
_V4_HEAD = struct.Struct("!BxHHHxB").unpack_from  # ver/ihl, total, id, frag, proto


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
    frame = bytes(frame)
    ip = ip_header(linktype, frame, 0, len(frame))
    if ip is None:
        return None
    proto, src, dst, l4, cap_end, wire_end, frag = ip
    if frag is not None and (frag[1] or proto not in (TCP, UDP)):
        return None  # not the first fragment: no transport header here
    t = transport(proto, frame, l4, cap_end, wire_end)
    if t is None:
        return None
    sport, dport, flags, seq, ack, p0, p1, _paylen = t
    family = socket.AF_INET if len(src) == 4 else socket.AF_INET6
    return Segment(
        socket.inet_ntop(family, src),
        socket.inet_ntop(family, dst),
        sport,
        dport,
        "tcp" if proto == TCP else "udp",
        flags,
        seq,
        ack,
        frame[p0:p1],
    )


def network_offset(linktype: int, data, start: int, end: int) -> tuple[int, int] | None:
    """``(IP version, offset of the IP header)`` of the frame ``data[start:end]``, or
    ``None`` when it carries no IPv4/IPv6 packet."""
    if linktype == LINKTYPE_ETHERNET:
        if end - start < 14:
            return None
        return _by_type(_U16(data, start + 12)[0], data, start + 14, end)
    if linktype == LINKTYPE_LINUX_SLL:
        if end - start < 16:
            return None
        return _by_type(_U16(data, start + 14)[0], data, start + 16, end)
    if linktype == LINKTYPE_LINUX_SLL2:
        if end - start < 20:
            return None
        return _by_type(_U16(data, start)[0], data, start + 20, end)
    if linktype == LINKTYPE_RAW:
        if end <= start:
            return None
        version = data[start] >> 4
        return (version, start) if version in (4, 6) else None
    if linktype == LINKTYPE_IPV4:
        return 4, start
    if linktype == LINKTYPE_IPV6:
        return 6, start
    return None


def _by_type(ethertype: int, data, pos: int, end: int) -> tuple[int, int] | None:
    while ethertype in _VLAN_TAGS:  # a 4-byte tag: TCI, then the next ethertype
        if end < pos + 4:
            return None
        ethertype = _U16(data, pos + 2)[0]
        pos += 4
    if ethertype == _PPPOE_SESSION:  # 6-byte PPPoE header, then the PPP protocol
        if end < pos + 8:
            return None
        ppp = _U16(data, pos + 6)[0]
        ethertype = {_PPP_IPV4: _ETH_IPV4, _PPP_IPV6: _ETH_IPV6}.get(ppp, 0)
        pos += 8
    if ethertype == _ETH_IPV4:
        return 4, pos
    if ethertype == _ETH_IPV6:
        return 6, pos
    return None


def ip_header(linktype: int, data, start: int, end: int) -> tuple | None:
    """The IP layer of the frame ``data[start:end]`` carrying TCP or UDP, in place.

    Returns ``(proto, src, dst, l4, cap_end, wire_end, frag)``: the transport protocol
    number (6 or 17), the addresses as packed bytes (4 or 16), where the transport header
    starts, where its captured bytes end, where the datagram ends on the wire (beyond
    ``cap_end`` when the capture cut the packet short), and ``frag``: ``None`` for an
    unfragmented packet, else ``(ident, offset, more)`` (``offset`` in bytes). ``None``
    when the frame carries no TCP or UDP over IP, or is too short or malformed.
    """
    net = network_offset(linktype, data, start, end)
    if net is None:
        return None
    version, pos = net
    if version == 4:
        return _ipv4(data, pos, end)
    return _ipv6(data, pos, end)


def _ipv4(data, pos: int, end: int) -> tuple | None:
    if end < pos + 20:
        return None
    vihl, total, ident, frag, proto = _V4_HEAD(data, pos)
    if vihl >> 4 != 4 or proto not in (TCP, UDP):
        return None
    ihl = (vihl & 0x0F) * 4
    if ihl < 20 or end < pos + ihl:
        return None
    # A total length of 0 is what captures of TSO-offloaded packets show: use the frame.
    if total == 0:
        wire_end = end
    elif total < ihl:
        return None
    else:
        wire_end = pos + total
    cap_end = min(end, wire_end)
    src = bytes(data[pos + 12 : pos + 16])
    dst = bytes(data[pos + 16 : pos + 20])
    fragment = None
    if frag & 0x3FFF:  # more fragments, or an offset: a piece of a bigger datagram
        fragment = (ident, (frag & 0x1FFF) * 8, bool(frag & 0x2000))
    return proto, src, dst, pos + ihl, cap_end, wire_end, fragment


def _ipv6(data, pos: int, end: int) -> tuple | None:
    if end < pos + 40 or data[pos] >> 4 != 6:
        return None
    plen = _U16(data, pos + 4)[0]
    nxt = data[pos + 6]
    wire_end = end if plen == 0 else pos + 40 + plen
    cap_end = min(end, wire_end)
    src = bytes(data[pos + 8 : pos + 24])
    dst = bytes(data[pos + 24 : pos + 40])
    here = walk_ipv6_options(data, pos + 40, cap_end, nxt)
    if here is None:
        return None
    here, nxt = here
    if nxt != _V6_FRAGMENT:
        return (nxt, src, dst, here, cap_end, wire_end, None) if nxt in (TCP, UDP) else None
    if cap_end < here + 8:
        return None
    offset, ident = struct.unpack_from("!HI", data, here + 2)
    # What follows the fragment header is the fragmentable part: for the first fragment
    # usually the transport header, else data to be put back together.
    return data[here], src, dst, here + 8, cap_end, wire_end, (ident, offset & 0xFFF8, offset & 1)


def walk_ipv6_options(data, here: int, end: int, nxt: int) -> tuple[int, int] | None:
    """Skip IPv6 extension headers from ``here`` (whose type is ``nxt``) up to a transport
    or fragment header; return ``(offset, type)`` of that header, or ``None`` (ESP, ICMPv6,
    no next header, anything else, or headers cut short)."""
    while nxt not in (TCP, UDP, _V6_FRAGMENT):
        if end < here + 8:
            return None
        if nxt in (_V6_HOP, _V6_ROUTING, _V6_DSTOPTS):
            length = (data[here + 1] + 1) * 8
        elif nxt == _V6_AH:
            length = (data[here + 1] + 2) * 4
        else:
            return None
        nxt = data[here]
        here += length
    return (here, nxt) if here <= end else None


def transport(proto: int, data, l4: int, cap_end: int, wire_end: int) -> tuple | None:
    """The TCP or UDP header at ``data[l4:]``, in place.

    Returns ``(sport, dport, flags, seq, ack, p0, p1, paylen)``: ``data[p0:p1]`` is the
    captured payload and ``paylen`` the payload length on the wire (the IP datagram's
    length less the headers, so it counts bytes a short snapshot length cut off, never
    Ethernet padding). ``None`` when the header is not all there.
    """
    if proto == TCP:
        if cap_end < l4 + 20:
            return None
        sport, dport, seq, ack, offset, flags = _TCP_HEAD(data, l4)
        p0 = l4 + (offset >> 4) * 4
        if p0 < l4 + 20 or p0 > cap_end:
            return None
        return sport, dport, flags, seq, ack, p0, cap_end, wire_end - p0
    if cap_end < l4 + 8:
        return None
    sport, dport, length = _UDP_HEAD(data, l4)
    # Length 0 (jumbograms) or a datagram cut by a first fragment: use what is here.
    if length < 8:
        stop = wire_end
    else:
        stop = min(l4 + length, wire_end)
    return sport, dport, 0, 0, 0, l4 + 8, min(stop, cap_end), stop - l4 - 8
