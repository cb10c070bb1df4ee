"""A station: one aircraft of the bench with everything a claim test drives for it.

It bundles the aircraft's and controller's power sequences, its link, its phone's app and
the phone's IP, over the bench-wide relay board and gateway. `power_on()` runs the whole
start: controller, aircraft, wait for the link within the boot window (logging progress),
read the firmware version, and, when the app runs and can tell, wait until it shows the
aircraft connected. `make_safe()` is the teardown: both devices off, the phone's
uplink restored, each step attempted even when an earlier one fails.

Never a blind press: before the first press of a run on a button-wired device its state
is read (the aircraft link, else the app when it shows the aircraft, else the bench's
power record, `hil.power.state`), and a device found on is turned off before the power-on,
with the reason as an action of the phase. Where nothing can tell, StateUnknown names the
device and nothing is pressed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from hil.bench import AircraftConfig, Bench, PhoneConfig
from hil.link import FIRMWARE, AircraftLink, LinkError
from hil.power.record import PowerRecord
from hil.power.relay import RelayBoard
from hil.power.sequence import PowerSequence
from hil.power.state import Known, Reading, decide, from_heard, mark_hint
from hil.remote import backends
from hil.remote.gateway import Gateway
from hil.remote.phone import SHOWS_AIRCRAFT, App
from hil.remote.ssh import SshHost

log = logging.getLogger("hil.station")


class NotReady(Exception):
    """An aircraft that did not come up within its boot window."""


class Stopped(Exception):
    """The run is stopping (Ctrl-C, SIGTERM): a power session gave up part-way."""


def open_gateway(bench: Bench) -> Gateway:
    """The bench's gateway over an SSH connection of its own (connected on first use)."""
    g = bench.gateway
    return Gateway(SshHost(g.ssh.host, g.ssh.port, g.ssh.user, g.ssh.key, g.ssh.known_hosts,
                           role="gateway"), g.lan_interface, g.capture_dir)


def make_app(phone: PhoneConfig) -> App:
    """The app on this phone, through the backend the bench file names."""
    return backends.open_app(phone)


