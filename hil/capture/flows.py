"""Group TCP segments and UDP datagrams into flows, and read what names them.

A flow is one conversation between a client and a server, keyed by protocol and the two
(address, port) ends. :class:`FlowTable` takes packets in capture order and keeps, per
flow and per direction (up = client to server), a :class:`Direction`: packets, transport
payload bytes (as the IP header gives them, so bytes a short snapshot length cut off
count, Ethernet padding never does) and the time of the last packet. Retransmitted
payload is counted again, as on the wire.

Which end is the client:
- TCP: the sender of a SYN without ACK; the receiver of a SYN+ACK. A flow first seen
  without either (the capture started mid-connection): the end whose port is below 1024
  when the other is not is the server, else the end with the higher port is the client,
  else (equal ports) the sender of the first packet seen.
- UDP: the end whose port is below 1024 when the other is not is the server, else the
  sender of the first packet is the client.

When a flow starts again on the same addresses and ports:
- TCP: a SYN without ACK starts a new flow, unless it repeats the initial sequence number
  of the SYN that opened the flow (a retransmission). This covers a client port reused
  after FIN or RST.
- UDP: a datagram arriving more than ``udp_timeout`` seconds (default 60) after the
  flow's last packet.

What is read from the payload, while a direction is *watched* (``Direction.watch``):
- TCP, any port but 53: the client's first payload bytes, reassembled in sequence order
  (out-of-order segments wait, overlaps and retransmissions are merged) up to
  ``first_bytes`` bytes (default :data:`FIRST_BYTES`, enough for a 16 KB ClientHello
  split over many segments), for the TLS SNI (:mod:`hil.capture.tls`) and, for
  plaintext HTTP, the request's Host header (:func:`http_request_host`). The watch ends
  once both are decided, or when the limit is reached without a decision.
- TCP with port 53 at either end: DNS over TCP; both directions are reassembled (each up
  to :data:`DNS_STREAM_BYTES`) and every complete message goes to ``on_dns``.
- UDP with port 53 at either end: every datagram goes to ``on_dns``.
- UDP: a QUIC long header (IETF QUIC v1/v2 and drafts, Google QUIC) marks the flow as
  QUIC (``FlowState.quic``). Its server name is encrypted: none is read or guessed.

Unwatched packets only move counters, which lets :mod:`hil.capture.vector` count bulk
segments in bulk.
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Callable

from hil.capture.decode import SYN, TCP, UDP, Segment
from hil.capture.dns import split_tcp_stream
from hil.capture.tls import HelloStatus, scan_client_hello

__all__ = [
    "DNS_PORT",
    "DNS_STREAM_BYTES",
    "FIRST_BYTES",
    "Direction",
    "FlowState",
    "FlowTable",
    "Reassembler",
    "Stream",
    "http_request_host",
    "is_quic",
]

#: How many of the client's first payload bytes are kept to find the server name.
FIRST_BYTES = 20 * 1024
#: How many bytes of each direction of a DNS-over-TCP connection are read.
DNS_STREAM_BYTES = 1024 * 1024
#: The port whose messages are read as DNS, over UDP and TCP (plaintext DNS only).
DNS_PORT = 53

_SEQ_MOD = 1 << 32
_NEVER = float("-inf")
_HTTP_METHODS = (
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
)
_METHOD_INITIALS = frozenset(m[0] for m in _HTTP_METHODS)
_PORTS = struct.Struct("!HH")


class Stream:
    """A TCP byte stream reassembled in sequence order from its start, up to a limit.

    ``data`` holds the in-order bytes from the stream's start (sequence number ``base``),
    less the ``consumed`` bytes a reader has taken off the front.
    """

    __slots__ = ("base", "consumed", "data", "limit", "pending", "total")

    def __init__(self, limit: int) -> None:
        self.base: int | None = None  # sequence number of the first payload byte
        self.data = bytearray()
        self.pending: dict[int, bytes] = {}  # offset -> bytes that arrived early
        self.limit = limit
        self.total = 0  # in-order bytes received (consumed ones included)
        self.consumed = 0

    def add(self, seq: int, payload) -> bool:
        """Place ``payload`` starting at sequence ``seq``; return True if the prefix grew."""
        if self.base is None:
            self.base = seq
        offset = (seq - self.base) % _SEQ_MOD
        if offset >= _SEQ_MOD // 2:  # starts before the base: keep what lies after it
            skip = _SEQ_MOD - offset
            if skip >= len(payload):
                return False
            payload, offset = payload[skip:], 0
        if offset > self.total:
            if offset < self.limit and len(self.pending.get(offset, b"")) < len(payload):
                self.pending[offset] = bytes(payload)
            return False
        grew = self._merge(offset, payload)
        while self.pending:
            ready = [o for o in self.pending if o <= self.total]
            if not ready:
                break
            for o in sorted(ready):
                grew = self._merge(o, self.pending.pop(o)) or grew
        return grew

    def _merge(self, offset: int, payload) -> bool:
        new = payload[self.total - offset :]
        room = self.limit - self.total
        if not new or room <= 0:
            return False
        new = new[:room]
        self.data += new
        self.total += len(new)
        return True

    def consume(self, n: int) -> None:
        """Drop the first ``n`` bytes of ``data`` (a reader has used them)."""
        del self.data[:n]
        self.consumed += n

    @property
    def full(self) -> bool:
        return self.total >= self.limit


class Direction:
    """The packets of one flow going one way: counters, and whether payload is read."""

    __slots__ = ("bytes", "flow", "last", "packets", "up", "watch")

    def __init__(self, flow: FlowState, up: bool, watch: bool) -> None:
        self.packets = 0
        self.bytes = 0
        self.last = _NEVER
        self.watch = watch
        self.flow = flow
        self.up = up


class FlowState:
    """One flow as the table knows it so far. ``client``/``server`` are packed addresses
    (4 or 16 bytes), ``proto`` 6 (TCP) or 17 (UDP)."""

    __slots__ = (
        "client",
        "cport",
        "dns",
        "dns_name",
        "down",
        "first",
        "hello",
        "http_done",
        "http_host",
        "isn",
        "proto",
        "quic",
        "server",
        "sni",
        "sport",
        "tls_done",
        "up",
    )

    def __init__(self, proto: int, client: bytes, cport: int, server: bytes, sport: int,
                 first: float) -> None:  # fmt: skip
        self.proto = proto
        self.client = client
        self.cport = cport
        self.server = server
        self.sport = sport
        self.first = first
        self.up = Direction(self, True, False)
        self.down = Direction(self, False, False)
        self.isn: int | None = None  # initial sequence number of the client's SYN
        self.sni: str | None = None
        self.http_host: str | None = None
        self.dns_name: str | None = None
        self.quic: bool | None = None  # None: no UDP payload from the client seen yet
        self.hello: Stream | None = None  # the client's first bytes, while read
        self.dns: list[Stream] | None = None  # DNS over TCP: [client's, server's]
        self.tls_done = False
        self.http_done = False

    @property
    def last(self) -> float:
        return max(self.up.last, self.down.last)

    @property
    def packets_up(self) -> int:
        return self.up.packets

    @property
    def packets_down(self) -> int:
        return self.down.packets

    @property
    def bytes_up(self) -> int:
        return self.up.bytes

    @property
    def bytes_down(self) -> int:
        return self.down.bytes

    @property
    def client_ip(self) -> str:
        return ip_text(self.client)

    @property
    def server_ip(self) -> str:
        return ip_text(self.server)


def ip_text(packed: bytes) -> str:
    """A packed IPv4 or IPv6 address in text form."""
    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


#: ``on_dns(ts, src, sport, dst, dport, message)`` for every DNS message seen.
DnsHandler = Callable[[float, bytes, int, bytes, int, bytes], None]


class FlowTable:
    """Flows built from packets fed in capture order; see the module description.

    ``tcp``/``udp`` map a packet's key (source address, destination address, source port,
    destination port, packed) to its :class:`Direction`. ``on_dns`` gets every DNS
    message (see :data:`DnsHandler`); ``on_flow(flow)`` is called for every new flow.
    """

    def __init__(self, udp_timeout: float = 60.0, first_bytes: int = FIRST_BYTES,
                 on_dns: DnsHandler | None = None,
                 on_flow: Callable[[FlowState], None] | None = None) -> None:  # fmt: skip
        self.udp_timeout = udp_timeout
        self.first_bytes = first_bytes
        self.on_dns = on_dns
        self.on_flow = on_flow
        self.tcp: dict[bytes, Direction] = {}
        self.udp: dict[bytes, Direction] = {}
        self.flows: list[FlowState] = []

    # --- the engine's entry points: one packet, its fields already decoded ---------------

    def tcp_packet(self, ts: float, key: bytes, src: bytes, dst: bytes, sport: int,
                   dport: int, flags: int, seq: int, data, p0: int, p1: int,
                   paylen: int) -> Direction:  # fmt: skip
        """Account a TCP segment (payload ``data[p0:p1]``, ``paylen`` bytes on the wire)."""
        d = self.tcp.get(key)
        if flags & 0x12 == SYN:  # a SYN without ACK: a connection starts
            if d is not None and not (d.up and d.flow.isn == seq):
                d = None  # a new connection on the same ports, not a retransmission
            if d is None:
                d = self._new(self.tcp, ts, TCP, key, src, dst, sport, dport, True)
            flow = d.flow
            if d.up and flow.isn is None:
                flow.isn = seq
        elif d is None:
            client_is_src = False if flags & 0x12 == 0x12 else _client_is_src(TCP, sport, dport)
            d = self._new(self.tcp, ts, TCP, key, src, dst, sport, dport, client_is_src)
        d.packets += 1
        d.bytes += paylen
        if ts > d.last:
            d.last = ts
        if d.watch and (p1 > p0 or flags & SYN):
            self._watched_tcp(ts, d, flags, seq, data, p0, p1)
        return d

    def udp_packet(self, ts: float, key: bytes, src: bytes, dst: bytes, sport: int,
                   dport: int, data, p0: int, p1: int, paylen: int) -> Direction:  # fmt: skip
        """Account a UDP datagram (payload ``data[p0:p1]``, ``paylen`` bytes on the wire)."""
        d = self.udp.get(key)
        if d is not None and ts - d.flow.last > self.udp_timeout:
            d = None  # idle too long: a new conversation
        if d is None:
            client_is_src = _client_is_src(UDP, sport, dport)
            d = self._new(self.udp, ts, UDP, key, src, dst, sport, dport, client_is_src)
        d.packets += 1
        d.bytes += paylen
        if ts > d.last:
            d.last = ts
        if d.watch and p1 > p0:
            flow = d.flow
            if DNS_PORT in (sport, dport):
                if self.on_dns is not None:
                    self.on_dns(ts, src, sport, dst, dport, bytes(data[p0:p1]))
            else:  # not decided yet: QUIC or not
                if is_quic(data[p0 : min(p1, p0 + 16)]):
                    flow.quic = True
                elif d.up:
                    flow.quic = False
                if flow.quic is not None:
                    flow.up.watch = flow.down.watch = False
        return d

    def _new(self, table: dict[bytes, Direction], ts: float, proto: int, key: bytes,
             src: bytes, dst: bytes, sport: int, dport: int,
             client_is_src: bool) -> Direction:  # fmt: skip
        rkey = dst + src + _PORTS.pack(dport, sport)
        if client_is_src:
            flow = FlowState(proto, src, sport, dst, dport, ts)
            table[key], table[rkey] = flow.up, flow.down
        else:
            flow = FlowState(proto, dst, dport, src, sport, ts)
            table[key], table[rkey] = flow.down, flow.up
        if DNS_PORT in (sport, dport):
            flow.up.watch = flow.down.watch = True
            if proto == TCP:
                flow.dns = [Stream(DNS_STREAM_BYTES), Stream(DNS_STREAM_BYTES)]
        elif proto == TCP:
            flow.up.watch = True
            flow.hello = Stream(self.first_bytes)
        else:  # UDP: read the first datagrams for a QUIC header
            flow.up.watch = flow.down.watch = True
        self.flows.append(flow)
        if self.on_flow is not None:
            self.on_flow(flow)
        return table[key]

    def _watched_tcp(self, ts: float, d: Direction, flags: int, seq: int, data, p0: int,
                     p1: int) -> None:  # fmt: skip
        flow = d.flow
        if flags & SYN:
            seq = (seq + 1) % _SEQ_MOD  # the SYN takes one sequence number
        if flow.dns is not None:
            stream = flow.dns[0 if d.up else 1]
            if flags & SYN and stream.base is None:
                stream.base = seq
            if p1 > p0 and stream.add(seq, data[p0:p1]):
                self._dns_messages(ts, flow, d.up, stream)
            return
        stream = flow.hello
        if stream is None:  # pragma: no cover - the watch ends with the stream
            d.watch = False
            return
        if flags & SYN and stream.base is None:
            stream.base = seq
        if p1 > p0 and stream.add(seq, data[p0:p1]):
            _read_names(flow, stream)
            if flow.hello is None:
                d.watch = False

    def _dns_messages(self, ts: float, flow: FlowState, up: bool, stream: Stream) -> None:
        messages, rest = split_tcp_stream(bytes(stream.data))
        stream.consume(len(stream.data) - len(rest))
        if self.on_dns is None:
            return
        if up:
            ends = (flow.client, flow.cport, flow.server, flow.sport)
        else:
            ends = (flow.server, flow.sport, flow.client, flow.cport)
        for message in messages:
            self.on_dns(ts, *ends, message)

    # --- convenience for callers holding decoded Segments ----------------------------------

    def add(self, ts: float, seg: Segment) -> tuple[FlowState, bool]:
        """Account ``seg`` seen at ``ts``; return its flow and whether the flow is new."""
        family = socket.AF_INET6 if ":" in seg.src else socket.AF_INET
        src = socket.inet_pton(family, seg.src)
        dst = socket.inet_pton(family, seg.dst)
        key = src + dst + _PORTS.pack(seg.sport, seg.dport)
        before = len(self.flows)
        payload = seg.payload
        if seg.proto == "tcp":
            d = self.tcp_packet(ts, key, src, dst, seg.sport, seg.dport, seg.flags, seg.seq,
                                payload, 0, len(payload), len(payload))  # fmt: skip
        else:
            d = self.udp_packet(ts, key, src, dst, seg.sport, seg.dport, payload, 0,
                                len(payload), len(payload))  # fmt: skip
        return d.flow, len(self.flows) > before


def _read_names(flow: FlowState, stream: Stream) -> None:
    """Try to read SNI and HTTP Host from the reassembled prefix; drop it once decided."""
    data = bytes(stream.data)
    if not flow.tls_done:
        scan = scan_client_hello(data)
        if scan.status is not HelloStatus.NEED_MORE:
            flow.tls_done = True
            flow.sni = sys.intern(scan.sni) if scan.sni else scan.sni
            if scan.status is not HelloStatus.NOT_TLS:
                flow.http_done = True  # a TLS handshake is no HTTP request
        elif data[0] == 0x16:
            flow.http_done = True  # starts like TLS: no HTTP method starts so
    if not flow.http_done:
        decided, host = http_request_host(data)
        if decided:
            flow.http_done = True
            flow.http_host = sys.intern(host) if host else host
    if (flow.tls_done and flow.http_done) or stream.full:
        flow.hello = None
        flow.tls_done = flow.http_done = True


def _client_is_src(proto: int, sport: int, dport: int) -> bool:
    """Guess whether the sender is the client when no SYN says so."""
    if (sport < 1024) != (dport < 1024):
        return dport < 1024
    if proto == TCP and sport != dport:
        return sport > dport
    return True


_QUIC_VERSIONS = {0x00000001, 0x6B3343CF}  # RFC 9000 (v1), RFC 9369 (v2)


def is_quic(data) -> bool:
    """True if UDP payload ``data`` starts with a QUIC long header of a known version:
    IETF QUIC v1/v2 or a draft (``0xff0000xx``), Google QUIC with the IETF header
    (``Q046``, ``Q050``, ``T0xx``), or a Google QUIC (``Q0xx``) public header carrying
    its version, as clients send before the handshake."""
    if len(data) < 6:
        return False
    first = data[0]
    if first & 0xC0 == 0xC0:  # long header, fixed bit set
        version = int.from_bytes(data[1:5], "big")
        if version in _QUIC_VERSIONS or version >> 8 == 0xFF0000:
            return data[5] <= 20  # destination connection ID length
        tag = bytes(data[1:3])
        return tag in (b"Q0", b"T0") and bytes(data[3:5]).isdigit()
    if first & 0x81 == 0x01:  # Google QUIC public header with the version flag
        at = 1 + (8 if first & 0x0C else 0)  # an 8-byte connection ID, if present
        version = bytes(data[at : at + 4])
        return len(version) == 4 and version[:2] == b"Q0" and version[2:].isdigit()
    return False


def http_request_host(data: bytes) -> tuple[bool, str | None]:
    """Read the Host header of the plaintext HTTP/1.x request starting ``data``.

    Returns ``(decided, host)``: ``(False, None)`` while more bytes could still change the
    answer; ``(True, None)`` for bytes that are not an HTTP request or a request whose
    header block ends without Host; ``(True, host)`` with the host lower-cased, without
    port or trailing dot.
    """
    data = bytes(data)
    if not data:
        return False, None
    if data[0] not in _METHOD_INITIALS:
        return True, None
    for method in _HTTP_METHODS:
        if data.startswith(method):
            break
        if len(data) < len(method) and method.startswith(data):
            return False, None
    else:
        return True, None
    line_end = data.find(b"\r\n")
    if line_end < 0:
        return False, None
    pos = line_end + 2
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return False, None
        line = data[pos:end]
        if not line:
            return True, None
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"host":
            return True, _host_only(value.strip().decode("ascii", "backslashreplace"))
        pos = end + 2


def _host_only(value: str) -> str | None:
    if value.startswith("["):  # [v6-address]:port
        host = value[1 : value.find("]")] if "]" in value else value[1:]
    else:
        name, sep, port = value.rpartition(":")
        host = name if sep and port.isdigit() else value
    host = host.lower().rstrip(".")
    return host or None


class Reassembler:
    """Puts fragmented IP datagrams back together, in bounded memory.

    :meth:`add` takes one fragment; when it completes its datagram, it returns the
    datagram's fragmentable part (for IPv4 the transport header and payload) and how many
    fragments made it. Datagrams left incomplete for ``timeout`` seconds (on the capture's
    clock), or beyond ``max_pending`` at once, are dropped: :attr:`dropped` counts their
    fragments, and :meth:`lost` adds those still incomplete.
    """

    def __init__(self, timeout: float = 30.0, max_pending: int = 128) -> None:
        self.timeout = timeout
        self.max_pending = max_pending
        self.pending: dict[tuple, list] = {}  # key -> [first_ts, {offset: bytes}, end, n]
        self.dropped = 0

    def add(self, ts: float, src: bytes, dst: bytes, proto: int, frag: tuple, data,
            p0: int, p1: int, wire_end: int) -> tuple[bytes, int] | None:  # fmt: skip
        ident, offset, more = frag
        key = (src, dst, proto, ident)
        entry = self.pending.get(key)
        if entry is None:
            self._expire(ts)
            entry = self.pending[key] = [ts, {}, None, 0]
        entry[3] += 1
        if p1 < wire_end:  # the capture cut this fragment: the datagram cannot be rebuilt
            entry[1] = None
        elif entry[1] is not None:
            entry[1].setdefault(offset, bytes(data[p0:p1]))
        if not more:
            entry[2] = offset + (p1 - p0)
        parts, end = entry[1], entry[2]
        if parts is None or end is None:
            return None
        have = 0
        for start in sorted(parts):
            if start > have:
                return None
            have = max(have, start + len(parts[start]))
        if have < end:
            return None
        del self.pending[key]
        out = bytearray()
        for start in sorted(parts):
            piece = parts[start]
            if start + len(piece) > len(out):
                out += piece[len(out) - start :]
        return bytes(out[:end]), entry[3]

    def _expire(self, ts: float) -> None:
        while self.pending:
            key, entry = next(iter(self.pending.items()))
            if len(self.pending) < self.max_pending and ts - entry[0] <= self.timeout:
                break
            del self.pending[key]
            self.dropped += entry[3]

    def lost(self) -> int:
        """Fragments of datagrams dropped so far or still incomplete."""
        return self.dropped + sum(entry[3] for entry in self.pending.values())
