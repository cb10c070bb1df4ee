"""What a live check of a bench device says: `Check(device, name, status, detail, fix)`.

`hil doctor` runs the checks; each phone backend brings its own (`doctor()` in its
module), built from these. Imports nothing of the harness: a backend's check may use it
without importing the bench file's loader.
"""

from __future__ import annotations

from dataclasses import dataclass

OK, FAIL, SKIP = "ok", "FAIL", "skip"
SSH_TIMEOUT = 10.0  # seconds a check waits for an SSH login


@dataclass(frozen=True)
class Check:
    device: str  # "relay", "gateway", "phone pixel-spark", "aircraft spark", "bench"
    name: str  # what was checked: "board", "ssh", "tcpdump", "app", "link", "lock" ...
    status: str  # ok | FAIL | skip
    detail: str
    fix: str = ""

    @property
    def line(self) -> str:
        fix = f"; fix: {self.fix}" if self.status == FAIL and self.fix else ""
        return f"{self.status:<5}{self.device} {self.name}: {self.detail}{fix}"


def wakefulness(dumpsys_power: str) -> str | None:
    """mWakefulness from `dumpsys power` ("Awake", "Asleep", "Dozing"), or None."""
    for line in dumpsys_power.splitlines():
        key, _, value = line.strip().partition("=")
        if key == "mWakefulness":
            return value.strip()
    return None
