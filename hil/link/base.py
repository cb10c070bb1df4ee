"""The aircraft link: what the harness can learn from, and ask of, an aircraft.

A link is chosen per aircraft by the bench file's `link` (see `hil.link.LINKS`). Each
backend declares what it can do, as `capabilities`; a claim that needs one the bench's link
lacks is skipped, or judged on the part it can see, and says so (never a pass on evidence
that was not gathered). The capabilities, in the lab's words:

- ON: tells whether the aircraft (and its controller) is on (`listen`);
- FIRMWARE: reads the aircraft's firmware version (`firmware_version`);
- LOGS: lists the aircraft's onboard flight logs (`log_list`);
- MEDIA: takes photos and video (`take_photo`, `video`);
- STORAGE: reports the storage used on the aircraft (`storage_used`), so a photo's size.

Every link can `wait_ready` (it may only wait out the boot window, and then says so) and
`close`. Asking a link for what it cannot do raises `Unsupported`, naming the link and the
capability.
"""

from __future__ import annotations

import threading
from typing import ClassVar

ON = "tells whether the aircraft is on"
FIRMWARE = "reads the firmware version"
LOGS = "lists onboard logs"
MEDIA = "takes photos and video"
STORAGE = "reports storage used"
ALL = frozenset({ON, FIRMWARE, LOGS, MEDIA, STORAGE})


class LinkError(Exception):
    """An aircraft link could not be opened, or the aircraft did not answer in time."""


class Unsupported(LinkError):
    """The link cannot do what was asked of it (a capability it does not declare)."""


class AircraftLink:
    """One aircraft as the harness reaches it. Subclasses set `kind` and `capabilities`."""

    kind: ClassVar[str] = "?"
    capabilities: ClassVar[frozenset[str]] = frozenset()
    name: str = "aircraft"

    def __str__(self) -> str:
        return f"the aircraft link `{self.kind}`"

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    def wait_ready(self, timeout: float, progress_every: float = 1.0,
                   stop: threading.Event | None = None) -> None:
        raise NotImplementedError

    def firmware_version(self) -> str | None:
        raise self._unsupported(FIRMWARE)

    def listen(self, seconds: float) -> set[str]:
        """Who is on now, a subset of {"aircraft", "controller"}; LinkError where the link
        cannot tell at this moment."""
        raise self._unsupported(ON)

    def log_list(self) -> list[dict]:
        raise self._unsupported(LOGS)

    def take_photo(self) -> tuple[int, str]:
        raise self._unsupported(MEDIA)

    def video(self, start: bool) -> None:
        raise self._unsupported(MEDIA)

    def storage_used(self) -> float:
        raise self._unsupported(STORAGE)

    def close(self) -> None:  # noqa: B027 - nothing to close by default
        pass

    def _unsupported(self, capability: str) -> Unsupported:
        return Unsupported(f"{self.name}: {self} lacks a capability: {capability}")
