"""SNI extraction from a TLS ClientHello."""

from __future__ import annotations

import struct

import pytest

from hil.capture.tls import HelloScan, HelloStatus, scan_client_hello
from hil.sim import packets as pk

SNI = "statistical-report.djiservice.org"


def rerecord(records: bytes, size: int) -> bytes:
    """The handshake bytes inside ``records`` re-cut into TLS records of ``size`` bytes."""
    handshake = b""
    pos = 0
    while pos < len(records):
        (length,) = struct.unpack_from("!H", records, pos + 3)
        handshake += records[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return b"".join(
        b"\x16\x03\x01" + struct.pack("!H", len(handshake[i : i + size])) + handshake[i : i + size]
        for i in range(0, len(handshake), size)
    )


def sni_end(hello: bytes) -> int:
    """Offset just past the host name inside a one-record ClientHello."""
    return hello.index(SNI.encode()) + len(SNI)


def test_sni_found():
    scan = scan_client_hello(pk.tls_client_hello(SNI))
    assert (scan.status, scan.sni) == (HelloStatus.SNI, SNI)


def test_sni_is_lower_cased_without_trailing_dot():
    assert (
        scan_client_hello(pk.tls_client_hello("Mydjiflight.DJI.com.")).sni == "mydjiflight.dji.com"
    )


def test_no_sni():
    scan = scan_client_hello(pk.tls_client_hello(None))
    assert (scan.status, scan.sni) == (HelloStatus.NO_SNI, None)


def test_every_prefix_before_the_name_needs_more_and_after_finds_it():
    hello = pk.tls_client_hello(SNI)
    end = sni_end(hello)
    for n in range(end):
        assert scan_client_hello(hello[:n]).status is HelloStatus.NEED_MORE, n
    for n in (end, end + 1, len(hello)):
        assert scan_client_hello(hello[:n]).sni == SNI


def test_without_sni_every_prefix_needs_more_until_the_end():
    hello = pk.tls_client_hello(None)
    for n in range(len(hello)):
        assert scan_client_hello(hello[:n]).status is HelloStatus.NEED_MORE, n
    assert scan_client_hello(hello).status is HelloStatus.NO_SNI


def test_client_hello_split_over_several_records():
    hello = rerecord(pk.tls_client_hello(SNI, padding=300), 50)
    assert hello.count(b"\x16\x03\x01") >= 10
    assert scan_client_hello(hello).sni == SNI
    assert scan_client_hello(hello[:60]).status is HelloStatus.NEED_MORE


def test_huge_client_hello_spans_records():
    hello = pk.tls_client_hello(None, padding=20000)
    assert len(hello) > 20000
    assert scan_client_hello(hello).status is HelloStatus.NO_SNI
    assert scan_client_hello(hello[:16000]).status is HelloStatus.NEED_MORE


def test_bytes_after_the_hello_do_not_matter():
    hello = pk.tls_client_hello(None) + b"\x14\x03\x03\x00\x01\x01" + b"junk"
    assert scan_client_hello(hello).status is HelloStatus.NO_SNI


def test_hello_without_extensions():
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00"
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    record = b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs
    assert scan_client_hello(record).status is HelloStatus.NO_SNI


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x17\x03\x03\x00\x10" + bytes(16),  # application data
        b"\x16\x02\x00",  # bad record version
        pk.tls_server_hello(),  # a ServerHello is not a ClientHello
        b"\x16\x03\x01\x00\x00",  # empty record
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ],
)
def test_not_tls(data):
    assert scan_client_hello(data).status is HelloStatus.NOT_TLS


def test_malformed_hello_is_not_tls():
    hello = bytearray(pk.tls_client_hello(SNI))
    hello[5 + 4 + 2 + 32] = 40  # session id length beyond 32
    scan = scan_client_hello(bytes(hello))
    assert scan.status is HelloStatus.NOT_TLS
    assert "session id" in scan.detail


def test_inconsistent_extension_length_is_not_tls():
    hello = bytearray(pk.tls_client_hello(None))
    # The last extension (supported_versions, 5 data bytes) claims 200 bytes.
    struct.pack_into("!H", hello, len(hello) - 7, 200)
    assert scan_client_hello(bytes(hello)).status is HelloStatus.NOT_TLS


def test_quick_reading_agrees_with_the_careful_scan():
    """The shortcut for a whole ClientHello in one record answers only when it is sure:
    on every prefix and on thousands of random corruptions, what it says is what the
    careful scan says."""
    import random

    from hil.capture import tls

    rng = random.Random(4)
    hellos = [pk.tls_client_hello(s, padding=p) for s in ("a.example", None, "x" * 200)
              for p in (0, 300)]  # fmt: skip
    hellos.append(pk.tls_client_hello("b.example")[:-3] + b"\x00\x00\x00")
    answered = 0
    for hello in hellos:
        samples = [hello[:n] for n in range(len(hello) + 1)]
        for _ in range(600):
            mutated = bytearray(hello)
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            samples.append(bytes(mutated))
            samples.append(bytes(mutated[: rng.randrange(len(mutated))]))  # and a prefix
        for data in samples:
            quick = tls._whole_hello_in_one_record(data)
            if quick is not None:
                answered += 1
                try:
                    body, complete = tls._handshake_bytes(data)
                    careful = tls._scan_hello(body, complete)
                except tls._NeedMore:
                    careful = HelloScan(HelloStatus.NEED_MORE)
                except tls._Malformed as exc:
                    careful = HelloScan(HelloStatus.NOT_TLS, detail=str(exc))
                assert quick == careful, data.hex()
    assert answered > 1000
