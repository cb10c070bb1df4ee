"""Frames and captures for the capture tests, with the answers known by construction.

The simulator's builders (:mod:`hil.sim.packets`, :mod:`hil.sim.traffic`) make Ethernet
IPv4 frames; the functions here re-frame them (802.1Q VLAN, Linux cooked SLL and SLL2, raw
IP, IPv6), build what the simulator does not (a TCP conversation with chosen payloads,
DNS over TCP, QUIC and UDP datagrams, IP fragments) and write captures in every format
the reader takes.
"""

from __future__ import annotations

import io
import socket
import struct
from collections.abc import Callable, Iterable

from hil.capture.pcap import PcapngWriter, PcapWriter
from hil.sim import packets as pk

Frames = list[tuple[float, bytes]]

PHONE, PHONE_MAC = "10.20.0.34", "02:00:00:00:00:34"
GW_MAC, RESOLVER = "02:00:00:00:00:01", "10.20.0.1"
ETH_IPV4, ETH_IPV6, ETH_VLAN = 0x0800, 0x86DD, 0x8100


# --- re-framing -----------------------------------------------------------------------


def v6(address: str) -> str:
    """The IPv6 address standing for IPv4 ``address`` in the IPv6 variants."""
    a, b, c, d = (int(x) for x in address.split("."))
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(
        socket.AF_INET6, f"2001:db8::{a:x}:{b:x}:{c:x}:{d:x}"))  # fmt: skip


def to_ipv6(frame: bytes) -> bytes:
    """An Ethernet IPv4 frame as the same transport payload over IPv6 (transport checksums
    are not fixed: the analyzer does not check them)."""
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    src, dst = (socket.inet_ntop(socket.AF_INET, ip[o : o + 4]) for o in (12, 16))
    header = struct.pack("!IHBB", 6 << 28, total - ihl, ip[9], 64)
    for address in (src, dst):
        header += socket.inet_pton(socket.AF_INET6, v6(address))
    return frame[:12] + struct.pack("!H", ETH_IPV6) + header + ip[ihl:total]


def to_vlan(frame: bytes, vid: int = 20) -> bytes:
    return frame[:12] + struct.pack("!HH", ETH_VLAN, vid) + frame[12:]


def to_raw(frame: bytes) -> bytes:
    return frame[14:]


def to_sll(frame: bytes) -> bytes:
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    return struct.pack("!HHH8sH", 4, 1, 6, frame[6:12] + b"\0\0", ethertype) + frame[14:]


def to_sll2(frame: bytes) -> bytes:
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    return struct.pack("!HHIHBB8s", ethertype, 0, 3, 1, 4, 6, frame[6:12] + b"\0\0") + frame[14:]


#: Link type and frame transformation of each framing the tests use.
FRAMINGS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    "ethernet": (1, lambda f: f),
    "vlan": (1, to_vlan),
    "sll": (113, to_sll),
    "sll2": (276, to_sll2),
    "raw": (101, to_raw),
    "raw-ipv4": (228, to_raw),
}


# --- conversations --------------------------------------------------------------------


class Tcp:
    """A TCP connection between the phone and ``server``, frame by frame."""

    def __init__(self, server: str, cport: int, sport: int = 443, client: str = PHONE,
                 client_mac: str = PHONE_MAC, isn: int = 1000,
                 server_isn: int = 90000) -> None:  # fmt: skip
        self.ends = {"c": (client, client_mac, cport), "s": (server, GW_MAC, sport)}
        self.seq = {"c": isn, "s": server_isn}
        self.frames: Frames = []

    def send(self, t: float, side: str, flags: int, payload: bytes = b"",
             seq: int | None = None) -> None:  # fmt: skip
        other = "s" if side == "c" else "c"
        (sip, smac, sport), (dip, dmac, dport) = self.ends[side], self.ends[other]
        s = self.seq[side] if seq is None else seq
        ack = self.seq[other] if flags & pk.ACK else 0
        self.frames.append((t, pk.tcp_frame(smac, dmac, sip, dip, sport, dport, s, ack, flags,
                                            payload)))  # fmt: skip
        if seq is None:
            self.seq[side] = (s + len(payload) + (1 if flags & (pk.SYN | pk.FIN) else 0)) % 2**32

    def open(self, t: float) -> float:
        self.send(t, "c", pk.SYN)
        self.send(t + 0.001, "s", pk.SYN | pk.ACK)
        self.send(t + 0.002, "c", pk.ACK)
        return t + 0.003

    def close(self, t: float) -> float:
        self.send(t, "c", pk.FIN | pk.ACK)
        self.send(t + 0.001, "s", pk.FIN | pk.ACK)
        self.send(t + 0.002, "c", pk.ACK)
        return t + 0.003

    def count(self) -> tuple[int, int, int, int]:
        """(packets up, packets down, payload bytes up, payload bytes down)."""
        up = [f for _, f in self.frames if f[6:12] == pk.mac_bytes(self.ends["c"][1])]
        down = [f for _, f in self.frames if f[6:12] != pk.mac_bytes(self.ends["c"][1])]
        return len(up), len(down), sum(map(_tcp_payload, up)), sum(map(_tcp_payload, down))


def _tcp_payload(frame: bytes) -> int:
    total = struct.unpack_from("!H", frame, 16)[0]
    return total - 20 - (frame[46] >> 4) * 4


