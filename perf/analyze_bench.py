"""Capture analysis speed and memory: `hil analyze` against dpkt and `tshark -T fields`.

Generates deterministic captures of about 1,000,000 packets, one per traffic mix:

- standard: eight phones behind a gateway making DNS lookups (20% through a CNAME) then
  TCP connections to 16 server names: TLS sessions (a ClientHello in one segment, or cut
  in two anywhere for 30% of them; 10% without SNI), small API calls, bulk uploads and
  downloads of 0.2-3 MB, plain HTTP requests, and now and then a client port used again
  for a new connection (new SYN);
- ipv6: the same kinds of sessions, 15% of them over IPv6 (an AAAA lookup, then the
  connection), to about 1,500 server names, 70% of connections after a DNS lookup, 30%
  of ClientHellos carrying a post-quantum key share (X25519MLKEM768) and so spanning
  two full-size segments.

Frames carry correct checksums. Then, for each mix, round after round in the same run
(each in its own process pinned to one CPU, while this process samples that process's
anonymous memory, RssAnon, every 2 ms for its peak):

1. times the whole `hil analyze CAPTURE --json` command as a user runs it (the console
   script, its output to a file), `hil.capture.analyze.analyze` in-process (its own
   clock), dpkt (what a lab would write with it: its parsers for every packet, flows in
   a dict, SNI with dpkt.ssl from the client's first bytes, names with dpkt.dns; its
   process's wall time and its own clock) and `tshark -T fields` (flows, SNI and DNS
   fields; the whole command);
2. prints medians, min and max, packets/s, peak anonymous memory and the ratios of the
   medians, the whole command's and the in-process time's;
3. checks that the three agree on every flow (5-tuple, client side, packets and payload
   bytes each way), every flow's SNI and the set of DNS query names;
4. (--sweep, on by default) measures this analyzer's peak anonymous memory on the first
   100k, 1M and 2M packets of each mix, and of a capture of uploads and downloads only:
   memory follows the number of flows (the result lists every one), not the number of
   packets.

    .venv/bin/python perf/analyze_bench.py [--packets 1000000] [--repeat 5]
        [--repeat-others 3] [--mix standard|ipv6|both] [--no-sweep]
        [--format pcap|pcapng] [--keep DIR]

dpkt is optional (pip install dpkt): without it its rows are skipped with a message, as
are tshark's without tshark. Captures go to a temporary folder, removed at the end unless
--keep names one. The script prints figures; nothing asserts them.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hil.sim import packets as pk  # noqa: E402

T0 = 1_700_000_000.0
MSS = 1448
GW_MAC = bytes.fromhex("020000000001")
RESOLVER = "10.20.0.1"
NAMES = [
    "mydjiflight.dji.com", "flysafe-api.dji.com", "statistical-report.djiservice.org",
    "upload.skypixel.com", "active.dji.com", "account-api.dji.com", "dl.djicdn.com",
    "connectivitycheck.gstatic.com", "android.clients.google.com", "www.googleapis.com",
    "captive.apple.com", "gateway.icloud.com", "api.example.net", "cdn.example.org",
    "telemetry.example.com", "tiles.maps.example.net",
]  # fmt: skip

#: The traffic mixes: "standard" (IPv4, 16 names, nearly every connection after a lookup,
#: 30% of ClientHellos cut in two anywhere) and "ipv6" (15% of sessions IPv6, about 1,500
#: names, 70% of connections after a lookup, 30% of ClientHellos in two full segments for
#: a post-quantum key share).
MIXES = ("standard", "ipv6")
PHONE_V6, RESOLVER_V6, SERVER_V6 = "2001:db8:20::", "2001:db8:20::1", "2001:db8:113::"
V6MIX_NAMES = 1500
V6MIX_SHARE = 0.15
_DOMAINS = ("dji.com", "djicdn.com", "djiservice.org", "skypixel.com", "dbeta.me",
            "googleapis.com", "gstatic.com", "apple.com", "icloud.com", "example.net",
            "example.org", "example.com", "akamaized.net", "cloudfront.net")  # fmt: skip


def server_names(n: int) -> list[str]:
    """``n`` distinct server names: the standard mix's, then made-up hosts under common
    domains (some in the endpoint catalog, most not)."""
    out = list(NAMES[:n])
    i = 0
    while len(out) < n:
        out.append(f"{('api', 'cdn', 'log', 'img', 'svc')[i % 5]}{i // 5}.{_DOMAINS[i % 14]}")
        i += 1
    return out


# --- capture generation ---------------------------------------------------------------


def _sum16(data: bytes) -> int:
    """Ones' complement sum of 16-bit words, modulo 0xFFFF (0 and 0xFFFF are both zero)."""
    if len(data) % 2:
        data += b"\x00"
    return int.from_bytes(data, "big") % 0xFFFF


