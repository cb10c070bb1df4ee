"""One SSH host the harness drives: a lab gateway or a phone's control agent.

Promises:
- The host key is checked against the bench's known_hosts file and nothing else; an
  unknown or changed key is refused with a message naming that file. Nothing is
  auto-accepted, and the user's own ~/.ssh/known_hosts is not consulted.
- Commands are given as argument lists and quoted with `shlex.quote`, so a value with
  shell metacharacters reaches the remote program as one literal argument.
- Key material and passwords never appear in messages or logs.
"""

from __future__ import annotations

import logging
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

import paramiko

log = logging.getLogger("hil.ssh")


class SshError(Exception):
    """A remote host that cannot be reached, trusted or commanded."""


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


class SshHost:
    """A connection to one host, opened on first use and reopened once if it dropped."""

    def __init__(self, host: str, port: int, user: str, key: Path, known_hosts: Path,
                 role: str = "host", timeout: float = 10.0):
        self.host, self.port, self.user = host, port, user
        self.key, self.known_hosts = Path(key), Path(known_hosts)
        self.role, self.timeout = role, timeout
        self._client: paramiko.SSHClient | None = None

    def __repr__(self) -> str:
        return f"<SshHost {self.role} {self.user}@{self.host}:{self.port}>"

    @property
    def where(self) -> str:
        return f"{self.role} {self.user}@{self.host}:{self.port}"

    def connect(self) -> paramiko.SSHClient:
        if self._client is not None:
            t = self._client.get_transport()
            if t is not None and t.is_active():
                return self._client
            self.close()
        if not self.known_hosts.is_file():
            raise SshError(f"{self.where}: known_hosts file {self.known_hosts} does not exist; "
                           "add the host's key there (ssh-keyscan, checked by hand)")
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(self.host, port=self.port, username=self.user,
                           key_filename=str(self.key), look_for_keys=False, allow_agent=False,
                           timeout=self.timeout, banner_timeout=self.timeout,
                           auth_timeout=self.timeout)
        except paramiko.BadHostKeyException as e:
            raise SshError(f"{self.where}: host key does not match {self.known_hosts} "
                           f"(got {e.key.get_name()} {e.key.fingerprint}); refusing to "
                           "connect. If the host was reinstalled, check its new key by hand "
                           "and update that file.") from None
        except paramiko.SSHException as e:
            if "not found in known_hosts" in str(e):
                raise SshError(f"{self.where}: host key not in {self.known_hosts}; refusing "
                               "to connect. Add the host's key there after checking it.") from None
            raise SshError(f"{self.where}: SSH failed: {e}") from None
        except (TimeoutError, OSError) as e:
            raise SshError(f"{self.where}: cannot connect: {e}") from None
        # small request/answer exchanges: without this, Nagle and delayed ACKs add ~40 ms
        client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = client
        log.debug("connected to %s", self.where)
        return client

    def run(self, argv: list[str], stdin: bytes | None = None, check: bool = True,
            timeout: float | None = None) -> Result:
        """Run one command; with `check`, a non-zero exit raises SshError with its stderr."""
        line = quote_argv(argv)
        return self.run_line(line, tuple(argv), stdin, check, timeout)

    def run_line(self, line: str, argv: tuple[str, ...] = (), stdin: bytes | None = None,
                 check: bool = True, timeout: float | None = None) -> Result:
        """Run a shell line built by the caller from quoted parts (see `quote_argv`).

        A connection found dead before the command is sent is reopened once; a failure after
        the command was sent is not retried (the command may have run), it raises SshError.
        """
        log.debug("%s$ %s", self.where, line)
        for attempt in (1, 2):
            client = self.connect()
            try:
                stdin_f, stdout_f, stderr_f = client.exec_command(
                    line, timeout=timeout or self.timeout)
                break
            except (EOFError, paramiko.SSHException, OSError) as e:
                if attempt == 2:
                    raise SshError(f"{self.where}: cannot start {line!r}: {e}") from None
                log.warning("%s: connection lost (%s); reconnecting", self.where, e)
                self.close()
        try:
            if stdin:
                stdin_f.write(stdin)
            stdin_f.channel.shutdown_write()
            out = stdout_f.read()
            err = stderr_f.read()
            status = stdout_f.channel.recv_exit_status()
        except (EOFError, paramiko.SSHException, OSError) as e:
            self.close()
            raise SshError(f"{self.where}: connection lost during {line!r}: {e}") from None
        res = Result(argv or (line,), status, out, err)
        if check and status != 0:
            raise SshError(f"{self.where}: {line!r} exited {status}: "
                           f"{err.decode(errors='replace').strip() or '(no stderr)'}")
        return res

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
