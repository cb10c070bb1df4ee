"""A shell command on a phone through the adb server, in one connection.

adbutils (which the adb backend uses for everything else: connect, device list, file
listing) sleeps 10 ms when it closes each connection to the server, and asks the server
its version before each command addressed by serial: 11-22 ms a command, measured, where
the exchange itself takes about 1 ms. A GO 4 session sends hundreds of commands (every
screen read, every tap), so shell commands take this path: the adb server's smart-socket
protocol (AOSP `docs/dev/protocol.md`, `services.md`), `shell,v2` for stdout, stderr and
the exit status, `exec` for raw bytes.

`run(port, transport, cmd, timeout)` -> (exit status, stdout, stderr); `AdbFailure` (an
OSError) for a server that refuses (its reason: "device offline", "device '...' not
found") or a connection that breaks.
"""

from __future__ import annotations

import socket
import struct

STDOUT, STDERR, EXIT = 1, 2, 3


class AdbFailure(OSError):
    """The adb server refused a request or the connection broke; the message says which."""


def request(service: str) -> bytes:
    """A smart-socket request: four hex digits of length, then the service."""
    data = service.encode()
    return b"%04x" % len(data) + data


def _recv(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise AdbFailure(f"the adb server closed the connection ({len(buf)} of {n} B)")
        buf += chunk
    return buf


def _okay(s: socket.socket, what: str) -> None:
    status = _recv(s, 4)
    if status == b"OKAY":
        return
    if status == b"FAIL":
        reason = _recv(s, int(_recv(s, 4), 16)).decode(errors="replace")
        raise AdbFailure(f"{what}: {reason}")
    raise AdbFailure(f"{what}: the adb server answered {status!r}, not OKAY or FAIL")


def transport(transport_id: int | None, serial: str) -> str:
    """The host service that switches a connection to one device."""
    return f"host:transport-id:{transport_id}" if transport_id else f"host:transport:{serial}"


def open_service(port: int, device: str, service: str, timeout: float) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(request(device))
        _okay(s, device)
        s.sendall(request(service))
        _okay(s, service.split(":", 1)[0])
        return s
    except BaseException:
        s.close()
        raise


def decode_v2(buf: bytes) -> tuple[int | None, bytes, bytes, int]:
    """Shell v2 packets in `buf`: (exit status or None, stdout, stderr, bytes used)."""
    out, err, at, code = [], [], 0, None
    while len(buf) - at >= 5:
        kind, size = struct.unpack_from("<BI", buf, at)
        if len(buf) - at - 5 < size:
            break
        data = buf[at + 5:at + 5 + size]
        at += 5 + size
        if kind == STDOUT:
            out.append(data)
        elif kind == STDERR:
            err.append(data)
        elif kind == EXIT:
            code = data[0] if data else 255
    return code, b"".join(out), b"".join(err), at


def run(port: int, device: str, cmd: str, timeout: float) -> tuple[int, bytes, bytes]:
    """Run `cmd` with shell v2 on the device `device` (a `transport()` service)."""
    try:
        s = open_service(port, device, "shell,v2,raw:" + cmd, timeout)
    except OSError as e:
        raise e if isinstance(e, AdbFailure) else AdbFailure(f"adb server: {e}") from None
    out, err, buf = [], [], b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                raise AdbFailure(f"the connection closed before {cmd.split()[0]!r} exited "
                                 "(the device went away?)")
            buf += chunk
            code, o, e, used = decode_v2(buf)
            out.append(o)
            err.append(e)
            buf = buf[used:]
            if code is not None:
                return code, b"".join(out), b"".join(err)
    except TimeoutError:
        raise AdbFailure(f"{cmd.split()[0]!r} did not finish within {timeout:g} s") from None
    finally:
        s.close()


def exec_out(port: int, device: str, cmd: str, timeout: float) -> bytes:
    """The raw stdout of `cmd` (`adb exec-out`), for binary output such as screencap."""
    s = open_service(port, device, "exec:" + cmd, timeout)
    chunks = []
    try:
        while chunk := s.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        raise AdbFailure(f"{cmd.split()[0]!r} did not finish within {timeout:g} s") from None
    finally:
        s.close()
    return b"".join(chunks)
