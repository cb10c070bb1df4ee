"""A labgrid coordinator, as the bench's lock: acquire a place (or reserve one by tags),
read its resources, release it. The I/O half of `hil.place` (which stays pure).

Why labgrid's own client library, not `labgrid-client` in a subprocess: the CLI prints
for people (its `show` text changes between releases), while `ClientSession` hands over
the coordinator's records (places, tags, holder, resources with their parameters) as
objects and its errors as exceptions carrying the coordinator's words. Its requests go
through labgrid's generated gRPC stubs on the session's own stream, so the coordinator
sees the same identity as `labgrid-client` run by the same person on the same host
(`HOST/USER`, `$LG_HOSTNAME`/`$LG_USERNAME`): the commands this module prints to free a
place work as printed. Each call opens a session, does its one thing and closes it, on
labgrid's own thread with its own event loop (`ClientSession` binds its gRPC channel to
the current thread's loop; a private thread keeps pytest's main thread out of it, and a
Ctrl-C in the main thread out of labgrid's loop). An acquired place stays acquired
without a session, by labgrid's design: exactly what a job killed with SIGKILL leaves.

Promises (`PlaceLock`):
- `acquire(timeout)` takes the place (or a place matching the tags, through a labgrid
  reservation), waiting up to `timeout` seconds and logging who holds it every
  `progress_every` seconds; then `PlaceBusy` names the holder, since when, and the
  command that frees it.
- A place acquired by this host and user whose last hil run here ended without releasing
  it (the local record in the lock folder, `hil.lock`, names that run) is a run killed
  with SIGKILL: `PlaceError` at once, with the holder and the exact command that frees
  it; the place is left as it is. A place this host and user acquired by hand
  (`labgrid-client acquire`, no hil record) is used and left acquired at the end.
- `release()` releases what `acquire()` took and cancels its reservation; it is safe to
  call twice and after a failed acquire.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from hil import place as pl
from hil.lock import BenchBusy, BenchLock, describe
from hil.place import PlaceConfig, PlaceError, PlaceState, Resource

log = logging.getLogger("hil.place")
CALL_TIMEOUT = 20.0  # seconds one session with the coordinator may take
POLL = 1.0  # seconds between two tries at a held place (labgrid-client reserve polls at 1 s)


# One thread of labgrid's, with one event loop for the life of the process: ClientSession
# binds its gRPC channel to the current thread's loop, and gRPC's poller calls back into
# that loop after a session closed (a loop closed after each call logs "Event loop is
# closed"). Calls are queued to it one at a time.
_JOBS: queue.Queue = queue.Queue()
_WORKER: list[threading.Thread] = []
_WORKER_LOCK = threading.Lock()


def _worker() -> None:
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    while True:
        job, box, done = _JOBS.get()
        try:
            box["result"] = job(loop)
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e
        finally:
            done.set()


def _start_worker() -> None:
    with _WORKER_LOCK:
        if not _WORKER:
            t = threading.Thread(target=_worker, name="labgrid client", daemon=True)
            t.start()
            _WORKER.append(t)


class PlaceBusy(PlaceError):
    """The place (or every place matching the tags) stayed held for the whole timeout."""


class Unreachable(PlaceError):
    """The coordinator does not answer."""


def available() -> str | None:
    """None where labgrid's client can be imported, else why not (the fix included)."""
    try:
        import labgrid.remote.client  # noqa: F401
    except ImportError as e:
        return (f"labgrid is not installed ({e}); install the extra: pip install "
                "'hil[labgrid]'")
    return None


