"""Turn a capture into the records claims are judged on: flows with names, DNS lookups.

:func:`analyze` reads a pcap/pcapng capture packet by packet (holding per-flow state only)
and returns an :class:`Analysis`: the number of packets, every TCP/UDP :class:`Flow` and
every DNS lookup (:class:`DnsRecord`) seen over UDP port 53.

A flow's ``server_name`` is, in this order of preference:
1. ``sni``: the server name of the client's TLS ClientHello, reassembled across segments;
2. ``dns_name``: the name the client asked for in the latest DNS answer, seen before the
   flow's first packet, that gave the flow's server address (following CNAME chains back
   to the question; answers to this client are preferred over answers to other clients);
3. ``http_host``: the Host header of a plaintext HTTP request.
``name_source`` says which (``"sni"``, ``"dns"``, ``"http"`` or ``None``), and
``category`` is the endpoint catalog's category for that name (``"unknown"`` when there
is no name or no catalog entry matches).

A truncated or corrupt capture raises :class:`~hil.capture.errors.CaptureError` with
``partial`` set to the :class:`Analysis` of the packets read before the damage.
DNS over TCP is not read (the DNS module has the helpers); mDNS (port 5353) is not DNS.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import BinaryIO

from hil.capture.catalog import Catalog
from hil.capture.decode import Segment, decode
from hil.capture.dns import DnsFormatError, DnsMessage, parse_message
from hil.capture.errors import CaptureError
from hil.capture.flows import FlowState, FlowTable
from hil.capture.pcap import read_packets

__all__ = ["Analysis", "DnsRecord", "Flow", "analyze"]

_DNS_PORT = 53


@dataclass(slots=True)
class Flow:
    """One TCP connection or UDP conversation; ``src``/``sport`` is the client's end.

    ``first``/``last`` are the capture times of its first and last packet; ``bytes_*``
    count transport payload bytes (retransmissions included), ``up`` = client to server.
    See the module description for the naming fields.
    """

    proto: str
    src: str
    sport: int
    dst: str
    dport: int
    first: float
    last: float
    packets_up: int
    packets_down: int
    bytes_up: int
    bytes_down: int
    sni: str | None
    dns_name: str | None
    http_host: str | None
    server_name: str | None
    name_source: str | None
    category: str

    def to_dict(self) -> dict[str, object]:
        """The flow as plain JSON-ready data, one key per field."""
        return dataclasses.asdict(self)


@dataclass(slots=True)
class DnsRecord:
    """One DNS lookup: the client's query and, when seen, the server's answer.

    ``ts`` is the time of the query (of the response when the query was not captured).
    ``answers`` holds ``(name, type, value)`` A/AAAA/CNAME records of the answer, empty
    until one arrives. ``rcode`` is the response code, ``None`` while no response was seen.
    """

    ts: float
    qname: str | None
    answers: list[tuple[str, str, str]]
    client: str
    server: str
    rcode: int | None = None

    def to_dict(self) -> dict[str, object]:
        """The lookup as plain JSON-ready data."""
        return {
            "ts": self.ts,
            "qname": self.qname,
            "answers": [list(a) for a in self.answers],
            "client": self.client,
            "server": self.server,
            "rcode": self.rcode,
        }


@dataclass(slots=True)
class Analysis:
    """What a capture contained: packets read, flows, DNS lookups.

    ``ignored`` counts packets that are not TCP or UDP over IP (ARP, ICMP, non-first
    fragments, unsupported link types...).
    """

    packets: int = 0
    flows: list[Flow] = field(default_factory=list)
    dns: list[DnsRecord] = field(default_factory=list)
    ignored: int = 0

    def to_dict(self) -> dict[str, object]:
        """The analysis as plain JSON-ready data."""
        return {
            "packets": self.packets,
            "ignored": self.ignored,
            "flows": [f.to_dict() for f in self.flows],
            "dns": [d.to_dict() for d in self.dns],
        }


def analyze(
    source: str | os.PathLike[str] | bytes | BinaryIO, catalog: Catalog | None = None
) -> Analysis:
    """Analyze the capture at path ``source`` (or given as bytes, or an open stream).

    ``catalog`` classifies server names; the packaged catalog when ``None``.
    """
    work = _Analyzer(catalog if catalog is not None else Catalog.load())
    try:
        for ts, linktype, frame in read_packets(source):
            work.packet(ts, linktype, frame)
    except CaptureError as err:
        err.partial = work.result()
        raise
    return work.result()


class _Analyzer:
    """The streaming state of one analysis."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.packets = 0
        self.ignored = 0
        self.table = FlowTable()
        self.dns: list[DnsRecord] = []
        self.pending: dict[tuple, DnsRecord] = {}  # unanswered queries
        self.names_by_client: dict[tuple[str, str], str] = {}  # (client, address) -> name
        self.names: dict[str, str] = {}  # address -> name, any client
        self.dns_names: dict[FlowState, str] = {}

    def packet(self, ts: float, linktype: int, frame: bytes) -> None:
        self.packets += 1
        seg = decode(linktype, frame)
        if seg is None:
            self.ignored += 1
            return
        flow, created = self.table.add(ts, seg)
        if created:
            name = self.names_by_client.get((flow.client, flow.server))
            if name is None:
                name = self.names.get(flow.server)
            if name is not None:
                self.dns_names[flow] = name
        if seg.proto == "udp" and _DNS_PORT in (seg.sport, seg.dport) and seg.payload:
            self._dns(ts, seg)

    def _dns(self, ts: float, seg: Segment) -> None:
        try:
            msg = parse_message(seg.payload)
        except DnsFormatError:
            return
        if not msg.is_response:
            key = (seg.src, seg.sport, seg.dst, seg.dport, msg.id, msg.qname)
            if key not in self.pending:
                record = DnsRecord(ts, msg.qname, [], seg.src, seg.dst)
                self.pending[key] = record
                self.dns.append(record)
            return
        key = (seg.dst, seg.dport, seg.src, seg.sport, msg.id, msg.qname)
        record = self.pending.pop(key, None)
        if record is None:
            record = DnsRecord(ts, msg.qname, [], seg.dst, seg.src)
            self.dns.append(record)
        record.answers = list(msg.answers)
        record.rcode = msg.rcode
        for address in _addresses_for_question(msg):
            self.names_by_client[(record.client, address)] = msg.qname  # type: ignore[assignment]
            self.names[address] = msg.qname  # type: ignore[assignment]

    def result(self) -> Analysis:
        flows = [self._flow(f) for f in self.table.flows]
        return Analysis(self.packets, flows, list(self.dns), self.ignored)

    def _flow(self, f: FlowState) -> Flow:
        dns_name = self.dns_names.get(f)
        if f.sni:
            server_name, source = f.sni, "sni"
        elif dns_name:
            server_name, source = dns_name, "dns"
        elif f.http_host:
            server_name, source = f.http_host, "http"
        else:
            server_name, source = None, None
        return Flow(
            proto=f.proto,
            src=f.client,
            sport=f.cport,
            dst=f.server,
            dport=f.sport,
            first=f.first,
            last=f.last,
            packets_up=f.packets_up,
            packets_down=f.packets_down,
            bytes_up=f.bytes_up,
            bytes_down=f.bytes_down,
            sni=f.sni,
            dns_name=dns_name,
            http_host=f.http_host,
            server_name=server_name,
            name_source=source,
            category=self.catalog.category(server_name),
        )


def _addresses_for_question(msg: DnsMessage) -> list[str]:
    """The A/AAAA addresses that answer the question, through any chain of CNAMEs."""
    if not msg.qname:
        return []
    names = {msg.qname}
    grew = True
    while grew:  # answers may list the chain in any order
        grew = False
        for name, rtype, value in msg.answers:
            if rtype == "CNAME" and name in names and value not in names:
                names.add(value)
                grew = True
    return [v for n, t, v in msg.answers if t in ("A", "AAAA") and n in names]
