"""KMTronic USB relay boards (1, 2, 4 and 8 channels; FTDI serial port, 9600 8N1).

The protocol, as KMTronic documents it ("KMTronic USB Relay Test software",
https://info.kmtronic.com/kmtronic-usb-relay-test-software.html, same text on
https://kmtronic.blogspot.com/2015/04/kmtronic-usb-relay-test-software.html; the one-relay
board also on https://info.kmtronic.com/categories/controlling-usb-one-relay-by-raspberry-pi.html):

- Every command is a 3-byte binary frame ``FF <relay> <value>``; relays are numbered from
  1 on the board (this module's channel N is the board's relay N+1).
- Switching: ``FF <relay> 01`` turns the relay on (closed), ``FF <relay> 00`` off. The
  board sends no reply.
- Status, which differs with the board's size:

  ==============  =====================  ====================================================
  board           query                  reply
  ==============  =====================  ====================================================
  1 or 2 relays   ``FF <relay> 03``      ``FF <relay> <00|01>`` (3 bytes, one relay)
  4 or 8 relays   ``FF 09 00``           one byte per relay, relay 1 first, ``00`` off or
                                         ``01`` on (4 or 8 bytes, no header)
  ==============  =====================  ====================================================

  ``FF 00 00`` is *not* a documented status query on any of these boards; the vendor
  documents ``FF 09 00`` (relay "9" does not exist on a 4- or 8-relay board, which is what
  frees that address). The documentation does not say what a 1/2-relay board does with
  ``FF 09 00`` or a 4/8-relay board with ``FF <relay> 03``, so this driver never sends
  them.
- There is no version or identification command, and no framing beyond the 0xFF start
  byte, so a board is recognised by answering its status query with the right number of
  bytes. A 4-channel driver on an 8-relay board gets 8 bytes (a wrong reply length); an
  8-channel driver on a 4-relay board gets 4 (a truncated reply).

The pure core (`encode`, `reply_length`, `parse_reply`, `frame_text`) builds frames and
checks replies without any I/O. `KmtronicBoard` is the driver: it opens the port with
`serial.serial_for_url`, so the same code drives a local board, a remote one behind
ser2net (``rfc2217://``) and the simulator in `hil.sim.kmtronic`.
"""

from __future__ import annotations

import logging
import time

import serial

from hil.power.relay import RelayError, _article, channel_check

# The Numato module owns the port-level rules every serial driver shares: which URLs take
# an exclusive lock, which exceptions mean "the port went away", how to word an OS error.
from hil.power.serialport import PORT_ERRORS, SerialRelayBoard

KIND = "kmtronic"
BAUDRATE = 9600
START = 0xFF
OFF, ON, QUERY = 0x00, 0x01, 0x03
STATUS_ALL = bytes((START, 0x09, 0x00))
SIZES = (1, 2, 4, 8)
COMMANDS = ("on", "off", "status")
# At open, how long to wait after a full status reply for surplus bytes (a bigger board
# than configured); longer than the FTDI chip's default 16 ms latency timer.
OPEN_SETTLE = 0.02
_SHOWN = 24  # reply bytes quoted in an error message

log = logging.getLogger("hil.power")


def check_channel_count(board_desc: str, channels: object) -> int:
    """Return `channels` if KMTronic makes a USB board that size (1, 2, 4, 8), else raise."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels not in SIZES:
        raise RelayError(f"{board_desc}: {channels!r} channels is not a KMTronic USB relay "
                         f"board (they have 1, 2, 4 or 8 relays)")
    return channels


def reads_all(channels: int) -> bool:
    """True when a `channels`-channel board answers one status query for all its relays."""
    return channels >= 4


def frame_text(frame: bytes) -> str:
    """How messages quote bytes: upper-case hex pairs, e.g. 'FF 09 00'; long data is cut."""
    text = frame[:_SHOWN].hex(" ").upper()
    if len(frame) > _SHOWN:
        text += f" ... ({len(frame)} bytes)"
    return text


def encode(command: str, channel: int | None, channels: int) -> bytes:
    """The frame to send for one command on a `channels`-channel board.

    `command` is one of COMMANDS. ``on``/``off`` need a channel (0-based): channel 0 on
    gives ``FF 01 01``. ``status`` gives ``FF <relay> 03`` on a 1/2-channel board (a
    channel is then required) and ``FF 09 00`` on a 4/8-channel board (the channel may be
    given, and is then checked, or None: the query is the same for every relay).
    Raises RelayError for a board size or channel the board does not have, ValueError for
    a command this module does not know or a missing channel.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown kmtronic command {command!r} (known: {', '.join(COMMANDS)})")
    check_channel_count(f"{KIND} board", channels)
    if channel is None:
        if command == "status" and reads_all(channels):
            return STATUS_ALL
        raise ValueError(f"kmtronic command {command!r} needs a channel on a "
                         f"{channels}-channel board")
    channel_check(f"{KIND} board", channels, channel)
    if command == "status":
        return STATUS_ALL if reads_all(channels) else bytes((START, channel + 1, QUERY))
    return bytes((START, channel + 1, ON if command == "on" else OFF))


