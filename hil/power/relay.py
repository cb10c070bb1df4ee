"""What every relay board driver provides, whatever its protocol.

A relay board is a row of channels numbered from 0. A channel is either *closed* (relay
energised, its normally-open contact closed: power flows, or a power button is held) or
*open*. Each protocol module (`hil.power.numato`, ...) subclasses `RelayBoard`; the rest of
the harness (power sequences, bench reconciliation, fixtures) only uses what is here.

Every failure a board can have in the lab (a channel the board does not have, a port that
cannot be opened, a board that answers nothing or garbage, a relay that does not follow
its command, a board unplugged mid-run) is raised as `RelayError`, with a message that
names the board kind, its URL and what was expected.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class RelayError(Exception):
    """A relay board failed or was asked for something it cannot do.

    The message names the board ("numato board at /dev/ttyACM0"), what was sent and what
    was expected versus received, so a technician can act on it without a debugger.
    """


def _article(n: int) -> str:
    """'a' or 'an' before the spoken number `n` ("an 8-channel", "a 16-channel")."""
    return "an" if str(n).startswith("8") or n in (11, 18) else "a"


def channel_check(board_desc: str, channels: int, channel: object) -> int:
    """Return `channel` if it is a channel of a `channels`-channel board, else raise.

    Channels are numbered 0 to channels-1. `board_desc` says which board, e.g.
    "numato board at /dev/pts/5"; the RelayError reads like
    "numato board at /dev/pts/5: channel 9 does not exist on an 8-channel board
    (channels 0-7)". A bool or a non-integer channel is refused too.
    """
    if isinstance(channel, bool) or not isinstance(channel, int):
        raise RelayError(f"{board_desc}: channel {channel!r} is not an integer "
                         f"(channels are numbered 0-{channels - 1})")
    if not 0 <= channel < channels:
        raise RelayError(f"{board_desc}: channel {channel} does not exist on "
                         f"{_article(channels)} {channels}-channel board "
                         f"(channels 0-{channels - 1})")
    return channel


class RelayBoard(ABC):
    """One relay board, opened and ready: the capability every driver provides.

    Attributes:
        kind: the driver's name as written in bench files ("numato", "lcus", ...).
        url: what the port was opened with (a device path, rfc2217://, socket://, ...).
        channels: how many channels the board has; valid channels are 0 to channels-1.

    A board is a context manager: leaving the `with` block closes the port (it does not
    change any relay: what is safe to leave on is the power sequence's business).
    A board is safe to share between threads of one process: each command/reply exchange
    is atomic.
    """

    kind: str = "relay"
    url: str
    channels: int

    @property
    def description(self) -> str:
        """How messages name this board: "<kind> board at <url>"."""
        return f"{self.kind} board at {self.url}"

    @abstractmethod
    def set(self, channel: int, closed: bool) -> None:
        """Close (`closed=True`) or open one channel, then read it back.

        Returns only once the board reports the channel in the requested state; raises
        RelayError if it reads back a different state (a stuck relay), if the channel
        does not exist, or if the board fails to answer.
        """

    @abstractmethod
    def get(self, channel: int) -> bool:
        """The channel's state as the board reports it: True when closed."""

    @abstractmethod
    def close(self) -> None:
        """Release the port. Idempotent; relays keep their state. Later calls raise."""

    def states(self) -> list[bool]:
        """Every channel's state as the board reports it, channel 0 first."""
        return [self.get(channel) for channel in range(self.channels)]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}, {self.channels} channels>"
