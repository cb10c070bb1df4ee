"""A small SSH server on loopback that plays a remote host of the simulated bench.

It is a real SSH endpoint (paramiko's server side): host key, public-key login for one
user, `exec` requests. Each command line goes to a handler that plays the host (the lab
gateway or a phone's control agent) and returns (exit status, stdout, stderr). The
harness's production `SshHost` talks to it exactly as to a real sshd.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

import paramiko

log = logging.getLogger("hil.sim.sshd")
logging.getLogger("hil.sim.sshd.transport").setLevel(logging.CRITICAL)

Handler = Callable[[str, bytes], tuple[int, bytes, bytes]]


class _Iface(paramiko.ServerInterface):
    def __init__(self, server: SimSshServer):
        self.server = server
        self.commands: dict[int, bytes] = {}
        self.ready: dict[int, threading.Event] = {}
        self.subsystem: set[int] = set()  # channels a subsystem handler (SFTP) serves

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            self.ready[chanid] = threading.Event()
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        if username == self.server.user and key == self.server.authorized_key:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_subsystem_request(self, channel, name):
        ok = super().check_channel_subsystem_request(channel, name)
        if ok:
            self.subsystem.add(channel.get_id())
            self.ready[channel.get_id()].set()
        return ok

    def check_channel_exec_request(self, channel, command):
        self.commands[channel.get_id()] = command
        self.ready[channel.get_id()].set()
        return True


class SimSshServer:
    """Listens on 127.0.0.1:<free port>; `port` and `host_key` are known after `start()`."""

    def __init__(self, name: str, host_key: paramiko.PKey, user: str,
                 authorized_key: paramiko.PKey, handler: Handler):
        self.name = name
        self.host_key, self.user, self.authorized_key = host_key, user, authorized_key
        self.handler = handler
        self.port = 0
        self._sock: socket.socket | None = None
        self._transports: list[paramiko.Transport] = []
        self._stop = threading.Event()

    def start(self) -> SimSshServer:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        s.settimeout(0.2)
        self._sock = s
        self.port = s.getsockname()[1]
        threading.Thread(target=self._accept_loop, name=f"sshd-{self.name}",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._sock:
            self._sock.close()
        for t in list(self._transports):
            t.close()

    def drop_connections(self) -> None:
        """Close every open session, as a restarted sshd or a network glitch would."""
        for t in list(self._transports):
            t.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = paramiko.Transport(conn)
        # a client that hangs up is normal for a server; keep paramiko's noise out of the bench log
        t.set_log_channel("hil.sim.sshd.transport")
        t.add_server_key(self.host_key)
        host = getattr(self.handler, "__self__", None)  # e.g. SimGateway: its SFTP server
        for name, (handler, *args) in getattr(host, "ssh_subsystems", dict)().items():
            t.set_subsystem_handler(name, handler, *args)
        iface = _Iface(self)
        try:
            t.start_server(server=iface)
        except (paramiko.SSHException, EOFError, OSError):
            return
        self._transports.append(t)
        try:
            while t.is_active() and not self._stop.is_set():
                chan = t.accept(0.2)
                if chan is None:
                    continue
                threading.Thread(target=self._run, args=(iface, chan), daemon=True).start()
        finally:
            if t in self._transports:
                self._transports.remove(t)

    def _run(self, iface: _Iface, chan: paramiko.Channel) -> None:
        ev = iface.ready.get(chan.get_id())
        if ev is None or not ev.wait(5.0):
            chan.close()
            return
        if chan.get_id() in iface.subsystem:
            return  # paramiko's subsystem handler serves this channel
        line = iface.commands.pop(chan.get_id()).decode(errors="replace")
        stdin = bytearray()
        try:
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                stdin += data
            try:
                status, out, err = self.handler(line, bytes(stdin))
            except Exception as e:  # a bug in the simulated host: say so on stderr
                log.exception("%s: handler failed on %r", self.name, line)
                status, out, err = 255, b"", f"sim {self.name}: internal error: {e}\n".encode()
            if out:
                chan.sendall(out)
            if err:
                chan.sendall_stderr(err)
            chan.send_exit_status(status)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the client hung up: nothing left to tell it
        finally:
            try:
                chan.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass
