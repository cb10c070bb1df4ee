"""How a simulated device reacts to its relay contact: a power switch or a DJI button.

Pure: feed contact changes with their (monotonic) times, ask whether the device is
powered and booted. A `button` device toggles power on a short press followed by a long
press, like a DJI battery or controller; a single press does nothing. Thresholds come
from the same bench entry the harness presses with:
- a press held at least 3/4 of `long` is long; any shorter press is short;
- the long press must begin within `gap + long` of the short one's release.
A contact change reaches the device late, never early (the harness waits for the board's
answer before it times a press), so lateness only stretches short presses and gaps: the
thresholds leave them most of a long press of room.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.models import ButtonTiming


@dataclass
class SimPowerInput:
    sequence: str  # "button" | "switch"
    timing: ButtonTiming
    boot_time: float  # seconds, already scaled
    powered: bool = False
    powered_at: float | None = None
    _pressed_at: float | None = None
    _short_released_at: float | None = None

    def contact(self, closed: bool, t: float) -> str | None:
        """Feed one contact change; return why a press did nothing (None otherwise)."""
        if self.sequence == "switch":
            self._set(closed, t)
            return None
        if closed:
            self._pressed_at = t
            return None
        if self._pressed_at is None:
            return None
        held = t - self._pressed_at
        long_min = 0.75 * self.timing.long
        gap_max = self.timing.gap + self.timing.long
        ignored = None
        if held < long_min:
            self._short_released_at = t
        elif self._short_released_at is not None \
                and self._pressed_at - self._short_released_at <= gap_max:
            self._set(not self.powered, t)
            self._short_released_at = None
        else:
            if self._short_released_at is None:
                ignored = "a long press without a short press before it"
            else:
                ignored = (f"a long press {1000 * (self._pressed_at - self._short_released_at):.0f}"
                           f" ms after the short one (at most {gap_max * 1000:.0f} ms)")
            self._short_released_at = None
        self._pressed_at = None
        return ignored

    def _set(self, on: bool, t: float) -> None:
        if on and not self.powered:
            self.powered_at = t
        self.powered = on
        if not on:
            self.powered_at = None

    def booted(self, now: float) -> bool:
        return self.powered and self.powered_at is not None \
            and now - self.powered_at >= self.boot_time