def _checksum(total: int) -> int:
    return ~(total % 0xFFFF) & 0xFFFF or 0xFFFF


class _Frames:
    """Ethernet/IPv4|IPv6/TCP|UDP frames with correct checksums, built fast for bulk data.
    The family follows the addresses' length (4 or 16 bytes)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.blob = self.rng.randbytes(MSS)
        self.blob_sum = _sum16(self.blob)

    def ip(self, src: bytes, dst: bytes, proto: int, payload_len: int, ident: int) -> bytes:
        """The IP header (with its ethertype in front) of a packet of ``payload_len``."""
        if len(src) == 16:
            return b"\x86\xdd" + struct.pack("!IHBB", 6 << 28, payload_len, proto, 64) + src + dst
        head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident & 0xFFFF, 0x4000,
                           64, proto, 0, src, dst)  # fmt: skip
        return b"\x08\x00" + head[:10] + struct.pack("!H", _checksum(_sum16(head))) + head[12:]

    @staticmethod
    def pseudo(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
        """The pseudo-header the transport checksum covers (its words sum the same as
        RFC 8200's layout for IPv6)."""
        return src + dst + struct.pack("!BBH", 0, proto, length)

    def tcp(self, smac: bytes, dmac: bytes, src: bytes, dst: bytes, sport: int, dport: int,
            seq: int, ack: int, flags: int, payload: bytes = b"", ident: int = 0,
            bulk: int = 0) -> bytes:  # fmt: skip
        """A frame; ``bulk`` n > 0 sends the first n bytes of the shared random block."""
        if bulk:
            payload = self.blob[:bulk]
            psum = self.blob_sum if bulk == MSS else _sum16(payload)
        else:
            psum = _sum16(payload)
        length = 20 + len(payload)
        head = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                           0x50, flags, 65535, 0, 0)  # fmt: skip
        total = _sum16(self.pseudo(src, dst, 6, length)) + _sum16(head) + psum
        head = head[:16] + struct.pack("!H", _checksum(total)) + head[18:]
        return dmac + smac + self.ip(src, dst, 6, length, ident) + head + payload

    def udp(self, smac: bytes, dmac: bytes, src: bytes, dst: bytes, sport: int, dport: int,
            payload: bytes, ident: int = 0) -> bytes:  # fmt: skip
        length = 8 + len(payload)
        head = struct.pack("!HHHH", sport, dport, length, 0)
        pseudo = self.pseudo(src, dst, 17, length)
        csum = _checksum(_sum16(pseudo) + _sum16(head) + _sum16(payload))
        head = head[:6] + struct.pack("!H", csum)
        return dmac + smac + self.ip(src, dst, 17, length, ident) + head + payload


def _packed(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)


