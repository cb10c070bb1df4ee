"""Power sessions of several aircraft played at once: one worker thread per phone.

A `SessionPool` owns what the power sessions drive (a station per aircraft, over the
shared relay board, with a gateway connection of each worker's own) and plays them on
worker threads. Aircraft that share a phone share a worker, and so do all phones whose
backend is a person at the bench (one prompt at a time); everything else runs in
parallel, which is what makes four models cost little more than one (DESIGN.md section 8).
`parallel=False` puts every aircraft on one worker: one session at a time, in order.

Promises:
- `plan(wanted)` queues sessions in the order given; each worker plays its own queue in
  that order, so a model's sessions follow the order of the tests that judge them.
  `session(aircraft, scenario)` queues it if it was not planned, waits for it and returns
  the finished `SessionRun`.
- A session that failed raises its exception to the first caller who waits for it and a
  one-line "failed earlier" error to later callers. An aircraft that did not come up
  (`NotReady`) plays none of its later sessions: they fail at once with that reason.
- After every session, played or failed, its station is made safe (both devices off,
  the phone's uplink restored, the app closed); a station that could not be made safe
  fails that session and says what is left.
- `stop()` (teardown, Ctrl-C, SIGTERM) cancels what has not started, interrupts the
  sessions that are running at their next action or within a fraction of a second of an
  observation window or a boot wait, makes their stations safe, waits for the workers and
  closes every connection the pool opened. The relay board is not closed: its owner opens
  every channel after the pool has stopped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from hil.bench import Bench
from hil.capture.catalog import Catalog
from hil.link import AircraftLink, open_link
from hil.power.record import PowerRecord
from hil.power.relay import RelayBoard
from hil.remote.gateway import Gateway
from hil.remote.phone import App, AppCannot
from hil.run import SessionRun, Stopped
from hil.station import NotReady, Station, make_app, open_gateway

log = logging.getLogger("hil.pool")

Script = Callable[[SessionRun, Station], None]


@dataclass(frozen=True)
class Scenario:
    """What the harness does to one aircraft in one power session."""

    name: str
    script: Script
    whole_lan: bool = False  # capture the whole LAN, not only the station's phone


class _Worker:
    """One thread playing the calls queued to it, one at a time, in order."""

    def __init__(self, name: str):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=f"hil-{name}", daemon=True)
        self.thread.start()

    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        self._queue.put((future, fn, args))
        return future

    def shut(self) -> None:
        """Cancel what has not started; the thread ends after the call it is in."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        self._queue.put(None)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # handed to whoever waits for it
                future.set_exception(e)


class SessionFailedEarlier(Exception):
    """A session already failed and its reason was reported to an earlier test."""


def worker_groups(bench: Bench, aircraft: Iterable[str], parallel: bool = True) \
        -> dict[str, str]:
    """aircraft name -> the worker that plays its sessions.

    One worker per phone (aircraft that share a phone cannot run at once); every phone
    driven by a person (`operator`) shares one worker; `parallel=False`: one worker.
    """
    out = {}
    for name in aircraft:
        phone = bench.phone_of(name)
        if not parallel:
            out[name] = "all"
        elif phone.backend == "operator":
            out[name] = "operator"
        else:
            out[name] = phone.name
    return out


