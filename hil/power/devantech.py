"""Devantech USB-RLY relay modules (USB-RLY08, USB-RLY16, USB-RLY16L, USB-RLY02).

Source: Devantech's own documentation of each module, section "Commands" (checked for this
driver: the USB-RLY08/USB-RLY08C specifications as redistributed by RobotShop, the USB-RLY16
"Technical Documentation", the USB-RLY16L manual, and the USB-RLY02 technical documentation
at http://www.robot-electronics.co.uk/htm/usb_rly02tech.htm; all four give the same command
table, the canonical USB-RLY08 page being robot-electronics.co.uk/htm/usb_rly08tech.htm).
The module is a USB CDC serial port: the driver opens it at 19200 8N1, though the documents
say the rate is not actually used over USB. Every command is one byte, and the module
answers only the commands that return something:

  ========  =========================================================================
  command   action
  ========  =========================================================================
  ``0x5A``  get software version: 2 bytes, the module id then the software version
  ``0x5B``  get relay states: 1 byte, bit n high when relay n+1 is powered
  ``0x5C``  set relay states: the next byte is the new state mask (0xFF all on)
  ``0x64``  all relays on
  ``0x65``  relay 1 on ... ``0x6C`` relay 8 on
  ``0x6E``  all relays off
  ``0x6F``  relay 1 off ... ``0x76`` relay 8 off
  ========  =========================================================================

Module ids, as the documents give them (the driver refuses any other, so a board of
another kind or a line speaking another protocol is caught at open):

  ==  ============  =======  =================================================
  id  module        relays   document
  ==  ============  =======  =================================================
   8  USB-RLY08     8        USB-RLY08 (and USB-RLY08C) technical documentation
   9  USB-RLY16     8        USB-RLY16 technical documentation (8 relays at 16 A)
  10  USB-RLY02     2        USB-RLY02 technical documentation
  15  USB-RLY16L    8        USB-RLY16L manual
  ==  ============  =======  =================================================

Every supported module has at most 8 relays, so this driver addresses 1 to 8 channels.
The harness numbers channels from 0 (`RelayBoard`): channel c is the documents' relay c+1
and bit c of the state mask. Not supported: the USB-RLY08B and USB-RLY82 (their module ids
were not verified against a document; add them to `MODULES` once they are), the USB-RLY16
and USB-RLY16L voltage command ``0x5D``, and the serial number command ``0x38`` of later
firmware.

The pure core (`encode`, `encode_set_states`, `parse_version`, `parse_states`,
`mask_states`) builds commands and checks replies without any I/O. `DevantechBoard` is the
driver: it opens the port with `serial.serial_for_url`, so the same code drives a local
board, a remote one behind ser2net (``rfc2217://``) and the simulator in
`hil.sim.devantech`.

The protocol has no framing: a reply is only known by its length. The driver therefore
empties the input buffer before each command, and after reading a reply's bytes takes
whatever else has already arrived: a reply longer than the command's is garbled (a board
of another kind, or noise), never silently half-read.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from hil.power.relay import RelayError, channel_check
from hil.power.serialport import PORT_ERRORS, SerialRelayBoard

KIND = "devantech"
BAUDRATE = 19200
MAX_CHANNELS = 8

GET_VERSION = 0x5A
GET_STATES = 0x5B
SET_STATES = 0x5C
ALL_ON = 0x64
RELAY_ON = 0x65   # relay 1 on; relay r on is RELAY_ON + r - 1
ALL_OFF = 0x6E
RELAY_OFF = 0x6F  # relay 1 off; relay r off is RELAY_OFF + r - 1

COMMANDS = ("on", "off", "all on", "all off", "get version", "get states")


class Module(NamedTuple):
    """One kind of Devantech USB-RLY module, as its module id names it."""

    id: int
    name: str
    relays: int


MODULES: dict[int, Module] = {m.id: m for m in (
    Module(8, "USB-RLY08", 8),
    Module(9, "USB-RLY16", 8),
    Module(10, "USB-RLY02", 2),
    Module(15, "USB-RLY16L", 8),
)}


class Version(NamedTuple):
    """What ``0x5A`` answers: the module (from its id) and the software version byte."""

    module: Module
    software: int


# How many bytes each command that answers sends back, and what they are, in words.
REPLY_LENGTH = {GET_VERSION: 2, GET_STATES: 1}
_EXPECTED = {
    GET_VERSION: "2 bytes: module id, software version",
    GET_STATES: "1 byte: the relay state mask",
}


def check_channel_count(board_desc: str, channels: object) -> int:
    """Return `channels` if a Devantech USB-RLY module can have that many, else RelayError."""
    if isinstance(channels, bool) or not isinstance(channels, int) \
            or not 1 <= channels <= MAX_CHANNELS:
        raise RelayError(f"{board_desc}: {channels!r} channels is not a board this driver can "
                         f"address (1 to {MAX_CHANNELS} channels: the USB-RLY modules have "
                         f"at most {MAX_CHANNELS} relays)")
    return channels


def encode(command: str, channel: int | None = None, channels: int = MAX_CHANNELS) -> bytes:
    """The byte to send for one command on a `channels`-channel board.

    `command` is one of COMMANDS. ``on``/``off`` need a channel (0-based): channel 0 on is
    ``b"\\x65"`` (relay 1 on), channel 7 off is ``b"\\x76"`` (relay 8 off). The others take
    none. Raises RelayError for a channel the board does not have, ValueError for a
    command this module does not know or a channel given to the wrong command.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown devantech command {command!r} "
                         f"(known: {', '.join(COMMANDS)})")
    if command in ("on", "off"):
        if channel is None:
            raise ValueError(f"devantech command {command!r} needs a channel")
        check_channel_count(f"{KIND} board", channels)
        channel_check(f"{KIND} board", channels, channel)
        return bytes([(RELAY_ON if command == "on" else RELAY_OFF) + channel])
    if channel is not None:
        raise ValueError(f"devantech command {command!r} takes no channel, got {channel!r}")
    return bytes([{"all on": ALL_ON, "all off": ALL_OFF, "get version": GET_VERSION,
                   "get states": GET_STATES}[command]])


