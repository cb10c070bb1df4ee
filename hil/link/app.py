"""The aircraft seen only through the app (`link = "app"`): how a DJI lab sees it.

DJI aircraft speak DUML, not MAVLink; on a DJI bench the phone's app is the window on the
aircraft. This link can tell readiness (the app shows the aircraft connected) and the
firmware version (what the app shows), and nothing else: onboard logs, photos and storage
are out of its reach (the app backend may take photos itself: `hil.remote.phone.MEDIA`).

Bench file:  [aircraft.spark]  link = "app"

With the app closed (K8's "app closed" phase) nothing shows the aircraft: readiness is then
the boot window elapsing, logged as an assumption with the time waited, and whether the
aircraft is on cannot be told (LinkError from `listen`). The firmware last shown in this
run is kept for the sessions where the app is closed.
"""

from __future__ import annotations

import logging
import threading
import time

from hil.link.base import FIRMWARE, ON, AircraftLink, LinkError
from hil.link.none import wait_out
from hil.remote.phone import App

log = logging.getLogger("hil.link")


class AppLink(AircraftLink):
    kind = "app"
    capabilities = frozenset({ON, FIRMWARE})

    def __init__(self, app: App, name: str = "aircraft"):
        self.app, self.name = app, name
        self._firmware: str | None = None

    def __str__(self) -> str:
        return f"the aircraft link `app` (the app on {self.app.name})"

    def wait_ready(self, timeout: float, progress_every: float = 1.0,
                   stop: threading.Event | None = None) -> None:
        """Until the app shows the aircraft connected, within `timeout`; with the app
        closed, the boot window elapsing (an assumption, logged)."""
        if not self.app.running():
            wait_out(self.name, timeout, f"the app on {self.app.name} is closed, so nothing "
                                         "shows the aircraft", stop)
            return
        start = time.monotonic()
        next_progress = start + progress_every
        while not self.app.linked():
            now = time.monotonic()
            if stop is not None and stop.is_set():
                raise LinkError(f"{self.name}: stopped waiting for the app on {self.app.name} "
                                "to show the aircraft: the run is stopping")
            if now - start >= timeout:
                raise LinkError(f"{self.name}: the app on {self.app.name} did not show the "
                                f"aircraft connected within {timeout:.1f} s; check that the "
                                "controller and the aircraft are on and the phone is "
                                "plugged into the controller")
            if now >= next_progress:
                log.info("%s: waiting for the app on %s to show the aircraft, %.1f s of "
                         "%.1f s", self.name, self.app.name, now - start, timeout)
                next_progress += progress_every
            time.sleep(0.05)
        log.info("%s: the app on %s shows the aircraft connected after %.1f s", self.name,
                 self.app.name, time.monotonic() - start)

    def firmware_version(self) -> str | None:
        shown = self.app.firmware() if self.app.running() else None
        self._firmware = shown or self._firmware
        return self._firmware

    def listen(self, seconds: float) -> set[str]:
        if not self.app.running():
            raise LinkError(f"the app on {self.app.name} is closed: it shows nothing")
        return {"aircraft", "controller"} if self.app.linked() else set()
