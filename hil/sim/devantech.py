"""A simulated Devantech USB-RLY module on a real pseudo-terminal.

The simulator is a peer of the real module, not a mock: `hil.power.devantech.DevantechBoard`
opens `DevantechSimulator.url` (the pty's slave path, e.g. /dev/pts/5) with pyserial exactly
as it opens /dev/ttyACM0, and the simulator answers on the pty's master side from a daemon
thread. It has the same attributes and methods as `hil.sim.numato.NumatoSimulator`, so the
simulated bench can use either.

What it does, byte for byte (the protocol described in `hil.power.devantech`):

  =====================  ==================================================================
  byte(s) received       action / answer
  =====================  ==================================================================
  ``0x5A``               answers 2 bytes: `module_id`, `software`
  ``0x5B``               answers 1 byte: the state mask (bit c: channel c, relay c+1)
  ``0x5C`` then a mask   sets every relay from the mask byte (which may come in a later
                         read); no answer
  ``0x64`` / ``0x6E``    every relay on / off; no answer
  ``0x65``-``0x6C``      relay 1-8 on; ``0x6F``-``0x76`` relay 1-8 off; no answer
  anything else          ignored, no answer
  =====================  ==================================================================

A simulator with fewer `channels` than 8 is a module with only those relays fitted:
commands for the other relays are ignored, their bits read 0, mask bits for them are
ignored. Every command the module takes is recorded in `commands` (``b"\\x65"``,
``b"\\x5c\\x03"``, an ignored ``b"\\x00"``).

Fault knobs, plain attributes and methods a test flips at any time:

- `silent`: the module is hung: it reads and drops every byte, no answer, no action.
- `garbage`: every byte received is answered by three bytes of high-bit noise (more than
  any reply, and never a known module id), like a device of another kind; no action.
- `truncated`: every answer loses its last byte (a 2-byte version reply arrives as its
  first byte, a state mask not at all), as when a USB packet is lost.
- `stuck(channel)`: on/off for that channel (single, all, or mask) is taken but ignored,
  so the state mask shows the old state.
- `unplug()`: the master side closes, as when the USB cable is pulled: the driver's next
  read or write fails.

Observers: `on_change(callback)` registers `callback(channel, closed, t)` (channel 0-based),
called from the simulator thread on every actual change of a channel (not on a repeated
on/off), with `t` the `time.monotonic()` of the switch, before the module reads its next
byte. An exception raised by a callback is kept in `errors` and does not stop the module.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable
from types import TracebackType
from typing import Self

from hil.power.devantech import (
    ALL_OFF,
    ALL_ON,
    GET_STATES,
    GET_VERSION,
    MAX_CHANNELS,
    MODULES,
    RELAY_OFF,
    RELAY_ON,
    SET_STATES,
)

ChangeCallback = Callable[[int, bool, float], None]


class DevantechSimulator:
    """One simulated USB-RLY module with `channels` relays, all off (open) at start.

    `module_id` is what ``0x5A`` reports first (default 8, a USB-RLY08; any byte may be
    given, to simulate a module the driver does not know), `software` what it reports
    second.

    Attributes:
        url: the pty's slave path, for `serial.serial_for_url` / `DevantechBoard`.
        channels: the relay states, list of bools (True = on/closed), channel 0 first.
        module_id, software: what ``0x5A`` answers.
        silent, garbage, truncated: fault knobs (see the module docstring), False at start.
        stuck_channels: channels whose relay ignores on/off (see `stuck`).
        commands: every command the module took, in order, as bytes.
        errors: exceptions raised by on_change callbacks.

    Runs until `stop()`; usable as a context manager that stops it.
    """

    def __init__(self, channels: int = MAX_CHANNELS, module_id: int = 8, software: int = 1):
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"a Devantech USB-RLY module has 1 to {MAX_CHANNELS} relays, "
                             f"not {channels}")
        module = MODULES.get(module_id)
        if module is not None and channels > module.relays:
            raise ValueError(f"a {module.name} (module id {module_id}) has {module.relays} "
                             f"relays, not {channels}")
        if not (0 <= module_id <= 0xFF and 0 <= software <= 0xFF):
            raise ValueError(f"module id {module_id} and software {software} must be bytes")
        self.channels: list[bool] = [False] * channels
        self.module_id = module_id
        self.software = software
        self.silent = False
        self.garbage = False
        self.truncated = False
        self.stuck_channels: set[int] = set()
        self.commands: list[bytes] = []
        self.errors: list[BaseException] = []
        self._callbacks: list[ChangeCallback] = []
        self._lock = threading.Lock()
        self._awaiting_mask = False
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no line discipline: bytes pass as they are
        self.url = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"devantech-sim {self.url}",
                                        daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return (f"<DevantechSimulator {self.url} module id {self.module_id}, "
                f"{len(self.channels)} channels>")

    # -- what tests and the simulated bench use ----------------------------------------

    def state(self, channel: int) -> bool:
        """True when relay `channel` (0-based) is on (closed)."""
        with self._lock:
            return self.channels[channel]

    def mask(self) -> int:
        """The state mask ``0x5B`` answers: bit c set when channel c is on."""
        with self._lock:
            return sum(1 << ch for ch, closed in enumerate(self.channels) if closed)

    def on_change(self, callback: ChangeCallback) -> ChangeCallback:
        """Call `callback(channel, closed, t)` on every change; returns `callback`."""
        with self._lock:
            self._callbacks.append(callback)
        return callback

    def stuck(self, channel: int, stuck: bool = True) -> None:
        """Make relay `channel` ignore on/off (or follow them again with stuck=False)."""
        if not 0 <= channel < len(self.channels):
            raise ValueError(f"channel {channel} does not exist on this "
                             f"{len(self.channels)}-channel simulator")
        if stuck:
            self.stuck_channels.add(channel)
        else:
            self.stuck_channels.discard(channel)

    def unplug(self) -> None:
        """Close the pty's master side, as when the module's USB cable is pulled."""
        self._halt()

    def stop(self) -> None:
        """Stop the module and close both sides of the pty (idempotent)."""
        if self._stopped:
            return
        self._halt()
        self._stopped = True
        for fd in (self._slave, self._wake_r, self._wake_w):
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- the module --------------------------------------------------------------------

    def _halt(self) -> None:
        """End the thread; it closes the master side on its way out."""
        if self._thread.is_alive():
            os.write(self._wake_w, b"x")
            self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self._master, self._wake_r], [], [])
                if self._wake_r in ready:
                    return
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    return
                if not data:
                    return
                reply = self._receive(data)
                if reply:
                    self._send(reply)
        finally:
            os.close(self._master)

    def _send(self, data: bytes) -> None:
        while data:
            data = data[os.write(self._master, data):]

    def _receive(self, data: bytes) -> bytes:
        """What the module sends back for `data`, executing every command in it."""
        if self.silent:
            return b""
        if self.garbage:
            return bytes(0x80 | (b ^ k) for b in data for k in (0x2A, 0x55, 0x71))
        out = bytearray()
        for b in data:
            if self._awaiting_mask:
                self._awaiting_mask = False
                self.commands.append(bytes([SET_STATES, b]))
                for channel in range(len(self.channels)):
                    self._switch(channel, bool(b >> channel & 1))
                continue
            if b == SET_STATES:
                self._awaiting_mask = True
                continue
            self.commands.append(bytes([b]))
            answer = self._execute(b)
            if answer and self.truncated:
                answer = answer[:-1]
            out += answer
        return bytes(out)

    def _execute(self, b: int) -> bytes:
        """Run one single-byte command; return its answer."""
        n = len(self.channels)
        if b == GET_VERSION:
            return bytes([self.module_id, self.software])
        if b == GET_STATES:
            return bytes([self.mask()])
        if b in (ALL_ON, ALL_OFF):
            for channel in range(n):
                self._switch(channel, b == ALL_ON)
        elif RELAY_ON <= b < RELAY_ON + n:
            self._switch(b - RELAY_ON, True)
        elif RELAY_OFF <= b < RELAY_OFF + n:
            self._switch(b - RELAY_OFF, False)
        return b""

    def _switch(self, channel: int, closed: bool) -> None:
        if channel in self.stuck_channels:
            return
        with self._lock:
            if self.channels[channel] == closed:
                return
            self.channels[channel] = closed
            t = time.monotonic()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(channel, closed, t)
            except Exception as e:  # noqa: BLE001 - a broken observer must not hang the module
                self.errors.append(e)
