"""What each button-wired device of a bench was last commanded to, kept beside its lock.

A DJI battery or controller toggles on a button pattern, and the relay cannot tell whether
it is on. The harness reads that state from the aircraft link before it presses; where
nothing can be read (a link that hears nothing, or none at all), the last command it gave
is the best it knows. So every press is recorded here, in the bench lock's folder, before
the press and again once the pattern completed. A job killed with SIGKILL (a CI timeout,
the OOM killer, a power cut of the bench host) leaves behind which devices it had turned on.

Promises:
- `commanding()` is on disk (fsync'd, replaced atomically) before the press starts;
  `commanded()` after the pattern completed. An entry still `done = false` is a press
  that was interrupted: the device may be in either state.
- The record is never trusted over a reading: `hil.power.state.decide` uses it only when
  the link cannot tell.
- A damaged record file is moved aside (`*.damaged-<time>`, named in a warning) and the
  bench has no record: nothing is lost and nothing is trusted.
- Safe to use from the pool's worker threads at once (one process holds the bench lock).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hil.lock import lock_path

log = logging.getLogger("hil.power")


@dataclass(frozen=True)
class Command:
    """A device's last command: on or off, whether the pattern completed, who gave it."""

    on: bool
    done: bool
    at: float
    pid: int
    host: str
    by: str = "harness"  # "harness", or "marked by NAME" when a person said so

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.at))
        what = f"{'on' if self.on else 'off'}"
        if self.by != "harness":
            return f"{what}, {self.by} at {when}"
        state = "" if self.done else ", a press interrupted before it completed"
        return f"last commanded {what} at {when} by pid {self.pid} on {self.host}{state}"


class PowerRecord:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def for_bench(cls, bench_name: str, relay_url: str) -> PowerRecord:
        """The record of the bench whose lock is `lock_path(bench_name, relay_url)`."""
        lock = lock_path(bench_name, relay_url)
        return cls(lock.with_name(lock.stem + ".power.json"))

    def get(self, device: str) -> Command | None:
        with self._lock:
            entry = self._load().get(device)
        return Command(**entry) if entry else None

    def commanding(self, device: str, on: bool) -> None:
        """Before a press: `device` is being turned on/off (not yet done)."""
        self._put(device, Command(on, False, time.time(), os.getpid(), socket.gethostname()))

    def commanded(self, device: str, on: bool) -> None:
        """After a completed pattern: `device` was turned on/off."""
        self._put(device, Command(on, True, time.time(), os.getpid(), socket.gethostname()))

    def mark(self, device: str, on: bool, who: str) -> None:
        """A person checked `device` and says it is on/off."""
        self._put(device, Command(on, True, time.time(), os.getpid(), socket.gethostname(),
                                  by=f"marked by {who}"))

    def _put(self, device: str, command: Command) -> None:
        with self._lock:
            data = self._load()
            data[device] = asdict(command)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            with open(tmp, "w") as f:
                f.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)

    def _load(self) -> dict[str, dict]:
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(raw)
            fields = set(Command.__dataclass_fields__)
            needed = {"on", "done", "at", "pid", "host"}
            if not isinstance(data, dict) or not all(
                    isinstance(v, dict) and needed <= set(v) <= fields
                    and isinstance(v["on"], bool) and isinstance(v["done"], bool)
                    for v in data.values()):
                raise ValueError("not a table of device -> command")
            return data
        except ValueError as e:
            aside = self.path.with_name(self.path.name + f".damaged-{int(time.time())}")
            os.replace(self.path, aside)
            log.warning("power record %s is damaged (%s); moved to %s: no device's last "
                        "command is known", self.path, e, aside)
            return {}
