"""LC Technology "LCUS" USB relay modules (LCUS-1/2/4/8, CH340 USB serial port).

The protocol, as the board speaks it on its serial port (9600 8N1):

- Switching a relay is one 4-byte frame ``A0 <ch> <state> <sum>``: ``ch`` is the relay
  numbered from 1 (the harness's channel 0 is the board's relay 1), ``state`` is ``00``
  (off: contact open) or ``01`` (on: contact closed) and ``sum = (0xA0 + ch + state) &
  0xFF``. Relay 1 on is ``A0 01 01 A2``, off ``A0 01 00 A1``; relay 8 on is ``A0 08 01
  A9``. The board sends **nothing back** for a frame, good or bad: a frame whose sum is
  wrong is ignored, so the only way to know a frame took effect is to ask for the status.
- The status query is the single byte ``FF``. Firmware that supports it answers one ASCII
  line per relay, relay 1 first, e.g. on a 2-relay board ``b"CH1: ON \\r\\nCH2: OFF\\r\\n"``
  (the state padded to three characters, so every line has the same length). Firmware
  that does not support it answers nothing at all, and there is no other read command.

What is known of real boards, and where from (public drivers and threads, read for facts):

- Frame layout, checksum and 9600 baud: the vendor's "LC USB switch communication protocol"
  text reproduced on every seller page (e.g. optimusdigital.ro "USB 5V 10A Relay Module";
  the NOYITO 8-channel listing adds "Relay ON/OFF status query command: 0xFF").
- Status text ``CHn: ON `` / ``CHn: OFF`` with CR LF: bmrzycki/lcus_relay (lcus_relay.py,
  tested on an LCUS_X2 2-relay board, following the LCUS-4 manual). It also reports that
  a status read right after a switch was often stale, so it read twice; this driver reads
  once more after a short settle before it calls a read-back a mismatch. Pebble94464/
  lcus-usb-relay-module-controller reads one line per relay from an "EC Buying" LCUS-4;
  stegno/lcus_relayboard16 parses ``CH(\\d+):\\s+(ON|OFF)`` from a 16-relay board.
- Boards that do not answer: the same Pebble94464 project found that a "SAMIROB" 2-relay
  board has no ``FF`` query (that firmware has per-relay check frames instead, which this
  driver does not use: such a board runs here with tracked state); a public LCUS CLI
  (LCUS_relay.py) notes for ``FF`` "device-dependent response; many boards return
  nothing"; the usbrelay maintainer (darrylb123/usbrelay issue #121) says the state of
  its "LCUS" module type cannot be queried (an HID variant: weak evidence for the serial
  boards). One C# driver (chrisuthe/Multi-SendSpin-Player-Container PR #169) claims ``FF``
  returns one binary byte per relay; it was not tested on hardware and no other source
  agrees, so such a reply is treated as garbage here.
- Framing: nothing documents how the board finds the start of a frame; this driver
  assumes it counts 4 bytes from ``A0`` (as the simulator does), so a half frame left by
  a crashed job would swallow the next command. A public Arduino driver (CryptoGarage
  LCTechRelay) pads every frame with ``00`` bytes, an unexplained workaround, and host
  scripts append CR LF to frames without harm. This driver sends three ``00`` bytes when
  it opens the port and after any failed exchange: they complete a half frame into one
  whose sum is wrong (so it is ignored), and outside a frame they are ignored.

Two ways to know a relay's state, chosen per board (`LcusBoard.reads_back`):

- **read back** (the board answers ``FF``): every `set` sends the frame, then the query,
  and raises RelayError unless the board reports the relay as commanded; `get` asks the
  board.
- **tracked, not read** (the board answers nothing): `set` sends the frame and cannot
  check it: a stuck relay, a frame lost on the wire or a board that died silently go
  unnoticed. `get` returns what this driver last commanded, and all relays are assumed
  open (off) when the port is opened. Whoever opens such a board must make that true by
  switching every channel off (``set(ch, False)``) before relying on `get`: the bench's
  relay fixture is to do so at the start of a run for every board whose `reads_back` is
  False, since a run cannot read what a crashed one left closed.

The pure core (`encode_set`, `describe_frame`, `parse_status`) builds frames and checks
status replies without any I/O. `LcusBoard` is the driver: it opens the port with
`serial.serial_for_url`, so the same code drives a local board (locked exclusively), a
remote one behind ser2net (``rfc2217://``) and the simulator in `hil.sim.lcus`.
"""

from __future__ import annotations

import logging
import re
import time

import serial

from hil.power.relay import RelayError, channel_check
from hil.power.serialport import PORT_ERRORS, SerialRelayBoard

log = logging.getLogger(__name__)

