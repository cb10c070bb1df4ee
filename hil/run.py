"""One claim test's run: capture around its phases, then judge on what was captured.

`ClaimRun` starts the gateway's capture for the station's phone when it opens, records
phases and actions on the gateway's clock, and `judge()` stops the capture, fetches it
into the test's artifact folder, analyzes it, hands each phase's flows to a pure judge
from `hil.claims`, and writes the evidence JSON beside the pcap. `close()` (teardown)
does whatever `judge()` did not get to, so a test that crashed still leaves its pcap and
its evidence, and never leaves a capture running on the gateway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from hil import claims
from hil.capture.analyze import analyze
from hil.capture.catalog import Catalog
from hil.capture.phases import flows_in
from hil.claims import Context, PhaseView, Verdict
from hil.evidence import Evidence, Recorder
from hil.remote.gateway import RemoteCapture
from hil.station import Station

log = logging.getLogger("hil.run")

Judge = Callable[[dict[str, PhaseView], Context], Verdict]


class ClaimRun:
    def __init__(self, station: Station, claim: str, test_id: str, folder: Path,
                 catalog: Catalog):
        self.station = station
        self.folder = folder
        self.catalog = catalog
        self.gateway = station.gateway
        phone = station.phone
        self.evidence = Evidence(test=test_id, claim=claim, aircraft=station.name,
                                 model=station.config.model.id, bench=station.bench.name,
                                 phone=phone.name)
        self.context = Context(phone.ip, station.bench.gateway.lan_subnet)
        self.recorder = Recorder(self.evidence,
                                 lambda: self.gateway.local_to_gateway(time.time()))
        self.capture: RemoteCapture | None = None
        self.verdict: Verdict | None = None
        self.analysis = None

    # -- during the test --------------------------------------------------------------
    def open(self) -> ClaimRun:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.station.bench.name}-{self.station.name}-{int(time.time() * 1000)}"
        self.capture = self.gateway.start_capture(self.station.phone.ip, name)
        return self

    def phase(self, name: str):
        return self.recorder.phase(name)

    def act(self, what: str, fn=None):
        return self.recorder.act(what, fn)

    def observe(self, seconds: float | None = None) -> None:
        """Wait out the observation window, logging progress on long windows."""
        seconds = self.station.bench.windows.observe if seconds is None else seconds
        self.act(f"observe {seconds:g} s")
        end = time.monotonic() + seconds
        step = max(seconds / 6, 5.0) if seconds > 10 else seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(step, left))
            if seconds > 10 and end - time.monotonic() > 0:
                log.info("%s: observing, %.0f s of %.0f s left", self.station.name,
                         end - time.monotonic(), seconds)

    # -- judging ----------------------------------------------------------------------
    def finish_capture(self) -> None:
        if self.capture is None:
            return
        cap, self.capture = self.capture, None
        pcap = self.gateway.stop_capture(cap, self.folder / "capture.pcap")
        self.evidence.pcap = str(pcap)
        self.evidence.capture_log = self.gateway.capture_stats(cap)
        self.evidence.firmware = self.station.firmware
        self.analysis = analyze(pcap, self.catalog)

    def judge(self, judge: Judge) -> Verdict:
        self.finish_capture()
        views = {}
        for ph in self.evidence.phases:
            end = ph.end if ph.end is not None else ph.start
            flows = flows_in(self.analysis.flows, ph.start, end)
            dns = [d for d in self.analysis.dns if ph.start <= d.ts < end]
            views[ph.name] = PhaseView(ph.name, ph.start, end, list(ph.actions), flows, dns)
            ph.flows = [f.to_dict() for f in flows]
            ph.dns = [d.to_dict() for d in dns]
        self.verdict = judge(views, self.context)
        self.evidence.verdict = self.verdict.to_dict()
        self.write()
        log.info("%s", self.evidence.summary())
        return self.verdict

    def category_of(self, name: str) -> str:
        ep = self.catalog.classify(name)
        return ep.category if ep else "unknown"

    def write(self) -> Path:
        path = self.folder / "evidence.json"
        path.write_text(self.evidence.to_json())
        return path

    def close(self) -> list[str]:
        """Teardown: stop a capture still running and keep whatever evidence exists."""
        problems = []
        if self.capture is not None:
            try:
                self.finish_capture()
            except Exception as e:
                problems.append(f"capture: {e}")
        self.evidence.problems += problems
        if self.evidence.verdict is None:
            self.evidence.verdict = {"claim": self.evidence.claim, "status": claims.ERROR,
                                     "reasons": ["the test ended before the claim was judged"],
                                     "decisive": []}
        self.write()
        return problems