def encode_set_states(mask: int, channels: int = MAX_CHANNELS) -> bytes:
    """``0x5C`` and the state mask: set every relay at once (bit c closes channel c).

    Raises RelayError for a bit of a channel a `channels`-channel board does not have.
    """
    check_channel_count(f"{KIND} board", channels)
    if isinstance(mask, bool) or not isinstance(mask, int) or not 0 <= mask < 1 << channels:
        raise RelayError(f"{KIND} board: state mask {mask!r} does not fit {channels} "
                         f"channels (0 to {(1 << channels) - 1:#04x})")
    return bytes([SET_STATES, mask])


def command_text(sent: bytes) -> str:
    """How messages name a sent command: its bytes in hex and what it does.

    ``b"\\x65"`` reads '0x65 (relay 1 on)', ``b"\\x5c\\x03"`` reads
    '0x5C 0x03 (set relay states)'.
    """
    if not sent:
        return "nothing"
    first = sent[0]
    if first == GET_VERSION:
        what = "get software version"
    elif first == GET_STATES:
        what = "get relay states"
    elif first == SET_STATES:
        what = "set relay states"
    elif first == ALL_ON:
        what = "all relays on"
    elif first == ALL_OFF:
        what = "all relays off"
    elif RELAY_ON <= first < RELAY_ON + MAX_CHANNELS:
        what = f"relay {first - RELAY_ON + 1} on"
    elif RELAY_OFF <= first < RELAY_OFF + MAX_CHANNELS:
        what = f"relay {first - RELAY_OFF + 1} off"
    else:
        what = "not a devantech command"
    return f"{received_text(sent)} ({what})"


