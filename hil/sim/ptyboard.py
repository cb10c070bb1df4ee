"""What every simulated USB relay board shares: a real pseudo-terminal and its plumbing.

A simulator is a peer of the real board, not a mock: the driver opens `url` (the pty's
slave path, e.g. /dev/pts/5) with pyserial exactly as it opens /dev/ttyACM0 or
/dev/ttyUSB0, and the simulator answers on the pty's master side from a daemon thread.
`PtyBoardSimulator` owns that pty, the thread, the relay states, the observers and the
fault knobs; a subclass (`hil.sim.numato`, `hil.sim.lcus`, `hil.sim.kmtronic`,
`hil.sim.devantech`) adds only its protocol: how received bytes become actions and
replies, and what noise its `garbage` knob sends. Every subclass therefore has the same
constructor shape (`XSimulator(channels)`), attributes and methods, so the simulated bench
can use any of them.

Fault knobs, plain attributes and methods a test flips at any time:

- `silent`: the board is hung: it reads and drops every byte, no reply, no action, and
  its protocol state stays as it was (a half-received command stays half-received).
- `garbage`: every byte received is answered by bytes that are not the protocol (the
  subclass says which), like a board at the wrong baud rate; no action is taken.
- `stuck(channel)`: commands for that channel are taken but the relay does not move, so
  a read-back shows the old state.
- `unplug()`: the master side closes, as when the USB cable is pulled: the driver's next
  read or write fails.

Observers: `on_change(callback)` registers `callback(channel, closed, t)`, called from the
simulator thread on every actual change of a channel (not on a repeated on/off), with
`channel` 0-based and `t` the `time.monotonic()` of the switch, before the board handles
the next received byte or sends its reply. A simulated aircraft derives its power state
from these changes and their timing. An exception raised by a callback is kept in
`errors` and does not stop the board.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import ClassVar, Self

ChangeCallback = Callable[[int, bool, float], None]


class PtyBoardSimulator(ABC):
    """One simulated relay board with `channels` relays, all open (off) at start.

    Attributes:
        url: the pty's slave path, for `serial.serial_for_url` and the board's driver.
        channels: the relay states, list of bools (True = on/closed), channel 0 first.
        silent, garbage: fault knobs (see the module docstring), False at start.
        stuck_channels: channels whose relay ignores commands (see `stuck`).
        errors: exceptions raised by on_change callbacks.

    Runs from construction until `stop()`; usable as a context manager that stops it.

    A subclass sets `kind` (it names the thread), implements `_on_bytes` and `_garbage`,
    and moves relays only through `_switch`. Its constructor validates its arguments and
    sets up its own protocol state *before* calling this one, which opens the pty and
    starts the thread (so a bad argument opens nothing, and the thread never sees a
    half-built board).
    """

    kind: ClassVar[str]  # the protocol's name, e.g. "numato"

    def __init__(self, channels: int):
        self.channels: list[bool] = [False] * channels
        self.silent = False
        self.garbage = False
        self.stuck_channels: set[int] = set()
        self.errors: list[BaseException] = []
        self._callbacks: list[ChangeCallback] = []
        self._lock = threading.Lock()  # guards channels and _callbacks across threads
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no line discipline: bytes pass as they are
        self.url = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"{self.kind}-sim {self.url}",
                                        daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} {len(self.channels)} channels>"

    # -- what tests and the simulated bench use ----------------------------------------

    def state(self, channel: int) -> bool:
        """True when relay `channel` (0-based) is on (closed)."""
        with self._lock:
            return self.channels[channel]

    def on_change(self, callback: ChangeCallback) -> ChangeCallback:
        """Call `callback(channel, closed, t)` on every change; returns `callback`."""
        with self._lock:
            self._callbacks.append(callback)
        return callback

    def stuck(self, channel: int, stuck: bool = True) -> None:
        """Make relay `channel` ignore its commands (or follow them again with stuck=False).

        Raises ValueError for a channel this simulator does not have.
        """
        if not 0 <= channel < len(self.channels):
            raise ValueError(f"channel {channel} does not exist on this "
                             f"{len(self.channels)}-channel simulator")
        if stuck:
            self.stuck_channels.add(channel)
        else:
            self.stuck_channels.discard(channel)

    def unplug(self) -> None:
        """Close the pty's master side, as when the board's USB cable is pulled."""
        self._halt()

    def stop(self) -> None:
        """Stop the board and close both sides of the pty (idempotent)."""
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

    # -- what a protocol implements ----------------------------------------------------

    @abstractmethod
    def _on_bytes(self, data: bytes) -> bytes:
        """Act on `data` as the board does; return what it sends back (b"" for nothing).

        Called on the simulator thread only (never while `silent` or `garbage`), with
        whatever one read returned: a command may be split across calls or several may
        arrive in one, so the protocol keeps its own framing state.
        """

    @abstractmethod
    def _garbage(self, data: bytes) -> bytes:
        """The noise a `garbage` board answers to `data`: never valid protocol bytes."""

    def _switch(self, channel: int, closed: bool) -> None:
        """Move relay `channel` (unless stuck) and tell the observers if it changed."""
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
            except Exception as e:  # noqa: BLE001 - a broken observer must not hang the board
                self.errors.append(e)

    # -- the pty -----------------------------------------------------------------------

    def _receive(self, data: bytes) -> bytes:
        """What the board sends back for `data`, after the silent and garbage knobs."""
        if self.silent:
            return b""
        if self.garbage:
            return self._garbage(data)
        return self._on_bytes(data)

    def _send(self, data: bytes) -> None:
        """Write `data` to the master side, all of it (the driver reads it on `url`)."""
        while data:
            data = data[os.write(self._master, data):]

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