@dataclass
class Station:
    bench: Bench
    config: AircraftConfig
    board: RelayBoard
    gateway: Gateway
    app: App
    link: AircraftLink
    aircraft_power: PowerSequence = field(init=False)
    controller_power: PowerSequence = field(init=False)
    firmware: str | None = None
    stop: threading.Event | None = None  # set: the run is stopping, give up waiting
    record: PowerRecord | None = None  # what each device was last commanded (hil.power.record)

    def __post_init__(self):
        name = self.config.name
        self.aircraft_power = PowerSequence(self.board, self.config.power, f"{name} aircraft",
                                            record=self.record)
        self.controller_power = PowerSequence(self.board, self.config.controller,
                                              f"{name} controller", record=self.record)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def phone(self) -> PhoneConfig:
        return self.bench.phones[self.config.phone]

    @property
    def boot_timeout(self) -> float:
        return self.bench.windows.boot_timeout(self.config.model, self.bench.time_scale)

    def power_on(self, act) -> str:
        """Power the controller then the aircraft, wait until ready, return the firmware.

        `act(what, fn)` records each step as an action of the current phase.
        """
        self.know_power(act)
        act(f"power on {self.name} controller", self.controller_power.on)
        act(f"power on {self.name} aircraft", self.aircraft_power.on)
        timeout = self.boot_timeout
        deadline = time.monotonic() + timeout
        try:
            act(f"wait for {self.name} link (up to {timeout:.2f} s)",
                lambda: self.link.wait_ready(timeout, progress_every=max(timeout / 10, 0.05),
                                             stop=self.stop))
            self.firmware = self.link.firmware_version()
        except LinkError as e:
            if self.stop is not None and self.stop.is_set():
                raise Stopped(f"{self.name}: power-on interrupted: the run is stopping") \
                    from None
            raise NotReady(f"{self.name} ({self.config.model.name}) did not come up: {e}") \
                from None
        if self.app.linked() is False and self.app.running():  # a closed app shows nothing
            act(f"wait for the app on {self.phone.name} to see {self.name}",
                lambda: self._wait_app(deadline))
        source = "" if self.link.can(FIRMWARE) or self.firmware is None else \
            f" (declared, not read: {self.link} cannot read it)"
        act(f"{self.name} ready, firmware {self.firmware}{source}")
        return self.firmware

    def know_power(self, act) -> None:
        """Read the state of each button device whose state is not known yet, and turn
        off those found on (aircraft first). StateUnknown where nothing can tell."""
        unknown = [(q, role) for q, role in ((self.aircraft_power, "aircraft"),
                                             (self.controller_power, "controller"))
                   if q.cfg.sequence == "button" and q.powered is None]
        if not unknown:
            return
        try:  # one listen serves both devices
            heard, error = self.link.listen(self.bench.windows.listen), None
        except LinkError as e:
            heard, error = None, str(e)
        app: list[Reading | None] = []  # the app is asked once, and only if needed
        known = [(q, self._know(q, role, heard, error, app)) for q, role in unknown]
        for q, k in known:  # aircraft first
            (log.warning if k.on else log.info)("%s", k.why)
            q.powered = k.on
            if k.on:
                act(f"power off {q.name}, found on before the session: {k.why}", q.off)
        found_on = [q.cfg.off_time for q, k in known if k.on]
        if found_on and self.stop is not None and self.stop.wait(max(found_on)):
            raise Stopped(f"{self.name}: stopped in the off-time of devices found on")
        if found_on and self.stop is None:  # their off-time before they go on again
            time.sleep(max(found_on))

    def _know(self, seq: PowerSequence, role: str, heard: set[str] | None,
              error: str | None, app: list[Reading | None]) -> Known:
        reading = from_heard(role, heard, str(self.link), error)
        if reading.on is None:
            if not app:
                app.append(self._app_reading())
            shown = app[0]
            # a link that cannot be read: whatever the app tells; a silent link: the app
            # may see the aircraft on, which a silent link does not
            if shown is not None and (shown.on or not reading.silent):
                reading = shown
        return decide(seq.name, reading, self.record.get(seq.name) if self.record else None,
                      mark_hint(self.name, role, self.bench.path))

    def _app_reading(self) -> Reading | None:
        """From the running app: on when it shows the aircraft connected; silent when it
        does not (both off, or the phone not on the controller). None when it is closed or
        its backend cannot tell."""
        try:
            if not (self.app.can(SHOWS_AIRCRAFT) and self.app.running()):
                return None
            if self.app.linked():
                return Reading(True, f"the app on {self.phone.name} shows the aircraft "
                                     "connected")
            return Reading(None, f"the app on {self.phone.name} does not show the aircraft "
                                 "(off, or the phone not on its controller)", silent=True)
        except Exception as e:  # a reader that fails tells nothing; the record may
            log.info("%s: the app cannot tell whether the aircraft is on: %s", self.name, e)
        return None

    def _wait_app(self, deadline: float) -> None:
        """Until the app shows the aircraft connected, within what is left of the boot
        window; NotReady if it does not."""
        while not self.app.linked():
            if self.stop is not None and self.stop.is_set():
                raise Stopped(f"{self.name}: power-on interrupted: the run is stopping")
            if time.monotonic() >= deadline:
                raise NotReady(f"{self.name} ({self.config.model.name}) did not come up: the "
                               f"aircraft link is up but the app on {self.phone.name} does "
                               f"not show the aircraft within {self.boot_timeout:.2f} s")
            time.sleep(0.05)

    def power_off(self, act=None) -> None:
        run = act or (lambda what, fn: fn())
        run(f"power off {self.name} aircraft", self.aircraft_power.off)
        run(f"power off {self.name} controller", self.controller_power.off)

    def make_safe(self) -> list[str]:
        """Return the bench to a safe state; return the problems met (never raises)."""
        problems = []
        steps = [
            ("aircraft off", lambda: self._off(self.aircraft_power)),
            ("controller off", lambda: self._off(self.controller_power)),
            ("uplink restored", lambda: self.gateway.restore_uplink(self.phone.ip)),
        ]
        for what, fn in steps:
            try:
                fn()
            except Exception as e:  # keep going: every later step matters as much
                log.error("%s: could not make safe (%s): %s", self.name, what, e)
                problems.append(f"{what}: {e}")
        return problems

    @staticmethod
    def _off(seq: PowerSequence) -> None:
        if seq.powered is not False:
            if seq.powered is None and seq.cfg.sequence == "button":
                seq.release()  # state unknown: never press blindly, just let go
                return
            seq.off()
        seq.release()
