"""The device side of the adb transport protocol, on loopback TCP: a simulated phone's adbd.

The real adb server reaches it as it reaches a phone in wireless debugging (`adb connect
127.0.0.1:PORT`), so everything above it (the adb CLI, adbutils, device states such as
`offline`) is the real thing. It plays a debuggable phone: no AUTH.

Layout:
- a pure core (no I/O): the 24-byte message header, an incremental message decoder, the
  banner, shell v2 packets, and the sync v1 service as a state machine (`SyncSession`) that
  turns request bytes into reply bytes against an `AdbdDevice`;
- a thin threaded I/O layer: `AdbdServer` accepts the adb server's connections, keeps the
  streams (OPEN/OKAY/WRTE/CLSE with one outstanding WRTE per direction) and runs each
  service on its own worker thread, so a slow shell command stalls only its own stream.

Sources: AOSP packages/modules/adb docs/dev/protocol.md, services.md, sync.md (see
/work/shared/notes/android-phone.md, section 3).
"""

from __future__ import annotations

import logging
import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

log = logging.getLogger("hil.sim.adbd")

# ---------------------------------------------------------------------------------------------
# Transport messages

A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_WRTE = 0x45545257
A_CLSE = 0x45534C43
A_STLS = 0x534C5453

A_VERSION = 0x01000001  # = A_VERSION_SKIP_CHECKSUM: the peer need not check the checksum
MAX_PAYLOAD_V1 = 4 * 1024  # CNXN must fit in it whatever the peer's maxdata
MAX_PAYLOAD = 1024 * 1024  # the largest payload we accept and advertise

HEADER = struct.Struct("<6I")
COMMAND_NAMES = {A_CNXN: "CNXN", A_AUTH: "AUTH", A_OPEN: "OPEN", A_OKAY: "OKAY",
                 A_WRTE: "WRTE", A_CLSE: "CLSE", A_STLS: "STLS"}

FEATURES = ("shell_v2",)  # advertise only what this module implements


class AdbProtocolError(ValueError):
    """A peer sent something the protocol does not allow (bad magic, oversize payload...)."""


class Message(NamedTuple):
    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    def __repr__(self) -> str:
        name = COMMAND_NAMES.get(self.command, hex(self.command))
        return f"Message({name}, {self.arg0}, {self.arg1}, {self.data[:40]!r})"


class Header(NamedTuple):
    command: int
    arg0: int
    arg1: int
    data_length: int
    checksum: int
    magic: int


def checksum(data: bytes) -> int:
    """The header's "crc32" field: the unsigned byte sum of the payload (mod 2**32)."""
    return sum(data) & 0xFFFFFFFF


