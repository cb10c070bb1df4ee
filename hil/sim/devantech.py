"""A simulated Devantech USB-RLY module on a real pseudo-terminal.

The simulator is a peer of the real module, not a mock: `hil.power.devantech.DevantechBoard`
opens `DevantechSimulator.url` (the pty's slave path, e.g. /dev/pts/5) with pyserial exactly
as it opens /dev/ttyACM0, and the simulator answers on the pty's master side from a daemon
thread. It has the attributes and methods every `hil.sim.ptyboard.PtyBoardSimulator`
has, so the simulated bench can use it in place of any other relay simulator.

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

Fault knobs and observers are those of `hil.sim.ptyboard.PtyBoardSimulator`; here:

- `silent`: the module is hung: it reads and drops every byte, no answer, no action.
- `garbage`: every byte received is answered by three bytes of high-bit noise (more than
  any reply, and never a known module id), like a device of another kind; no action.
- `truncated` (Devantech only): every answer loses its last byte (a 2-byte version reply
  arrives as its first byte, a state mask not at all), as when a USB packet is lost.
- `stuck(channel)`: on/off for that channel (single, all, or mask) is taken but ignored,
  so the state mask shows the old state.
- `unplug()`: the master side closes, as when the USB cable is pulled: the driver's next
  read or write fails.

Observers (`on_change`, channel 0-based) are called on every actual change, before the
module reads its next byte.
"""

from __future__ import annotations

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
from hil.sim.ptyboard import PtyBoardSimulator


class DevantechSimulator(PtyBoardSimulator):
    """One simulated USB-RLY module with `channels` relays, all off (open) at start.

    `module_id` is what ``0x5A`` reports first (default 8, a USB-RLY08; any byte may be
    given, to simulate a module the driver does not know), `software` what it reports
    second.

    Attributes, beside those of `PtyBoardSimulator` (`url`, `channels`, `silent`,
    `garbage`, `stuck_channels`, `errors`):
        module_id, software: what ``0x5A`` answers.
        truncated: fault knob (see the module docstring), False at start.
        commands: every command the module took, in order, as bytes.

    Runs until `stop()`; usable as a context manager that stops it.
    """

    kind = "devantech"

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
        self.module_id = module_id
        self.software = software
        self.truncated = False
        self.commands: list[bytes] = []
        self._awaiting_mask = False
        super().__init__(channels)

    def __repr__(self) -> str:
        return (f"<DevantechSimulator {self.url} module id {self.module_id}, "
                f"{len(self.channels)} channels>")

    def mask(self) -> int:
        """The state mask ``0x5B`` answers: bit c set when channel c is on."""
        with self._lock:
            return sum(1 << ch for ch, closed in enumerate(self.channels) if closed)

    # -- the module --------------------------------------------------------------------

    def _garbage(self, data: bytes) -> bytes:
        """Three high-bit bytes per byte received: longer than any answer."""
        return bytes(0x80 | (b ^ k) for b in data for k in (0x2A, 0x55, 0x71))

    def _on_bytes(self, data: bytes) -> bytes:
        """Run every command in `data` (a mask may follow its 0x5C in a later read)."""
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
