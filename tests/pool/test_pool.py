"""The session pool: who plays what, in parallel or in order, and how it stops.

Grouping is pure and tested first; then the pool drives the in-process simulated bench
over its real transports (relay pty, MAVLink over UDP, SSH gateway and phones) with small
scenarios, and the tests read the relay board and the recorded phases afterwards.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from hil import bench as benchmod
from hil.capture.catalog import Catalog
from hil.pool import Scenario, SessionFailedEarlier, SessionPool, worker_groups
from hil.power.boards import open_board
from hil.sim.bench import SimBench
from hil.station import NotReady, Stopped

ROOT = Path(__file__).resolve().parents[2]
SIM = benchmod.load(ROOT / "benches" / "sim.toml")


# -- grouping (pure) ---------------------------------------------------------------------

def test_one_worker_per_phone_operators_together_or_one_in_all():
    b = SIM
    phones = dict(b.phones)
    first = next(iter(phones))
    # two aircraft on one phone; two phones driven by a person
    aircraft = dict(b.aircraft)
    aircraft["mavic"] = dataclasses.replace(aircraft["mavic"], phone=first)
    ops = [n for n in phones if n != first]
    for n in ops:
        phones[n] = dataclasses.replace(phones[n], backend="operator")
    bench = dataclasses.replace(b, phones=phones, aircraft=aircraft)
    groups = worker_groups(bench, bench.aircraft)
    assert groups["spark"] == groups["mavic"] == first
    others = {groups[a] for a in bench.aircraft if bench.aircraft[a].phone in ops}
    assert others == {"operator"}
    assert set(worker_groups(bench, bench.aircraft, parallel=False).values()) == {"all"}


# -- on the simulated bench --------------------------------------------------------------

@pytest.fixture(scope="module")
def simulator():
    s = SimBench(SIM)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def sim(simulator):
    """The resolved bench the simulator serves."""
    return benchmod.load(simulator.resolved_path)


def spark_powered(simulator) -> dict[str, bool]:
    """Whether the simulated Spark and its controller are powered (the devices, not the
    relay: a button channel is open whether the device is on or off)."""
    return {k: v for k, v in simulator.powered().items() if k.startswith("spark")}


@pytest.fixture
def board(sim):
    b = open_board(sim.relay)
    try:
        yield b
    finally:
        for ch in range(sim.relay.channels):
            b.set(ch, False)
        b.close()


@pytest.fixture
def make_pool(sim, board, tmp_path):
    pools = []

    def make(parallel=True):
        pool = SessionPool(sim, board, Catalog.load(), tmp_path, parallel=parallel)
        pools.append(pool)
        return pool

    yield make
    for p in pools:
        p.stop()


def powered_window(s, st):
    with s.phase("on"):
        st.power_on(s.act)
        s.observe()
    st.power_off(s.act)


WINDOW = Scenario("window", powered_window)


def span(session):
    return session.phases[0].start, session.phases[-1].end


def overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


def test_a_session_reads_the_app_version_once_and_its_evidence_records_it(
        make_pool, monkeypatch):
    """What the phone reports, read when the session opens; None stays None (the JUnit
    property and the HTML then say unknown), never a made-up version."""
    from hil.claims import Verdict
    from hil.remote.agent import AgentApp
    from hil.sim.app import VERSION

    asked = []
    reported = AgentApp.version
    monkeypatch.setattr(AgentApp, "version", lambda self: asked.append(self.name)
                        or reported(self))
    pool = make_pool()
    session = pool.session("spark", WINDOW)
    assert asked == ["pixel-spark"] and session.app_version == VERSION
    ev = session.judge("K4", "t", lambda s: Verdict("K4", "pass", ("ok",)))
    assert ev.app_version == VERSION

    monkeypatch.setattr(AgentApp, "version", lambda self: None)
    again = make_pool().session("spark", Scenario("again", powered_window))
    assert again.judge("K4", "t", lambda s: Verdict("K4", "pass", ("ok",))).app_version is None


@pytest.mark.parametrize("parallel", [True, False])
def test_aircraft_of_different_phones_play_at_once_unless_told_not_to(make_pool, parallel):
    pool = make_pool(parallel)
    pool.plan([("spark", WINDOW), ("mavic", WINDOW)])
    a, b = pool.session("spark", WINDOW), pool.session("mavic", WINDOW)
    assert overlap(span(a), span(b)) is parallel, (span(a), span(b))
    assert a.analysis is not None and b.analysis is not None  # captured and analyzed


def test_a_failed_session_is_raised_once_then_named(make_pool, board, sim, simulator):
    def broken(s, st):
        with s.phase("on"):
            st.power_on(s.act)
            raise RuntimeError("the script broke")

    pool = make_pool()
    sc = Scenario("broken", broken)
    with pytest.raises(RuntimeError, match="the script broke"):
        pool.session("spark", sc)
    with pytest.raises(SessionFailedEarlier, match="broken session of spark failed earlier"):
        pool.session("spark", sc)
    # made safe after the failure: both of the spark's channels open, both devices off
    cfg = sim.aircraft["spark"]
    assert not board.get(cfg.power.relay) and not board.get(cfg.controller.relay)
    assert spark_powered(simulator) == {"spark aircraft": False, "spark controller": False}


def test_an_aircraft_that_does_not_come_up_plays_nothing_more(sim, board, tmp_path):
    cfg = sim.aircraft["spark"]
    dead = dataclasses.replace(cfg, link="udpin:127.0.0.1:9")  # nothing answers there
    windows = dataclasses.replace(sim.windows, boot=0.3)
    bench = dataclasses.replace(sim, aircraft={**sim.aircraft, "spark": dead},
                                windows=windows)
    pool = SessionPool(bench, board, Catalog.load(), tmp_path)
    try:
        with pytest.raises(NotReady, match="did not come up"):
            pool.session("spark", WINDOW)
        t0 = time.monotonic()
        with pytest.raises(NotReady, match="did not come up earlier in this run"):
            pool.session("spark", Scenario("another", powered_window))
        assert time.monotonic() - t0 < 0.3  # no second boot wait
    finally:
        pool.stop()


def test_stop_interrupts_a_running_session_cancels_the_rest_and_leaves_all_off(
        make_pool, sim, board, simulator):
    def long(s, st):
        with s.phase("on"):
            st.power_on(s.act)
            s.observe(30.0)

    long_window = Scenario("long", long)
    pool = make_pool()
    pool.plan([("spark", long_window), ("spark", WINDOW)])
    cfg = sim.aircraft["spark"]
    deadline = time.monotonic() + 10
    while not any(a.what.startswith("observe") for a in _actions(pool)):
        assert time.monotonic() < deadline, "the session never reached its observation"
        time.sleep(0.02)
    assert spark_powered(simulator) == {"spark aircraft": True, "spark controller": True}
    t0 = time.monotonic()
    pool.stop()
    assert time.monotonic() - t0 < 3.0
    with pytest.raises(Stopped):
        pool.session("spark", long_window)
    with pytest.raises(Stopped, match="cancelled"):
        pool.session("spark", WINDOW)
    assert not board.get(cfg.power.relay) and not board.get(cfg.controller.relay)
    assert spark_powered(simulator) == {"spark aircraft": False, "spark controller": False}
    assert pool.threads() and not any(t.is_alive() for t in pool.threads())


def _actions(pool):
    """The actions recorded so far by the sessions the pool is playing."""
    return [a for s in pool.playing() for ph in list(s.phases) for a in list(ph.actions)]


def test_an_app_that_never_shows_the_aircraft_is_not_ready(sim, board, tmp_path,
                                                           monkeypatch):
    """The aircraft link is up but the app never shows the aircraft connected: the
    aircraft is not ready, with that reason, within its boot window."""
    from hil.remote.agent import AgentApp

    def app_launched(s, st):
        st.app.launch()
        try:
            with s.phase("on"):
                st.power_on(s.act)
        finally:
            st.power_off(s.act)
            st.app.close()

    monkeypatch.setattr(AgentApp, "linked", lambda self: False)
    windows = dataclasses.replace(sim.windows, boot=1.0)
    pool = SessionPool(dataclasses.replace(sim, windows=windows), board, Catalog.load(),
                       tmp_path)
    try:
        with pytest.raises(NotReady, match=r"spark \(DJI Spark\) did not come up: the "
                                           r"aircraft link is up but the app on pixel-spark "
                                           r"does not show the aircraft within"):
            pool.session("spark", Scenario("app", app_launched))
    finally:
        pool.stop()
