"""A simulated KMTronic USB relay board on a real pseudo-terminal.

The simulator is a peer of the real board, not a mock: `hil.power.kmtronic.KmtronicBoard`
opens `KmtronicSimulator.url` (the pty's slave path, e.g. /dev/pts/5) with pyserial exactly
as it opens /dev/ttyUSB0, and the simulator answers on the pty's master side from a daemon
thread. It exposes what `hil.sim.numato.NumatoSimulator` exposes, so the simulated bench
can use either.

What it does, byte for byte (the protocol described in `hil.power.kmtronic`):

- A frame is 3 bytes starting with ``FF``. Bytes before a ``FF`` are dropped, and a ``FF``
  always starts a new frame, dropping a partial one (KMTronic does not document how the
  real firmware recovers from a partial frame; this is the forgiving choice, and the
  driver never writes partial frames anyway).

  ===============================  =======================================================
  frame                            answer
  ===============================  =======================================================
  ``FF <relay> 00`` / ``01``       switches relay 1..N off / on (unless stuck), no reply
  ``FF <relay> 03`` (1/2 relays)   ``FF <relay> <00|01>``
  ``FF 09 00`` (4/8 relays)        one byte per relay, relay 1 first, ``00``/``01``
  anything else                    nothing (``FF 00 00``, a relay the board does not
                                   have, the other size's status query, ...)
  ===============================  =======================================================

Fault knobs, plain attributes and methods a test flips at any time:

- `silent`: the board is hung: it reads and drops every byte, no action, no reply.
- `garbage`: every byte received is answered by a byte that is not the protocol (high-bit
  noise, never 00, 01 or FF), like a board at the wrong baud rate; no action is taken.
- `truncated`: status replies lose their last byte (switching still works), like a reply
  cut short on the wire.
- `stuck(channel)`: on/off for that channel is accepted but ignored, so a read-back shows
  the old state.
- `unplug()`: the master side closes, as when the USB cable is pulled: the driver's next
  read or write fails.

Channels in this API are numbered from 0 like `RelayBoard`'s; channel N is the board's
relay N+1 on the wire.

Observers: `on_change(callback)` registers `callback(channel, closed, t)`, called from the
simulator thread on every actual change of a channel (not on a repeated on/off), with `t`
the `time.monotonic()` of the switch. An exception raised by a callback is kept in
`errors` and does not stop the board.
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

from hil.power.kmtronic import OFF, ON, QUERY, SIZES, START, STATUS_ALL, reads_all

ChangeCallback = Callable[[int, bool, float], None]


class KmtronicSimulator:
    """One simulated KMTronic board with `channels` relays (1, 2, 4 or 8), all off at start.

    Attributes:
        url: the pty's slave path, for `serial.serial_for_url` / `KmtronicBoard`.
        channels: the relay states, list of bools (True = on/closed), channel 0 first.
        silent, garbage, truncated: fault knobs (see the module docstring), False at start.
        stuck_channels: channels whose relay ignores on/off (see `stuck`).
        frames: every complete 3-byte frame the board received, in order.
        errors: exceptions raised by on_change callbacks.

    Runs until `stop()`; usable as a context manager that stops it.
    """

    def __init__(self, channels: int = 8):
        if channels not in SIZES:
            raise ValueError(f"a KMTronic USB relay board has 1, 2, 4 or 8 relays, "
                             f"not {channels}")
        self.channels: list[bool] = [False] * channels
        self.silent = False
        self.garbage = False
        self.truncated = False
        self.stuck_channels: set[int] = set()
        self.frames: list[bytes] = []
        self.errors: list[BaseException] = []
        self._callbacks: list[ChangeCallback] = []
        self._lock = threading.Lock()
        self._frame = bytearray()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no line discipline: bytes pass as they are
        self.url = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"kmtronic-sim {self.url}",
                                        daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<KmtronicSimulator {self.url} {len(self.channels)} channels>"

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
        """Make relay `channel` ignore on/off (or follow them again with stuck=False)."""
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

    # -- the board ---------------------------------------------------------------------

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
        """What the board sends back for `data`, executing any completed frame."""
        if self.silent:
            return b""
        if self.garbage:
            return bytes(0x80 | (b ^ 0x5A) & 0x7E for b in data)
        out = bytearray()
        for b in data:
            if b == START:
                self._frame[:] = bytes((b,))
            elif self._frame:
                self._frame.append(b)
                if len(self._frame) == 3:
                    frame = bytes(self._frame)
                    self._frame.clear()
                    out += self._execute(frame)
        return bytes(out)

    def _execute(self, frame: bytes) -> bytes:
        """Run one frame; return the board's reply (often none)."""
        self.frames.append(frame)
        relay, value = frame[1], frame[2]
        size = len(self.channels)
        if 1 <= relay <= size and value in (OFF, ON):
            self._switch(relay - 1, value == ON)
            return b""
        if frame == STATUS_ALL and reads_all(size):
            with self._lock:
                reply = bytes(ON if closed else OFF for closed in self.channels)
        elif 1 <= relay <= size and value == QUERY and not reads_all(size):
            reply = bytes((START, relay, ON if self.state(relay - 1) else OFF))
        else:
            return b""
        return reply[:-1] if self.truncated else reply

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
            except Exception as e:  # noqa: BLE001 - a broken observer must not hang the board
                self.errors.append(e)