def _session(fr: _Frames, rng: random.Random, t: float, phone: int, sport: int,
             server: str, name: str, kind: str, split: bool, lookup: bool | None = None,
             post_quantum: bool = False) -> Iterator[tuple[float, bytes]]:  # fmt: skip
    """One DNS lookup then one TCP connection, as (ts, frame) in time order.

    An IPv6 ``server`` makes the whole session IPv6 (an AAAA lookup from the phone's IPv6
    address). ``lookup``: whether a DNS lookup comes first (``None``: the standard mix's
    rule). ``post_quantum``: a split ClientHello is one with a post-quantum key share, in
    two full-size segments, rather than a small one cut anywhere."""
    v6 = ":" in server
    phone_ip, resolver = (f"{PHONE_V6}{10 + phone:x}", RESOLVER_V6) if v6 else (
        f"10.20.0.{10 + phone}", RESOLVER)  # fmt: skip
    cip, sip, rip = (_packed(x) for x in (phone_ip, server, resolver))
    cmac = bytes.fromhex(f"0200000000{10 + phone:02x}")
    rtt = rng.uniform(0.005, 0.05)
    gap = 20e-6
    txid = rng.randrange(65536)
    dport = rng.randrange(20000, 60000)
    if lookup if lookup is not None else (kind != "http" or rng.random() < 0.5):
        cname = f"edge{rng.randrange(9)}.cdn.example.net" if rng.random() < 0.2 else None
        query = pk.dns_query(txid, name, 28) if v6 else pk.dns_query(txid, name)
        yield t, fr.udp(cmac, GW_MAC, cip, rip, dport, 53, query)
        answer = pk.dns_response(txid, name, [server], cname=cname, qtype=28 if v6 else 1)
        yield t + 0.002, fr.udp(GW_MAC, cmac, rip, cip, 53, dport, answer)
        t += 0.003
    port = 80 if kind == "http" else 443
    cseq = rng.randrange(1 << 32)
    sseq = rng.randrange(1 << 32)
    ident = rng.randrange(65536)

    def up(flags: int, payload: bytes = b"", bulk: int = 0) -> bytes:
        return fr.tcp(cmac, GW_MAC, cip, sip, sport, port, cseq, sseq, flags, payload,
                      ident, bulk)  # fmt: skip

    def down(flags: int, payload: bytes = b"", bulk: int = 0) -> bytes:
        return fr.tcp(GW_MAC, cmac, sip, cip, port, sport, sseq, cseq, flags, payload,
                      ident, bulk)  # fmt: skip

    yield t, fr.tcp(cmac, GW_MAC, cip, sip, sport, port, cseq, 0, pk.SYN, b"", ident)
    cseq += 1
    t += rtt
    yield t, down(pk.SYN | pk.ACK)
    sseq += 1
    t += rtt
    yield t, up(pk.ACK)
    if kind == "http":
        hello = f"GET /api/v1/x HTTP/1.1\r\nHost: {name}\r\nUser-Agent: go4\r\n\r\n".encode()
        parts = [hello]
    elif post_quantum:
        hello = pk.tls_client_hello(name if rng.random() < 0.9 else None,
                                    random=rng.randbytes(32), post_quantum=split)  # fmt: skip
        parts = [hello[i : i + MSS] for i in range(0, len(hello), MSS)]
    else:
        hello = pk.tls_client_hello(name if rng.random() < 0.9 else None, padding=0,
                                    random=rng.randbytes(32))  # fmt: skip
        if split:
            cut = rng.randrange(20, len(hello) - 20)
            parts = [hello[:cut], hello[cut:]]
        else:
            parts = [hello]
    for part in parts:
        t += gap
        yield t, up(pk.ACK | pk.PSH, part)
        cseq += len(part)
    t += rtt
    flight = b"\x16\x03\x03" + rng.randbytes(2400 if kind != "http" else 300)
    for i in range(0, len(flight), MSS):
        chunk = flight[i : i + MSS]
        yield t, down(pk.ACK, chunk)
        sseq += len(chunk)
        t += gap
    if kind == "upload":
        up_bytes, down_bytes = rng.randrange(200_000, 3_000_000), rng.randrange(500, 5000)
    elif kind == "download":
        up_bytes, down_bytes = rng.randrange(500, 3000), rng.randrange(200_000, 3_000_000)
    else:
        up_bytes, down_bytes = rng.randrange(200, 8000), rng.randrange(200, 30000)
    for sender, size in (("c", up_bytes), ("s", down_bytes)):
        t += rtt
        sent = 0
        n = 0
        while sent < size:
            chunk = min(MSS, size - sent)
            if sender == "c":
                yield t, up(pk.ACK, bulk=chunk)
                cseq += chunk
            else:
                yield t, down(pk.ACK, bulk=chunk)
                sseq += chunk
            sent += chunk
            n += 1
            t += gap
            if n % 2 == 0 or sent >= size:  # the peer acks every second segment
                yield t + rtt / 2, (down(pk.ACK) if sender == "c" else up(pk.ACK))
    t += rtt
    yield t, up(pk.FIN | pk.ACK)
    cseq += 1
    t += rtt
    yield t, down(pk.FIN | pk.ACK)
    sseq += 1
    t += rtt
    yield t, up(pk.ACK)


