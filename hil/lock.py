"""One job per bench: a lock file on the bench host.

The lock is a file in the lock folder (`HIL_LOCK_DIR`, default `/tmp/hil-locks`) named
after the bench and its relay URL, held with `flock` for as long as the job runs, and
holding a line of JSON that says who holds it: host, pid, start time and command.

Promises:
- A second job on the same bench waits, logging who holds it, and fails after its
  timeout with a message that names the holder's pid, host, start time and command.
- The kernel releases an flock when its process dies, so a lock whose holder is gone is
  free; the next job reports the previous holder that never released it (the file still
  names it) and takes over, which is safe because no live process can hold it.
- Two benches (another name, or another relay) never block each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import sys
import time
from pathlib import Path

log = logging.getLogger("hil.lock")


class BenchBusy(Exception):
    """Another job holds the bench."""


def lock_dir() -> Path:
    return Path(os.environ.get("HIL_LOCK_DIR", "/tmp/hil-locks"))


def lock_path(bench_name: str, relay_url: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", bench_name)[:40]
    digest = hashlib.sha256(relay_url.encode()).hexdigest()[:10]
    return lock_dir() / f"{slug}-{digest}.lock"


def describe(holder: dict) -> str:
    if not holder:
        return "an unknown process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return (f"pid {holder.get('pid')} on {holder.get('host')} since {started} "
            f"({holder.get('command', '?')})")


class BenchLock:
    def __init__(self, bench_name: str, relay_url: str, command: str | None = None):
        self.bench_name = bench_name
        self.path = lock_path(bench_name, relay_url)
        self.command = command or " ".join(sys.argv)
        self._fd: int | None = None
        self.previous: dict | None = None  # a holder that died without releasing

    def _read(self, fd: int) -> dict:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 65536)
        try:
            return json.loads(data) if data.strip() else {}
        except ValueError:
            return {"garbled": data[:200].decode(errors="replace")}

    def acquire(self, timeout: float = 0.0, poll: float = 0.2,
                progress_every: float = 5.0) -> BenchLock:
        """Take the lock, waiting up to `timeout` seconds; BenchBusy names the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        start = time.monotonic()
        next_log = start
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self._read(fd)
                waited = time.monotonic() - start
                if waited >= timeout:
                    os.close(fd)
                    raise BenchBusy(
                        f"bench {self.bench_name} is in use by {describe(holder)}; "
                        f"gave up after {timeout:g} s (lock {self.path}; wait longer with "
                        "--bench-lock-timeout)") from None
                if time.monotonic() >= next_log:
                    log.warning("bench %s is in use by %s; waiting (%.0f s of %g s)",
                                self.bench_name, describe(holder), waited, timeout)
                    next_log += progress_every
                time.sleep(poll)
        stale = self._read(fd)
        if stale:
            self.previous = stale
            log.warning("bench %s: the previous job, %s, ended without releasing its lock; "
                        "taking over (its process no longer holds the lock)",
                        self.bench_name, describe(stale))
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
              "command": self.command}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(me).encode() + b"\n")
        os.fsync(fd)
        self._fd = fd
        self.me = me
        return self

    def release(self, keep: dict | None = None) -> None:
        """Unlock; the file is left empty (released cleanly), or holding `keep`: a holder
        the next job is to be told about (one that left something behind it)."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # an empty file: released cleanly
        if keep:
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, json.dumps(keep).encode() + b"\n")
            os.fsync(self._fd)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> BenchLock:
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