class Coordinator:
    """One coordinator at HOST:PORT. Every method is one short session."""

    def __init__(self, address: str):
        self.address = pl.address(address)

    # -- plumbing --------------------------------------------------------------------
    def _run(self, what: str, work: Callable[[Any, Any], Any]) -> Any:
        """`work(session, loop)` in a labgrid ClientSession, on the labgrid thread."""
        why = available()
        if why:
            raise PlaceError(why)

        def job(loop) -> Any:
            from labgrid.remote.client import start_session

            try:
                session = start_session(self.address, loop=loop)
            except Exception as e:  # labgrid's ServerError: "Could not connect"
                raise Unreachable(
                    f"labgrid coordinator {self.address} does not answer ({e}); is "
                    "labgrid-coordinator running there, and the address right ([labgrid] "
                    "coordinator / $LG_COORDINATOR)?") from None
            try:
                return work(session, loop)
            finally:
                try:
                    loop.run_until_complete(session.stop())
                    loop.run_until_complete(session.close())
                except Exception:  # the stream already broke: nothing left to close
                    pass

        done = threading.Event()
        box: dict[str, Any] = {}
        _JOBS.put((job, box, done))
        _start_worker()
        if not done.wait(CALL_TIMEOUT):
            raise Unreachable(f"labgrid coordinator {self.address}: no answer to {what} "
                              f"within {CALL_TIMEOUT:g} s")
        if "error" in box:
            raise box["error"]
        return box.get("result")

    @staticmethod
    def _call(session, loop, rpc: str, request) -> Any:
        """One of labgrid's unary RPCs; its gRPC error becomes a PlaceError with the
        coordinator's own words (its `details()`), keeping the status code."""
        import grpc

        try:
            reply = loop.run_until_complete(getattr(session.stub, rpc)(request))
            loop.run_until_complete(session.sync_with_coordinator())
            return reply
        except grpc.aio.AioRpcError as e:
            err = PlaceError(f"{rpc}: {e.details()}")
            err.code = e.code().name  # type: ignore[attr-defined]
            raise err from None

    @staticmethod
    def _places(session) -> dict[str, PlaceState]:
        out = {}
        for name, p in session.places.items():
            resources = []
            for exporter, groups in session.resources.items():
                for group, entries in groups.items():
                    for rname, r in entries.items():
                        path = (exporter, group, r.cls, rname)
                        match = p.getmatch(path)
                        if match is None:
                            continue
                        resources.append(Resource(match.rename or rname, r.cls,
                                                  dict(r.params), "/".join(path),
                                                  bool(r.avail)))
            out[name] = PlaceState(name, dict(p.tags), p.acquired, float(p.changed or 0),
                                   tuple(resources), p.reservation)
        return out

    def me(self) -> str:
        """HOST/USER: who the coordinator takes this process for (labgrid's rule)."""
        from labgrid.remote.client import ClientSession

        return f"{ClientSession.gethostname(None)}/{ClientSession.getuser(None)}"

    # -- what a lock needs -------------------------------------------------------------
    def places(self) -> dict[str, PlaceState]:
        return self._run("reading places", lambda s, loop: self._places(s))

    def acquire(self, name: str) -> PlaceState:
        """Acquire `name` now or raise PlaceError (its `.code`: FAILED_PRECONDITION when
        someone holds it, PERMISSION_DENIED when reserved for someone else)."""
        def work(s, loop):
            from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

            if name not in s.places:
                raise PlaceError(f"labgrid coordinator {self.address} has no place {name!r}; "
                                 f"places: {', '.join(sorted(s.places)) or 'none'}")
            self._call(s, loop, "AcquirePlace", pb.AcquirePlaceRequest(placename=name))
            return self._places(s)[name]
        return self._run(f"acquiring {name}", work)

    def release(self, name: str, holder: str) -> None:
        """Release `name` only if `holder` still has it (labgrid's release-from)."""
        def work(s, loop):
            from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

            self._call(s, loop, "ReleasePlace",
                       pb.ReleasePlaceRequest(placename=name, fromuser=holder))
        self._run(f"releasing {name}", work)

    def reserve(self, tags: dict[str, str]) -> str:
        """A reservation for any place with these tags; its token."""
        def work(s, loop):
            from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

            f = {"main": pb.Reservation.Filter(filter=tags)}
            reply = self._call(s, loop, "CreateReservation",
                               pb.CreateReservationRequest(filters=f, prio=0.0))
            return reply.reservation.token
        return self._run("reserving", work)

    def poll(self, token: str) -> tuple[str, str | None]:
        """(state, allocated place or None) of a reservation; polling keeps it alive."""
        def work(s, loop):
            from labgrid.remote.common import ReservationState
            from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

            res = self._call(s, loop, "PollReservation",
                             pb.PollReservationRequest(token=token)).reservation
            names = [n for group in res.allocations.values() for n in group.split()] \
                if res.allocations else []
            return ReservationState(res.state).name, (names[0] if names else None)
        return self._run("polling the reservation", work)

    def cancel(self, token: str) -> None:
        def work(s, loop):
            from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

            self._call(s, loop, "CancelReservation", pb.CancelReservationRequest(token=token))
        self._run("cancelling the reservation", work)


