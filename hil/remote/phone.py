"""The phone running the DJI app: its settings, and launching or closing the app.

`App` is the capability claim tests use; backends implement it, one module each, named
in `hil.remote.backends`. Today:

- `agent` (`hil.remote.agent`): the control agent the simulated phones run (`hil-app`),
  reached over SSH like a real host.

A backend declares what it can do (`capabilities`, the constants below); a claim that needs
what neither the aircraft link nor the app can do is skipped with the reason.

- `adb` (`hil.remote.adb`): GO 4 on an Android phone through the adb server, driven by UI
  recipes (`hil.remote.recipe`).

- `operator` (`hil.remote.operator`): a person at the bench does each step and answers
  prompts on the terminal; any backend can hand single steps to the person (`by_hand`).

A backend whose steps a person answers hands each answer (`hil.remote.operator.Answer`)
to the listener set with `on_answer`, for the evidence.

Settings are named in the lab's words: `diagnostics` (GO 4's "send diagnostic data"),
`local_data_mode`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

SHOWS_AIRCRAFT = "shows whether the aircraft is connected"
SHOWS_FIRMWARE = "shows the aircraft's firmware"
RECORDS = "lists the app's flight records"
MEDIA = "takes photos and video"

SETTINGS = ("diagnostics", "local_data_mode")


class AppError(Exception):
    """The app did not take a setting or an action."""


class AppCannot(AppError):
    """This phone's backend cannot do a step at all (no UI recipe for the app's version, a
    recipe entry that is only a placeholder): the claims that need it are skipped with
    this reason, never judged."""


class App(ABC):
    name: str
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    @abstractmethod
    def version(self) -> str | None:
        """The app's version as the phone reports it (e.g. "4.3.36"); None when the
        backend cannot tell. Never a guess: the evidence records what this returns."""

    @abstractmethod
    def settings(self) -> dict[str, bool]: ...

    @abstractmethod
    def set(self, setting: str, on: bool) -> None: ...

    @abstractmethod
    def launch(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def running(self) -> bool: ...

    @abstractmethod
    def records(self) -> list[dict]:
        """The app's flight-record store: [{id, time, size, synced}]."""

    @abstractmethod
    def sync(self) -> None:
        """Press "sync" (upload the flight records)."""

    @abstractmethod
    def share(self, media_index: int) -> None:
        """Share one photo or video from the aircraft's card (uploads it)."""

    def linked(self) -> bool | None:
        """Whether the app shows its aircraft connected; None when the backend cannot
        tell (the harness then relies on the aircraft link alone)."""
        return None

    def firmware(self) -> str | None:
        """The aircraft's firmware version as the app shows it; None when it shows none
        (closed, no aircraft connected) or the backend cannot tell."""
        return None

    def take_photo(self) -> dict:
        """Take a photo with the aircraft's camera from the app: {index, file, size}, size
        None when the backend cannot measure it."""
        raise AppError(f"phone {self.name}: this app backend cannot take photos")

    def video(self, start: bool) -> dict | None:
        """Start or stop a video; stopping returns {index, file, size} like take_photo."""
        raise AppError(f"phone {self.name}: this app backend cannot take videos")

    def on_answer(self, fn) -> None:  # noqa: B027 - only a backend with a person answers
        """Call `fn(answer)` for every answer a person gives this app's prompts (None: stop)."""

    def disconnect(self) -> None:  # noqa: B027 - optional for backends without a connection
        """Release the backend's connection (the app keeps its state)."""
