"""Group TCP segments and UDP datagrams into flows, and name the TCP ones.

A flow is one conversation between a client and a server, keyed by protocol and the two
(address, port) ends. :class:`FlowTable` takes :class:`~hil.capture.decode.Segment` s in
capture order and keeps, per flow, the times of the first and last packet and the packets
and transport payload bytes in each direction (up = client to server). Retransmitted
payload is counted again, as on the wire.

Which end is the client:
- TCP: the sender of a SYN without ACK; the receiver of a SYN+ACK. A flow first seen
  without either (the capture started mid-connection): the end whose port is 1024 or
  above when the other is below 1024, else the end with the higher port, else (equal
  ports) the sender of the first packet seen.
- UDP: the end whose port is 1024 or above when the other is below 1024, else the sender
  of the first packet.

When a flow starts again:
- TCP: a SYN without ACK on an existing flow starts a new flow, unless it repeats the
  initial sequence number of the SYN that opened the flow (a retransmission). This covers
  a client port reused after FIN or RST.
- UDP: a datagram arriving more than ``udp_timeout`` seconds (default 60) after the
  flow's last packet.

For TCP, the client's first payload bytes are reassembled in sequence order (out-of-order
segments wait, overlaps and retransmissions are merged) up to ``first_bytes`` bytes
(default :data:`FIRST_BYTES`, enough for a 16 KB ClientHello split over several records)
to read the TLS SNI (:mod:`hil.capture.tls`) and, for plaintext HTTP, the request's Host
header (:func:`http_request_host`). The bytes are dropped once both are decided, or when
the limit is reached without a decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hil.capture.decode import ACK, FIN, RST, SYN, Segment
from hil.capture.tls import HelloStatus, scan_client_hello

__all__ = ["FIRST_BYTES", "FlowState", "FlowTable", "http_request_host"]

#: How many of the client's first payload bytes are kept to find the server name.
FIRST_BYTES = 20 * 1024

_SEQ_MOD = 1 << 32
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


class _ClientBytes:
    """The client's first payload bytes, reassembled in sequence order up to a limit."""

    __slots__ = ("base", "data", "limit", "pending")

    def __init__(self, limit: int) -> None:
        self.base: int | None = None  # sequence number of the first payload byte
        self.data = bytearray()
        self.pending: dict[int, bytes] = {}  # offset -> bytes that arrived early
        self.limit = limit

    def add(self, seq: int, payload: bytes) -> bool:
        """Place ``payload`` starting at sequence ``seq``; return True if the prefix grew."""
        if self.base is None:
            self.base = seq
        offset = (seq - self.base) % _SEQ_MOD
        if offset >= _SEQ_MOD // 2:  # starts before the base: keep what lies after it
            skip = _SEQ_MOD - offset
            if skip >= len(payload):
                return False
            payload, offset = payload[skip:], 0
        if offset > len(self.data):
            if offset < self.limit and len(self.pending.get(offset, b"")) < len(payload):
                self.pending[offset] = payload
            return False
        grew = self._merge(offset, payload)
        while self.pending:
            ready = [o for o in self.pending if o <= len(self.data)]
            if not ready:
                break
            for o in sorted(ready):
                grew = self._merge(o, self.pending.pop(o)) or grew
        return grew

    def _merge(self, offset: int, payload: bytes) -> bool:
        new = payload[len(self.data) - offset :]
        room = self.limit - len(self.data)
        if not new or room <= 0:
            return False
        self.data += new[:room]
        return True

    @property
    def full(self) -> bool:
        return len(self.data) >= self.limit


@dataclass(slots=True, eq=False)
class FlowState:
    """One flow as the table knows it so far. ``client``/``cport`` sent the first SYN."""

    proto: str
    client: str
    cport: int
    server: str
    sport: int
    first: float
    last: float
    packets_up: int = 0
    packets_down: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    sni: str | None = None
    http_host: str | None = None
    client_isn: int | None = None
    closed: bool = False  # a FIN or RST was seen
    _first_bytes: _ClientBytes | None = field(default=None, repr=False)
    _tls_done: bool = False
    _http_done: bool = False

    def is_up(self, seg: Segment) -> bool:
        """True if ``seg`` travels from this flow's client to its server."""
        return seg.src == self.client and seg.sport == self.cport