def received_text(raw: bytes, limit: int = 16) -> str:
    """Bytes as messages show them: '0x08 0x01'; more than `limit` bytes end in '...'."""
    text = " ".join(f"0x{b:02X}" for b in raw[:limit])
    return text + (f" ... ({len(raw)} bytes)" if len(raw) > limit else "")


def reply_length(sent: bytes) -> int:
    """How many bytes the board answers to `sent`: 2 for 0x5A, 1 for 0x5B, else 0."""
    return REPLY_LENGTH.get(sent[0], 0) if len(sent) == 1 else 0


def expected_reply(sent: bytes) -> str:
    """What a good reply to `sent` is, in words for error messages."""
    return _EXPECTED.get(sent[0], "no reply") if len(sent) == 1 else "no reply"


def _check_length(sent: bytes, raw: bytes) -> None:
    cmd, expected, n = command_text(sent), expected_reply(sent), reply_length(sent)
    if not raw:
        raise RelayError(f"no reply to {cmd} (expected {expected})")
    if len(raw) < n:
        raise RelayError(f"truncated reply to {cmd}: received {received_text(raw)} "
                         f"(expected {expected})")
    if len(raw) > n:
        raise RelayError(f"garbled reply to {cmd}: received {received_text(raw)} "
                         f"(expected {expected})")


def parse_version(raw: bytes) -> Version:
    """The module and software version in the board's reply `raw` to ``0x5A``.

    Raises RelayError, naming the command, what was received and what was expected, when
    `raw` is empty, truncated (1 byte), too long, or starts with a module id that is not
    a supported Devantech module (see MODULES).
    """
    sent = bytes([GET_VERSION])
    _check_length(sent, raw)
    module_id, software = raw
    module = MODULES.get(module_id)
    if module is None:
        known = ", ".join(f"{m.id} {m.name}" for m in MODULES.values())
        raise RelayError(f"unknown module id {module_id} (0x{module_id:02X}) in reply to "
                         f"{command_text(sent)}: received {received_text(raw)} (expected a "
                         f"supported Devantech module id: {known})")
    return Version(module, software)


def parse_states(raw: bytes) -> int:
    """The relay state mask in the board's reply `raw` to ``0x5B`` (bit c: channel c).

    Raises RelayError when `raw` is empty or is not exactly one byte.
    """
    _check_length(bytes([GET_STATES]), raw)
    return raw[0]


def mask_states(mask: int, channels: int) -> list[bool]:
    """The states of channels 0 to channels-1 in a state mask, channel 0 first (True: on)."""
    return [bool(mask >> channel & 1) for channel in range(channels)]


def _on_off(closed: bool) -> str:
    return "on" if closed else "off"