def _sessions(seed: int, bulk_only: bool = False,
              mix: str = "standard") -> Iterator[Iterator[tuple[float, bytes]]]:  # fmt: skip
    """Sessions in order of their start; ``mix`` is one of :data:`MIXES`."""
    rng = random.Random(seed)
    fr = _Frames(seed)
    v6mix = mix == "ipv6"
    if v6mix:
        names = server_names(V6MIX_NAMES)
        servers = [(f"203.0.{113 + i // 250}.{1 + i % 250}", name)
                   for i, name in enumerate(names)]  # fmt: skip
    else:
        servers = [(f"203.0.{113 + i // 250}.{1 + i % 250}", NAMES[i % len(NAMES)])
                   for i in range(400)]  # fmt: skip
    t = T0
    finished: list[tuple[float, int, int, str, str]] = []  # small sessions, by start time
    for n in range(10**9):
        t += rng.expovariate(1 / 0.004)
        phone = rng.randrange(8)
        k = rng.randrange(len(servers))
        server, name = servers[k]
        if v6mix and rng.random() < V6MIX_SHARE:  # the same server's IPv6 address
            server = f"{SERVER_V6}{k + 1:x}"
        roll = rng.random()
        kind = ("upload" if roll < 0.03 else "download" if roll < 0.08
                else "http" if roll < 0.11 else "api")  # fmt: skip
        if bulk_only:  # few, long flows: memory must not grow with packets
            kind = "upload" if roll < 0.5 else "download"
            t += 0.05
        sport = 32768 + (n * 7) % 28000
        # Now and then a client port is used again, with a new SYN, for a new connection
        # to the same server: one of a small session that ended well before (a second).
        if n % 40 == 39 and finished and finished[0][0] < t - 5:
            _start, phone, sport, server, name = finished.pop(0)
        elif kind == "api":
            finished.append((t, phone, sport, server, name))
        if not v6mix:
            yield _session(fr, rng, t, phone, sport, server, name, kind, rng.random() < 0.3)
            continue
        yield _session(fr, rng, t, phone, sport, server, name, kind, rng.random() < 0.3,
                       lookup=rng.random() < 0.7, post_quantum=True)  # fmt: skip


def generate(path: Path, packets: int, fmt: str, marks: tuple[int, ...] = (),
             bulk_only: bool = False, mix: str = "standard") -> dict[int, int]:  # fmt: skip
    """Write ``packets`` packets to ``path``; return the file size after each mark.
    ``bulk_only``: only uploads and downloads of 0.2-3 MB (few flows)."""
    sys.path.insert(0, str(ROOT))
    from hil.capture.pcap import PcapngWriter, PcapWriter

    sizes: dict[int, int] = {}
    with open(path, "wb", buffering=4 << 20) as fh:
        writer = PcapWriter(fh) if fmt == "pcap" else PcapngWriter(fh, [(1, 9)])
        heap: list = []
        sessions = _sessions(1, bulk_only, mix)
        count = 0
        upcoming = next(sessions)
        first = next(upcoming)
        # Merge sessions by time: start a session once the clock reaches its first packet.
        # Packets at the same time go in the order their sessions started.
        pending = (first, upcoming)
        started = 0
        while count < packets:
            while pending is not None and (not heap or pending[0][0] <= heap[0][0]):
                (ts, frame), it = pending
                started += 1
                heapq.heappush(heap, (ts, started, frame, it))
                upcoming = next(sessions)
                pending = (next(upcoming), upcoming)
            ts, key, frame, it = heapq.heappop(heap)
            writer.write(ts, frame)
            count += 1
            if count in marks:
                fh.flush()
                sizes[count] = fh.tell()
            nxt = next(it, None)
            if nxt is not None:
                heapq.heappush(heap, (nxt[0], key, nxt[1], it))
        writer.flush()
    return sizes


# --- the three analyses, each run in a child process -----------------------------------


def _summary(flows: list[tuple], dns: set[str], packets: int, seconds: list[float]) -> dict:
    return {"packets": packets, "seconds": seconds, "flows": sorted(flows), "dns": sorted(dns)}


def run_ours(path: str, repeat: int) -> dict:
    from hil.capture.analyze import analyze
    from hil.capture.catalog import Catalog

    catalog = Catalog.load()
    seconds = []
    result = None
    for _ in range(repeat):
        result = None  # one analysis in memory at a time
        start = time.perf_counter()
        result = analyze(path, catalog)
        seconds.append(time.perf_counter() - start)
    assert result is not None
    flows = [(f.proto, f.src, f.sport, f.dst, f.dport, f.packets_up, f.packets_down,
              f.bytes_up, f.bytes_down, f.sni or "") for f in result.flows]  # fmt: skip
    return _summary(flows, {d.qname for d in result.dns if d.qname}, result.packets, seconds)