class FlowTable:
    """Flows built from segments fed in capture order; see the module description."""

    def __init__(self, udp_timeout: float = 60.0, first_bytes: int = FIRST_BYTES) -> None:
        self.udp_timeout = udp_timeout
        self.first_bytes = first_bytes
        self._active: dict[tuple, FlowState] = {}
        self._flows: list[FlowState] = []

    @property
    def flows(self) -> list[FlowState]:
        """Every flow seen, in order of its first packet."""
        return self._flows

    def add(self, ts: float, seg: Segment) -> tuple[FlowState, bool]:
        """Account ``seg`` seen at ``ts``; return its flow and whether the flow is new."""
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = (seg.proto, a, b) if a <= b else (seg.proto, b, a)
        flow = self._active.get(key)
        tcp = seg.proto == "tcp"
        pure_syn = tcp and seg.flags & (SYN | ACK) == SYN
        if flow is not None:
            if tcp:
                if pure_syn and not (flow.client_isn == seg.seq and flow.is_up(seg)):
                    flow = None
            elif ts - flow.last > self.udp_timeout:
                flow = None
        created = flow is None
        if flow is None:
            flow = self._new_flow(ts, seg, pure_syn)
            self._active[key] = flow
            self._flows.append(flow)
        flow.last = max(flow.last, ts)
        up = flow.is_up(seg)
        if up:
            flow.packets_up += 1
            flow.bytes_up += len(seg.payload)
        else:
            flow.packets_down += 1
            flow.bytes_down += len(seg.payload)
        if tcp:
            self._tcp(flow, seg, up, pure_syn)
        return flow, created

    def _new_flow(self, ts: float, seg: Segment, pure_syn: bool) -> FlowState:
        if pure_syn:
            client_is_src = True
        elif seg.proto == "tcp" and seg.flags & (SYN | ACK) == SYN | ACK:
            client_is_src = False
        else:
            client_is_src = _client_is_src(seg.proto, seg.sport, seg.dport)
        if client_is_src:
            flow = FlowState(seg.proto, seg.src, seg.sport, seg.dst, seg.dport, ts, ts)
        else:
            flow = FlowState(seg.proto, seg.dst, seg.dport, seg.src, seg.sport, ts, ts)
        if seg.proto == "tcp":
            flow._first_bytes = _ClientBytes(self.first_bytes)
        return flow

    def _tcp(self, flow: FlowState, seg: Segment, up: bool, pure_syn: bool) -> None:
        if seg.flags & (FIN | RST):
            flow.closed = True
        if not up:
            return
        stream = flow._first_bytes
        seq = seg.seq
        if seg.flags & SYN:
            seq = (seq + 1) % _SEQ_MOD  # the SYN takes one sequence number
            if pure_syn and flow.client_isn is None:
                flow.client_isn = seg.seq
                if stream is not None and stream.base is None:
                    stream.base = seq
        if stream is None or not seg.payload:
            return
        if stream.add(seq, seg.payload):
            _read_names(flow, stream)


def _read_names(flow: FlowState, stream: _ClientBytes) -> None:
    """Try to read SNI and HTTP Host from the reassembled prefix; drop it once decided."""
    data = bytes(stream.data)
    if not flow._tls_done:
        scan = scan_client_hello(data)
        if scan.status is not HelloStatus.NEED_MORE:
            flow._tls_done = True
            flow.sni = scan.sni
    if not flow._http_done:
        decided, host = http_request_host(data)
        if decided:
            flow._http_done = True
            flow.http_host = host
    if (flow._tls_done and flow._http_done) or stream.full:
        flow._first_bytes = None
        flow._tls_done = flow._http_done = True


def _client_is_src(proto: str, sport: int, dport: int) -> bool:
    """Guess whether the sender is the client when no SYN says so."""
    if (sport < 1024) != (dport < 1024):
        return dport < 1024
    if proto == "tcp" and sport != dport:
        return sport > dport
    return True


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
