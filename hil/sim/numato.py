"""A simulated Numato USB relay board on a real pseudo-terminal.

The simulator is a peer of the real board, not a mock: `hil.power.numato.NumatoBoard` opens
`NumatoSimulator.url` (the pty's slave path, e.g. /dev/pts/5) with pyserial exactly as it
opens /dev/ttyACM0, and the simulator answers on the pty's master side from a daemon
thread.

What it does, byte for byte (the protocol described in `hil.power.numato`):

- every byte received is echoed at once, except LF, which is ignored;
- CR ends the line: the board sends LF CR, then the answer, then the prompt ``>``:

  ============================  ==========================================================
  line                          answer
  ============================  ==========================================================
  ``relay on N``/``relay off N``  switches channel N (unless stuck), nothing before ``>``
  ``relay read N``              ``on`` or ``off``, LF CR
  ``ver``                       the `version` string (default '00000008'), LF CR
  empty line                    nothing before ``>``
  anything else                 nothing before ``>`` (no error text; the driver needs none)
  ============================  ==========================================================

- ``N`` is exactly one character, 0-9 then uppercase A-V, and must name a channel of this
  board; otherwise the line counts as unknown. (The real 16-channel board reportedly reads
  only the first character of ``relay on 12`` and switches relay 1; the simulator is
  stricter on purpose so that such a driver bug shows as a protocol error, not as the
  wrong relay switching quietly.)
- ``relay readall``/``writeall``, ``id``, ``gpio``, ``adc`` are not simulated (unknown).

Fault knobs, plain attributes and methods a test flips at any time:

- `silent`: the board is hung: it reads and drops every byte, no echo, no action.
- `garbage`: every byte received is answered by a byte that is not the protocol (high-bit
  noise, never the prompt), like a board at the wrong baud rate; no action is taken.
- `stuck(channel)`: relay on/off for that channel is acknowledged but ignored, so a
  read-back shows the old state.
- `unplug()`: the master side closes, as when the USB cable is pulled: the driver's next
  read or write fails.

Observers: `on_change(callback)` registers `callback(channel, closed, t)`, called from the
simulator thread on every actual change of a channel (not on a repeated on/off), with `t`
the `time.monotonic()` of the switch, before the board sends its prompt. A simulated
aircraft derives its power state from these changes and their timing. An exception raised
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

from hil.power.numato import INDEX, MAX_CHANNELS

ChangeCallback = Callable[[int, bool, float], None]

_CR, _LF = 0x0D, 0x0A
_EOL = b"\n\r"
_PROMPT = b">"


class NumatoSimulator:
    """One simulated Numato board with `channels` relays, all open (off) at start.

    Attributes:
        url: the pty's slave path, for `serial.serial_for_url` / `NumatoBoard`.
        channels: the relay states, list of bools (True = on/closed), channel 0 first.
        version: what ``ver`` answers.
        silent, garbage: fault knobs (see the module docstring), False at start.
        stuck_channels: channels whose relay ignores on/off (see `stuck`).
        lines: every command line the board executed, in order, without the CR.
        errors: exceptions raised by on_change callbacks.

    Runs until `stop()`; usable as a context manager that stops it.
    """

    def __init__(self, channels: int = 8, version: str = "00000008"):
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"a Numato board has 1 to {MAX_CHANNELS} channels, not {channels}")
        self.channels: list[bool] = [False] * channels
        self.version = version
        self.silent = False
        self.garbage = False
        self.stuck_channels: set[int] = set()
        self.lines: list[str] = []
        self.errors: list[BaseException] = []
        self._callbacks: list[ChangeCallback] = []
        self._lock = threading.Lock()
        self._line = bytearray()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no line discipline: bytes pass as they are
        self.url = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"numato-sim {self.url}",
                                        daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<NumatoSimulator {self.url} {len(self.channels)} channels>"

    # -- what tests and the simulated bench use ----------------------------------------

    def state(self, channel: int) -> bool:
        """True when relay `channel` is on (closed)."""
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
        """What the board sends back for `data`, executing any completed line."""
        if self.silent:
            return b""
        if self.garbage:
            return bytes((b ^ 0x5A) | 0x80 for b in data)
        out = bytearray()
        for b in data:
            if b == _LF:
                continue
            if b != _CR:
                self._line.append(b)
                out.append(b)
                continue
            line = self._line.decode("ascii", errors="replace")
            self._line.clear()
            out += _EOL + self._execute(line) + _PROMPT
        return bytes(out)

    def _channel(self, index: str) -> int | None:
        if len(index) != 1 or index not in INDEX:
            return None
        channel = INDEX.index(index)
        return channel if channel < len(self.channels) else None

    def _execute(self, line: str) -> bytes:
        """Run one command line; return the answer that goes before the prompt."""
        self.lines.append(line)
        words = line.split()
        if words == ["ver"]:
            return self.version.encode("ascii") + _EOL
        if len(words) != 3 or words[0] != "relay" or words[1] not in ("on", "off", "read"):
            return b""
        channel = self._channel(words[2])
        if channel is None:
            return b""
        if words[1] == "read":
            return (b"on" if self.state(channel) else b"off") + _EOL
        self._switch(channel, words[1] == "on")
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
            except Exception as e:  # noqa: BLE001 - a broken observer must not hang the board
                self.errors.append(e)
