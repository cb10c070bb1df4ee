"""The phone running the DJI app: its settings, and launching or closing the app.

`App` is the capability claim tests use; backends implement it. Today:

- `sim`: the simulated phone's control agent, reached over SSH like a real host. It
  answers `hil-app settings | set NAME on|off | launch | close | status | linked |
  firmware | records | sync | share N | photo | video start|stop`.

A backend declares what it can do (`capabilities`, the constants below); a claim that needs
what neither the aircraft link nor the app can do is skipped with the reason.

Planned: `operator` (asks the person at the bench) and `adb` (Android).

Settings are named in the lab's words: `diagnostics` (GO 4's "send diagnostic data"),
`local_data_mode`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from hil.remote.ssh import SshHost

SHOWS_AIRCRAFT = "shows whether the aircraft is connected"
SHOWS_FIRMWARE = "shows the aircraft's firmware"
RECORDS = "lists the app's flight records"
MEDIA = "takes photos and video"

SETTINGS = ("diagnostics", "local_data_mode")


class AppError(Exception):
    """The app did not take a setting or an action."""


class App(ABC):
    name: str
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

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

    def disconnect(self) -> None:  # noqa: B027 - optional for backends without a connection
        """Release the backend's connection (the app keeps its state)."""


class SimApp(App):
    """The app on a simulated phone, driven through its control agent over SSH."""

    capabilities = frozenset({SHOWS_AIRCRAFT, SHOWS_FIRMWARE, RECORDS, MEDIA})

    def __init__(self, name: str, ssh: SshHost):
        self.name = name
        self.ssh = ssh

    def _cmd(self, *args: str) -> str:
        return self.ssh.run(["hil-app", *args]).text

    def settings(self) -> dict[str, bool]:
        out = {}
        for line in self._cmd("settings").splitlines():
            key, _, value = line.partition("=")
            if value not in ("on", "off"):
                raise AppError(f"phone {self.name}: setting line {line!r} is not NAME=on|off")
            out[key.strip()] = value == "on"
        return out

    def set(self, setting: str, on: bool) -> None:
        if setting not in SETTINGS:
            raise AppError(f"phone {self.name}: unknown setting {setting!r}; "
                           f"known: {', '.join(SETTINGS)}")
        self._cmd("set", setting, "on" if on else "off")
        if self.settings().get(setting) is not on:
            raise AppError(f"phone {self.name}: setting {setting} did not take "
                           f"{'on' if on else 'off'}")

    def launch(self) -> None:
        self._cmd("launch")
        if not self.running():
            raise AppError(f"phone {self.name}: the app is not running after launch")

    def close(self) -> None:
        self._cmd("close")

    def running(self) -> bool:
        return self._cmd("status").strip() == "running"

    def linked(self) -> bool:
        return self._cmd("linked").strip() == "linked"

    def firmware(self) -> str | None:
        return self._cmd("firmware").strip() or None

    def take_photo(self) -> dict:
        return self._media(self._cmd("photo"))

    def video(self, start: bool) -> dict | None:
        out = self._cmd("video", "start" if start else "stop")
        return None if start else self._media(out)

    def _media(self, line: str) -> dict:
        try:
            f = dict(kv.split("=", 1) for kv in line.split())
            return {"index": int(f["index"]), "file": f["file"], "size": int(f["size"])}
        except (KeyError, ValueError):
            raise AppError(f"phone {self.name}: media line {line.strip()!r} is not "
                           "index=N file=PATH size=B") from None

    def records(self) -> list[dict]:
        out = []
        for line in self._cmd("records").splitlines():
            try:
                f = dict(kv.split("=", 1) for kv in line.split())
                out.append({"id": int(f["id"]), "time": float(f["time"]),
                            "size": int(f["size"]), "synced": f["synced"] == "yes"})
            except (KeyError, ValueError):
                raise AppError(f"phone {self.name}: record line {line!r} is not "
                               "id=N time=T size=B synced=yes|no") from None
        return out

    def sync(self) -> None:
        self._cmd("sync")

    def share(self, media_index: int) -> None:
        self._cmd("share", str(int(media_index)))

    def disconnect(self) -> None:
        self.ssh.close()
