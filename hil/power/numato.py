"""Numato Lab USB relay modules (1 to 32 channels, USB CDC serial port).

The protocol, as the board speaks it on its serial port (19200 8N1; over USB CDC the baud
rate does not matter):

- The host types an ASCII command line ended by a carriage return (CR):
  ``relay on N``, ``relay off N``, ``relay read N``, ``ver``.
- ``N`` is one character: ``0``-``9`` for channels 0-9, then uppercase ``A``, ``B``, ``C``
  ... for channels 10 and up (a 16-channel board uses 0-F, a 32-channel board 0-V).
- The board echoes every character as it arrives. On CR it sends LF CR, then, for a
  command that answers, the payload and LF CR, then the prompt ``>``::

      relay on 1<CR>    ->  b"relay on 1\\n\\r>"
      relay read 1<CR>  ->  b"relay read 1\\n\\ron\\n\\r>"
      ver<CR>           ->  b"ver\\n\\r00000008\\n\\r>"
      <CR>              ->  b"\\n\\r>"

The pure core (`encode`, `parse_reply`) builds command lines and checks replies without
any I/O. `NumatoBoard` is the driver: it opens the port with `serial.serial_for_url`, so
the same code drives a local board, a remote one behind ser2net (``rfc2217://``) and the
simulator in `hil.sim.numato`.
"""

from __future__ import annotations

import re
import time

from hil.power.relay import RelayError, channel_check
from hil.power.serialport import PORT_ERRORS, SerialRelayBoard

KIND = "numato"
BAUDRATE = 19200
PROMPT = b">"
CR = b"\r"
MAX_CHANNELS = 32
INDEX = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
COMMANDS = ("relay on", "relay off", "relay read", "ver")

_LINE_END = re.compile(r"[\r\n]+")


def check_channel_count(board_desc: str, channels: object) -> int:
    """Return `channels` if a Numato board can have that many channels, else RelayError."""
    if isinstance(channels, bool) or not isinstance(channels, int) \
            or not 1 <= channels <= MAX_CHANNELS:
        raise RelayError(f"{board_desc}: {channels!r} channels is not a board this driver can "
                         f"address (1 to {MAX_CHANNELS} channels, index 0-9 then A-V)")
    return channels