class SessionPool:
    def __init__(self, bench: Bench, board: RelayBoard, catalog: Catalog, folder: Path,
                 parallel: bool = True,
                 make_gateway: Callable[[Bench], Gateway] = open_gateway,
                 make_link: Callable[..., AircraftLink] = open_link,
                 make_application: Callable = make_app,
                 waiting: Callable[[], None] | None = None,
                 record: PowerRecord | None = None):
        self.bench, self.board, self.catalog, self.folder = bench, board, catalog, folder
        # what each button device was last commanded, beside the bench lock
        self.record = record or PowerRecord.for_bench(bench.name, bench.identity)
        # called about every 0.2 s while session() waits: the caller's chance to do what
        # must happen on its own thread (write the workers' log lines, ask a person the
        # workers' prompts); a true result: call again within 10 ms
        self.waiting = waiting
        self.parallel = parallel
        self._make_gateway, self._make_link, self._make_app = \
            make_gateway, make_link, make_application
        self.groups = worker_groups(bench, bench.aircraft, parallel)
        self.stopping = threading.Event()
        self.planned = False  # plan() was called
        self._lock = threading.Lock()
        self._workers: dict[str, _Worker] = {}
        self._futures: dict[tuple[str, str], Future] = {}
        self._reported: set[tuple[str, str]] = set()
        self._playing: dict[str, SessionRun] = {}  # worker group -> its session now
        self._down: dict[str, str] = {}  # aircraft -> why it did not come up
        # per worker thread: its gateway connection; per aircraft / phone: link and app
        self._gateways: dict[str, Gateway] = {}
        self._links: dict[str, AircraftLink] = {}
        self._apps: dict[str, App] = {}

    # -- what the tests ask ---------------------------------------------------------------
    def plan(self, wanted: Iterable[tuple[str, Scenario]]) -> None:
        """Queue these sessions, in this order (already queued ones are left alone)."""
        self.planned = True
        for aircraft, scenario in wanted:
            self._submit(aircraft, scenario)

    def session(self, aircraft: str, scenario: Scenario) -> SessionRun:
        """The finished session; raises what it failed with (see the module's promises)."""
        key = (aircraft, scenario.name)
        future = self._submit(aircraft, scenario)
        step = 0.2
        while True:  # a bounded wait keeps Ctrl-C responsive in the main thread
            try:
                return future.result(timeout=step)
            except FutureTimeout:
                # waiting() true: it is serving a person's prompts; call it again soon
                busy = self.waiting() if self.waiting is not None else False
                step = 0.01 if busy else 0.2
                continue
            except CancelledError:
                raise Stopped(f"{aircraft}: the {scenario.name} session was cancelled: the "
                              "run is stopping") from None
            except BaseException as e:
                with self._lock:
                    first = key not in self._reported
                    self._reported.add(key)
                if first or isinstance(e, AppCannot):  # a skip reason holds for every test
                    raise
                raise SessionFailedEarlier(
                    f"the {scenario.name} session of {aircraft} failed earlier in this run: "
                    f"{e}") from None

    def threads(self) -> list[threading.Thread]:
        """The pool's worker threads (alive until `stop()` returns)."""
        with self._lock:
            return [w.thread for w in self._workers.values()]

    def playing(self) -> list[SessionRun]:
        """The sessions being played right now (one at most per worker)."""
        with self._lock:
            return list(self._playing.values())

    def stop(self, timeout: float = 60.0) -> None:
        """Interrupt and wind down every worker; close the connections the pool opened."""
        self.stopping.set()
        with self._lock:
            workers = list(self._workers.values())
        for w in workers:
            w.shut()
        for w in workers:
            w.thread.join(timeout)
            if w.thread.is_alive():
                log.error("worker %s did not stop within %.0f s", w.thread.name, timeout)
        for link in self._links.values():
            link.close()
        for app in self._apps.values():
            app.disconnect()
        for gw in self._gateways.values():
            gw.ssh.close()

    # -- the workers ----------------------------------------------------------------------
    def _submit(self, aircraft: str, scenario: Scenario) -> Future:
        if aircraft not in self.bench.aircraft:
            raise KeyError(f"{aircraft} is not an aircraft of bench {self.bench.name}")
        key = (aircraft, scenario.name)
        with self._lock:
            if key in self._futures:
                return self._futures[key]
            group = self.groups[aircraft]
            if group not in self._workers:
                self._workers[group] = _Worker(group)
            future = self._workers[group].submit(self._play, group, aircraft, scenario)
            self._futures[key] = future
            return future

    def _station(self, group: str, aircraft: str) -> Station:
        cfg = self.bench.aircraft[aircraft]
        if group not in self._gateways:
            self._gateways[group] = self._make_gateway(self.bench)
        if cfg.phone not in self._apps:
            self._apps[cfg.phone] = self._make_app(self.bench.phones[cfg.phone])
        if aircraft not in self._links:
            self._links[aircraft] = self._make_link(cfg.link, name=aircraft,
                                                    app=self._apps[cfg.phone],
                                                    firmware=cfg.firmware)
        return Station(self.bench, cfg, self.board, self._gateways[group],
                       self._apps[cfg.phone], self._links[aircraft], stop=self.stopping,
                       record=self.record)

    def _play(self, group: str, aircraft: str, scenario: Scenario) -> SessionRun:
        if self.stopping.is_set():
            raise Stopped(f"{aircraft}: {scenario.name} not played: the run is stopping")
        if aircraft in self._down:
            raise NotReady(f"{aircraft} did not come up earlier in this run: "
                           f"{self._down[aircraft]}")
        station = self._station(group, aircraft)
        others = tuple((p.ip, p.mac) for p in self.bench.phones.values()
                       if p.name != station.phone.name)
        session = SessionRun(station, scenario.name,
                             self.folder / safe_name(f"{aircraft}-{scenario.name}"),
                             self.catalog, whole_lan=scenario.whole_lan,
                             other_phones=others, stop=self.stopping)
        failed = None
        with self._lock:
            self._playing[group] = session
        try:
            session.open()
            scenario.script(session, station)
            session.finish()
        except NotReady as e:
            self._down.setdefault(aircraft, str(e))
            failed = e
            raise
        except BaseException as e:
            failed = e
            raise
        finally:
            with self._lock:
                self._playing.pop(group, None)
            session.close()  # a capture a failed script left running: kept, never raises
            problems = station.make_safe()
            try:
                station.app.close()
            except AppCannot as e:  # left open is no hazard: the next session opens or
                log.warning("%s: app not closed: %s", aircraft, e)  # closes it first
            except Exception as e:
                problems.append(f"app close: {e}")
            if problems:
                also = f" (after the session failed: {failed})" if failed else ""
                raise BenchNotSafe(f"{aircraft}: bench not left safe after the "
                                   f"{scenario.name} session: {'; '.join(problems)}{also}")
        return session


class BenchNotSafe(Exception):
    """A station could not be returned to a safe state after a session."""


def safe_name(name: str) -> str:
    """`name` as a folder name: anything but letters, digits, _ . - becomes _."""
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)
