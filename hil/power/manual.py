"""Power actions a technician runs by hand: `hil power on|off|cycle|status|mark TARGET`.

TARGET is an aircraft name from the bench file (its aircraft), `NAME.controller` (its
remote controller), or `all`. Powering on goes controller first, then aircraft; off goes
aircraft first. A `switch` channel's state is the device's power. A `button` device's
state cannot be read from the relay: it is read from the aircraft link (an aircraft
heartbeat means both are on, a controller heartbeat alone means the controller is on),
else taken from the bench's power record, as the claim runs do (`hil.power.state`). A
button pattern is pressed only when the device is known not to be in the wanted state
already, since pressing it again would toggle it back; every press is recorded. `mark`
records what a person checked at the bench ("spark.controller is off"), for a device
whose state nothing else can tell.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hil.bench import Bench, PowerConfig
from hil.link import AircraftLink, LinkError, open_link
from hil.power.record import PowerRecord
from hil.power.relay import RelayBoard
from hil.power.sequence import PowerSequence
from hil.power.state import Known, StateUnknown, decide, from_heard, mark_hint
from hil.remote.backends import open_app

log = logging.getLogger("hil.power")


class TargetError(ValueError):
    """A TARGET the bench file does not have."""


@dataclass(frozen=True)
class Device:
    aircraft: str
    role: str  # "aircraft" | "controller"
    power: PowerConfig

    @property
    def label(self) -> str:
        return f"{self.aircraft} {self.role}"


def devices(bench: Bench, target: str, order: str = "on") -> list[Device]:
    """The devices a TARGET names, in a safe order for powering `order` ("on"/"off")."""
    names = list(bench.aircraft) if target == "all" else [target.split(".")[0]]
    roles = ("controller", "aircraft") if order == "on" else ("aircraft", "controller")
    if target != "all":
        if names[0] not in bench.aircraft or target.count(".") > 1 or (
                "." in target and not target.endswith(".controller")):
            known = ", ".join(["all", *bench.aircraft, *(f"{a}.controller"
                                                         for a in bench.aircraft)])
            raise TargetError(f"bench file {bench.path}: no power target {target!r}; "
                              f"targets: {known}")
        roles = ("controller",) if target.endswith(".controller") else ("aircraft",)
    out = []
    for role in roles:
        for name in names:
            a = bench.aircraft[name]
            out.append(Device(name, role, a.controller if role == "controller" else a.power))
    return out


class BenchPower:
    def __init__(self, bench: Bench, board: RelayBoard,
                 link_for: Callable[[str], AircraftLink] | None = None,
                 say: Callable[[str], None] = print, record: PowerRecord | None = None):
        self.bench, self.board, self.say = bench, board, say
        self.record = record or PowerRecord.for_bench(bench.name, bench.relay.url)
        self._links: dict[str, AircraftLink] = {}
        self._apps: list = []  # the apps `app` links see through, disconnected at close
        self._heard: dict[str, tuple[set[str] | None, str | None]] = {}  # heard, error
        self._link_for = link_for or self._open_link

    def _open_link(self, aircraft: str) -> AircraftLink:
        cfg = self.bench.aircraft[aircraft]
        app = open_app(self.bench.phone_of(aircraft)) if cfg.link == "app" else None
        if app is not None:
            self._apps.append(app)
        return open_link(cfg.link, aircraft, app=app, firmware=cfg.firmware)

    def link(self, aircraft: str) -> AircraftLink:
        if aircraft not in self._links:
            self._links[aircraft] = self._link_for(aircraft)
        return self._links[aircraft]

    def close(self) -> None:
        for link in self._links.values():
            link.close()
        for app in self._apps:
            app.disconnect()

    def heard(self, aircraft: str) -> set[str] | None:
        """What this aircraft's link hears now (cached until a button is pressed)."""
        if aircraft not in self._heard:
            try:
                self._heard[aircraft] = (self.link(aircraft).listen(self.bench.windows.listen),
                                         None)
            except LinkError as e:  # said by known(), in the device's own line
                self._heard[aircraft] = (None, str(e))
        return self._heard[aircraft][0]

    def known(self, dev: Device) -> Known:
        """The device's state and how it is known; StateUnknown when nothing tells."""
        if dev.power.sequence == "switch":
            return Known(self.board.get(dev.power.relay), "its relay channel", device=dev.label)
        self.heard(dev.aircraft)
        heard, error = self._heard[dev.aircraft]
        link = (str(self._links[dev.aircraft]) if dev.aircraft in self._links
                else f"the link {self.bench.aircraft[dev.aircraft].link}")
        return decide(dev.label, from_heard(dev.role, heard, link, error),
                      self.record.get(dev.label), mark_hint(dev.aircraft, dev.role,
                                                            self.bench.path))

    def status(self) -> list[str]:
        owners = {}
        for name in self.bench.aircraft:
            for dev in devices(self.bench, name) + devices(self.bench, f"{name}.controller"):
                owners[dev.power.relay] = dev
        with ThreadPoolExecutor(max(1, len(self.bench.aircraft))) as pool:
            list(pool.map(self.heard, self.bench.aircraft))  # listen to every link at once
        lines = []
        if not getattr(self.board, "reads_back", True):
            lines.append(f"{self.board.description} cannot report its relays: the states "
                         "below are the ones this command set (tracked), not read back")
        for ch in range(self.bench.relay.channels):
            closed = self.board.get(ch)
            dev = owners.get(ch)
            if dev is None:
                lines.append(f"channel {ch}: {'closed' if closed else 'open'}  (unused)")
                continue
            try:
                k = self.known(dev)
                power = k.word if dev.power.sequence == "switch" else f"{k.word} ({k.reason})"
            except StateUnknown as e:
                power = f"unknown ({e.reason})"
            lines.append(f"channel {ch}: {'closed' if closed else 'open'}  {dev.label} "
                         f"({dev.power.sequence}): {power}")
        return lines

    def mark(self, target: str, on: bool, who: str) -> None:
        """Record that a person checked TARGET's button devices and found them on/off."""
        for dev in devices(self.bench, target):
            if dev.power.sequence != "button":
                self.say(f"{dev.label}: a switch channel, read from the relay: not marked")
                continue
            self.record.mark(dev.label, on, who)
            self.say(f"{dev.label}: marked {'on' if on else 'off'} (by {who})")

    def set(self, target: str, on: bool) -> None:
        """Power TARGET on or off. A button device whose state cannot be read is not
        pressed: for one device that is an error; for `all` it is reported, the rest is
        done, and the error at the end lists what was left alone."""
        unknown = []
        for dev in devices(self.bench, target, "on" if on else "off"):
            seq = PowerSequence(self.board, dev.power, dev.label, record=self.record)
            if dev.power.sequence == "button":
                try:
                    k = self.known(dev)
                except StateUnknown as e:
                    if target != "all":
                        raise
                    self.say(str(e))
                    unknown.append(dev.label)
                    continue
                if k.from_record:
                    self.say(k.why)
                if k.on == on:
                    self.say(f"{dev.label}: already {'on' if on else 'off'}")
                    continue
                seq.powered = k.on
            (seq.on if on else seq.off)()
            self._heard.pop(dev.aircraft, None)  # its state changed
            self.say(f"{dev.label}: {'on' if on else 'off'}")
        if unknown:
            raise LinkError(f"left alone, state unknown: {', '.join(unknown)}")

    def cycle(self, target: str) -> None:
        self.set(target, False)
        waits = [d.power.off_time for d in devices(self.bench, target)
                 if d.power.sequence == "switch"]
        if waits:
            time.sleep(max(waits))
        self.set(target, True)
