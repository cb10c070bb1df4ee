"""Power sessions and the claims judged on them.

A `SessionRun` is one scenario played on one aircraft: the gateway's capture runs around
its phases, the harness's actions are stamped on the gateway's clock (with every answer a person at
the bench gave the app's prompts, `hil.remote.operator`), and facts read from
the devices (log lists, media sizes, flight records) are kept as observations. Once
finished, its pcap is fetched and analyzed once and its traffic profile written beside it
(`profile.json`, hil.profile); any number of claims can then be judged
on it. Claims share a session where judging them on the same phases weakens neither (the
claim suite says which), so a model's suite costs as few power cycles as possible.

`judge()` hands the session's phases to a pure judge from `hil.claims` and returns the
claim's `Evidence`: its verdict, the phases with their flows, the observations, the pcap,
and which other claims the same session served. `close()` (teardown) stops a capture a
crashed scenario left running and keeps whatever it recorded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hil.bench import ClaimsConfig
from hil.capture.analyze import Analysis, analyze
from hil.capture.catalog import Catalog
from hil.capture.hosts import stations
from hil.capture.phases import bounds_of, flows_between, windows
from hil.claims import Context, PhaseView, Verdict, identify
from hil.evidence import Action, Evidence, Phase, Recorder
from hil.profile import session_profile
from hil.remote.gateway import RemoteCapture
from hil.station import Station, Stopped

log = logging.getLogger("hil.run")

Judge = Callable[["SessionRun"], Verdict]


class SessionRun:
    def __init__(self, station: Station, scenario: str, folder: Path, catalog: Catalog,
                 whole_lan: bool = False, other_phones=(),
                 stop: threading.Event | None = None):
        self.station, self.scenario, self.folder = station, scenario, folder
        self.catalog, self.whole_lan = catalog, whole_lan
        self.stop = stop or threading.Event()
        self.gateway = station.gateway
        self.phases: list[Phase] = []
        self.observations: dict[str, Any] = {}
        self.served: list[str] = []  # the claims judged on this session so far
        # the bench's other phones: on a whole-LAN capture they are other stations' business
        # the bench's other phones, (IPv4 address, MAC or None): on a whole-LAN capture each
        # is every address it used there (hil.claims.identify)
        self.others = tuple((ip, None) if isinstance(ip, str) else tuple(ip)
                            for ip in other_phones)
        gw = station.bench.gateway
        self.context = Context(station.phone.ip, gw.lan_prefixes or (gw.lan_subnet,),
                               other_phones=frozenset(ip for ip, _ in self.others),
                               bench_hosts=frozenset(station.bench.host_addresses),
                               phone_mac=station.phone.mac)
        self.neighbours: set[str] = set()  # the phone's addresses in the gateway's table
        self.settings: ClaimsConfig = station.bench.claims
        self._recorder = Recorder(self.phases, lambda: self.gateway.local_to_gateway(time.time()))
        self.capture: RemoteCapture | None = None
        self.pcap: Path | None = None
        self.capture_log = ""
        self.analysis: Analysis | None = None
        self._views: dict[str, PhaseView] | None = None
        self.app_version: str | None = None  # as the phone reports it, read by open()

    @property
    def name(self) -> str:
        return f"{self.station.name}-{self.scenario}"

    # -- playing the scenario ---------------------------------------------------------
    def open(self) -> SessionRun:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.station.app.on_answer(self._answered)  # a person's answers: evidence
        # what the phone says it runs, once per session (None: its backend cannot tell)
        self.app_version = self.station.app.version()
        self.gateway.clock_offset()
        self.context = dataclasses.replace(
            self.context, clock_slack=self.gateway.clock_uncertainty + 0.002)
        self.note("clock_slack", round(self.context.clock_slack, 6))
        host = None if self.whole_lan else self.station.phone.ip
        if self.whole_lan and self.others:
            self.note("other_phones", sorted(ip for ip, _ in self.others))
        self.capture = self.gateway.start_capture(
            host, f"{self.station.bench.name}-{self.name}-{int(time.time() * 1000)}",
            owner=self.station.phone.ip, mac=self.station.phone.mac)
        return self

    def phase(self, name: str):
        return self._recorder.phase(name)

    def act(self, what: str, fn=None):
        self._check_stop(what)
        return self._recorder.act(what, fn)

    def _check_stop(self, what: str) -> None:
        if self.stop.is_set():
            raise Stopped(f"{self.name}: stopped before {what!r}: the run is stopping")

    def _answered(self, answer) -> None:
        """A person's answer to a prompt of this session's app (hil.remote.operator): kept
        in the observations (`operator_answers`) and, inside a phase, as an action of it
        at the time it was given."""
        self.observations.setdefault("operator_answers", []).append(answer.to_dict())
        target = self._recorder.current or (self.phases[-1] if self.phases else None)
        if target is not None:
            target.actions.append(Action(self.gateway.local_to_gateway(answer.t),
                                         answer.line()))

    def note(self, key: str, value: Any) -> Any:
        """Keep a fact read from a device (a log list, a media size) for the judges."""
        self.observations[key] = value
        return value

    def observe(self, seconds: float | None = None) -> None:
        """Wait out the observation window, logging progress on long windows."""
        seconds = self.station.bench.windows.observe if seconds is None else seconds
        self.act(f"observe {seconds:g} s")
        end = time.monotonic() + seconds
        step = max(seconds / 6, 5.0) if seconds > 10 else seconds
        while (left := end - time.monotonic()) > 0:
            if self.stop.wait(min(step, left)):
                self._check_stop(f"the end of the {seconds:g} s observation")
            if seconds > 10 and end - time.monotonic() > 0:
                log.info("%s: observing, %.0f s of %.0f s left", self.name,
                         end - time.monotonic(), seconds)

    def finish(self) -> None:
        """Stop the capture, fetch it beside the evidence and analyze it (once)."""
        if self.capture is None:
            return
        cap, self.capture = self.capture, None
        try:  # the phone's addresses as the gateway knows them now (before the capture
            # stops: a failure to read them loses no evidence)
            self.neighbours = self.gateway.neighbours(self.station.phone.mac)
        except Exception as e:
            log.warning("%s: the gateway's neighbour table could not be read: %s", self.name, e)
        self.pcap = self.gateway.stop_capture(cap, self.folder / "capture.pcap")
        self.capture_log = self.gateway.capture_stats(cap)
        # counted per phase window too: a connection opened in one phase and used in a
        # later one shows in that later phase with the bytes it carried there
        self.analysis = analyze(self.pcap, self.catalog, bounds_of(self._windows()))
        self.context = identify(self.context, stations(self.pcap), self.station.phone.name,
                                self.analysis.flows, self.neighbours, self.others)
        self.note("phone_addresses", sorted(self.context.phone))
        if self.context.encrypted_dns:
            self.note("encrypted_dns", list(self.context.encrypted_dns))
        if self.context.unattributed:
            self.note("unattributed_ipv6", list(self.context.unattributed))
        self.write_profile()

    def profile(self) -> dict:
        """The session's traffic profile (hil.profile), control traffic left out."""
        views = self.views()
        return session_profile(
            session=self.name, scenario=self.scenario, aircraft=self.station.name,
            model=self.station.config.model.id, phone=self.station.phone.name,
            platform=self.station.phone.platform, firmware=self.station.firmware,
            app_version=self.app_version,
            phases=[(ph.name, ph.start, ph.end,
                     [f.to_dict() for f in views[ph.name].flows
                      if not self.context.control(f)]) for ph in self.phases])

    def write_profile(self) -> Path:
        """`profile.json` in the session's folder, written as the session finishes (so a
        run killed later still has it for `hil history add`); atomic: whole or absent."""
        path = self.folder / "profile.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.profile(), indent=1, sort_keys=True))
        os.replace(tmp, path)
        return path

    def close(self) -> list[str]:
        """Teardown: stop a capture still running; never raises."""
        try:
            self.finish()
        except Exception as e:
            log.error("%s: capture not recovered: %s", self.name, e)
            return [f"capture: {e}"]
        return []

    # -- judging ----------------------------------------------------------------------
    def views(self) -> dict[str, PhaseView]:
        if self._views is None:
            if self.analysis is None:
                raise RuntimeError(f"{self.name}: judged before its capture was analyzed")
            self._views = {}
            for ph, (lo, hi) in zip(self.phases, self._windows(), strict=True):
                end = ph.end if ph.end is not None else ph.start
                flows = flows_between(self.analysis, lo, hi)
                dns = [d for d in self.analysis.dns if lo <= d.ts < hi]
                self._views[ph.name] = PhaseView(ph.name, ph.start, end, list(ph.actions),
                                                 flows, dns)
        return self._views

    def _windows(self) -> list[tuple[float, float]]:
        """Each phase's window on the capture's clock, allowing for the clock slack
        (hil.capture.phases.windows: traffic goes to the phase that caused it)."""
        spans = [(ph.start, ph.end if ph.end is not None else ph.start)
                 for ph in self.phases]
        return windows(spans, self.context.clock_slack)

    def view(self, name: str) -> PhaseView:
        return self.views()[name]

    def category_of(self, name: str) -> str:
        return self.catalog.category(name)

    def judge(self, claim: str, test_id: str, judge: Judge) -> Evidence:
        verdict = judge(self)
        self.served.append(claim)
        views = self.views()
        ev = Evidence(test=test_id, claim=claim, aircraft=self.station.name,
                      model=self.station.config.model.id, bench=self.station.bench.name,
                      phone=self.station.phone.name, firmware=self.station.firmware,
                      app_version=self.app_version, session=self.name, served=list(self.served),
                      observations=self.observations, pcap=str(self.pcap),
                      capture_log=self.capture_log, verdict=verdict.to_dict(),
                      bench_hosts=sorted(self.context.bench_hosts))
        for ph in self.phases:
            v = views[ph.name]
            control = {id(f) for f in v.flows if self.context.control(f)}  # kept apart
            ev.phases.append(Phase(ph.name, ph.start, ph.end, list(ph.actions),
                                   [f.to_dict() for f in v.flows if id(f) not in control],
                                   [d.to_dict() for d in v.dns],
                                   [f.to_dict() for f in v.flows if id(f) in control]))
        log.info("%s", ev.summary())
        return ev
