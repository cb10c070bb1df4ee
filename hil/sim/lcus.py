"""A simulated LCUS (LC Technology, CH340) USB relay board on a real pseudo-terminal.

The simulator is a peer of the real board, not a mock: `hil.power.lcus.LcusBoard` opens
`LcusSimulator.url` (the pty's slave path, e.g. /dev/pts/5) with pyserial exactly as it
opens /dev/ttyUSB0, and the simulator answers on the pty's master side from a daemon
thread. It has the attributes and methods every `hil.sim.ptyboard.PtyBoardSimulator`
has, so the simulated bench can use it in place of any other relay simulator.

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

Fault knobs and observers are those of `hil.sim.ptyboard.PtyBoardSimulator`; here:

- `silent`: the board is hung: it reads and drops every byte, no reply, no action, and no
  framing (a frame half-received when it turns silent stays half-received).
- `garbage`: every byte received is answered by a byte that is not the protocol (high-bit
  noise, never CR or LF), like a board at the wrong baud rate; no action is taken.
- `stuck(channel)`: frames for that channel are accepted but the relay does not move, so
  a status query shows the old state.
- `corrupt(n)` (LCUS only): the next `n` set frames arrive with their checksum byte
  damaged, as by line noise: the board ignores them (and counts them in
  `bad_checksum_seen`).
- `unplug()`: the master side closes, as when the USB cable is pulled: the driver's next
  read or write fails.

Observers (`on_change`, channel 0-based) are called on every actual change, before the
board handles the next byte (so a status query sent after a frame sees its effect).
"""

from __future__ import annotations

from hil.power.lcus import MAX_CHANNELS
from hil.sim.ptyboard import PtyBoardSimulator

_START = 0xA0
_QUERY = 0xFF
_FRAME_LEN = 4


class LcusSimulator(PtyBoardSimulator):
    """One simulated LCUS board with `channels` relays, all open (off) at start.

    Attributes, beside those of `PtyBoardSimulator` (`url`, `channels`, `silent`,
    `garbage`, `stuck_channels`, `errors`):
        status_query: whether the firmware answers the ``FF`` status query.
        frames: every command the board received, in order: complete 4-byte frames (good
            or not) and ``b"\\xff"`` for each status query.
        bad_checksum_seen: frames ignored because their checksum was wrong.
        bad_frames_seen: frames with a good checksum ignored for a relay or state this
            board does not have.

    Runs until `stop()`; usable as a context manager that stops it.
    """

    kind = "lcus"

    def __init__(self, channels: int = 8, status_query: bool = True):
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"an LCUS board has 1 to {MAX_CHANNELS} channels, not {channels}")
        self.status_query = status_query
        self.frames: list[bytes] = []
        self.bad_checksum_seen = 0
        self.bad_frames_seen = 0
        self._corrupt_next = 0
        self._frame = bytearray()
        super().__init__(channels)

    def __repr__(self) -> str:
        how = "status query" if self.status_query else "no status query"
        return f"<LcusSimulator {self.url} {len(self.channels)} channels, {how}>"

    def corrupt(self, frames: int = 1) -> None:
        """Damage the checksum byte of the next `frames` set frames the board receives."""
        with self._lock:
            self._corrupt_next = frames

    # -- the board ---------------------------------------------------------------------

    def _garbage(self, data: bytes) -> bytes:
        """One high-bit byte per byte received: never CR or LF, so never a status line."""
        return bytes((b ^ 0x5A) | 0x80 for b in data)

    def _on_bytes(self, data: bytes) -> bytes:
        """Frame `data` by byte count; act on every completed frame, answer every query."""
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