KIND = "lcus"
BAUDRATE = 9600
START = 0xA0
STATUS_QUERY = b"\xff"
RESYNC_PAD = b"\x00\x00\x00"  # completes any half frame into one with a wrong sum
MAX_CHANNELS = 16  # LCUS-1/2/4/8; 16-relay boards with the same frames exist
SETTLE = 0.1  # s before the second read-back of a relay that did not follow (stale status)
QUIET = 0.02  # s of silence that ends the reply to a resync pad or to the status query at open

_LINE = re.compile(r"CH(\d+):\s*(ON|OFF)\s*", re.IGNORECASE)
_LINE_END = re.compile(r"\r\n|\r|\n")


def check_channel_count(board_desc: str, channels: object) -> int:
    """Return `channels` if an LCUS board can have that many relays, else RelayError."""
    if isinstance(channels, bool) or not isinstance(channels, int) \
            or not 1 <= channels <= MAX_CHANNELS:
        raise RelayError(f"{board_desc}: {channels!r} channels is not a board this driver can "
                         f"address (1 to {MAX_CHANNELS} channels; LCUS boards have 1, 2, 4 "
                         f"or 8)")
    return channels


def checksum(relay: int, state: int) -> int:
    """The frame's last byte: (0xA0 + relay + state) & 0xFF, relay numbered from 1."""
    return (START + relay + state) & 0xFF


def encode_set(channel: int, closed: bool, channels: int) -> bytes:
    """The 4-byte frame that switches `channel` (0-based) of a `channels`-relay board.

    Channel 0 closed gives ``b"\\xa0\\x01\\x01\\xa2"``. Raises RelayError for a channel the
    board does not have or a board size the driver cannot address.
    """
    check_channel_count(f"{KIND} board", channels)
    channel_check(f"{KIND} board", channels, channel)
    relay, state = channel + 1, 1 if closed else 0
    return bytes((START, relay, state, checksum(relay, state)))


def _hex(data: bytes) -> str:
    return " ".join(f"{b:02X}" for b in data)


def describe_frame(frame: bytes) -> str:
    """How messages quote a sent frame: "'A0 03 01 A4' (channel 2 on)", "'FF' (status query)".

    Channels are named the harness's way (0-based); a frame that is not a well-formed set
    frame is quoted in hex only.
    """
    if frame == STATUS_QUERY:
        return "'FF' (status query)"
    if len(frame) == 4 and frame[0] == START and frame[2] in (0, 1) and frame[1] >= 1 \
            and frame[3] == checksum(frame[1], frame[2]):
        return f"'{_hex(frame)}' (channel {frame[1] - 1} {'on' if frame[2] else 'off'})"
    return f"'{_hex(frame)}'"


def expected_status(channels: int) -> str:
    """What a good status reply holds, in words for error messages."""
    return f"{channels} lines 'CHn: ON' or 'CHn: OFF', n = 1-{channels}"


def _line_candidates(channels: int) -> list[str]:
    return [form.format(n) for n in range(1, channels + 1)
            for form in ("CH{}: ON ", "CH{}: OFF", "CH{}:ON", "CH{}:OFF")]


def _looks_truncated(lines: list[str], partial: str, channels: int) -> bool:
    """True when the reply is a good start cut off: good lines, then a prefix of one."""
    if not partial or any(_LINE.fullmatch(line) is None for line in lines):
        return False
    return any(c.upper().startswith(partial.upper()) for c in _line_candidates(channels))


def parse_status(raw: bytes, channels: int) -> list[bool]:
    """The relay states in the board's reply `raw` to the status query: channel 0 first.

    `raw` is everything the board sent after ``FF``: one line ``CHn: ON`` or ``CHn: OFF``
    per relay (n from 1), each ended by CR LF (any mix of CR and LF is accepted, as are a
    missing or extra blank around the state and lowercase). Every relay 1 to `channels`
    must appear exactly once; the order does not matter.

    Raises RelayError, naming the query and what was expected, when `raw` is empty,
    truncated (good lines then a line cut short), garbled (not ASCII text, a line that is
    not a status line, a relay listed twice, relays not numbered 1 to n without a gap), or
    lists another number of relays than `channels` (the board is not the size the bench
    file says).
    """
    expected = expected_status(channels)
    query = describe_frame(STATUS_QUERY)

    def garbled(what: str = "garbled status reply") -> RelayError:
        return RelayError(f"{what} to {query}: {raw!r} (expected {expected})")

    if not raw:
        raise RelayError(f"no reply to {query} (expected {expected})")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise garbled() from None
    if any(not (ch.isprintable() or ch in "\r\n") for ch in text):
        raise garbled()
    *lines, partial = _LINE_END.split(text)
    lines = [line for line in lines if line.strip()]
    if partial:
        if _looks_truncated(lines, partial, channels):
            raise garbled("truncated status reply")
        raise garbled()
    states: dict[int, bool] = {}
    for line in lines:
        m = _LINE.fullmatch(line)
        if m is None:
            raise garbled()
        relay = int(m.group(1))
        if relay in states or relay < 1:
            raise garbled()
        states[relay] = m.group(2).upper() == "ON"
    if sorted(states) != list(range(1, len(states) + 1)):
        raise garbled()
    if len(states) != channels:
        listed = f"CH1-CH{len(states)}" if len(states) > 1 else "CH1"
        raise RelayError(f"status reply to {query} lists {len(states)} "
                         f"relay{'s' if len(states) > 1 else ''} ({listed}), expected "
                         f"{channels}: the board is not the size the bench file says "
                         f"(relay.channels)")
    return [states[relay] for relay in range(1, channels + 1)]