class PlaceLock:
    """The bench lock of a bench that is a labgrid place (see the module's promises)."""

    def __init__(self, config: PlaceConfig, command: str | None = None,
                 progress_every: float = 5.0, poll: float = POLL):
        if not config.coordinator:
            raise PlaceError("no labgrid coordinator: name it in the bench file's [labgrid] "
                             "coordinator or in $LG_COORDINATOR")
        if config.place == pl.RESERVED and not os.environ.get("LG_TOKEN"):
            raise PlaceError("place '+' is the place of a labgrid reservation: set LG_TOKEN "
                             "(labgrid-client reserve --wait --shell TAGS prints it)")
        self.config = config
        self.coordinator = Coordinator(config.coordinator)
        self.command = command
        self.progress_every = progress_every
        self.poll = poll
        self.place: PlaceState | None = None  # the place held, with its resources
        self.by_hand = False  # acquired before hil started: left acquired
        self._token: str | None = None
        self._local: BenchLock | None = None
        self._keep: dict | None = None  # the record the local lock file is left holding
        self._asking: str | None = None  # a place asked for, free before, answer not read
        self._me = ""

    def free_command(self, place: PlaceState) -> str:
        return pl.free_command(self.coordinator.address, place)

    def _record(self, name: str) -> BenchLock:
        """This host's record of the hil run that holds `name` (an flock, `hil.lock`)."""
        return BenchLock(f"labgrid-{name}", self.coordinator.address, command=self.command)

    # -- acquire -----------------------------------------------------------------------
    def acquire(self, timeout: float) -> PlaceState:
        self._me = self.coordinator.me()
        start = time.monotonic()
        try:
            if self.config.place == pl.RESERVED:
                self._take(self._reserved(), start, timeout)
            elif self.config.place:
                self._take(self.config.place, start, timeout)
            else:
                self._reserve(start, timeout)
        except BaseException:
            self.release()
            raise
        return self.place

    def _reserved(self) -> str:
        """The place that the reservation $LG_TOKEN holds (labgrid's `-p +`)."""
        token = os.environ["LG_TOKEN"]
        for p in self.coordinator.places().values():
            if p.reservation == token:
                return p.name
        raise PlaceError(f"reservation {token} ($LG_TOKEN) holds no place at coordinator "
                         f"{self.coordinator.address} (not allocated yet, or expired: "
                         "labgrid-client reserve --wait ...)")

    def _take(self, name: str, start: float, timeout: float) -> None:
        """Acquire the named place: this host's record first (a live run here: wait on
        it), then the coordinator's place."""
        local = self._record(name)
        try:
            local.acquire(timeout=timeout, progress_every=self.progress_every)
        except BenchBusy as e:
            raise PlaceBusy(f"place {name}: {e}") from None
        self._local = local
        # Until this run knows what became of the place, the record of a hil run killed
        # here stays: a run that fails first (a coordinator that does not answer) must
        # not wipe what the next one is to be told.
        self._keep = local.previous
        next_log = start
        refused = ""
        while True:
            state = self.coordinator.places().get(name)
            if state is None:
                raise PlaceError(f"labgrid coordinator {self.coordinator.address}: place "
                                 f"{name} was deleted")
            if state.acquired == self._me:
                if local.previous:
                    raise PlaceError(
                        f"place {name} is still acquired by {pl.holder_text(state)}: the hil "
                        f"run {describe(local.previous)} was killed without releasing it "
                        "(SIGKILL?). Check the bench, then free the place with: "
                        f"{self.free_command(state)}")
                self.place, self.by_hand = state, True
                log.warning("place %s was already acquired by %s (by hand, not by hil): using "
                            "it, and leaving it acquired at the end", name, self._me)
                return
            if not state.acquired:
                # Free a moment ago: if this call is cut short (Ctrl-C, a signal, no answer
                # in time), an acquisition by this host and user found later is this
                # run's, and release() gives it back.
                self._asking = name
                try:
                    self.place = self.coordinator.acquire(name)
                except PlaceError as e:
                    self._asking = None
                    if getattr(e, "code", "") not in ("FAILED_PRECONDITION",
                                                      "PERMISSION_DENIED"):
                        raise
                    refused = str(e)
                    state = self.coordinator.places().get(name) or state  # taken meanwhile?
                else:
                    self._asking = None
                    self._keep = None
                    if local.previous:
                        log.warning("place %s: the previous hil run here, %s, ended without "
                                    "releasing it; it has been freed since", name,
                                    describe(local.previous))
                    log.info("place %s acquired at coordinator %s (as %s)", name,
                             self.coordinator.address, self._me)
                    return
            waited = time.monotonic() - start
            if state.acquired:
                held = f"acquired by {pl.holder_text(state)}"
            elif state.reservation:
                held = f"reserved by another client (reservation {state.reservation})"
            else:  # free, yet refused: in the coordinator's words (e.g. a resource that
                # another place holds)
                held = f"free but refused by the coordinator ({refused or 'no reason given'})"
            if waited >= timeout:
                fix = (f"; if that run is gone, free it with: {self.free_command(state)}"
                       if state.acquired else "")
                raise PlaceBusy(f"place {name} is {held}; gave up after {timeout:g} s (wait "
                                f"longer with --bench-lock-timeout){fix}")
            if time.monotonic() >= next_log:
                log.warning("place %s is %s; waiting (%.0f s of %g s)", name, held, waited,
                            timeout)
                next_log += self.progress_every
            time.sleep(self.poll)

    def _reserve(self, start: float, timeout: float) -> None:
        """A labgrid reservation for the tags; once a place is allocated, acquire it."""
        tags = self.config.tags
        self._token = self.coordinator.reserve(tags)
        log.info("reservation %s for a place tagged %s at coordinator %s", self._token,
                 pl.tag_text(tags), self.coordinator.address)
        next_log = start
        while True:
            state, name = self.coordinator.poll(self._token)
            if state == "allocated" and name:
                self._take(name, time.monotonic(), max(timeout - (time.monotonic() - start),
                                                       0.0))
                return
            if state not in ("waiting", "allocated"):
                raise PlaceError(f"reservation {self._token} for a place tagged "
                                 f"{pl.tag_text(tags)} is {state}")
            waited = time.monotonic() - start
            if waited >= timeout or time.monotonic() >= next_log:
                places = [p for p in self.coordinator.places().values()
                          if pl.matches(p, tags)]
                if not places:
                    raise PlaceError(f"labgrid coordinator {self.coordinator.address} has "
                                     f"no place tagged {pl.tag_text(tags)}")
                held = "; ".join(
                    f"{p.name} acquired by {pl.holder_text(p)}" if p.acquired else
                    f"{p.name} reserved ({p.reservation})" for p in places)
                if waited >= timeout:
                    fixes = "; ".join(f"{p.name}: {self.free_command(p)}" for p in places
                                      if p.acquired)
                    raise PlaceBusy(f"every place tagged {pl.tag_text(tags)} is in use: "
                                    f"{held}; gave up after {timeout:g} s (wait longer with "
                                    f"--bench-lock-timeout)" +
                                    (f"; if those runs are gone, free them with: {fixes}"
                                     if fixes else ""))
                log.warning("every place tagged %s is in use (%s); waiting (%.0f s of %g s)",
                            pl.tag_text(tags), held, waited, timeout)
                next_log += self.progress_every
            time.sleep(self.poll)

    # -- release -----------------------------------------------------------------------
    def _give_back_cut_short(self, name: str) -> list[str]:
        """A place asked for while free, whose answer never came back (Ctrl-C, a signal,
        no answer in time): the coordinator may have granted it. Acquired by this host and
        user now, it is this run's: released. What could not be done, in words."""
        try:
            state = self.coordinator.places().get(name)
            if state is None or state.acquired != self._me:
                return []
            self.coordinator.release(name, self._me)
            log.warning("place %s: its acquisition was cut short, but the coordinator had "
                        "granted it; released", name)
            return []
        except PlaceError as e:
            if self._local is not None:  # maybe still ours: the next run is to be told
                self._keep = self._local.me
            where = f"labgrid-client -x {self.coordinator.address} -p {name}"
            return [f"place {name}: its acquisition was cut short and what became of it "
                    f"could not be read ({e}); if `{where} show` names {self._me} as its "
                    f"holder, free it with: {where} release"]

    def release(self) -> list[str]:
        """Release what acquire() took; what could not be done, in words (empty: all
        done). Never raises: it runs in teardowns."""
        problems = []
        if self.place is None and self._asking is not None:
            problems += self._give_back_cut_short(self._asking)
            self._asking = None
        if self.place is not None and not self.by_hand:
            try:
                self.coordinator.release(self.place.name, self._me)
                log.info("place %s released", self.place.name)
            except PlaceError as e:
                problems.append(f"place {self.place.name} not released ({e}); free it with: "
                                f"{self.free_command(self.place)}")
                if self._local is not None:  # still ours at the coordinator: say so next time
                    self._keep = self._local.me
        if self._token is not None:
            try:
                self.coordinator.cancel(self._token)
            except PlaceError as e:
                problems.append(f"reservation {self._token} not cancelled ({e})")
            self._token = None
        if self._local is not None:
            self._local.release(keep=self._keep)
            self._local = None
        self.place = None
        return problems