def encode(command: str, channel: int | None, channels: int) -> bytes:
    """The bytes to send for one command on a `channels`-channel board.

    `command` is one of COMMANDS. The relay commands need a channel (0-based) and give
    ``b"relay on 1\\r"``, channel 10 giving ``b"relay on A\\r"``; ``ver`` takes none.
    Raises RelayError for a channel the board does not have, ValueError for a command
    this module does not know or a channel given to the wrong command.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown numato command {command!r} (known: {', '.join(COMMANDS)})")
    if command == "ver":
        if channel is not None:
            raise ValueError(f"numato command 'ver' takes no channel, got {channel!r}")
        return b"ver" + CR
    if channel is None:
        raise ValueError(f"numato command {command!r} needs a channel")
    check_channel_count(f"{KIND} board", channels)
    channel_check(f"{KIND} board", channels, channel)
    return f"{command} {INDEX[channel]}".encode("ascii") + CR


def _command_text(sent: bytes) -> str:
    """How messages quote a sent command: without its CR ('relay read 1', '\\r')."""
    text = sent.rstrip(CR).decode("ascii", errors="backslashreplace")
    return text if text else "\\r"


def _expected(sent: bytes) -> str:
    """What a good reply to `sent` holds after the echo, in words for error messages."""
    words = sent.rstrip(CR).split()
    if words[:2] == [b"relay", b"read"]:
        return "'on' or 'off' then '>'"
    if words[:2] in ([b"relay", b"on"], [b"relay", b"off"]):
        return "'>' right after the echo"
    if words == [b"ver"]:
        return "a version string then '>'"
    return "'>'"


def _looks_truncated(echo: bytes, raw: bytes) -> bool:
    """True when `raw` could be the start of a good reply that was cut off."""
    if any(b not in b"\r\n" and not 0x20 <= b < 0x7F for b in raw):
        return False
    return echo.startswith(raw) or raw.startswith(echo)


def parse_reply(sent: bytes, raw: bytes) -> str:
    """The payload of the board's reply `raw` to the command line `sent`.

    `raw` is everything the board sent back, up to and including the prompt: the echo of
    the command, the line ends (LF CR; any mix of CR and LF is accepted), an optional
    payload line, and the final ``>``. Returns the payload: 'on' or 'off' for
    ``relay read``, the version string for ``ver``, '' for ``relay on``/``relay off``
    and for a bare CR.

    Raises RelayError, naming the command and what was expected, when `raw` is empty,
    truncated (a good start with no prompt), or garbled (no echo, bytes that are not
    printable ASCII, or a payload that does not fit the command).
    """
    cmd = _command_text(sent)
    expected = _expected(sent)
    echo = sent.rstrip(CR)

    def garbled(what: str = "garbled reply") -> RelayError:
        return RelayError(f"{what} to {cmd!r}: {raw!r} (expected {expected})")

    if not raw:
        raise RelayError(f"no reply to {cmd!r} (expected {expected})")
    if not raw.endswith(PROMPT):
        raise garbled("truncated reply" if _looks_truncated(echo, raw) else "garbled reply")
    body = raw[:-len(PROMPT)]
    if not body.startswith(echo) or PROMPT in body:
        raise garbled()
    rest = body[len(echo):]
    if rest[:1] not in (b"\r", b"\n"):  # the echo must end its line
        raise garbled()
    try:
        text = rest.decode("ascii")
    except UnicodeDecodeError:
        raise garbled() from None
    lines = [line for line in _LINE_END.split(text) if line]
    if any(not line.isprintable() for line in lines):
        raise garbled()
    words = echo.split()
    if words[:2] == [b"relay", b"read"]:
        ok = lines in (["on"], ["off"])
    elif words[:2] in ([b"relay", b"on"], [b"relay", b"off"]):
        ok = not lines
    elif words == [b"ver"]:
        ok = len(lines) == 1
    else:
        ok = len(lines) <= 1
    if not ok:
        raise garbled("unexpected reply")
    return lines[0] if lines else ""


class NumatoBoard(SerialRelayBoard):
    """A Numato USB relay board, opened and resynchronised.

    `url` is anything `serial.serial_for_url` opens: a device path (locked exclusively,
    so a second job on the same board fails at open), ``rfc2217://host:port``,
    ``socket://host:port``. `channels` is the board's size (1 to 32). `timeout` bounds
    each command/reply exchange, in seconds.

    Opening sends a bare CR and waits for the prompt (this ends any half-typed line left
    by a crashed job), discards whatever else is buffered, then asks the version to make
    sure a Numato board is answering. After any failed exchange the next one resyncs
    first. Every failure, including an unplugged board or a vanished port, is a
    RelayError naming the URL, the command sent and what was expected.
    """

    kind = KIND
    baudrate = BAUDRATE

    def __init__(self, url: str, channels: int, timeout: float = 1.0):
        self.url = url
        self.channels = check_channel_count(f"{KIND} board at {url}", channels)
        self.timeout = timeout
        self._open_port(recover_first=False)
        try:
            self._resync()
            self.version()
        except BaseException:
            self.close()
            raise

    # -- port handling ---------------------------------------------------------------

    def _resync(self) -> None:
        """Send a bare CR, wait for the prompt, then discard anything still arriving."""
        port = self._require_port()
        try:
            port.reset_input_buffer()
            port.write(CR)
            raw = port.read_until(PROMPT)
            if raw.endswith(PROMPT):
                deadline = time.monotonic() + self.timeout
                while time.monotonic() < deadline:  # drain until quiet for 20 ms
                    time.sleep(0.02)
                    if not port.in_waiting:
                        break
                    port.reset_input_buffer()
        except PORT_ERRORS as e:
            raise self._port_failed("resync (sent '\\r')", e) from e
        if not raw:
            self._needs_recovery = True
            raise RelayError(f"{self.description}: no reply to '\\r' (resync) within "
                             f"{self.timeout} s (expected '>'); is a Numato board powered "
                             f"and at this URL?")
        if not raw.endswith(PROMPT):
            self._needs_recovery = True
            raise RelayError(f"{self.description}: garbled reply to '\\r' (resync): {raw!r}; "
                             f"no prompt within {self.timeout} s (expected '>'); wrong "
                             f"board kind or baud rate?")
        self._needs_recovery = False

    def _exchange(self, sent: bytes) -> str:
        """Send one command line and return the reply's payload (see parse_reply)."""
        cmd = _command_text(sent)
        with self._lock:
            port = self._require_port()
            if self._needs_recovery:
                self._resync()
            try:
                port.reset_input_buffer()
                port.write(sent)
                raw = port.read_until(PROMPT)
            except PORT_ERRORS as e:
                raise self._port_failed(repr(cmd), e) from e
            if not raw:
                self._needs_recovery = True
                raise RelayError(f"{self.description}: no reply to {cmd!r} within "
                                 f"{self.timeout} s (expected {_expected(sent)})")
            try:
                return parse_reply(sent, raw)
            except RelayError as e:
                self._needs_recovery = True
                late = "" if raw.endswith(PROMPT) else f"; no prompt within {self.timeout} s"
                raise RelayError(f"{self.description}: {e}{late}") from None

    # -- the RelayBoard capability ---------------------------------------------------

    def set(self, channel: int, closed: bool) -> None:
        """Switch `channel` on (closed) or off, then read it back (see RelayBoard.set)."""
        channel_check(self.description, self.channels, channel)
        command = "relay on" if closed else "relay off"
        want = "on" if closed else "off"
        with self._lock:
            self._exchange(encode(command, channel, self.channels))
            got = self._exchange(encode("relay read", channel, self.channels))
        if got != want:
            sent = _command_text(encode(command, channel, self.channels))
            raise RelayError(f"{self.description}: channel {channel} reads back {got!r} after "
                             f"{sent!r} (expected {want!r}); the relay may be stuck or "
                             f"the board faulty")

    def get(self, channel: int) -> bool:
        """True when the board reports `channel` on (closed)."""
        channel_check(self.description, self.channels, channel)
        return self._exchange(encode("relay read", channel, self.channels)) == "on"

    def version(self) -> str:
        """The firmware version string the board reports (``ver``), e.g. '00000008'."""
        return self._exchange(encode("ver", None, self.channels))

