"""Build network frames byte by byte: Ethernet II, IPv4, TCP, UDP, DNS and TLS records.

Pure functions: arguments in, ``bytes`` out, nothing random unless seeded (defaults are
derived from the arguments, so the same call always gives the same bytes). IPv4 header
checksums and TCP/UDP checksums (over the IPv4 pseudo-header) are correct, so Wireshark
and the kernel accept the frames.

The TLS builders make records that Wireshark dissects as a TLS 1.3 Client Hello (with a
server_name extension, common cipher suites, supported_groups, key_share,
supported_versions ...), a Server Hello flight, and opaque application data.
"""

from __future__ import annotations

import functools
import hashlib
import random as _random
import socket
import struct

__all__ = [
    "ACK",
    "ETHERTYPE_IPV4",
    "FIN",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "MAX_TLS_RECORD",
    "PSH",
    "RST",
    "SYN",
    "dns_query",
    "dns_response",
    "encode_name",
    "ethernet",
    "internet_checksum",
    "ipv4",
    "mac_bytes",
    "mss_option",
    "tcp_frame",
    "tcp_segment",
    "tls_application_data",
    "tls_client_hello",
    "tls_server_hello",
    "udp_datagram",
    "udp_frame",
]

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
IPPROTO_TCP, IPPROTO_UDP = 6, 17

#: Largest plaintext fragment of one TLS record.
MAX_TLS_RECORD = 16384


def internet_checksum(data: bytes) -> int:
    """The 16-bit ones' complement checksum of RFC 1071."""
    if len(data) % 2:
        data += b"\x00"
    # The ones' complement sum of the 16-bit words is the number the bytes spell, modulo
    # 0xFFFF (as 2**16 = 1 modulo 0xFFFF), except that a non-zero sum folds to 0xFFFF,
    # never 0. One big-integer remainder instead of a word loop: the simulated phones
    # build tens of thousands of segments a second when four of them upload at once.
    total = int.from_bytes(data, "big") % 0xFFFF
    if total == 0 and data.strip(b"\x00"):
        total = 0xFFFF
    return ~total & 0xFFFF


@functools.lru_cache(maxsize=256)
def mac_bytes(mac: str) -> bytes:
    """``"02:00:00:00:00:01"`` (or with ``-``) as 6 bytes."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def ethernet(dst_mac: str, src_mac: str, ethertype: int, payload: bytes) -> bytes:
    """An Ethernet II frame (no FCS, no padding)."""
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ethertype) + payload


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ident: int = 0,
    ttl: int = 64,
    dont_fragment: bool = True,
) -> bytes:
    """An IPv4 packet with a 20-byte header and a correct header checksum."""
    total = 20 + len(payload)
    if total > 0xFFFF:
        raise ValueError(f"IPv4 packet of {total} bytes exceeds 65535")
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        total,
        ident & 0xFFFF,
        0x4000 if dont_fragment else 0,
        ttl,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    checksum = internet_checksum(header)
    return header[:10] + struct.pack("!H", checksum) + header[12:] + payload


def ipv6(src: str, dst: str, proto: int, payload: bytes, *, hop_limit: int = 64) -> bytes:
    """An IPv6 packet: the 40-byte header (no extension headers) and the payload."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"IPv6 payload of {len(payload)} bytes exceeds 65535")
    return (struct.pack("!IHBB", 6 << 28, len(payload), proto, hop_limit)
            + socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
            + payload)


def _pseudo_header(src: str, dst: str, proto: int, length: int) -> bytes:
    if ":" in src:  # RFC 8200 section 8.1
        return (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                + struct.pack("!I3xB", length, proto))
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, length)


def _ip_frame(dst_mac: str, src_mac: str, src: str, dst: str, proto: int, payload: bytes,
              ident: int) -> bytes:
    """An Ethernet frame carrying `payload` over IPv4 or IPv6, by the addresses' form."""
    if ":" in src:
        return ethernet(dst_mac, src_mac, ETHERTYPE_IPV6, ipv6(src, dst, proto, payload))
    return ethernet(dst_mac, src_mac, ETHERTYPE_IPV4, ipv4(src, dst, proto, payload,
                                                            ident=ident))


def mss_option(mss: int) -> bytes:
    """The TCP maximum segment size option."""
    return struct.pack("!BBH", 2, 4, mss)


def tcp_segment(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    *,
    window: int = 65535,
    options: bytes = b"",
) -> bytes:
    """A TCP segment (header + payload) with a correct checksum for ``src``/``dst``
    (IPv4 or IPv6)."""
    options += b"\x00" * (-len(options) % 4)  # pad with end-of-options
    doff = (20 + len(options)) // 4
    header = struct.pack(
        "!HHIIBBHHH",
        sport,
        dport,
        seq % (1 << 32),
        ack % (1 << 32),
        doff << 4,
        flags,
        window,
        0,
        0,
    )
    segment = header + options + payload
    checksum = internet_checksum(_pseudo_header(src, dst, IPPROTO_TCP, len(segment)) + segment)
    return segment[:16] + struct.pack("!H", checksum) + segment[18:]


