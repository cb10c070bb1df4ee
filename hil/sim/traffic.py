"""The frames a phone's network exchanges look like, as lists of ``(ts, frame)``.

Pure functions used by the traffic simulator: every frame is an Ethernet II frame as seen
on the gateway's phone-facing interface (phone MAC <-> gateway MAC), timestamps strictly
increase from ``t``, and the same arguments always give the same bytes. Feed the result
to :class:`hil.capture.pcap.PcapWriter` to get a capture Wireshark opens.

Byte accounting promised by :func:`tls_session` (what :func:`hil.capture.analyze.analyze`
reports for the flow):
- ``bytes_up == len(tls_client_hello(sni)) + up_bytes``
- ``bytes_down == len(tls_server_hello(...)) + down_bytes``, see :func:`server_flight_size`
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from hil.sim.packets import (
    ACK,
    FIN,
    PSH,
    SYN,
    dns_query,
    dns_response,
    mss_option,
    tcp_frame,
    tls_application_data,
    tls_client_hello,
    tls_server_hello,
    udp_frame,
)

__all__ = ["MSS", "Frames", "KeptConnection", "dns_lookup", "server_flight_size", "tcp_session",
           "tls_open", "tls_session"]

Frames = list[tuple[float, bytes]]

#: TCP payload bytes per segment.
MSS = 1448
#: Time between back-to-back segments sent in one direction.
_GAP = 20e-6
#: DNS uses this port on the resolver.
_DNS_PORT = 53
#: Server-side size of the opaque record standing for the encrypted handshake.
_ENCRYPTED_HANDSHAKE = 1024


def dns_lookup(
    t: float,
    client_ip: str,
    client_mac: str,
    resolver_ip: str,
    gw_mac: str,
    qname: str,
    answer_ip: str | Sequence[str] | None,
    answered: bool,
    sport: int,
    txid: int,
    *,
    cname: str | None = None,
    rtt: float = 0.002,
) -> Frames:
    """A DNS query for ``qname`` at ``t`` from ``client_ip:sport`` to ``resolver_ip:53``.

    When ``answered``, the resolver's response follows at ``t + rtt`` with
    ``answer_ip`` (one address or several; A or AAAA by their form), behind
    ``qname CNAME cname`` when ``cname`` is given; ``answer_ip=None`` answers NXDOMAIN.
    When not answered (uplink cut), only the query is returned.
    """
    if rtt <= 0:
        raise ValueError(f"rtt must be positive, got {rtt}")
    first = answer_ip if isinstance(answer_ip, str) or answer_ip is None else answer_ip[0]
    qtype = 28 if first and ":" in first else 1  # AAAA for an IPv6 answer, else A
    query = udp_frame(
        client_mac,
        gw_mac,
        client_ip,
        resolver_ip,
        sport,
        _DNS_PORT,
        dns_query(txid, qname, qtype),
        ident=txid,
    )
    frames: Frames = [(t, query)]
    if answered:
        if answer_ip is None:
            payload = dns_response(txid, qname, (), rcode=3)
        else:
            addresses = [answer_ip] if isinstance(answer_ip, str) else list(answer_ip)
            payload = dns_response(txid, qname, addresses, cname=cname)
        response = udp_frame(
            gw_mac, client_mac, resolver_ip, client_ip, _DNS_PORT, sport, payload, ident=txid
        )
        frames.append((t + rtt, response))
    return frames


def server_flight_size(sport: int) -> int:
    """Bytes of the server's TLS handshake flight in a :func:`tls_session` on ``sport``."""
    return len(_server_flight(sport))


def _server_flight(sport: int) -> bytes:
    return tls_server_hello(encrypted_handshake=_ENCRYPTED_HANDSHAKE, seed=sport)