def run_dpkt(path: str) -> dict:
    """What a lab would write with dpkt: parse every packet with its classes, keep flows
    in a dict (same client and new-connection rules), read SNI from the client's first
    bytes with dpkt.ssl, DNS names with dpkt.dns."""
    import dpkt

    start = time.perf_counter()
    flows: dict[tuple, dict] = {}
    done: list[dict] = []
    names: set[str] = set()
    packets = 0
    with open(path, "rb") as fh:
        reader = dpkt.pcapng.Reader(fh) if path.endswith(".pcapng") else dpkt.pcap.Reader(fh)
        for _ts, buf in reader:
            packets += 1
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                continue
            l4 = ip.data
            if isinstance(l4, dpkt.tcp.TCP):
                proto = "tcp"
            elif isinstance(l4, dpkt.udp.UDP):
                proto = "udp"
            else:
                continue
            a, b = (ip.src, l4.sport), (ip.dst, l4.dport)
            key = (proto, a, b) if a <= b else (proto, b, a)
            flow = flows.get(key)
            syn = proto == "tcp" and l4.flags & 0x12 == 0x02
            if flow is not None and syn and not (flow["isn"] == l4.seq and flow["c"] == a):
                flow = None
            if flow is None:
                if syn:
                    client = a
                elif proto == "tcp" and l4.flags & 0x12 == 0x12:
                    client = b
                elif (a[1] < 1024) != (b[1] < 1024):
                    client = a if b[1] < 1024 else b
                elif proto == "tcp" and a[1] != b[1]:
                    client = a if a[1] > b[1] else b
                else:
                    client = a
                flow = flows[key] = {"p": proto, "c": client, "s": b if client == a else a,
                                     "n": [0, 0], "b": [0, 0], "sni": "", "isn": None,
                                     "hello": {}, "base": None}  # fmt: skip
                done.append(flow)
            up = 0 if a == flow["c"] else 1
            flow["n"][up] += 1
            flow["b"][up] += len(l4.data)
            if proto == "udp":
                if 53 in (l4.sport, l4.dport) and l4.data:
                    try:
                        msg = dpkt.dns.DNS(l4.data)
                    except dpkt.UnpackError:
                        continue
                    names.update(q.name.lower() for q in msg.qd)
                continue
            if syn and up == 0:
                flow["isn"] = l4.seq
                flow["base"] = (l4.seq + 1) & 0xFFFFFFFF
            if up == 0 and l4.data and flow["hello"] is not None:
                _dpkt_hello(dpkt, flow, l4.seq, bytes(l4.data))
    elapsed = time.perf_counter() - start
    out = [(f["p"], _ntop(f["c"][0]), f["c"][1], _ntop(f["s"][0]), f["s"][1], f["n"][0],
            f["n"][1], f["b"][0], f["b"][1], f["sni"]) for f in done]  # fmt: skip
    return _summary(out, names, packets, [elapsed])


def _ntop(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(packed) == 16 else socket.AF_INET, packed)


def _dpkt_hello(dpkt, flow: dict, seq: int, data: bytes) -> None:
    if flow["base"] is None:
        flow["base"] = seq
    parts = flow["hello"]
    parts[(seq - flow["base"]) & 0xFFFFFFFF] = data
    stream = b""
    while len(stream) in parts:
        stream += parts[len(stream)]
    if len(stream) < 5:
        return
    if stream[0] != 22:
        flow["hello"] = None
        return
    if len(stream) < 5 + int.from_bytes(stream[3:5], "big"):
        return
    flow["hello"] = None
    try:
        record = dpkt.ssl.TLSRecord(stream)
        handshake = dpkt.ssl.TLSHandshake(record.data)
    except (dpkt.UnpackError, dpkt.NeedData):
        return
    hello = handshake.data
    for ext_type, ext in getattr(hello, "extensions", []):
        if ext_type == 0 and len(ext) > 5:
            flow["sni"] = ext[5 : 5 + int.from_bytes(ext[3:5], "big")].decode().lower()


_TSHARK_FIELDS = [
    "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
    "tcp.stream", "udp.stream", "tcp.len", "udp.length", "tcp.flags", "tcp.seq_raw",
    "tls.handshake.extensions_server_name", "dns.qry.name", "ipv6.src", "ipv6.dst",
]  # fmt: skip


def tshark_command(path: str, out: str) -> list[str]:
    fields = [arg for name in _TSHARK_FIELDS for arg in ("-e", name)]
    return ["tshark", "-r", path, "-n", "-T", "fields", "-E", "separator=/t",
            "-E", "occurrence=f", *fields]  # fmt: skip