def udp_datagram(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram (header + payload) with a correct checksum for ``src``/``dst``
    (IPv4 or IPv6)."""
    length = 8 + len(payload)
    datagram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    checksum = internet_checksum(_pseudo_header(src, dst, IPPROTO_UDP, length) + datagram)
    if checksum == 0:
        checksum = 0xFFFF  # 0 means "no checksum" in UDP
    return datagram[:6] + struct.pack("!H", checksum) + datagram[8:]


def tcp_frame(
    src_mac: str,
    dst_mac: str,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    *,
    ident: int = 0,
    window: int = 65535,
    options: bytes = b"",
) -> bytes:
    """An Ethernet frame carrying one TCP segment, over IPv4 or IPv6 (by the addresses)."""
    segment = tcp_segment(
        src, dst, sport, dport, seq, ack, flags, payload, window=window, options=options
    )
    return _ip_frame(dst_mac, src_mac, src, dst, IPPROTO_TCP, segment, ident)


def udp_frame(
    src_mac: str,
    dst_mac: str,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    payload: bytes,
    *,
    ident: int = 0,
) -> bytes:
    """An Ethernet frame carrying one UDP datagram, over IPv4 or IPv6 (by the addresses)."""
    datagram = udp_datagram(src, dst, sport, dport, payload)
    return _ip_frame(dst_mac, src_mac, src, dst, IPPROTO_UDP, datagram, ident)


# --- DNS --------------------------------------------------------------------------------

_TYPE_A, _TYPE_CNAME, _TYPE_AAAA, _CLASS_IN = 1, 5, 28, 1


def encode_name(name: str) -> bytes:
    """A domain name as uncompressed DNS labels, ending with the root label."""
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad DNS label {label!r} in {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def dns_query(txid: int, qname: str, qtype: int = _TYPE_A) -> bytes:
    """A recursive DNS query for ``qname`` (type A unless ``qtype`` says otherwise)."""
    header = struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0)
    return header + encode_name(qname) + struct.pack("!HH", qtype, _CLASS_IN)


def dns_response(
    txid: int,
    qname: str,
    addresses: list[str] | tuple[str, ...] = (),
    *,
    cname: str | None = None,
    ttl: int = 300,
    qtype: int = _TYPE_A,
    rcode: int = 0,
) -> bytes:
    """A DNS response to ``qname`` answering with ``addresses`` (A, or AAAA for IPv6).

    With ``cname``, the answer is ``qname CNAME cname`` followed by the address records
    owned by ``cname``. Names in the answers are compressed with pointers to the question
    and to the CNAME target, as real servers do.
    """
    n_answers = len(addresses) + (1 if cname else 0)
    header = struct.pack("!HHHHHH", txid, 0x8180 | (rcode & 0xF), 1, n_answers, 0, 0)
    question = encode_name(qname) + struct.pack("!HH", qtype, _CLASS_IN)
    body = header + question
    owner = struct.pack("!H", 0xC000 | 12)  # pointer to the question's name
    if cname:
        target = encode_name(cname)
        body += owner + struct.pack("!HHIH", _TYPE_CNAME, _CLASS_IN, ttl, len(target))
        owner = struct.pack("!H", 0xC000 | len(body))  # pointer to the CNAME target
        body += target
    for address in addresses:
        if ":" in address:
            rtype, rdata = _TYPE_AAAA, socket.inet_pton(socket.AF_INET6, address)
        else:
            rtype, rdata = _TYPE_A, socket.inet_aton(address)
        body += owner + struct.pack("!HHIH", rtype, _CLASS_IN, ttl, len(rdata)) + rdata
    return body


# --- TLS --------------------------------------------------------------------------------

_CIPHER_SUITES = (
    0x1301, 0x1302, 0x1303,  # TLS 1.3 AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305
    0xC02B, 0xC02F, 0xC02C, 0xC030,  # ECDHE ECDSA/RSA AES-GCM
    0xCCA9, 0xCCA8,  # ECDHE ECDSA/RSA CHACHA20-POLY1305
    0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035,
)  # fmt: skip
_SIGNATURE_ALGORITHMS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
_GROUPS = (0x001D, 0x0017, 0x0018)  # x25519, secp256r1, secp384r1
_X25519_MLKEM768, _MLKEM768_SHARE = 0x11EC, 1216  # the hybrid post-quantum group, share size


def _digest(*parts: object, size: int = 32) -> bytes:
    h = hashlib.sha256(repr(parts).encode())
    return h.digest()[:size]


def _ext(ext_type: int, data: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(data)) + data


def _u16_list(values: tuple[int, ...]) -> bytes:
    return struct.pack(f"!H{len(values)}H", 2 * len(values), *values)


def _records(content_type: int, version: int, data: bytes) -> bytes:
    """``data`` as one or more TLS records of at most :data:`MAX_TLS_RECORD` bytes each."""
    out = b""
    for pos in range(0, len(data), MAX_TLS_RECORD):
        chunk = data[pos : pos + MAX_TLS_RECORD]
        out += struct.pack("!BHH", content_type, version, len(chunk)) + chunk
    return out


def tls_client_hello(
    sni: str | None,
    *,
    random: bytes | None = None,
    session_id: bytes | None = None,
    padding: int = 0,
    post_quantum: bool = False,
) -> bytes:
    """TLS record(s) holding a TLS 1.3 ClientHello for server name ``sni``.

    ``sni=None`` leaves the server_name extension out. ``padding`` adds a padding
    extension of that many zero bytes (to make a ClientHello span several TCP segments;
    beyond 16384 bytes it spans several TLS records too). ``random`` and ``session_id``
    default to values derived from ``sni``. ``post_quantum`` offers the hybrid group
    X25519MLKEM768 first, with its 1216-byte key share, as current browsers do (the
    ClientHello then no longer fits one 1500-byte packet).
    """
    random = random if random is not None else _digest("client random", sni)
    session_id = session_id if session_id is not None else _digest("session", sni)
    extensions = b""
    if sni is not None:
        name = sni.encode("ascii")
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        extensions += _ext(0, struct.pack("!H", len(entry)) + entry)
    extensions += _ext(23, b"")  # extended_master_secret
    extensions += _ext(0xFF01, b"\x00")  # renegotiation_info
    groups = ((_X25519_MLKEM768,) if post_quantum else ()) + _GROUPS
    extensions += _ext(10, _u16_list(groups))  # supported_groups
    extensions += _ext(11, b"\x01\x00")  # ec_point_formats: uncompressed
    extensions += _ext(35, b"")  # session_ticket
    alpn = b"\x02h2\x08http/1.1"
    extensions += _ext(16, struct.pack("!H", len(alpn)) + alpn)
    extensions += _ext(5, b"\x01\x00\x00\x00\x00")  # status_request: OCSP
    extensions += _ext(13, _u16_list(_SIGNATURE_ALGORITHMS))
    extensions += _ext(18, b"")  # signed_certificate_timestamp
    share = struct.pack("!HH", 0x001D, 32) + _digest("key share", sni)
    if post_quantum:
        pq = (_digest("pq key share", sni) * (_MLKEM768_SHARE // 32 + 1))[:_MLKEM768_SHARE]
        share = struct.pack("!HH", _X25519_MLKEM768, _MLKEM768_SHARE) + pq + share
    extensions += _ext(51, struct.pack("!H", len(share)) + share)  # key_share
    extensions += _ext(45, b"\x01\x01")  # psk_key_exchange_modes: psk_dhe_ke
    extensions += _ext(43, b"\x04\x03\x04\x03\x03")  # supported_versions: 1.3, 1.2
    if padding:
        extensions += _ext(21, b"\x00" * padding)
    body = (
        b"\x03\x03"
        + random
        + bytes([len(session_id)])
        + session_id
        + _u16_list(_CIPHER_SUITES)
        + b"\x01\x00"  # compression methods: null
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return _records(22, 0x0301, handshake)


def tls_server_hello(
    *,
    random: bytes | None = None,
    session_id: bytes = b"",
    encrypted_handshake: int = 1024,
    seed: int = 0,
) -> bytes:
    """A TLS 1.3 server's first flight: ServerHello, ChangeCipherSpec, and one opaque
    application-data record of ``encrypted_handshake`` bytes standing for the encrypted
    extensions, certificate and Finished (0 leaves it out)."""
    random = random if random is not None else _digest("server random", seed)
    extensions = _ext(43, b"\x03\x04")  # supported_versions: TLS 1.3
    share = struct.pack("!HH", 0x001D, 32) + _digest("server key share", seed)
    extensions += _ext(51, share)
    body = (
        b"\x03\x03"
        + random
        + bytes([len(session_id)])
        + session_id
        + struct.pack("!H", 0x1301)
        + b"\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    flight = _records(22, 0x0303, handshake) + _records(20, 0x0303, b"\x01")
    if encrypted_handshake:
        flight += _records(23, 0x0303, _random.Random(seed).randbytes(encrypted_handshake))
    return flight


def tls_application_data(total: int, seed: int = 0) -> bytes:
    """Opaque TLS application-data records totalling exactly ``total`` bytes, headers
    included. ``total`` is 0 (no record) or at least 6 (a 5-byte header and 1 byte)."""
    if total == 0:
        return b""
    if total < 6:
        raise ValueError(f"TLS application data of {total} bytes: need 0 or at least 6")
    per_record = MAX_TLS_RECORD + 5
    count = -(-total // per_record)
    payload = total - 5 * count
    sizes = [payload // count + (1 if i < payload % count else 0) for i in range(count)]
    data = _random.Random(seed).randbytes(payload)
    out = bytearray()
    pos = 0
    for size in sizes:
        out += struct.pack("!BHH", 23, 0x0303, size) + data[pos : pos + size]
        pos += size
    return bytes(out)