class _Conversation:
    """Sequence/ack bookkeeping and timestamps for one simulated TCP connection."""

    def __init__(
        self,
        t: float,
        rtt: float,
        client: tuple[str, str, int],
        server: tuple[str, str, int],
    ) -> None:
        self.t = t
        self.rtt = rtt
        self.ends = {"c": client, "s": server}
        isn_c = zlib.crc32(f"{client}>{server}".encode())
        isn_s = zlib.crc32(f"{server}>{client}".encode())
        self.seq = {"c": isn_c, "s": isn_s}
        self.ident = {"c": isn_c & 0xFFFF, "s": isn_s & 0xFFFF}
        self.last_dir: str | None = None
        self.frames: Frames = []

    def send(self, direction: str, flags: int, payload: bytes = b"", options: bytes = b"") -> None:
        if self.last_dir is None:
            ts = self.t
        elif direction == self.last_dir:
            ts = self.frames[-1][0] + _GAP
        else:
            ts = self.frames[-1][0] + self.rtt / 2
        other = "s" if direction == "c" else "c"
        src_ip, src_mac, src_port = self.ends[direction]
        dst_ip, dst_mac, dst_port = self.ends[other]
        ack = self.seq[other] if flags & ACK else 0
        frame = tcp_frame(
            src_mac, dst_mac, src_ip, dst_ip, src_port, dst_port,
            self.seq[direction], ack, flags, payload,
            ident=self.ident[direction], options=options,
        )  # fmt: skip
        self.frames.append((ts, frame))
        self.ident[direction] = (self.ident[direction] + 1) & 0xFFFF
        step = len(payload) + (1 if flags & (SYN | FIN) else 0)
        self.seq[direction] = (self.seq[direction] + step) % (1 << 32)
        self.last_dir = direction

    def stream(self, direction: str, data: bytes) -> None:
        """Send ``data`` in MSS-sized segments; the peer ACKs every second one and the last."""
        other = "s" if direction == "c" else "c"
        chunks = [data[i : i + MSS] for i in range(0, len(data), MSS)]
        for n, chunk in enumerate(chunks, start=1):
            last = n == len(chunks)
            self.send(direction, ACK | (PSH if last else 0), chunk)
            if n % 2 == 0 or last:
                self.send(other, ACK)


def tls_session(
    t: float,
    client_ip: str,
    client_mac: str,
    sport: int,
    server_ip: str,
    gw_mac: str,
    sni: str | None,
    up_bytes: int,
    down_bytes: int,
    reachable: bool,
    rtt: float = 0.002,
    syn_retries: int = 3,
    rto: float = 0.01,
    port: int = 443,
) -> Frames:
    """One HTTPS connection from ``client_ip:sport`` to ``server_ip:443``, starting at ``t``
    (another TLS service's ``port``, such as DNS over TLS on 853, when given).

    Reachable: three-way handshake; the ClientHello naming ``sni`` (``None``: no SNI);
    the server's handshake flight; ``up_bytes`` of TLS application-data records upstream
    (headers included), then ``down_bytes`` downstream; all segmented at :data:`MSS`
    with the peer ACKing every second segment; FIN from the client, FIN from the server,
    last ACK. ``up_bytes``/``down_bytes`` are 0 or at least 6 (one record). The flow's
    payload bytes are ``len(tls_client_hello(sni)) + up_bytes`` up and
    ``server_flight_size(sport) + down_bytes`` down.

    Unreachable (uplink cut): the SYN at ``t`` and ``syn_retries`` retransmissions of it
    with exponential backoff, at ``t + rto * (2**k - 1)``, and nothing else.

    Back-to-back segments are 20 us apart; a change of direction takes ``rtt / 2``.
    """
    if rtt <= 0 or rto <= 0:
        raise ValueError(f"rtt and rto must be positive, got rtt={rtt}, rto={rto}")
    if not reachable:
        conv = _Conversation(t, rtt, (client_ip, client_mac, sport), (server_ip, gw_mac, port))
        isn = conv.seq["c"]
        for k in range(syn_retries + 1):
            conv.t = t + rto * (2**k - 1)
            conv.seq["c"] = isn
            conv.last_dir = None  # timestamp from conv.t, not from the previous frame
            conv.send("c", SYN, options=mss_option(MSS))
        return conv.frames
    frames, conn = tls_open(t, client_ip, client_mac, sport, server_ip, gw_mac, sni,
                            up_bytes, down_bytes, rtt, port)
    return frames + conn.close()