def read_tshark(out: str) -> dict:
    """Flows, SNI and DNS names from tshark's field lines (this part is not timed)."""
    flows: dict[tuple, dict] = {}
    order: list[dict] = []
    names: set[str] = set()
    packets = 0
    with open(out, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            packets += 1
            (src, dst, tsport, tdport, usport, udport, tstream, ustream, tlen, ulen, flags,
             _seq, sni, qname, src6, dst6) = line.rstrip("\n").split("\t")  # fmt: skip
            src, dst = src or src6, dst or dst6
            if qname:
                names.add(qname.lower())
            if tstream:
                key, a, b = ("tcp", tstream), (src, int(tsport)), (dst, int(tdport))
                size, bits = int(tlen or 0), int(flags, 16)
            elif ustream:
                key, a, b = ("udp", ustream), (src, int(usport)), (dst, int(udport))
                size, bits = int(ulen) - 8, 0
            else:
                continue
            flow = flows.get(key)
            if flow is None:
                if key[0] == "tcp" and bits & 0x12 == 0x02:
                    client = a
                elif key[0] == "tcp" and bits & 0x12 == 0x12:
                    client = b
                elif (a[1] < 1024) != (b[1] < 1024):
                    client = a if b[1] < 1024 else b
                elif key[0] == "tcp" and a[1] != b[1]:
                    client = a if a[1] > b[1] else b
                else:
                    client = a
                flow = flows[key] = {"p": key[0], "c": client, "s": b if client == a else a,
                                     "n": [0, 0], "b": [0, 0], "sni": ""}  # fmt: skip
                order.append(flow)
            up = 0 if a == flow["c"] else 1
            flow["n"][up] += 1
            flow["b"][up] += size
            if sni:
                flow["sni"] = sni.lower()
    out_flows = [(f["p"], f["c"][0], f["c"][1], f["s"][0], f["s"][1], f["n"][0], f["n"][1],
                  f["b"][0], f["b"][1], f["sni"]) for f in order]  # fmt: skip
    return _summary(out_flows, names, packets, [])


# --- measuring ------------------------------------------------------------------------


def _rss_anon_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def measured(cmd: list[str], cpu: int,
             stdout=subprocess.PIPE) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run ``cmd`` pinned to ``cpu``; return it, its wall time and its peak RssAnon (kB),
    sampled from this process every 2 ms."""
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))  # fmt: skip
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            kb = _rss_anon_kb(proc.pid)
            if kb:
                peak = max(peak, kb)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), wall, peak


def child(kind: str, path: str, repeat: int) -> None:
    result = run_ours(path, repeat) if kind == "ours" else run_dpkt(path)
    json.dump(result, sys.stdout)


def compare(a: dict, b: dict, what: str) -> list[str]:
    """Differences between two summaries, as readable lines (empty: they agree)."""
    out = []
    fa, fb = sorted(map(tuple, a["flows"])), sorted(map(tuple, b["flows"]))
    if fa != fb:
        sa, sb = {tuple(f) for f in fa}, {tuple(f) for f in fb}
        only_a, only_b = sorted(sa - sb)[:3], sorted(sb - sa)[:3]
        out.append(f"{what}: flows differ ({len(fa)} vs {len(fb)}); e.g. {only_a} / {only_b}")
    if a["dns"] != b["dns"]:
        out.append(f"{what}: DNS names differ: {sorted(set(a['dns']) ^ set(b['dns']))[:5]}")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--packets", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=5, help="runs of this analyzer (median)")
    p.add_argument("--repeat-others", type=int, default=3, help="runs of dpkt and tshark")
    p.add_argument("--mix", choices=(*MIXES, "both"), default="both")
    p.add_argument("--format", choices=("pcap", "pcapng"), default="pcap")
    p.add_argument("--no-sweep", action="store_true", help="skip the 100k..2M memory sweep")
    p.add_argument("--keep", type=Path, help="write the captures here and keep them")
    p.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.repeat)
        return 0

    cpu = sorted(os.sched_getaffinity(0))[-1]
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="hil-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(args, workdir, cpu)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def make_captures(workdir: Path, fmt: str, counts: list[int], bulk_only: bool = False,
                  mix: str = "standard") -> dict[int, Path]:  # fmt: skip
    """Generate the largest capture, and the smaller ones as its first packets."""
    total = max(counts)
    label = "bulk" if bulk_only else mix
    big = workdir / f"{label}-{total}.{fmt}"
    what = "uploads and downloads only" if bulk_only else f"the {mix} mix"
    print(f"generating {total:,} packets of {what} ({fmt}) in {workdir} ...", flush=True)
    t = time.perf_counter()
    marks = generate(big, total, fmt, tuple(counts), bulk_only, mix)
    print(f"  {time.perf_counter() - t:.1f} s, {big.stat().st_size / 1e6:,.0f} MB", flush=True)
    captures = {}
    for n in sorted(set(counts)):
        if n == total:
            captures[n] = big
            continue
        part = workdir / f"{label}-{n}.{fmt}"
        with open(big, "rb") as src, open(part, "wb") as dst:
            remaining = marks[n]
            while remaining:
                chunk = src.read(min(remaining, 16 << 20))
                dst.write(chunk)
                remaining -= len(chunk)
        captures[n] = part
    return captures


def _compile_package() -> None:
    """Write the bytecode of hil's modules, as installing a package does (pip compiles what
    it installs; `make` runs compileall after its editable install). Without this, a
    checkout edited since its install and run under PYTHONDONTWRITEBYTECODE would time
    the compiling of every module on every run (45 ms of `hil analyze`), not the command."""
    package = ROOT / "hil"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    print(f"bytecode of {package} written (python -m compileall), as an install does",
          flush=True)  # fmt: skip


def _hil_command() -> list[str]:
    """The `hil` command of this Python environment, as a user runs it."""
    script = Path(sys.executable).parent / "hil"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hil.cli"]


class _Timings:
    """Seconds and peak anonymous memory of the runs of one contender."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.seconds: list[float] = []
        self.peak_kb = 0
        self.packets = 0

    def add(self, seconds: float, peak_kb: int, packets: int) -> None:
        self.seconds.append(seconds)
        self.peak_kb = max(self.peak_kb, peak_kb)
        self.packets = packets

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def rate(self) -> float:
        return self.packets / self.median