class DevantechBoard(SerialRelayBoard):
    """A Devantech USB-RLY module, opened and identified.

    `url` is anything `serial.serial_for_url` opens: a device path (locked exclusively,
    so a second job on the same board fails at open), ``rfc2217://host:port``,
    ``socket://host:port``. `channels` is how many of its relays the bench uses (1 to the
    module's relay count). `timeout` bounds each command/reply exchange, in seconds.

    Opening empties the input buffer, then asks ``0x5A``: the module id must be one of
    MODULES and the module must have at least `channels` relays. After any failed
    exchange the next one first waits for the line to go quiet. Every failure, including
    an unplugged board or a vanished port, is a RelayError naming the URL, the command
    sent (in hex) and what was expected versus received.

    Attributes (besides RelayBoard's): `module` (the `Module` the board reported) and
    `software` (its software version byte).
    """

    kind = KIND
    baudrate = BAUDRATE

    def __init__(self, url: str, channels: int = MAX_CHANNELS, timeout: float = 0.5):
        self.url = url
        self.channels = check_channel_count(f"{KIND} board at {url}", channels)
        self.timeout = timeout
        self._open_port(recover_first=False)
        try:
            self._drain()
            version = self.version()
            if version.module.relays < channels:
                raise RelayError(f"{self.description}: the board is a {version.module.name} "
                                 f"(module id {version.module.id}) with "
                                 f"{version.module.relays} relays; it cannot have {channels} "
                                 f"channels (set channels to at most {version.module.relays})")
        except BaseException:
            self.close()
            raise
        self.module: Module = version.module
        self.software: int = version.software

    # -- port handling ---------------------------------------------------------------

    def _drain(self) -> None:
        """Discard buffered input, then anything still arriving until 20 ms of quiet."""
        port = self._require_port()
        try:
            port.reset_input_buffer()
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                time.sleep(0.02)
                if not port.in_waiting:
                    break
                port.reset_input_buffer()
        except PORT_ERRORS as e:
            raise self._port_failed("drain of the input buffer", e) from e
        self._needs_recovery = False

    def _exchange(self, sent: bytes) -> bytes:
        """Send one command; return its reply, exactly reply_length(sent) bytes long.

        A command that answers nothing returns b"" once written. The reply's length is
        checked here; its content by the caller (parse_version, parse_states).
        """
        cmd = command_text(sent)
        n = reply_length(sent)
        with self._lock:
            port = self._require_port()
            if self._needs_recovery:
                self._drain()
            try:
                port.reset_input_buffer()
                port.write(sent)
                if not n:
                    return b""
                raw = port.read(n)
                if len(raw) == n and port.in_waiting:  # more than the reply: garbled
                    raw += port.read(port.in_waiting)
            except PORT_ERRORS as e:
                raise self._port_failed(cmd, e) from e
            if not raw:
                self._needs_recovery = True
                raise RelayError(f"{self.description}: no reply to {cmd} within "
                                 f"{self.timeout} s (expected {expected_reply(sent)})")
            try:
                _check_length(sent, raw)
            except RelayError as e:
                self._needs_recovery = True
                late = f"; no more bytes within {self.timeout} s" if len(raw) < n else ""
                raise RelayError(f"{self.description}: {e}{late}") from None
            return raw

    def _read_mask(self) -> int:
        return parse_states(self._exchange(encode("get states")))

    # -- the RelayBoard capability ---------------------------------------------------

    def set(self, channel: int, closed: bool) -> None:
        """Switch `channel` on (closed) or off, then read the state mask back.

        Sends the relay's on or off byte (``0x65``... or ``0x6F``...), then ``0x5B``; raises
        RelayError if the channel's bit does not follow (see RelayBoard.set).
        """
        channel_check(self.description, self.channels, channel)
        sent = encode("on" if closed else "off", channel, self.channels)
        with self._lock:
            self._exchange(sent)
            mask = self._read_mask()
        got = bool(mask >> channel & 1)
        if got != bool(closed):
            raise RelayError(f"{self.description}: channel {channel} (relay {channel + 1}) "
                             f"reads back {_on_off(got)!r} after {command_text(sent)} "
                             f"(expected {_on_off(closed)!r}; state mask 0x{mask:02X} from "
                             f"0x5B); the relay may be stuck or the board faulty")

    def get(self, channel: int) -> bool:
        """True when the board reports `channel` on (closed): one ``0x5B``."""
        channel_check(self.description, self.channels, channel)
        return bool(self._read_mask() >> channel & 1)

    def states(self) -> list[bool]:
        """Every channel's state from a single ``0x5B``, channel 0 first."""
        return mask_states(self._read_mask(), self.channels)

    def version(self) -> Version:
        """The module and software version the board reports (``0x5A``)."""
        sent = encode("get version")
        raw = self._exchange(sent)
        try:
            return parse_version(raw)
        except RelayError as e:
            raise RelayError(f"{self.description}: {e}; is a supported Devantech USB-RLY "
                             f"board at this URL?") from None

    def __repr__(self) -> str:
        module = getattr(self, "module", None)
        name = f" {module.name}" if module else ""
        return f"<{type(self).__name__}{name} {self.description}, {self.channels} channels>"