def tcp_session(
    t: float,
    client: tuple[str, str, int],
    server: tuple[str, str, int],
    up_bytes: int,
    down_bytes: int,
    rtt: float = 0.002,
) -> Frames:
    """One plain TCP connection (an SSH or adb session: opaque bytes, no server name) from
    ``client`` to ``server``, each ``(ip, mac, port)``, starting at ``t``: three-way
    handshake, ``up_bytes`` of payload up, then ``down_bytes`` down, both segmented at
    :data:`MSS` with the peer ACKing every second segment, FIN from the client, FIN from
    the server, last ACK. The flow's payload bytes are exactly ``up_bytes`` up and
    ``down_bytes`` down."""
    if rtt <= 0:
        raise ValueError(f"rtt must be positive, got rtt={rtt}")
    conv = _Conversation(t, rtt, client, server)
    conv.send("c", SYN, options=mss_option(MSS))
    conv.send("s", SYN | ACK, options=mss_option(MSS))
    conv.send("c", ACK)
    if up_bytes:
        conv.stream("c", bytes(up_bytes))
    if down_bytes:
        conv.stream("s", bytes(down_bytes))
    conv.send("c", FIN | ACK)
    conv.send("s", FIN | ACK)
    conv.send("c", ACK)
    return conv.frames


def _exchange(conv: _Conversation, up_bytes: int, down_bytes: int, seed: int) -> None:
    up = tls_application_data(up_bytes, seed=seed)
    down = tls_application_data(down_bytes, seed=seed + 1)
    if up:
        conv.stream("c", up)
    if down:
        conv.stream("s", down)


class KeptConnection:
    """An HTTPS connection of :func:`tls_open`, still open: more requests go over it."""

    def __init__(self, conv: _Conversation, sport: int) -> None:
        self._conv, self._seed = conv, sport
        self.v6 = ":" in conv.ends["c"][0]  # over IPv6

    def send(self, t: float, up_bytes: int, down_bytes: int) -> Frames:
        """The frames of one more request on the connection, from ``t`` (or just after
        its last frame): ``up_bytes`` of application data up, then ``down_bytes`` down,
        counted as in :func:`tls_session`. No new handshake: no new server name."""
        conv = self._conv
        mark = len(conv.frames)
        conv.t = max(t, conv.frames[-1][0] + _GAP)
        conv.last_dir = None  # timestamp from conv.t, not from the previous frame
        self._seed += 2
        _exchange(conv, up_bytes, down_bytes, self._seed)
        return conv.frames[mark:]

    def close(self) -> Frames:
        """The frames that close the connection: FIN from the client, FIN from the
        server, last ACK."""
        conv = self._conv
        mark = len(conv.frames)
        conv.send("c", FIN | ACK)
        conv.send("s", FIN | ACK)
        conv.send("c", ACK)
        return conv.frames[mark:]


def tls_open(
    t: float,
    client_ip: str,
    client_mac: str,
    sport: int,
    server_ip: str,
    gw_mac: str,
    sni: str | None,
    up_bytes: int,
    down_bytes: int,
    rtt: float = 0.002,
    port: int = 443,
) -> tuple[Frames, KeptConnection]:
    """Like a reachable :func:`tls_session`, but the connection is left open (no FIN), as
    an app's keep-alive connection is: the frames so far, and the connection to send more
    requests over with :meth:`KeptConnection.send`."""
    if rtt <= 0:
        raise ValueError(f"rtt must be positive, got rtt={rtt}")
    conv = _Conversation(t, rtt, (client_ip, client_mac, sport), (server_ip, gw_mac, port))
    syn_options = mss_option(MSS)
    conv.send("c", SYN, options=syn_options)
    conv.send("s", SYN | ACK, options=syn_options)
    conv.send("c", ACK)
    conv.stream("c", tls_client_hello(sni))
    conv.stream("s", _server_flight(sport))
    _exchange(conv, up_bytes, down_bytes, sport)
    return list(conv.frames), KeptConnection(conv, sport)
