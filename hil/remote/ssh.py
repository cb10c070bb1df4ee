"""One SSH host the harness drives: a lab gateway or a phone's control agent.

Promises:
- The host key is checked against the bench's known_hosts file and nothing else; an
  unknown or changed key is refused with a message naming that file and, for a changed
  key, the line that lists the host. Nothing is auto-accepted, and the user's own
  ~/.ssh/known_hosts is not consulted.
- Commands are given as argument lists and quoted with `shlex.quote`, so a value with
  shell metacharacters reaches the remote program as one literal argument.
- A connection that dropped is reopened on the next use. A host that was reachable before
  and now refuses (its sshd restarting) is retried for `reconnect_timeout` seconds; a host
  never reached fails at once. A command cut off by a drop is not re-run unless the caller
  says it is idempotent (a read).
- Files are fetched over SFTP (`sftp()`), the subsystem every OpenSSH server has.
- Key material and passwords never appear in messages or logs.
"""

from __future__ import annotations

import logging
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, HostKeys, InvalidHostKey

log = logging.getLogger("hil.ssh")


class SshError(Exception):
    """A remote host that cannot be reached, trusted or commanded."""


class HostKeyRefused(SshError):
    """The host's key is not the one the bench's known_hosts file lists (or is absent)."""


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    status: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


def quote_argv(argv: list[str] | tuple[str, ...]) -> str:
    """The shell command line that runs exactly `argv` on a POSIX shell."""
    return " ".join(shlex.quote(str(a)) for a in argv)


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: `host`, or `[host]:port` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def known_hosts_lines(path: Path, name: str) -> list[tuple[int, str, str]]:
    """The lines of a known_hosts file that list `name` (plain or hashed).

    Returns (line number, key type, key fingerprint) for each; unreadable lines are skipped.
    """
    out = []
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return out
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#") or s.startswith("@"):
            continue
        try:
            entry = HostKeyEntry.from_line(s, n)
        except (InvalidHostKey, ValueError, IndexError, paramiko.SSHException):
            continue
        if entry is None or entry.key is None:
            continue
        for h in entry.hostnames:
            if h == name or (h.startswith("|1|") and HostKeys.hash_host(name, h) == h):
                out.append((n, entry.key.get_name(), entry.key.fingerprint))
                break
    return out


_RETRYABLE = (EOFError, OSError, paramiko.SSHException)


