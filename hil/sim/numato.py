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

Fault knobs and observers are those of `hil.sim.ptyboard.PtyBoardSimulator`; here:

- `silent`: the board is hung: it reads and drops every byte, no echo, no action.
- `garbage`: every byte received is answered by a byte that is not the protocol (high-bit
  noise, never the prompt), like a board at the wrong baud rate; no action is taken.
- `stuck(channel)`: relay on/off for that channel is acknowledged but ignored, so a
  read-back shows the old state.
- `unplug()`: the master side closes, as when the USB cable is pulled: the driver's next
  read or write fails.

Observers (`on_change`) are called on every actual change, before the board sends its
prompt.
"""

from __future__ import annotations

from hil.power.numato import INDEX, MAX_CHANNELS
from hil.sim.ptyboard import PtyBoardSimulator

_CR, _LF = 0x0D, 0x0A
_EOL = b"\n\r"
_PROMPT = b">"


class NumatoSimulator(PtyBoardSimulator):
    """One simulated Numato board with `channels` relays, all open (off) at start.

    Attributes, beside those of `PtyBoardSimulator` (`url`, `channels`, `silent`,
    `garbage`, `stuck_channels`, `errors`):
        version: what ``ver`` answers.
        lines: every command line the board executed, in order, without the CR.

    Runs until `stop()`; usable as a context manager that stops it.
    """

    kind = "numato"

    def __init__(self, channels: int = 8, version: str = "00000008"):
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"a Numato board has 1 to {MAX_CHANNELS} channels, not {channels}")
        self.version = version
        self.lines: list[str] = []
        self._line = bytearray()
        super().__init__(channels)

    # -- the board ---------------------------------------------------------------------

    def _garbage(self, data: bytes) -> bytes:
        """One high-bit byte per byte received: never the prompt, never an echo."""
        return bytes((b ^ 0x5A) | 0x80 for b in data)

    def _on_bytes(self, data: bytes) -> bytes:
        """Echo every byte but LF; on CR, run the line and answer it, then the prompt."""
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