def pack(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    """One whole message: header (with the byte-sum checksum and the magic) then payload."""
    return HEADER.pack(command, arg0, arg1, len(data), checksum(data),
                       command ^ 0xFFFFFFFF) + data


def unpack_header(raw: bytes, max_payload: int = MAX_PAYLOAD) -> Header:
    """Decode a 24-byte header; raise AdbProtocolError on a bad magic or an oversize payload.

    Like adbd's check_header it does not verify the checksum (the negotiated version skips
    it); `verify(header, data)` does, for whoever wants to.
    """
    if len(raw) != HEADER.size:
        raise AdbProtocolError(f"an adb header is {HEADER.size} bytes, got {len(raw)}")
    h = Header(*HEADER.unpack(raw))
    if h.magic != h.command ^ 0xFFFFFFFF:
        raise AdbProtocolError(f"bad magic {h.magic:#010x} for command {h.command:#010x} "
                               f"(expected {h.command ^ 0xFFFFFFFF:#010x})")
    if h.data_length > max_payload:
        raise AdbProtocolError(f"payload of {h.data_length} bytes exceeds the maximum "
                               f"{max_payload}")
    return h


def verify(header: Header, data: bytes) -> None:
    """Raise AdbProtocolError when a non-zero checksum does not match the payload."""
    if header.checksum and header.checksum != checksum(data):
        raise AdbProtocolError(f"checksum {header.checksum:#x} does not match the payload "
                               f"({checksum(data):#x})")


class MessageDecoder:
    """Turns a byte stream into Messages; `feed(chunk)` returns the ones completed so far."""

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self._buf = bytearray()
        self._header: Header | None = None

    def feed(self, chunk: bytes) -> list[Message]:
        self._buf += chunk
        out = []
        while True:
            if self._header is None:
                if len(self._buf) < HEADER.size:
                    return out
                self._header = unpack_header(bytes(self._buf[:HEADER.size]), self.max_payload)
                del self._buf[:HEADER.size]
            n = self._header.data_length
            if len(self._buf) < n:
                return out
            data = bytes(self._buf[:n])
            del self._buf[:n]
            h, self._header = self._header, None
            out.append(Message(h.command, h.arg0, h.arg1, data))


def banner(props: dict[str, str], features: tuple[str, ...] = FEATURES) -> bytes:
    """The device's CNXN payload, as adbd's get_connection_string builds it."""
    fields = [f"{key}={props.get(key, '')}"
              for key in ("ro.product.name", "ro.product.model", "ro.product.device")]
    fields.append("features=" + ",".join(features))
    return ("device::" + ";".join(fields)).encode()


def parse_banner(data: bytes) -> tuple[str, dict[str, str]]:
    """(system type, fields) of a CNXN payload such as b"host::features=shell_v2,cmd"."""
    text = data.rstrip(b"\0").decode("utf-8", "replace")
    kind, _, rest = text.partition("::")
    fields = dict(f.partition("=")[::2] for f in rest.split(";") if f)
    return kind, fields


# ---------------------------------------------------------------------------------------------
# Services

class Service(NamedTuple):
    kind: str  # "shell" (legacy), "shell_v2", "exec", "sync" or "unknown"
    command: str = ""


def parse_service(name: bytes) -> Service:
    """What an OPEN asks for: `shell:cmd`, `shell,v2,TERM=xterm,raw:cmd`, `exec:cmd`, `sync:`."""
    text = name.rstrip(b"\0").decode("utf-8", "replace")
    head, sep, rest = text.partition(":")
    if not sep:
        return Service("unknown", text)
    opts = head.split(",")
    if opts[0] == "shell":
        return Service("shell_v2" if "v2" in opts[1:] else "shell", rest)
    if head == "exec":
        return Service("exec", rest)
    if head == "sync" and not rest:
        return Service("sync")
    return Service("unknown", text)


SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT = 0, 1, 2, 3


def shell_packet(ident: int, data: bytes) -> bytes:
    """One shell v2 packet: id (1 byte), length (4 bytes LE), data."""
    return struct.pack("<BI", ident, len(data)) + data


def shell_v2_reply(code: int, out: bytes, err: bytes) -> bytes:
    """Everything a shell v2 stream sends for a finished command: stdout, stderr, exit."""
    reply = b""
    if out:
        reply += shell_packet(SHELL_STDOUT, out)
    if err:
        reply += shell_packet(SHELL_STDERR, err)
    return reply + shell_packet(SHELL_EXIT, bytes([code & 0xFF]))


def decode_shell_packets(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(id, data) of each whole packet in a shell v2 byte stream (for tests and tools)."""
    pos = 0
    while pos + 5 <= len(data):
        ident, n = struct.unpack_from("<BI", data, pos)
        yield ident, data[pos + 5:pos + 5 + n]
        pos += 5 + n


# ---------------------------------------------------------------------------------------------
# The device a server serves

class AdbdDevice(Protocol):
    """What `AdbdServer` asks of the simulated phone behind it.

    Methods are called from worker threads (one per stream), possibly concurrently.
    """

    props: dict[str, str]
    """ro.product.name / ro.product.model / ro.product.device, for the CNXN banner."""

    def shell(self, command: str) -> tuple[int, bytes, bytes]:
        """Run a shell command line; (exit code, stdout, stderr)."""

    def stat(self, path: str) -> tuple[int, int, int] | None:
        """(st_mode, size, mtime) of a path, or None when it does not exist."""

    def listdir(self, path: str) -> list[tuple[str, int, int, int]] | None:
        """(name, st_mode, size, mtime) of each entry of a directory, or None if absent."""

    def read(self, path: str) -> bytes | None:
        """A file's content, or None when there is no such file."""

    def write(self, path: str, data: bytes, mode: int, mtime: int) -> bool:
        """Store a file (created or replaced, parent directories made as adbd makes them for
        a sync SEND); False when it cannot be written."""


# ---------------------------------------------------------------------------------------------
# sync v1

SYNC_DATA_MAX = 64 * 1024
SYNC_PATH_MAX = 1024
SYNC_REQUESTS = (b"LIST", b"STAT", b"RECV", b"SEND", b"QUIT")
_SYNC_HDR = struct.Struct("<4sI")


def sync_request(ident: bytes, payload: bytes = b"") -> bytes:
    """A host's request: id, length (LE), payload (a path; `path,mode` for SEND)."""
    return _SYNC_HDR.pack(ident, len(payload)) + payload


def sync_dent(name: str, mode: int, size: int, mtime: int) -> bytes:
    raw = name.encode()
    return b"DENT" + struct.pack("<4I", mode, size, mtime, len(raw)) + raw


def sync_stat(mode: int, size: int, mtime: int) -> bytes:
    return b"STAT" + struct.pack("<3I", mode, size, mtime)


def sync_data(chunk: bytes) -> bytes:
    return _SYNC_HDR.pack(b"DATA", len(chunk)) + chunk


def sync_done(value: int = 0) -> bytes:
    """DONE: ends a LIST (with 4 more zero words) or a RECV; from the host, ends a SEND."""
    return _SYNC_HDR.pack(b"DONE", value)


def sync_dent_done() -> bytes:
    """The DONE that ends a LIST has the size of a DENT header, as adbd sends it."""
    return b"DONE" + bytes(16)


def sync_okay() -> bytes:
    return _SYNC_HDR.pack(b"OKAY", 0)


def sync_fail(message: str) -> bytes:
    raw = message.encode()
    return _SYNC_HDR.pack(b"FAIL", len(raw)) + raw


class SyncSession:
    """The sync v1 service as a pure state machine over an AdbdDevice.

    `feed(bytes)` takes what the host wrote and returns the reply bytes; `finished` turns
    true after QUIT or a failure (adbd then closes the stream). Missing paths behave as
    in adbd: STAT answers all zeros, LIST just DONE, RECV a FAIL.
    """

    def __init__(self, device: AdbdDevice):
        self.device = device
        self.finished = False
        self._buf = bytearray()
        self._send: tuple[str, int] | None = None  # (path, mode) of a SEND in progress
        self._send_data = bytearray()

    def feed(self, chunk: bytes) -> bytes:
        self._buf += chunk
        out = bytearray()
        while not self.finished and len(self._buf) >= _SYNC_HDR.size:
            ident, n = _SYNC_HDR.unpack_from(self._buf)
            if ident == b"DONE" and self._send is not None:
                del self._buf[:_SYNC_HDR.size]
                out += self._end_send(mtime=n)
                continue
            limit = SYNC_DATA_MAX if ident == b"DATA" else SYNC_PATH_MAX
            if n > limit:
                self.finished = True
                return bytes(out + sync_fail(f"{ident!r} of {n} bytes exceeds {limit}"))
            if len(self._buf) < _SYNC_HDR.size + n:
                break
            payload = bytes(self._buf[_SYNC_HDR.size:_SYNC_HDR.size + n])
            del self._buf[:_SYNC_HDR.size + n]
            out += self._request(ident, payload)
        return bytes(out)

    def _request(self, ident: bytes, payload: bytes) -> bytes:
        if ident == b"DATA" and self._send is not None:
            self._send_data += payload
            return b""
        if self._send is not None:
            self.finished = True
            return sync_fail(f"unexpected {ident!r} during SEND")
        path = payload.decode("utf-8", "surrogateescape")
        if ident == b"STAT":
            st = self.device.stat(path)
            return sync_stat(*(st or (0, 0, 0)))
        if ident == b"LIST":
            entries = self.device.listdir(path) or []
            return b"".join(sync_dent(*e) for e in entries) + sync_dent_done()
        if ident == b"RECV":
            data = self.device.read(path)
            if data is None:
                self.finished = True
                return sync_fail("open failed: No such file or directory")
            chunks = [sync_data(data[i:i + SYNC_DATA_MAX])
                      for i in range(0, len(data), SYNC_DATA_MAX)]
            return b"".join(chunks) + sync_done()
        if ident == b"SEND":
            name, _, mode = path.rpartition(",")
            if not name or not mode.isdigit():
                self.finished = True
                return sync_fail(f"bad SEND argument {path!r}")
            self._send, self._send_data = (name, int(mode)), bytearray()
            return b""
        if ident == b"QUIT":
            self.finished = True
            return b""
        self.finished = True
        return sync_fail(f"unknown sync request {ident!r}")

    def _end_send(self, mtime: int) -> bytes:
        (path, mode), data = self._send, bytes(self._send_data)
        self._send, self._send_data = None, bytearray()
        if self.device.write(path, data, mode, mtime):
            return sync_okay()
        self.finished = True
        return sync_fail(f"couldn't create file: {path}")


# ---------------------------------------------------------------------------------------------
# The threaded I/O layer

_CLOSED = object()  # queue sentinel: the host closed the stream


@dataclass(eq=False)
class _Stream:
    local_id: int
    remote_id: int
    service: Service
    inbox: queue.Queue = field(default_factory=queue.Queue)
    okay: threading.Condition = field(default_factory=threading.Condition)
    outstanding: bool = False  # a WRTE of ours waits for the host's OKAY
    closed: bool = False


class _Connection:
    """One TCP connection from the adb server: the handshake, then the streams on it."""

    def __init__(self, server: AdbdServer, sock: socket.socket):
        self.server, self.sock = server, sock
        self.peer_maxdata = MAX_PAYLOAD_V1
        self.connected = False
        self.streams: dict[int, _Stream] = {}
        self._next_id = 1
        self._lock = threading.Lock()  # guards streams and socket writes
        self._dead = threading.Event()

    # -- writing

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        if self._dead.is_set():
            raise OSError("connection closed")
        with self._lock:
            self.sock.sendall(pack(command, arg0, arg1, data))

    def write_stream(self, stream: _Stream, data: bytes) -> bool:
        """Send data as WRTEs of at most the host's maxdata, each after the host's OKAY.

        False when the stream or connection closed first (the rest is dropped).
        """
        for pos in range(0, len(data), self.peer_maxdata):
            with stream.okay:
                while stream.outstanding and not stream.closed and not self._dead.is_set():
                    stream.okay.wait(0.5)
                if stream.closed or self._dead.is_set():
                    return False
                stream.outstanding = True
            self.server._wait_stall()
            try:
                self.send(A_WRTE, stream.local_id, stream.remote_id,
                          data[pos:pos + self.peer_maxdata])
            except OSError:
                return False
        return True

    def close_stream(self, stream: _Stream) -> None:
        """Our side ends the stream: CLSE(local, remote), once."""
        with self._lock:
            if self.streams.pop(stream.local_id, None) is None:
                return
        with stream.okay:
            stream.closed = True
            stream.okay.notify_all()
        try:
            self.send(A_CLSE, stream.local_id, stream.remote_id)
        except OSError:
            pass

    # -- reading

    def run(self) -> None:
        decoder = MessageDecoder()
        try:
            while True:
                chunk = self.sock.recv(256 * 1024)
                if not chunk:
                    break
                for msg in decoder.feed(chunk):
                    self.server._wait_stall()
                    self.handle(msg)
        except AdbProtocolError as e:
            log.warning("adbd %s: %s; dropping the connection", self.server.serial, e)
        except OSError:
            pass
        finally:
            self.shutdown()

    def handle(self, msg: Message) -> None:
        if msg.command == A_CNXN:
            kind, fields = parse_banner(msg.data)
            log.debug("adbd %s: CNXN version=%#x maxdata=%d %s", self.server.serial,
                      msg.arg0, msg.arg1, fields.get("features", ""))
            self.peer_maxdata = max(MAX_PAYLOAD_V1, min(msg.arg1, MAX_PAYLOAD))
            self.connected = True
            self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, banner(self.server.device.props))
        elif not self.connected:
            log.debug("adbd %s: %r before CNXN, ignored", self.server.serial, msg)
        elif msg.command == A_OPEN:
            self._open(msg)
        elif msg.command == A_WRTE:
            stream = self.streams.get(msg.arg1)
            if stream is None:
                self.send(A_CLSE, 0, msg.arg0)  # as adbd does for a stream it does not know
                return
            stream.inbox.put(msg.data)
            self.send(A_OKAY, stream.local_id, stream.remote_id)
        elif msg.command == A_OKAY:
            stream = self.streams.get(msg.arg1)
            if stream is not None:
                with stream.okay:
                    stream.outstanding = False
                    stream.okay.notify_all()
        elif msg.command == A_CLSE:
            with self._lock:
                stream = self.streams.pop(msg.arg1, None)
            if stream is not None:
                with stream.okay:
                    stream.closed = True
                    stream.okay.notify_all()
                stream.inbox.put(_CLOSED)
        else:
            log.debug("adbd %s: %r ignored", self.server.serial, msg)

    def _open(self, msg: Message) -> None:
        service = parse_service(msg.data)
        log.debug("adbd %s: OPEN %r -> %s", self.server.serial, msg.data, service.kind)
        if service.kind == "unknown":
            self.send(A_CLSE, 0, msg.arg0)  # adbd's answer to a service it cannot start
            return
        with self._lock:
            local_id, self._next_id = self._next_id, self._next_id + 1
            stream = _Stream(local_id, msg.arg0, service)
            self.streams[local_id] = stream
        self.send(A_OKAY, local_id, msg.arg0)
        threading.Thread(target=self._serve, args=(stream,), daemon=True,
                         name=f"adbd-{self.server.port}-{service.kind}-{local_id}").start()

    def _serve(self, stream: _Stream) -> None:
        device = self.server.device
        try:
            kind, command = stream.service
            if kind == "sync":
                session = SyncSession(device)
                while not session.finished:
                    chunk = stream.inbox.get()
                    if chunk is _CLOSED:
                        return
                    reply = session.feed(chunk)
                    if reply and not self.write_stream(stream, reply):
                        return
            else:
                code, out, err = device.shell(command)
                if kind == "shell_v2":
                    reply = shell_v2_reply(code, out, err)
                elif kind == "shell":
                    reply = out + err
                else:  # exec: raw stdout only
                    reply = out
                if reply and not self.write_stream(stream, reply):
                    return
                # Let the host's OKAY for our last WRTE arrive before CLSE.
                with stream.okay:
                    deadline = time.monotonic() + 5
                    while stream.outstanding and not stream.closed and not self._dead.is_set():
                        if not stream.okay.wait(max(0.0, deadline - time.monotonic())):
                            break
        except Exception:
            log.exception("adbd %s: service %r failed", self.server.serial, stream.service)
        finally:
            self.close_stream(stream)

    def shutdown(self) -> None:
        if self._dead.is_set():
            return
        self._dead.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            streams, self.streams = list(self.streams.values()), {}
        for stream in streams:
            with stream.okay:
                stream.closed = True
                stream.okay.notify_all()
            stream.inbox.put(_CLOSED)
        self.server._forget(self)


class AdbdServer:
    """A simulated phone's adbd on 127.0.0.1; the adb server reaches it by `adb connect`.

    `start()` binds (a free port when `port` is 0) and returns self; `serial` is then the
    name the adb server gives the device. Fault knobs: `go_offline()` drops every
    connection and refuses new ones until `back_online()`; `stall(seconds)` makes the
    device answer nothing for a while (messages are held, not lost).
    """

    def __init__(self, device: AdbdDevice, host: str = "127.0.0.1", port: int = 0):
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"AdbdServer listens on loopback only, not {host!r}")
        self.device = device
        self.host, self.port = "127.0.0.1", port
        self._sock: socket.socket | None = None
        self._conns: set[_Connection] = set()
        self._lock = threading.Lock()
        self._offline = False
        self._stall_until = 0.0
        self._stopped = threading.Event()

    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> AdbdServer:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(16)
        s.settimeout(0.2)
        self._sock, self.port = s, s.getsockname()[1]
        self._stopped.clear()
        threading.Thread(target=self._accept_loop, name=f"adbd-{self.port}",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._drop_all()

    def go_offline(self) -> None:
        """Close every connection and refuse new ones (accepted, then closed at once)."""
        with self._lock:
            self._offline = True
        self._drop_all()

    def back_online(self) -> None:
        with self._lock:
            self._offline = False

    @property
    def offline(self) -> bool:
        return self._offline

    def stall(self, seconds: float) -> None:
        """Answer nothing (no message handled, none sent) for `seconds` from now."""
        self._stall_until = time.monotonic() + seconds

    @property
    def connections(self) -> int:
        """How many adb server connections are open now."""
        with self._lock:
            return len(self._conns)

    def __enter__(self) -> AdbdServer:
        return self.start() if self._sock is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals

    def _wait_stall(self) -> None:
        while (left := self._stall_until - time.monotonic()) > 0 and not self._stopped.is_set():
            time.sleep(min(left, 0.1))

    def _drop_all(self) -> None:
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.shutdown()

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _accept_loop(self) -> None:
        sock = self._sock
        while not self._stopped.is_set():
            try:
                client, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                refuse = self._offline or self._stopped.is_set()
                if not refuse:
                    client.settimeout(None)
                    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    conn = _Connection(self, client)
                    self._conns.add(conn)
            if refuse:
                client.close()
                continue
            threading.Thread(target=conn.run, name=f"adbd-{self.port}-conn",
                             daemon=True).start()