class SshHost:
    """A connection to one host, opened on first use and reopened when it dropped."""

    def __init__(self, host: str, port: int, user: str, key: Path, known_hosts: Path,
                 role: str = "host", timeout: float = 10.0, reconnect_timeout: float = 15.0):
        self.host, self.port, self.user = host, port, user
        self.key, self.known_hosts = Path(key), Path(known_hosts)
        self.role, self.timeout = role, timeout
        self.reconnect_timeout = reconnect_timeout
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._reached = False  # connected at least once: a refusal now is a restart

    def __repr__(self) -> str:
        return f"<SshHost {self.role} {self.user}@{self.host}:{self.port}>"

    @property
    def where(self) -> str:
        return f"{self.role} {self.user}@{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        if self._client is None:
            return False
        t = self._client.get_transport()
        return t is not None and t.is_active()

    def connect(self) -> paramiko.SSHClient:
        if self.connected:
            return self._client
        self.close()
        if not self.known_hosts.is_file():
            raise HostKeyRefused(f"{self.where}: known_hosts file {self.known_hosts} does not "
                                 "exist; add the host's key there (ssh-keyscan, checked by hand)")
        deadline = time.monotonic() + (self.reconnect_timeout if self._reached else 0.0)
        delay = 0.05
        while True:
            try:
                client = self._open()
                break
            except _Unreachable as e:
                if time.monotonic() + delay > deadline:
                    if self._reached:
                        raise SshError(f"{self.where}: cannot reconnect within "
                                       f"{self.reconnect_timeout:g} s: {e}") from None
                    raise SshError(f"{self.where}: cannot connect: {e}") from None
                log.warning("%s: not reachable (%s); retrying", self.where, e)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        # small request/answer exchanges: without this, Nagle and delayed ACKs add ~40 ms
        client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = client
        if self._reached:
            log.info("%s: reconnected", self.where)
        self._reached = True
        log.debug("connected to %s", self.where)
        return client

    def _open(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        name = known_hosts_name(self.host, self.port)
        try:
            client.connect(self.host, port=self.port, username=self.user,
                           key_filename=str(self.key), look_for_keys=False, allow_agent=False,
                           timeout=self.timeout, banner_timeout=self.timeout,
                           auth_timeout=self.timeout)
        except paramiko.BadHostKeyException as e:
            client.close()
            lines = known_hosts_lines(self.known_hosts, name)
            listed = "; ".join(f"line {n} lists {kind} {fp}" for n, kind, fp in lines)
            where = (f"{self.known_hosts} line {lines[0][0]}" if lines
                     else str(self.known_hosts))
            raise HostKeyRefused(
                f"{self.where}: host key does not match {where} (the host offered "
                f"{e.key.get_name()} {e.key.fingerprint}; for {name} {listed or 'a key'}); "
                "refusing to connect. If the host was reinstalled, check its new key by hand "
                "and update that line.") from None
        except paramiko.AuthenticationException:
            client.close()
            raise SshError(f"{self.where}: the host refused the key {self.key} for user "
                           f"{self.user}") from None
        except paramiko.SSHException as e:
            client.close()
            if "not found in known_hosts" in str(e):
                raise HostKeyRefused(f"{self.where}: host key not in {self.known_hosts}; "
                                     f"refusing to connect (no line lists {name}). Add the "
                                     "host's key there after checking it.") from None
            raise _Unreachable(str(e) or type(e).__name__) from None
        except (EOFError, OSError) as e:
            client.close()
            raise _Unreachable(str(e) or type(e).__name__) from None
        return client

    def run(self, argv: list[str], stdin: bytes | None = None, check: bool = True,
            timeout: float | None = None, idempotent: bool = False) -> Result:
        """Run one command; with `check`, a non-zero exit raises SshError with its stderr.

        `idempotent`: the command only reads, so one cut off by a dropped connection is run
        again once on a new connection.
        """
        line = quote_argv(argv)
        return self.run_line(line, tuple(argv), stdin, check, timeout, idempotent)

    def run_line(self, line: str, argv: tuple[str, ...] = (), stdin: bytes | None = None,
                 check: bool = True, timeout: float | None = None,
                 idempotent: bool = False) -> Result:
        """Run a shell line built by the caller from quoted parts (see `quote_argv`).

        A connection found dead before the command is sent is reopened; a failure after
        the command was sent is retried only for an `idempotent` command, else it raises
        SshError (the command may have run).
        """
        log.debug("%s$ %s", self.where, line)
        for attempt in (1, 2):
            try:
                res = self._exec(line, argv, stdin, timeout)
                break
            except _NotSent as e:
                if attempt == 2:
                    raise SshError(f"{self.where}: cannot start {line!r}: {e}") from None
                log.warning("%s: connection lost (%s); reconnecting", self.where, e)
            except _CutOff as e:
                if attempt == 2 or not idempotent:
                    raise SshError(f"{self.where}: connection lost during {line!r}: {e}") \
                        from None
                log.warning("%s: connection lost during %r (%s); running it again",
                            self.where, line, e)
        if check and res.status != 0:
            raise SshError(f"{self.where}: {line!r} exited {res.status}: "
                           f"{res.stderr.decode(errors='replace').strip() or '(no stderr)'}")
        return res

    def _exec(self, line, argv, stdin, timeout) -> Result:
        client = self.connect()
        try:
            stdin_f, stdout_f, stderr_f = client.exec_command(line, timeout=timeout or self.timeout)
        except _RETRYABLE as e:
            self.close()
            raise _NotSent(str(e) or type(e).__name__) from None
        try:
            if stdin:
                stdin_f.write(stdin)
            stdin_f.channel.shutdown_write()
            out = stdout_f.read()
            err = stderr_f.read()
            status = stdout_f.channel.recv_exit_status()
        except _RETRYABLE as e:
            self.close()
            raise _CutOff(str(e) or type(e).__name__) from None
        if status == -1:  # the channel closed without an exit status: the connection went
            self.close()
            raise _CutOff("no exit status (the connection closed)")
        return Result(argv or (line,), status, out, err)

    def sftp(self) -> paramiko.SFTPClient:
        """An SFTP session on the current connection (opened, or reopened, as needed)."""
        if self._sftp is not None and self.connected:
            return self._sftp
        client = self.connect()
        try:
            self._sftp = client.open_sftp()
        except _RETRYABLE as e:
            raise SshError(f"{self.where}: the host offers no SFTP session: "
                           f"{e or type(e).__name__}") from None
        self._sftp.get_channel().settimeout(self.timeout)
        return self._sftp

    def drop(self) -> None:
        """Close the connection (the next command reconnects)."""
        self.close()

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:  # a dead connection: nothing to close politely
                pass
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None


class _Unreachable(Exception):
    """Connecting failed below the host-key and login checks (refused, reset, no banner)."""


class _NotSent(Exception):
    """The command did not reach the host."""


class _CutOff(Exception):
    """The connection went away while the command ran."""