def _word(closed: bool) -> str:
    return "'ON'" if closed else "'OFF'"


class LcusBoard(SerialRelayBoard):
    """An LCUS USB relay board, opened, resynchronised and probed.

    `url` is anything `serial.serial_for_url` opens: a device path (locked exclusively, so
    a second job on the same board fails at open), ``rfc2217://host:port``,
    ``socket://host:port``. `channels` is the board's size (1 to 16). `timeout` bounds each
    wait for the board's status reply, in seconds. `status_query` says whether the board's
    firmware answers the ``FF`` status query: True (required: opening fails unless a good
    status arrives), False (never asked: state is tracked, not read) or None (probe at open:
    a board that stays silent is taken as one without the query; one that answers must
    answer a good status).

    Attributes:
        reads_back: True when `set` reads every relay back from the board and `get` asks
            the board; False when the state is tracked, not read (see the module
            docstring: `get` returns what was last commanded, all open assumed at open).
        status_query: the setting the board was opened with.

    Opening sends three ``00`` bytes (finishing any half frame a crashed job left on the
    board), discards whatever arrives, then probes or checks the status as `status_query`
    says; the status at open must list exactly `channels` relays. After a failed exchange
    the next one resyncs first. Every failure, including an unplugged board or a vanished
    port, is a RelayError naming the URL, the frame sent and what was expected.

    Caution for `status_query=None`: a board that is dead or not connected also answers
    nothing, and is then driven blind; a bench whose board is known to answer should say
    `status_query=True`.
    """

    kind = KIND
    baudrate = BAUDRATE

    def __init__(self, url: str, channels: int, timeout: float = 0.5,
                 status_query: bool | None = None):
        self.url = url
        self.channels = check_channel_count(f"{KIND} board at {url}", channels)
        if status_query is not None and not isinstance(status_query, bool):
            raise RelayError(f"{self.description}: status_query must be true, false or "
                             f"unset (probe), not {status_query!r}")
        self.timeout = timeout
        self.status_query = status_query
        self.reads_back = False
        self._tracked = [False] * self.channels
        self._open_port(recover_first=False)
        try:
            self._resync()
            self._start()
        except BaseException:
            self.close()
            raise

    # -- port handling ---------------------------------------------------------------

    def _drain(self, port: serial.SerialBase) -> bytes:
        """Read until the port has been quiet for QUIET s (at most `timeout`)."""
        got = b""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            time.sleep(QUIET)
            waiting = port.in_waiting
            if not waiting:
                break
            got += port.read(waiting)
        return got

    def _resync(self) -> None:
        """Send the pad that ends any half frame; drop what arrives. Noise is an error."""
        port = self._require_port()
        pad = f"'{_hex(RESYNC_PAD)}' (resync)"
        try:
            port.reset_input_buffer()
            port.write(RESYNC_PAD)
            got = self._drain(port)
        except PORT_ERRORS as e:
            raise self._port_failed(pad, e) from e
        if any(b not in b"\r\n" and not 0x20 <= b < 0x7F for b in got):
            # stale status text from an earlier query is fine; anything else is not
            self._needs_recovery = True
            raise RelayError(f"{self.description}: garbled reply to {pad}: {got!r} (expected "
                             f"nothing: an LCUS board answers only the status query); "
                             f"wrong board kind or baud rate?")
        self._needs_recovery = False

    def _query(self, count_check: bool = False) -> tuple[bytes, list[bool] | None]:
        """Send the status query; return the raw reply and the states (None if silent).

        Reads until `channels` lines have arrived or the board falls quiet for `timeout`;
        with `count_check`, waits QUIET s more so a board with more relays than
        `channels` shows its extra lines. Raises RelayError for a reply that is not a
        good status (but not for no reply: the caller decides what silence means).
        """
        query = describe_frame(STATUS_QUERY)
        with self._lock:
            port = self._require_port()
            if self._needs_recovery:
                self._resync()
            raw = b""
            try:
                port.reset_input_buffer()
                port.write(STATUS_QUERY)
                deadline = time.monotonic() + self.timeout
                while len(_LINE_END.findall(raw.decode("latin-1"))) < self.channels:
                    chunk = port.read_until(b"\n")
                    raw += chunk
                    if not chunk.endswith(b"\n") or time.monotonic() > deadline:
                        break
                if count_check and raw:
                    raw += self._drain(port)
            except PORT_ERRORS as e:
                raise self._port_failed(query, e) from e
            if not raw:
                self._needs_recovery = True
                return raw, None
            try:
                return raw, parse_status(raw, self.channels)
            except RelayError as e:
                self._needs_recovery = True
                late = "" if raw.endswith((b"\n", b"\r")) else \
                    f"; no line end within {self.timeout} s"
                raise RelayError(f"{self.description}: {e}{late}") from None

    def _status(self) -> list[bool]:
        """The board's status; silence is an error (the board reported status before)."""
        raw, states = self._query()
        if states is None:
            raise RelayError(f"{self.description}: no reply to "
                             f"{describe_frame(STATUS_QUERY)} within {self.timeout} s "
                             f"(expected {expected_status(self.channels)}); the board "
                             f"answered the status query before: is it hung or unplugged?")
        return states

    def _start(self) -> None:
        """Decide how state is known: probe or check the status query as configured."""
        if self.status_query is False:
            log.info("%s: status query off: relay state is tracked, not read",
                     self.description)
            return
        raw, states = self._query(count_check=True)
        if states is None:
            if self.status_query:
                raise RelayError(f"{self.description}: no reply to "
                                 f"{describe_frame(STATUS_QUERY)} within {self.timeout} s "
                                 f"(expected {expected_status(self.channels)}); the board "
                                 f"was opened with status_query=True: is it powered, at "
                                 f"this URL, and a firmware that answers the status query?")
            log.info("%s: no reply to the status query: relay state is tracked, not read "
                     "(all channels assumed open)", self.description)
            self._needs_recovery = False  # silence is this board's normal answer
            return
        self.reads_back = True
        self._tracked = list(states)

    # -- the RelayBoard capability ---------------------------------------------------

    def set(self, channel: int, closed: bool) -> None:
        """Switch `channel` on (closed) or off; read it back when the board can.

        With `reads_back`, raises RelayError unless the board then reports the relay as
        commanded (asked twice, SETTLE s apart, as status can be stale right after a
        switch). Without it, only a port failure can be detected: see the module docstring.
        """
        channel_check(self.description, self.channels, channel)
        frame = encode_set(channel, closed, self.channels)
        sent = describe_frame(frame)
        with self._lock:
            port = self._require_port()
            if self._needs_recovery:
                self._resync()
            try:
                port.write(frame)
                if not self.reads_back:
                    port.flush()  # the frame has left the host when set() returns
            except PORT_ERRORS as e:
                raise self._port_failed(sent, e) from e
            if not self.reads_back:
                self._tracked[channel] = closed
                return
            states = self._status()
            if states[channel] != closed:
                time.sleep(SETTLE)
                states = self._status()
            self._tracked = list(states)
        if states[channel] != closed:
            raise RelayError(f"{self.description}: channel {channel} reads back "
                             f"{_word(states[channel])} (CH{channel + 1}) after {sent} "
                             f"(expected {_word(closed)}); the relay may be stuck, the board "
                             f"faulty, or the frame corrupted on the way (the board ignores "
                             f"a frame whose checksum is wrong)")

    def get(self, channel: int) -> bool:
        """True when `channel` is on (closed): as the board reports it with `reads_back`,
        else as this driver last commanded it (tracked, not read; after a port failure
        the port is checked first, so a broken port raises instead)."""
        channel_check(self.description, self.channels, channel)
        return self.states()[channel]

    def states(self) -> list[bool]:
        """Every channel's state, channel 0 first, from one status query (or tracked)."""
        with self._lock:
            self._require_port()
            if not self.reads_back:
                if self._needs_recovery:  # the last exchange failed: is the port back?
                    self._resync()
                return list(self._tracked)
            self._tracked = self._status()
            return list(self._tracked)

    def describe(self) -> str:
        """One sentence for logs and reports: the board and how its state is known."""
        if self.reads_back:
            how = "state read back from the board's status reply after every switch"
        else:
            how = ("state tracked, not read: the board does not answer the status query, "
                   "so get() returns what this driver last commanded (all channels assumed "
                   "open at open) and a stuck relay goes unnoticed")
        return f"{self.description}, {self.channels} channels: {how}"

    def __repr__(self) -> str:
        how = "reads back" if self.reads_back else "tracked, not read"
        return f"<{type(self).__name__} {self.description}, {self.channels} channels, {how}>"