def udp(t: float, server: str, cport: int, sport: int, payload: bytes, up: bool = True,
        client: str = PHONE) -> tuple[float, bytes]:  # fmt: skip
    if up:
        return t, pk.udp_frame(PHONE_MAC, GW_MAC, client, server, cport, sport, payload)
    return t, pk.udp_frame(GW_MAC, PHONE_MAC, server, client, sport, cport, payload)


def quic_initial(version: int = 1) -> bytes:
    """A client's QUIC long-header Initial packet (IETF layout), padded to 1200 bytes."""
    head = bytes([0xC3]) + struct.pack("!I", version) + bytes([8]) + b"\x11" * 8 + b"\x00"
    return (head + b"\x00" + struct.pack("!H", 0x4000 | 1100) + b"\x00" * 1100).ljust(1200, b"\0")


def gquic_chlo(version: bytes = b"Q043") -> bytes:
    """A Google QUIC client packet with the version flag and an 8-byte connection ID."""
    return bytes([0x0D]) + b"\x22" * 8 + version + b"\x01" + b"\x00" * 200


def dns_over_tcp(t: float, server: str, cport: int, qname: str, answer: str, txid: int,
                 split: int | None = 5) -> tuple[Frames, Tcp]:  # fmt: skip
    """A DNS lookup over TCP: length-prefixed query, then the response, that one cut in two
    segments ``split`` bytes in (``None``: one segment)."""
    conn = Tcp(server, cport, 53)
    t = conn.open(t)
    query = pk.dns_query(txid, qname)
    conn.send(t, "c", pk.ACK | pk.PSH, struct.pack("!H", len(query)) + query)
    response = pk.dns_response(txid, qname, [answer])
    framed = struct.pack("!H", len(response)) + response
    parts = [framed] if split is None else [framed[:split], framed[split:]]
    for i, part in enumerate(parts):
        conn.send(t + 0.001 * (i + 1), "s", pk.ACK | pk.PSH, part)
    conn.close(t + 0.01)
    return conn.frames, conn


def _pieces(body: bytes, size: int):
    """(offset, piece, more follow) for ``body`` cut every ``size`` bytes."""
    for off in range(0, len(body), size):
        yield off, body[off : off + size], off + size < len(body)


def fragments(frame: bytes, size: int) -> list[bytes]:
    """The Ethernet IPv4 ``frame`` cut into IP fragments of ``size`` payload bytes
    (a multiple of 8), as a router would."""
    head, body = frame[14:34], frame[34:]
    out = []
    for off, piece, more in _pieces(body, size):
        h = bytearray(head)
        struct.pack_into("!HHH", h, 2, 20 + len(piece), 0x4242, (0x2000 if more else 0) | off // 8)
        struct.pack_into("!H", h, 10, 0)
        struct.pack_into("!H", h, 10, pk.internet_checksum(bytes(h)))
        out.append(frame[:14] + bytes(h) + piece)
    return out


def ipv6_fragments(frame: bytes, size: int) -> list[bytes]:
    """An Ethernet IPv6 UDP/TCP frame cut into IPv6 fragments of ``size`` bytes."""
    head, body = frame[14:54], frame[54:]
    out = []
    for off, piece, more in _pieces(body, size):
        fragment = struct.pack("!BBHI", head[6], 0, off | (1 if more else 0), 0xABCD)
        h = bytearray(head)
        struct.pack_into("!H", h, 4, len(fragment) + len(piece))
        h[6] = 44
        out.append(frame[:14] + bytes(h) + fragment + piece)
    return out


def with_ipv6_options(frame: bytes, kind: int = 60) -> bytes:
    """The Ethernet IPv6 ``frame`` with an 8-byte extension header of type ``kind`` (60
    destination options, 0 hop-by-hop) before its transport header."""
    ip = frame[14:]
    head = bytearray(ip[:40])
    struct.pack_into("!H", head, 4, struct.unpack_from("!H", head, 4)[0] + 8)
    option = bytes([head[6], 0]) + b"\x01\x04\x00\x00\x00\x00"  # PadN over 6 bytes
    head[6] = kind
    return frame[:14] + bytes(head) + option + ip[40:]


# --- captures -------------------------------------------------------------------------


def pcap(frames: Iterable[tuple[float, bytes]], linktype: int = 1,
         nanosecond: bool = False) -> bytes:  # fmt: skip
    buf = io.BytesIO()
    writer = PcapWriter(buf, linktype, nanosecond)
    for ts, frame in sorted(frames, key=lambda f: f[0]):
        writer.write(ts, frame)
    return buf.getvalue()


def pcapng(frames: Iterable[tuple[float, bytes]], interfaces: list[tuple[int, int]],
           pick: Callable[[int, bytes], tuple[int, bytes]] = lambda i, f: (0, f),
           endian: str = "<") -> bytes:  # fmt: skip
    """A pcapng capture; ``pick(i, frame)`` gives the interface and the frame as framed on
    that interface for the i-th frame (in time order)."""
    buf = io.BytesIO()
    writer = PcapngWriter(buf, interfaces, endian)
    for i, (ts, frame) in enumerate(sorted(frames, key=lambda f: f[0])):
        iface, framed = pick(i, frame)
        writer.write(ts, framed, iface)
    return buf.getvalue()
