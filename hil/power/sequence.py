"""Power sequences: how a relay channel turns one device on and off.

- `switch`: the channel carries the device's power (a battery eliminator). On closes it,
  off opens it; a close after an open waits until the channel has been open `off_time`
  seconds (a device powered straight back on may not reset), so `cycle` opens, waits
  `off_time`, closes.
- `button`: the channel is wired across a DJI power button. Both on and off are a short
  press, a pause, then a long press; a press always ends with the contact open, even when
  interrupted (Ctrl-C, an exception), so a button is never left held.

A button device's state cannot be read from the relay, so the sequence remembers what it
did (`powered`: True, False, or None when unknown). A button is never pressed while its
state is unknown: its owner reads the state first (`hil.power.state`) and sets `powered`;
`on()`/`off()` raise StateUnknown otherwise. With a `record` (`hil.power.record`), every
pattern is recorded before the first press and again once it completed, so a job that
follows a SIGKILL knows what this one last commanded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from hil.bench import PowerConfig
from hil.power.record import PowerRecord
from hil.power.relay import RelayBoard
from hil.power.state import StateUnknown

log = logging.getLogger("hil.power")


class PowerSequence:
    def __init__(self, board: RelayBoard, cfg: PowerConfig, name: str,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 record: PowerRecord | None = None):  # fmt: skip
        self.board, self.cfg, self.name, self.record = board, cfg, name, record
        self.sleep, self.clock = sleep, clock
        self.powered: bool | None = None
        self._opened_at: float | None = None  # switch: when this sequence last opened it

    def __repr__(self) -> str:
        return f"<PowerSequence {self.name} {self.cfg.sequence} ch{self.cfg.relay}>"

    def on(self) -> None:
        log.info("%s: power on (%s, relay channel %d)", self.name, self.cfg.sequence,
                 self.cfg.relay)
        if self.cfg.sequence == "switch":
            self._wait_off_time()
            self.board.set(self.cfg.relay, True)
        elif self.powered is not True:
            self._button_pattern(True)
        self.powered = True

    def off(self) -> None:
        log.info("%s: power off (%s, relay channel %d)", self.name, self.cfg.sequence,
                 self.cfg.relay)
        if self.cfg.sequence == "switch":
            self.board.set(self.cfg.relay, False)
            self._opened_at = self.clock()
        elif self.powered is not False:
            self._button_pattern(False)
        self.powered = False

    def cycle(self) -> None:
        self.off()
        if self.cfg.sequence != "switch":  # a switch's on() waits out the off-time itself
            self.sleep(self.cfg.off_time)
        self.on()

    def _wait_off_time(self) -> None:
        if self._opened_at is None:
            return
        left = self.cfg.off_time - (self.clock() - self._opened_at)
        if left > 0:
            log.info("%s: off for %.1f s more before power on (off_time %.1f s)", self.name,
                     left, self.cfg.off_time)
            self.sleep(left)

    def release(self) -> None:
        """Leave the contact open whatever the device's state (the safe relay state)."""
        if self.cfg.sequence == "button":
            self.board.set(self.cfg.relay, False)

    def _press(self, seconds: float) -> None:
        try:
            self.board.set(self.cfg.relay, True)
            self.sleep(seconds)
        finally:
            self.board.set(self.cfg.relay, False)

    def _button_pattern(self, on: bool) -> None:
        if self.powered is None:
            raise StateUnknown(f"{self.name}: its state is not known, and a button press "
                               "toggles it: read its state before pressing")
        t = self.cfg.button
        if self.record is not None:
            self.record.commanding(self.name, on)
        self.powered = None  # unknown until the pattern completes
        self._press(t.short)
        self.sleep(t.gap)
        self._press(t.long)
        if self.record is not None:
            self.record.commanded(self.name, on)