def _classify(sent: bytes, channels: int) -> tuple[str, int]:
    """('switch' | 'relay' | 'all', 1-based relay or 0) for a frame `encode` can build."""
    check_channel_count(f"{KIND} board", channels)
    if sent == STATUS_ALL and reads_all(channels):
        return "all", 0
    if len(sent) == 3 and sent[0] == START and 1 <= sent[1] <= channels:
        if sent[2] in (OFF, ON):
            return "switch", sent[1]
        if sent[2] == QUERY and not reads_all(channels):
            return "relay", sent[1]
    raise ValueError(f"{frame_text(sent)!r} is not a command for {_article(channels)} "
                     f"{channels}-channel kmtronic board")


def reply_length(sent: bytes, channels: int) -> int:
    """How many bytes a `channels`-channel board answers to the frame `sent` (0: none)."""
    kind, _ = _classify(sent, channels)
    return {"switch": 0, "relay": 3, "all": channels}[kind]


def _expected(sent: bytes, channels: int) -> str:
    """What a good reply to `sent` is, in words for error messages."""
    kind, relay = _classify(sent, channels)
    if kind == "switch":
        return "no reply"
    if kind == "relay":
        return f"3 bytes: FF {relay:02X} then 00 or 01"
    return f"{channels} bytes, one per relay from relay 1, each 00 or 01"


def _bad_byte(kind: str, relay: int, raw: bytes) -> str | None:
    """Where `raw` first departs from a good reply, in words; None if it does not."""
    for i, b in enumerate(raw):
        if kind == "relay" and i == 0:
            good, want = b == START, "FF"
        elif kind == "relay" and i == 1:
            good, want = b == relay, f"{relay:02X}"
        else:
            good, want = b in (OFF, ON), "00 or 01"
        if not good:
            return f"byte {i + 1} is {b:02X}, not {want}"
    return None


def parse_reply(sent: bytes, raw: bytes, channels: int) -> dict[int, bool]:
    """The relay states in the board's reply `raw` to the frame `sent`.

    Returns {channel: closed} with 0-based channels: one entry for a 1/2-channel board's
    ``FF <relay> 03``, every channel for ``FF 09 00``, none for an on/off frame (which
    must get no reply). Raises RelayError, naming the command and what was expected, when
    `raw` is empty, garbled (a byte other than 00/01 where a state belongs, or a bad
    ``FF <relay>`` header), truncated (a good start, too short) or of the wrong length
    (too long). Raises ValueError if `sent` is not a frame for this board size.
    """
    kind, relay = _classify(sent, channels)
    cmd = frame_text(sent)
    expected = _expected(sent, channels)
    n = reply_length(sent, channels)
    if kind == "switch":
        if raw:
            raise RelayError(f"unexpected reply to {cmd!r}: {frame_text(raw)} "
                             f"(expected {expected})")
        return {}
    if not raw:
        raise RelayError(f"no reply to {cmd!r} (expected {expected})")
    bad = _bad_byte(kind, relay, raw[:n])
    if bad is not None:
        raise RelayError(f"garbled reply to {cmd!r}: {frame_text(raw)} ({bad}; "
                         f"expected {expected})")
    if len(raw) < n:
        raise RelayError(f"truncated reply to {cmd!r}: {frame_text(raw)} ({len(raw)} of "
                         f"{n} bytes; expected {expected})")
    if len(raw) > n:
        raise RelayError(f"wrong reply length to {cmd!r}: {len(raw)} bytes "
                         f"{frame_text(raw)} (expected {expected}; is this really "
                         f"{_article(channels)} {channels}-channel board?)")
    if kind == "relay":
        return {relay - 1: raw[2] == ON}
    return {channel: b == ON for channel, b in enumerate(raw)}


