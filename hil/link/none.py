"""No aircraft link (`link = "none"`): nothing tells the harness about the aircraft.

Readiness is the boot window elapsing, logged as an assumption with the time waited; the
firmware version is the one the bench file declares (`firmware = "01.00.0900"`), never
read. Whether the aircraft is on cannot be told (the power record, or the app where it
shows the aircraft, decides; `hil.power.state`).

Bench file:  [aircraft.spark]  link = "none"   firmware = "01.00.0900"  # optional
"""

from __future__ import annotations

import logging
import threading
import time

from hil.link.base import AircraftLink, LinkError

log = logging.getLogger("hil.link")


def wait_out(name: str, seconds: float, why: str, stop: threading.Event | None) -> None:
    """Wait `seconds` (the boot window) as the stand-in for readiness, saying so."""
    log.info("%s: %s; assuming the aircraft is up after the boot window of %.1f s", name, why,
             seconds)
    if (stop.wait(seconds) if stop is not None else time.sleep(seconds)):
        raise LinkError(f"{name}: stopped waiting out the boot window: the run is stopping")
    log.info("%s: waited %.1f s: assumed up (an assumption: nothing read it)", name, seconds)


class NoLink(AircraftLink):
    kind = "none"
    capabilities = frozenset()

    def __init__(self, name: str = "aircraft", firmware: str | None = None):
        self.name, self.declared_firmware = name, firmware

    def wait_ready(self, timeout: float, progress_every: float = 1.0,
                   stop: threading.Event | None = None) -> None:
        wait_out(self.name, timeout, "its link is `none`", stop)

    def firmware_version(self) -> str | None:
        """The bench file's `firmware`, declared by a person; None when it gives none."""
        return self.declared_firmware
