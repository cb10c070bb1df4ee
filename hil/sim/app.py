"""The behaviour model of the DJI GO 4 app (and the phone's OS noise) on a simulated phone.

Pure: `AppBehaviour.tick(now, inputs)` says which network requests the phone starts at
`now`; the simulated phone turns them into packets. Times below are real seconds and are
multiplied by the bench's time scale.

What the model does, following the Kivu findings:
- When the app is running and its aircraft link comes up (aircraft and controller booted),
  it checks no-fly zones (`flysafe-api.dji.com`) after 1 s and, if the "diagnostics"
  setting is on, sends diagnostics (`statistical-report.djiservice.org`) after 2 s.
- A no-fly-zone check that cannot reach the internet is retried every 8 s while the link is
  up; diagnostics that cannot be sent are dropped (not deferred).
- An Android phone checks connectivity every 60 s whether the app runs or not.

Fault profiles (hil/sim/faults.py) change this on purpose, one claim each:
- `no_diagnostics`: diagnostics are never sent (K4 must fail);
- `diagnostics_ignore_setting`: diagnostics are sent even with the setting off (K5 fails).
"""

from __future__ import annotations

from dataclasses import dataclass, field

NFZ = "flysafe-api.dji.com"
DIAGNOSTICS = "statistical-report.djiservice.org"
CONNECTIVITY = "connectivitycheck.gstatic.com"


@dataclass(frozen=True)
class Request:
    """One request the phone makes: resolve `name`, then a TLS session with these volumes."""

    name: str
    up: int
    down: int
    purpose: str  # "nfz" | "diagnostics" | "os" — for the simulator's log only


@dataclass(frozen=True)
class AppInputs:
    running: bool
    linked: bool  # aircraft and controller booted, link up
    cut: bool  # the gateway drops this phone's traffic
    settings: dict


@dataclass
class AppBehaviour:
    time_scale: float
    platform: str = "android"
    faults: frozenset = frozenset()
    _connected_at: float | None = None
    _nfz_due: float | None = None
    _diag_due: float | None = None
    _os_due: float | None = None
    _log: list = field(default_factory=list)

    def s(self, seconds: float) -> float:
        return seconds * self.time_scale

    def _diagnostics_on(self, settings: dict) -> bool:
        if "no_diagnostics" in self.faults:
            return False
        if "diagnostics_ignore_setting" in self.faults:
            return True
        return bool(settings.get("diagnostics", True))

    def tick(self, now: float, inp: AppInputs) -> list[Request]:
        """The requests that start at `now`, given the phone's state now."""
        out: list[Request] = []
        connected = inp.running and inp.linked
        if connected and self._connected_at is None:
            self._connected_at = now
            self._nfz_due = now + self.s(1.0)
            self._diag_due = now + self.s(2.0) if self._diagnostics_on(inp.settings) else None
        elif not connected:
            self._connected_at = self._nfz_due = self._diag_due = None

        if self._nfz_due is not None and now >= self._nfz_due:
            out.append(Request(NFZ, 1_500, 30_000, "nfz"))
            # retried until one gets through; the phone learns that from the cut state
            self._nfz_due = now + self.s(8.0) if inp.cut else None
        if self._diag_due is not None and now >= self._diag_due:
            out.append(Request(DIAGNOSTICS, 12_000, 600, "diagnostics"))
            self._diag_due = None  # sent or dropped: never deferred

        if self.platform == "android":
            if self._os_due is None:
                self._os_due = now + self.s(60.0)
            elif now >= self._os_due:
                out.append(Request(CONNECTIVITY, 300, 200, "os"))
                self._os_due = now + self.s(60.0)
        return out
