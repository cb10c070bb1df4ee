"""A simulated KMTronic USB relay board on a real pseudo-terminal.

The simulator is a peer of the real board, not a mock: `hil.power.kmtronic.KmtronicBoard`
opens `KmtronicSimulator.url` (the pty's slave path, e.g. /dev/pts/5) with pyserial exactly
as it opens /dev/ttyUSB0, and the simulator answers on the pty's master side from a daemon
thread. It has the attributes and methods every `hil.sim.ptyboard.PtyBoardSimulator`
has, so the simulated bench can use it in place of any other relay simulator.

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

Fault knobs and observers are those of `hil.sim.ptyboard.PtyBoardSimulator`; here:

- `silent`: the board is hung: it reads and drops every byte, no action, no reply.
- `garbage`: every byte received is answered by a byte that is not the protocol (high-bit
  noise, never 00, 01 or FF), like a board at the wrong baud rate; no action is taken.
- `truncated` (KMTronic only): status replies lose their last byte (switching still
  works), like a reply cut short on the wire.
- `stuck(channel)`: on/off for that channel is accepted but ignored, so a read-back shows
  the old state.
- `unplug()`: the master side closes, as when the USB cable is pulled: the driver's next
  read or write fails.

Channels in this API are numbered from 0 like `RelayBoard`'s; channel N is the board's
relay N+1 on the wire. Observers (`on_change`) are called on every actual change, before
the board sends the reply to the frame that caused it.
"""

from __future__ import annotations

from hil.power.kmtronic import OFF, ON, QUERY, SIZES, START, STATUS_ALL, reads_all
from hil.sim.ptyboard import PtyBoardSimulator


class KmtronicSimulator(PtyBoardSimulator):
    """One simulated KMTronic board with `channels` relays (1, 2, 4 or 8), all off at start.

    Attributes, beside those of `PtyBoardSimulator` (`url`, `channels`, `silent`,
    `garbage`, `stuck_channels`, `errors`):
        truncated: fault knob (see the module docstring), False at start.
        frames: every complete 3-byte frame the board received, in order.

    Runs until `stop()`; usable as a context manager that stops it.
    """

    kind = "kmtronic"

    def __init__(self, channels: int = 8):
        if channels not in SIZES:
            raise ValueError(f"a KMTronic USB relay board has 1, 2, 4 or 8 relays, "
                             f"not {channels}")
        self.truncated = False
        self.frames: list[bytes] = []
        self._frame = bytearray()
        super().__init__(channels)

    # -- the board ---------------------------------------------------------------------

    def _garbage(self, data: bytes) -> bytes:
        """One high-bit byte per byte received: never 00, 01 or FF."""
        return bytes(0x80 | (b ^ 0x5A) & 0x7E for b in data)

    def _on_bytes(self, data: bytes) -> bytes:
        """Frame `data` (a FF starts a frame); run every completed frame, return replies."""
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