def _run_child(cmd: list[str], cpu: int, stdout=subprocess.PIPE):
    proc, wall, peak = measured(cmd, cpu, stdout)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc, wall, peak


def compare_mix(args, mix: str, capture: str, workdir: Path, cpu: int) -> bool:
    """Time, round after round in the same run, the whole `hil analyze --json` command,
    this analyzer in-process, dpkt (its process and its own clock) and `tshark -T
    fields`; print medians, spreads and ratios; check that they agree. True if they do."""
    me = [sys.executable, str(Path(__file__).resolve())]
    hil = _hil_command()
    have_dpkt = True
    try:
        import dpkt  # noqa: F401
    except ImportError:
        have_dpkt = False
        print("dpkt: not installed (pip install dpkt), skipped", flush=True)
    have_tshark = shutil.which("tshark") is not None
    if not have_tshark:
        print("tshark: not installed, its rows skipped", flush=True)
    whole, inproc = _Timings("hil analyze --json (whole command)"), _Timings("hil in-process")
    dpkt_whole, dpkt_own = _Timings("dpkt (whole process)"), _Timings("dpkt (its own clock)")
    tshark = _Timings("tshark -T fields (whole command)")
    ours = theirs_dpkt = theirs_tshark = None
    rounds = max(args.repeat, args.repeat_others)
    json_out = workdir / "hil-analyze.json"
    for r in range(rounds):
        print(f"  round {r + 1} of {rounds} ...", flush=True)
        if r < args.repeat:
            with open(json_out, "w") as fh:
                _proc, wall, peak = _run_child([*hil, "analyze", capture, "--json"], cpu, fh)
            with open(json_out) as fh:
                packets = json.load(fh)["packets"]
            whole.add(wall, peak, packets)
            proc, _wall, peak = _run_child([*me, "--repeat", "1", "--child", "ours", capture],
                                           cpu)  # fmt: skip
            ours = json.loads(proc.stdout)
            inproc.add(ours["seconds"][0], peak, ours["packets"])
        if r >= args.repeat_others:
            continue
        if have_dpkt:
            proc, wall, peak = _run_child([*me, "--child", "dpkt", capture], cpu)
            theirs_dpkt = json.loads(proc.stdout)
            dpkt_whole.add(wall, peak, theirs_dpkt["packets"])
            dpkt_own.add(theirs_dpkt["seconds"][0], peak, theirs_dpkt["packets"])
        if have_tshark:
            out = workdir / "tshark.tsv"
            with open(out, "w") as fh:
                _proc, wall, peak = _run_child(tshark_command(capture, str(out)), cpu, fh)
            theirs_tshark = read_tshark(str(out))
            tshark.add(wall, peak, theirs_tshark["packets"])
            out.unlink()
    json_out.unlink()
    assert ours is not None
    v6 = sum(1 for f in ours["flows"] if ":" in f[1])
    names = {f[9] for f in ours["flows"] if f[9]} | set(ours["dns"])
    print(f"\n{mix} mix, {capture}: {ours['packets']:,} packets, {len(ours['flows']):,} flows "
          f"({100 * v6 / len(ours['flows']):.0f}% IPv6), {len(names):,} server names "
          f"(SNI and DNS)")  # fmt: skip
    print(f"{'':34} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7} {'packets/s':>11} "
          f"{'peak anon MB':>13}")  # fmt: skip
    rows = [t for t in (whole, inproc, dpkt_whole, dpkt_own, tshark) if t.seconds]
    for t in rows:
        print(f"{t.label:34} {len(t.seconds):4} {t.median:9.3f} {min(t.seconds):7.3f} "
              f"{max(t.seconds):7.3f} {t.rate():11,.0f} {t.peak_kb / 1024:13.1f}")  # fmt: skip
    print("ratios of medians (how many times faster hil is):")
    pairs = [("whole command vs dpkt whole process", whole, dpkt_whole),
             ("whole command vs dpkt's own clock", whole, dpkt_own),
             ("whole command vs tshark -T fields", whole, tshark),
             ("in-process vs dpkt's own clock", inproc, dpkt_own),
             ("in-process vs tshark -T fields", inproc, tshark)]  # fmt: skip
    for label, a, b in pairs:
        if a.seconds and b.seconds:
            print(f"  {label:38} {b.median / a.median:6.1f}x")
    problems = []
    for name, summary in (("dpkt", theirs_dpkt), ("tshark", theirs_tshark)):
        if summary is not None:
            problems += compare(ours, summary, f"hil vs {name}")
    if problems:
        print("DISAGREEMENT:\n  " + "\n  ".join(problems))
    else:
        agreed = " and ".join(n for n, s in (("dpkt", theirs_dpkt), ("tshark", theirs_tshark))
                              if s is not None) or "nobody (no other tool ran)"  # fmt: skip
        print(f"agreement: flows (5-tuple, client, packets and bytes each way), SNI and DNS "
              f"names identical with {agreed}")  # fmt: skip
    return not problems


