"""One box of the netns bench: a network + pid + mount + uts namespace with its own init.

Used inside the world process (`hil.netns.world`), which has the privileges to make and
enter namespaces (root, or root-equivalent inside its own user namespace).

- `start()` launches `unshare ... python -m hil.netns.init SPEC`; the unshare process gets
  SIGKILL when the world dies (`PR_SET_PDEATHSIG`), and its child, the box's init, gets
  SIGKILL when unshare dies (`--kill-child`): a crash anywhere above takes the box down.
  Call it from the thread that lives as long as the box (the death signal follows the
  thread that started the process).
- `ip(lines)` configures the box's network with `ip -batch` run in the box's network
  namespace only (so `netns /proc/PID/ns/net` names other boxes by their host pid).
- `run()` / `spawn()` run a program fully inside the box (`nsenter`), as a process of the
  box's pid namespace.
- `connect()` opens a TCP connection from inside the box's network namespace.
- `close()` stops the box's init; the kernel then kills everything in the box.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from hil.netns.linux import connect_in, die_with_parent, find_tool

log = logging.getLogger("hil.netns.box")


class BoxError(Exception):
    """A box that could not be made or commanded."""


class Box:
    def __init__(self, name: str, dir: Path, spec: dict):
        self.name = name
        self.dir = dir
        self.spec = spec
        self.holder: subprocess.Popen | None = None
        self.pid: int | None = None  # the box's init, in the world's pid namespace
        self.netns_inode: int | None = None
        self._err = None
        self.nsenter = find_tool("nsenter")
        self.ip_tool = find_tool("ip")

    @property
    def netns(self) -> str:
        return f"/proc/{self.pid}/ns/net"

    def start(self) -> None:
        argv = [find_tool("unshare"), "--net", "--pid", "--mount", "--uts", "--fork",
                "--kill-child", "--mount-proc", "--", sys.executable, "-m", "hil.netns.init",
                json.dumps(self.spec)]
        self._err = open(self.dir / f"box-{self.name}.log", "wb")
        self.holder = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=self._err, preexec_fn=die_with_parent,
                                       close_fds=True)

    def wait_ready(self, timeout: float = 10.0) -> None:
        out = self.holder.stdout
        ready, _, _ = select.select([out], [], [], timeout)
        line = out.readline() if ready else b""
        if line.strip() != b"ready":
            self.holder.poll()
            raise BoxError(f"box {self.name} did not start: {self.log_tail() or line!r}")
        children = Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children")
        pids = children.read_text().split()
        if not pids:
            raise BoxError(f"box {self.name}: unshare (pid {self.holder.pid}) has no child")
        self.pid = int(pids[0])
        self.netns_inode = os.stat(self.netns).st_ino

    def log_tail(self, n: int = 2000) -> str:
        try:
            return (self.dir / f"box-{self.name}.log").read_bytes()[-n:].decode(
                errors="replace").strip()
        except OSError:
            return ""

    # -- commands -------------------------------------------------------------------
    def ip(self, lines: list[str]) -> None:
        script = "".join(line + "\n" for line in lines)
        res = subprocess.run([self.nsenter, f"--net={self.netns}", self.ip_tool, "-batch",
                              "-"], input=script.encode(), capture_output=True, timeout=20)
        if res.returncode != 0:
            raise BoxError(f"box {self.name}: ip -batch failed: "
                           f"{res.stderr.decode(errors='replace').strip()}\n{script}")

    def enter(self, argv: list[str]) -> list[str]:
        return [self.nsenter, f"--target={self.pid}", "--net", "--pid", "--mount", "--uts",
                "--", *argv]

    def run(self, argv: list[str], input: bytes | None = None, timeout: float = 20.0
            ) -> subprocess.CompletedProcess:
        return subprocess.run(self.enter(argv), input=input, capture_output=True,
                              timeout=timeout)

    def spawn(self, argv: list[str], **kw) -> subprocess.Popen:
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(self.enter(argv), close_fds=True, **kw)

    def connect(self, address: tuple[str, int], timeout: float = 2.0):
        return connect_in(self.netns, address, timeout)

    def wait_listening(self, address: tuple[str, int], timeout: float = 10.0,
                       proc: subprocess.Popen | None = None, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect(address, timeout=1.0).close()
                return
            except OSError as e:
                if proc is not None and proc.poll() is not None:
                    raise BoxError(f"box {self.name}: {what or proc.args} exited "
                                   f"({proc.returncode}) before listening on {address}") \
                        from None
                if time.monotonic() > deadline:
                    raise BoxError(f"box {self.name}: nothing listens on {address} after "
                                   f"{timeout} s ({what}): {e}") from None
                time.sleep(0.02)

    def close(self, timeout: float = 5.0) -> None:
        if self.holder is None:
            return
        if self.pid is not None and self.holder.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)  # init exits; the kernel kills the rest
            except ProcessLookupError:
                pass
        try:
            self.holder.wait(timeout)
        except subprocess.TimeoutExpired:
            self.holder.kill()  # --kill-child: the box's init goes with it
            self.holder.wait(timeout)
        if self.holder.stdout:
            self.holder.stdout.close()
        if self._err:
            self._err.close()
