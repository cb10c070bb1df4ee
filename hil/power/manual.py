"""Power actions a technician runs by hand: `hil power on|off|cycle|status TARGET`.

TARGET is an aircraft name from the bench file (its aircraft), `NAME.controller` (its
remote controller), or `all`. Powering on goes controller first, then aircraft; off goes
aircraft first. A `switch` channel's state is the device's power. A `button` device's
state cannot be read from the relay, so it is read from the aircraft link: an aircraft
heartbeat means both are on, a controller heartbeat alone means the controller is on.
A button pattern is pressed only when the link says the device is not already in the
wanted state, since pressing it again would toggle it back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hil.bench import Bench, PowerConfig
from hil.link.mavlink import LinkError, MavlinkLink
from hil.power.relay import RelayBoard
from hil.power.sequence import PowerSequence

log = logging.getLogger("hil.power")
LISTEN = 2.5  # seconds: two heartbeats at the 1 Hz a real aircraft sends


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
                 link_for: Callable[[str], MavlinkLink] | None = None,
                 say: Callable[[str], None] = print):
        self.bench, self.board, self.say = bench, board, say
        self._links: dict[str, MavlinkLink] = {}
        self._heard: dict[str, set[str] | None] = {}
        self._link_for = link_for or (lambda name: MavlinkLink(bench.aircraft[name].link,
                                                               name=name))

    def link(self, aircraft: str) -> MavlinkLink:
        if aircraft not in self._links:
            self._links[aircraft] = self._link_for(aircraft)
        return self._links[aircraft]

    def close(self) -> None:
        for link in self._links.values():
            link.close()

    def heard(self, aircraft: str) -> set[str] | None:
        """What this aircraft's link hears now (cached until a button is pressed)."""
        if aircraft not in self._heard:
            try:
                self._heard[aircraft] = self.link(aircraft).listen(LISTEN)
            except LinkError as e:
                log.warning("%s: cannot read its state from the link: %s", aircraft, e)
                self._heard[aircraft] = None
        return self._heard[aircraft]

    def is_on(self, dev: Device) -> bool | None:
        """On, off, or None when it cannot be known (no link; or an aircraft whose
        controller, its radio, is off)."""
        if dev.power.sequence == "switch":
            return self.board.get(dev.power.relay)
        heard = self.heard(dev.aircraft)
        if heard is None:
            return None
        if dev.role == "controller":
            return "controller" in heard
        if "aircraft" in heard:
            return True
        return False if "controller" in heard else None

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
            state = self.is_on(dev)
            power = {True: "on", False: "off", None: "unknown"}[state]
            lines.append(f"channel {ch}: {'closed' if closed else 'open'}  {dev.label} "
                         f"({dev.power.sequence}): {power}")
        return lines

    def set(self, target: str, on: bool) -> None:
        """Power TARGET on or off. A button device whose state cannot be read is not
        pressed: for one device that is an error; for `all` it is reported, the rest is
        done, and the error at the end lists what was left alone."""
        unknown = []
        for dev in devices(self.bench, target, "on" if on else "off"):
            seq = PowerSequence(self.board, dev.power, dev.label)
            if dev.power.sequence == "button":
                state = self.is_on(dev)
                if state is None:
                    why = ("its controller, its radio, is off: power "
                           f"{dev.aircraft}.controller on first, or use all"
                           if self.heard(dev.aircraft) is not None else "its link is down")
                    msg = (f"{dev.label}: its state cannot be read ({why}); a button press "
                           "would toggle it blindly, so nothing was pressed")
                    if target != "all":
                        raise LinkError(msg)
                    self.say(msg)
                    unknown.append(dev.label)
                    continue
                if state == on:
                    self.say(f"{dev.label}: already {'on' if on else 'off'}")
                    continue
                seq.powered = state
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