def _bench(args, workdir: Path, cpu: int) -> int:
    mixes = MIXES if args.mix == "both" else (args.mix,)
    sweep = [] if args.no_sweep else sorted({100_000, args.packets, 2 * args.packets})
    counts = sweep or [args.packets]
    print(f"every run pinned to CPU {cpu}; hil: {' '.join(_hil_command())}", flush=True)
    _compile_package()
    series: dict[str, dict[int, Path]] = {}
    agreed = True
    for mix in mixes:
        series[mix] = make_captures(workdir, args.format, counts, mix=mix)
        print(f"{mix} mix: {args.repeat} runs of hil, {args.repeat_others} of dpkt and tshark",
              flush=True)  # fmt: skip
        agreed &= compare_mix(args, mix, str(series[mix][args.packets]), workdir, cpu)
        print(flush=True)
    if sweep:
        series["bulk"] = make_captures(workdir, args.format, sweep, bulk_only=True)
        me = [sys.executable, str(Path(__file__).resolve())]
        print("\nmemory sweep, this analyzer (one run each, peak anonymous memory of the "
              "process):")  # fmt: skip
        print(f"{'capture':10} {'packets':>10} {'flows':>8} {'seconds':>9} {'packets/s':>12} "
              f"{'peak anon MB':>13}")  # fmt: skip
        for label, captures in series.items():
            for n in sorted(captures):
                proc, _wall, peak = _run_child([*me, "--repeat", "1", "--child", "ours",
                                                str(captures[n])], cpu)  # fmt: skip
                res = json.loads(proc.stdout)
                print(f"{label:10} {n:>10,} {len(res['flows']):>8,} {res['seconds'][0]:9.3f} "
                      f"{n / res['seconds'][0]:12,.0f} {peak / 1024:13.1f}")  # fmt: skip
    return 0 if agreed else 1


if __name__ == "__main__":
    sys.exit(main())