class KmtronicBoard(SerialRelayBoard):
    """A KMTronic USB relay board with 1, 2, 4 or 8 relays, opened and checked.

    `url` is anything `serial.serial_for_url` opens: a device path (locked exclusively,
    so a second job on the same board fails at open), ``rfc2217://host:port``,
    ``socket://host:port``. `channels` is the board's size. `timeout` bounds each status
    reply, in seconds.

    Opening discards whatever is buffered and reads the relay states once, which proves a
    board of that size answers: a reply longer than this size's is an error (opening waits
    OPEN_SETTLE for surplus bytes; later exchanges only count what has already arrived, and
    log a warning if stray bytes turn up before a query). `set` sends the switch frame and
    reads the state back; `get` and `states` read the board (one query for all relays on
    a 4/8-relay board).
    After any failed exchange the next one first discards stale input. Every failure,
    including an unplugged board or a vanished port, is a RelayError naming the URL, the
    frame sent and what was expected versus received.
    """

    kind = KIND
    baudrate = BAUDRATE

    def __init__(self, url: str, channels: int, timeout: float = 0.5):
        self.url = url
        self.channels = check_channel_count(f"{KIND} board at {url}", channels)
        self.timeout = timeout
        self._open_port(recover_first=True)
        try:
            self._states(settle=OPEN_SETTLE)
        except RelayError as e:
            self.close()
            raise RelayError(f"{e}; opening failed: is {_article(channels)} {channels}-channel "
                             f"KMTronic board powered and at this URL?") from None
        except BaseException:
            self.close()
            raise

    # -- port handling ---------------------------------------------------------------

    def _drain(self, port: serial.SerialBase) -> None:
        """Discard input until the line is quiet for 20 ms (at most `timeout`)."""
        deadline = time.monotonic() + self.timeout
        port.reset_input_buffer()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            if not port.in_waiting:
                break
            port.reset_input_buffer()
        self._needs_recovery = False

    def _exchange(self, sent: bytes, settle: float = 0.0) -> dict[int, bool]:
        """Send one frame; return the states in its reply (see parse_reply).

        After a full-length reply, bytes already received (or arriving within `settle`
        seconds) are added to it, so a longer reply is a wrong length, not silently cut.
        """
        cmd = frame_text(sent)
        n = reply_length(sent, self.channels)
        with self._lock:
            port = self._require_port()
            try:
                if self._needs_recovery:
                    self._drain(port)
                if n:
                    stale = port.in_waiting
                    port.reset_input_buffer()
                    if stale:
                        log.warning("%s: discarded %d unexpected byte(s) before %r (a reply "
                                    "longer than expected? check the board's channel count)",
                                    self.description, stale, cmd)
                port.write(sent)
                if not n:
                    return {}
                raw = port.read(n)
                if len(raw) == n:  # a longer reply means the wrong board (size)
                    if settle:
                        time.sleep(settle)
                    extra = port.in_waiting
                    if extra:
                        raw += port.read(extra)
            except PORT_ERRORS as e:
                raise self._port_failed(repr(cmd), e) from e
            if not raw:
                self._needs_recovery = True
                raise RelayError(f"{self.description}: no reply to {cmd!r} within "
                                 f"{self.timeout} s (expected {_expected(sent, self.channels)})")
            try:
                return parse_reply(sent, raw, self.channels)
            except RelayError as e:
                self._needs_recovery = True
                late = f"; nothing more within {self.timeout} s" if len(raw) < n else ""
                raise RelayError(f"{self.description}: {e}{late}") from None

    # -- the RelayBoard capability ---------------------------------------------------

    def set(self, channel: int, closed: bool) -> None:
        """Switch `channel` on (closed) or off, then read it back (see RelayBoard.set)."""
        channel_check(self.description, self.channels, channel)
        frame = encode("on" if closed else "off", channel, self.channels)
        with self._lock:
            self._exchange(frame)
            got = self._exchange(encode("status", channel, self.channels))[channel]
        if got != closed:
            def word(on: bool) -> str:
                return "on" if on else "off"
            raise RelayError(f"{self.description}: channel {channel} (relay {channel + 1}) "
                             f"reads back {word(got)} after {frame_text(frame)!r} (expected "
                             f"{word(closed)}); the relay may be stuck or the board faulty")

    def get(self, channel: int) -> bool:
        """True when the board reports `channel` on (closed)."""
        channel_check(self.description, self.channels, channel)
        return self._exchange(encode("status", channel, self.channels))[channel]

    def states(self) -> list[bool]:
        """Every channel's state, channel 0 first: one query on a 4/8-relay board."""
        return self._states()

    def _states(self, settle: float = 0.0) -> list[bool]:
        if reads_all(self.channels):
            got = self._exchange(STATUS_ALL, settle)
            return [got[channel] for channel in range(self.channels)]
        with self._lock:
            return [self._exchange(encode("status", channel, self.channels), settle)[channel]
                    for channel in range(self.channels)]

