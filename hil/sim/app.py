"""The behaviour model of the DJI GO 4 app (and the phone's OS noise) on a simulated phone.

Pure: `AppBehaviour.tick(now, inputs)` says which network requests the phone starts at
`now`; the simulated phone turns them into packets. Times below are real seconds and are
multiplied by the bench's time scale.

What the model does, following the Kivu findings:
- When the app runs and its aircraft link comes up (aircraft and controller booted), it
  adds a flight record to its own store (the size of the aircraft's newest log). Online
  (Local Data Mode off) it then checks no-fly zones (`flysafe-api.dji.com`) after 1 s and,
  with the "diagnostics" setting on, sends diagnostics (`statistical-report.djiservice.org`)
  after 2 s. Turning Local Data Mode off while linked counts as coming online.
- A no-fly-zone check that cannot reach the internet is retried every 8 s while linked;
  diagnostics that cannot be sent are dropped, not deferred.
- Media is never uploaded on its own. The user's "share N" uploads media N to SkyPixel;
  "sync" uploads the records not yet synced to `mydjiflight.dji.com`.
- With Local Data Mode on, the app sends nothing at all.
- An Android phone checks connectivity every 60 s whether the app runs or not.
- On a dual-stack LAN the no-fly-zone check and the connectivity check go over IPv6
  (`Request.ipv6`), as a phone that prefers IPv6 sends them; the rest over IPv4.
- Fault `control_traffic` (not the app's: the harness's agent on the phone, modelled here
  because it follows the app's view of the card) sends each new photo and video to the
  bench host as soon as the app sees it: a request to `BENCH_HOST`, purpose "control".

Fault profiles (hil/sim/faults.py) change this on purpose, one claim each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NFZ = "flysafe-api.dji.com"
DIAGNOSTICS = "statistical-report.djiservice.org"
FLIGHTLOG = "mydjiflight.dji.com"
SHARE = "upload.skypixel.com"
UNKNOWN = "telemetry.sdk-unlisted.example"
CONNECTIVITY = "connectivitycheck.gstatic.com"
BENCH_HOST = "bench-host"  # not a DNS name: the phone connects to the bench host's address
DEFAULT_LOG_SIZE = 150_000
VERSION = "4.3.36+sim"  # the GO 4 release the model follows; "+sim": the model, not the app


@dataclass(frozen=True)
class Request:
    """One request the phone makes: resolve `name`, then a TLS session with these volumes.

    `keep`: a new connection is opened and left open under this label (an app's
    keep-alive connection). `via`: the bytes go over the connection kept under this label,
    without a new lookup or handshake (one is opened and kept when there is none).
    `ipv6`: over IPv6 when the phone has a global IPv6 address (a dual-stack phone prefers
    it for names that have one), else over IPv4.
    """

    name: str
    up: int
    down: int
    purpose: str  # "nfz" | "diagnostics" | "flightlog" | "media" | "unknown" | "os" | "control"
    keep: str | None = None
    via: str | None = None
    ipv6: bool = False  # over the phone's IPv6 address, when it has one


@dataclass(frozen=True)
class MediaItem:
    index: int
    size: int


@dataclass
class Record:
    id: int
    time: float
    size: int
    synced: bool = False


@dataclass(frozen=True)
class AppInputs:
    running: bool
    linked: bool  # aircraft and controller booted, link up
    cut: bool  # the gateway drops this phone's traffic
    settings: dict
    media: tuple = ()  # MediaItem on the aircraft's card, as the app sees them when linked
    log_size: int | None = None  # the aircraft's newest flight log, when it has one
    actions: tuple = ()  # user actions since the last tick: "sync", "share:N"


@dataclass
class AppBehaviour:
    time_scale: float
    platform: str = "android"
    faults: frozenset = frozenset()
    version: str = VERSION  # what the phone's agent reports as the app's version
    records: list[Record] = field(default_factory=list)
    _linked: bool = False
    _online: bool = False
    _nfz_due: float | None = None
    _diag_due: float | None = None
    _unknown_due: float | None = None
    _autolog_due: float | None = None
    _deferred: int = 0
    _media_seen: int | None = None
    _media_due: list = field(default_factory=list)
    _os_due: float | None = None

    def s(self, seconds: float) -> float:
        return seconds * self.time_scale

    def _diagnostics_on(self, settings: dict) -> bool:
        if "no_diagnostics" in self.faults:
            return False
        if self.faults & {"diagnostics_ignore_setting", "ipv6_diagnostics"}:
            return True
        return bool(settings.get("diagnostics", True))

    def _diagnostics_over_ipv6(self, inp: AppInputs) -> bool:
        """Fault ipv6_bypass: with the uplink cut (its IPv4 lookups unanswered), diagnostics
        go over IPv6. Fault ipv6_diagnostics: with the setting off, over IPv6 only."""
        if "ipv6_bypass" in self.faults and inp.cut:
            return True
        return "ipv6_diagnostics" in self.faults and not inp.settings.get("diagnostics", True)

    def _diagnostics_size(self) -> int:
        """Fault diagnostics_inflated: each report is 16 times its usual 12 kB."""
        return 12_000 * (16 if "diagnostics_inflated" in self.faults else 1)

    def tick(self, now: float, inp: AppInputs) -> list[Request]:
        """The requests that start at `now`, given the phone's state now."""
        out: list[Request] = []
        linked = inp.running and inp.linked
        ldm = bool(inp.settings.get("local_data_mode", False))
        leak = ldm and "ldm_leak" in self.faults

        if linked and not self._linked:  # the app sees the aircraft: a new flight record
            self.records.append(Record(len(self.records) + 1, now,
                                       inp.log_size or DEFAULT_LOG_SIZE))
            if self._media_seen is None:
                self._media_seen = len(inp.media)
        self._linked = linked

        online = linked and (not ldm or leak)
        if online and not self._online:
            self._nfz_due = None if leak else now + self.s(1.0)
            diag = self._diagnostics_on(inp.settings) or leak
            self._diag_due = now + self.s(2.0) if diag else None
            if "unknown_endpoint" in self.faults and not leak:
                self._unknown_due = now + self.s(3.0)
            if "logs_upload_without_sync" in self.faults and not leak:
                self._autolog_due = now + self.s(4.0)
        elif not online:
            self._nfz_due = self._diag_due = self._unknown_due = self._autolog_due = None
        self._online = online

        if self._nfz_due is not None and now >= self._nfz_due:
            out.append(Request(NFZ, 1_500, 30_000, "nfz", keep=self._nfz_keep(), ipv6=True))
            self._nfz_due = now + self.s(8.0) if inp.cut else None  # retried until through
        if self._diag_due is not None and now >= self._diag_due:
            self._diag_due = None
            if inp.cut and "deferred_diagnostics_flush" in self.faults:
                self._deferred += 1  # held back, sent when the uplink returns
            else:
                out.append(Request(DIAGNOSTICS, self._diagnostics_size(), 600, "diagnostics",
                                   ipv6=self._diagnostics_over_ipv6(inp)))
        if self._deferred and online and not inp.cut:
            out += [Request(DIAGNOSTICS, self._diagnostics_size(), 600,
                            "diagnostics")] * self._deferred
            self._deferred = 0
        if self._unknown_due is not None and now >= self._unknown_due:
            out.append(Request(UNKNOWN, 40_000, 2_000, "unknown"))
            self._unknown_due = None
        if self._autolog_due is not None and now >= self._autolog_due:
            out += self._sync()
            self._autolog_due = None

        out += self._media(now, inp, linked, ldm)
        for action in inp.actions if linked else ():
            if action == "sync" and (not ldm or leak):
                out += self._sync()
            elif action.startswith("share:") and (not ldm or leak):
                index = int(action.split(":", 1)[1])
                item = next((m for m in inp.media if m.index == index), None)
                if item is not None:
                    out.append(Request(SHARE, item.size, 4_000, "media"))

        if self.platform == "android":
            if self._os_due is None:
                self._os_due = now + self.s(60.0)
            elif now >= self._os_due:
                out.append(Request(CONNECTIVITY, 300, 200, "os", ipv6=True))
                self._os_due = now + self.s(60.0)
        return out

    def _sync(self) -> list[Request]:
        pending = [r for r in self.records if not r.synced]
        for r in pending:
            r.synced = True
        if not pending:
            return []
        return [Request(FLIGHTLOG, sum(r.size for r in pending), 1_000, "flightlog")]

    def _nfz_keep(self) -> str | None:
        """Fault media_over_open_connection: the no-fly-zone connection stays open."""
        return "nfz" if "media_over_open_connection" in self.faults else None

    def _media(self, now: float, inp: AppInputs, linked: bool, ldm: bool) -> list[Request]:
        """Fault auto_media_upload: each new photo or video goes to SkyPixel after 1 s.
        Fault media_over_open_connection: each goes, after 1 s, through the no-fly-zone
        connection the app opened at power-on (no new lookup, no new server name).
        Fault control_traffic: a copy of each goes to the bench host at once."""
        if not linked or self._media_seen is None:
            return []
        control = []
        for item in inp.media[self._media_seen:]:
            if self.faults & {"auto_media_upload", "media_over_open_connection"} and not ldm:
                self._media_due.append((now + self.s(1.0), item))
            if "control_traffic" in self.faults:  # a copy for the bench host, and its answer
                control.append(Request(BENCH_HOST, item.size + 4_096, 2_000, "control"))
        self._media_seen = len(inp.media)
        due = [item for t, item in self._media_due if now >= t]
        self._media_due = [(t, item) for t, item in self._media_due if now < t]
        if "media_over_open_connection" in self.faults:
            return control + [Request(NFZ, item.size, 500, "media", via="nfz") for item in due]
        return control + [Request(SHARE, item.size, 4_000, "media") for item in due]
