"""The one error the capture reader raises for a file it cannot read to the end."""

from __future__ import annotations

from typing import Any


class CaptureError(ValueError):
    """A capture file is truncated, corrupt or not a capture at all.

    The message names the file, the byte offset and, once packets have started, the packet
    number (1-based, as Wireshark counts), e.g.
    ``capture /x/y.pcap: truncated packet record at byte 1234 (packet 17): header says
    1514 bytes, 600 remain``.

    ``path``, ``offset`` and ``packet`` repeat those facts for programs. ``partial`` is
    ``None`` when raised by the reader; :func:`hil.capture.analyze.analyze` sets it to the
    :class:`~hil.capture.analyze.Analysis` of every packet read before the error, so a
    report can still show what the capture did contain.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        offset: int | None = None,
        packet: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset
        self.packet = packet
        self.partial: Any = None
