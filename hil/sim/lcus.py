"""A simulated LCUS (LC Technology, CH340) USB relay board on a real pseudo-terminal.

The simulator is a peer of the real board, not a mock: `hil.power.lcus.LcusBoard` opens
`LcusSimulator.url` (the pty's slave path, e.g. /dev/pts/5) with pyserial exactly as it
opens /dev/ttyUSB0, and the simulator answers on the pty's master side from a daemon
thread. It has the same attributes and methods as `hil.sim.numato.NumatoSimulator`, so the
simulated bench can use either.

What it does, byte for byte (the protocol described in `hil.power.lcus`):

- ``A0`` outside a frame starts a frame; the next three bytes complete it. A complete
  frame ``A0 <relay> <state> <sum>`` with ``sum == (0xA0 + relay + state) & 0xFF``,
  ``relay`` 1 to `len(channels)` and ``state`` 00 or 01 switches relay ``relay`` (the
  harness's channel ``relay - 1``). Nothing is sent back, ever, for a frame.
- A frame whose sum is wrong is ignored and counted in `bad_checksum_seen`, as the real
  board ignores it. A frame with a good sum but a relay this board does not have or a
  state other than 00/01 is ignored too (counted in `bad_frames_seen`).
- ``FF`` outside a frame is the status query. With `status_query` True the board answers
  one line per relay, relay 1 first, in the form seen on real boards: ``CH1: ON \\r\\n``
  or ``CH1: OFF\\r\\n`` (the state padded to three characters). With `status_query`
  False it answers nothing, like the firmware that has no query.
- Any other byte outside a frame is ignored (host scripts that append CR LF to frames,
  the driver's ``00`` resync pad).
- Framing is by byte count only, like the real board: a half frame stays pending until
  more bytes arrive, whatever the delay.

Fault knobs, plain attributes and methods a test flips at any time:

- `silent`: the board is hung: it reads and drops every byte, no reply, no action, and no
  framing (a frame half-received when it turns silent stays half-received).
- `garbage`: every byte received is answered by a byte that is not the protocol (high-bit
  noise, never CR or LF), like a board at the wrong baud rate; no action is taken.
- `stuck(channel)`: frames for that channel are accepted but the relay does not move, so
  a status query shows the old state.
- `corrupt(n)`: the next `n` set frames arrive with their checksum byte damaged, as by
  line noise: the board ignores them (and counts them in `bad_checksum_seen`).
- `unplug()`: the master side closes, as when the USB cable is pulled: the driver's next
  read or write fails.

Observers: `on_change(callback)` registers `callback(channel, closed, t)`, called from the
simulator thread on every actual change of a channel (not on a repeated on/off), with
`channel` 0-based and `t` the `time.monotonic()` of the switch, before the board handles
the next byte (so a status query sent after a frame sees its effect). An exception raised
by a callback is kept in `errors` and does not stop the board.
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

from hil.power.lcus import MAX_CHANNELS

ChangeCallback = Callable[[int, bool, float], None]

_START = 0xA0
_QUERY = 0xFF
_FRAME_LEN = 4


class LcusSimulator:
    """One simulated LCUS board with `channels` relays, all open (off) at start.

    Attributes:
        url: the pty's slave path, for `serial.serial_for_url` / `LcusBoard`.
        channels: the relay states, list of bools (True = on/closed), channel 0 first.
        status_query: whether the firmware answers the ``FF`` status query.
        silent, garbage: fault knobs (see the module docstring), False at start.
        stuck_channels: channels whose relay ignores frames (see `stuck`).
        frames: every command the board received, in order: complete 4-byte frames (good
            or not) and ``b"\\xff"`` for each status query.
        bad_checksum_seen: frames ignored because their checksum was wrong.
        bad_frames_seen: frames with a good checksum ignored for a relay or state this
            board does not have.
        errors: exceptions raised by on_change callbacks.

    Runs until `stop()`; usable as a context manager that stops it.
    """

    def __init__(self, channels: int = 8, status_query: bool = True):
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"an LCUS board has 1 to {MAX_CHANNELS} channels, not {channels}")
        self.channels: list[bool] = [False] * channels
        self.status_query = status_query
        self.silent = False
        self.garbage = False
        self.stuck_channels: set[int] = set()
        self.frames: list[bytes] = []
        self.bad_checksum_seen = 0
        self.bad_frames_seen = 0
        self.errors: list[BaseException] = []
        self._corrupt_next = 0
        self._callbacks: list[ChangeCallback] = []
        self._lock = threading.Lock()
        self._frame = bytearray()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no line discipline: bytes pass as they are
        self.url = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"lcus-sim {self.url}",
                                        daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        how = "status query" if self.status_query else "no status query"
        return f"<LcusSimulator {self.url} {len(self.channels)} channels, {how}>"

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
        """Make relay `channel` ignore frames (or follow them again with stuck=False)."""
        if not 0 <= channel < len(self.channels):
            raise ValueError(f"channel {channel} does not exist on this "
                             f"{len(self.channels)}-channel simulator")
        if stuck:
            self.stuck_channels.add(channel)
        else:
            self.stuck_channels.discard(channel)

    def corrupt(self, frames: int = 1) -> None:
        """Damage the checksum byte of the next `frames` set frames the board receives."""
        with self._lock:
            self._corrupt_next = frames

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
        """What the board sends back for `data`, executing every completed command."""
        if self.silent:
            return b""
        if self.garbage:
            return bytes((b ^ 0x5A) | 0x80 for b in data)
        out = bytearray()
        for b in data:
            if self._frame:
                self._frame.append(b)
                if len(self._frame) == _FRAME_LEN:
                    frame = bytes(self._frame)
                    self._frame.clear()
                    self._execute(frame)
            elif b == _START:
                self._frame.append(b)
            elif b == _QUERY:
                self.frames.append(bytes((b,)))
                out += self._status()
        return bytes(out)

    def _status(self) -> bytes:
        if not self.status_query:
            return b""
        with self._lock:
            states = list(self.channels)
        return b"".join(f"CH{n}: {'ON ' if on else 'OFF'}\r\n".encode("ascii")
                        for n, on in enumerate(states, start=1))

    def _execute(self, frame: bytes) -> None:
        """Act on one complete frame ``A0 relay state sum`` (or ignore it)."""
        with self._lock:
            if self._corrupt_next > 0:
                self._corrupt_next -= 1
                frame = frame[:3] + bytes(((frame[3] + 0x11) & 0xFF,))
        self.frames.append(frame)
        _, relay, state, total = frame
        if total != (_START + relay + state) & 0xFF:
            self.bad_checksum_seen += 1
            return
        if not 1 <= relay <= len(self.channels) or state not in (0, 1):
            self.bad_frames_seen += 1
            return
        self._switch(relay - 1, state == 1)

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
