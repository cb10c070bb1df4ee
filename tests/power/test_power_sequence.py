"""Power sequences on a recording board: switch, button patterns, a press always released."""

import pytest

from hil.bench import PowerConfig
from hil.models import ButtonTiming
from hil.power.record import PowerRecord
from hil.power.sequence import PowerSequence
from hil.power.state import StateUnknown


class Board:
    def __init__(self):
        self.calls = []

    def set(self, ch, closed):
        self.calls.append(("set", ch, closed))


def seq(kind, board, sleeps):
    cfg = PowerConfig(3, kind, ButtonTiming(0.3, 0.4, 2.2), off_time=5.0)
    return PowerSequence(board, cfg, "spark aircraft", sleep=sleeps.append)


def test_switch_on_off_cycle():
    b, s = Board(), []
    p = seq("switch", b, s)
    p.on()
    p.cycle()
    assert b.calls == [("set", 3, True), ("set", 3, False), ("set", 3, True)]
    assert s == [pytest.approx(5.0, abs=0.1)] and p.powered  # the rest of the off-time


def test_switch_waits_out_the_off_time_before_a_reclose():
    b, s = Board(), []
    now = [100.0]
    cfg = PowerConfig(3, "switch", ButtonTiming(), off_time=5.0)
    p = PowerSequence(b, cfg, "spark aircraft", sleep=s.append, clock=lambda: now[0])
    p.on()  # never opened by this run: no wait
    p.off()
    now[0] += 1.5
    p.on()  # open for 1.5 s only: 3.5 s more
    assert s == [pytest.approx(3.5)]
    p.off()
    now[0] += 7.0
    p.on()  # long enough already
    assert s == [pytest.approx(3.5)]
    assert b.calls == [("set", 3, True), ("set", 3, False)] * 2 + [("set", 3, True)]


def test_button_on_is_short_gap_long_and_not_repeated():
    b, s = Board(), []
    p = seq("button", b, s)
    p.powered = False  # read by its owner before the first press
    p.on()
    assert b.calls == [("set", 3, True), ("set", 3, False)] * 2
    assert s == [0.3, 0.4, 2.2]
    p.on()  # already on: pressing again would turn it off
    assert len(b.calls) == 4
    p.off()
    assert len(b.calls) == 8 and p.powered is False


def test_an_interrupted_press_is_released(tmp_path):
    b = Board()

    def sleep(x):
        raise KeyboardInterrupt

    cfg = PowerConfig(3, "button", ButtonTiming(), off_time=1.0)
    record = PowerRecord(tmp_path / "power.json")
    p = PowerSequence(b, cfg, "spark controller", sleep=sleep, record=record)
    p.powered = False
    with pytest.raises(KeyboardInterrupt):
        p.on()
    assert b.calls == [("set", 3, True), ("set", 3, False)]
    assert p.powered is None  # unknown: the pattern did not complete
    c = record.get("spark controller")  # and the record says so to the next job
    assert c.on and not c.done and "interrupted" in c.describe()


def test_a_button_of_unknown_state_is_never_pressed():
    b, s = Board(), []
    p = seq("button", b, s)
    for action in (p.on, p.off):
        with pytest.raises(StateUnknown, match="spark aircraft: its state is not known"):
            action()
    assert b.calls == []


def test_a_press_is_recorded_before_it_starts_and_when_it_completed(tmp_path):
    record = PowerRecord(tmp_path / "power.json")
    seen = []

    class Watching(Board):
        def set(self, ch, closed):
            seen.append(record.get("spark aircraft"))  # what a SIGKILL here leaves behind
            super().set(ch, closed)

    cfg = PowerConfig(3, "button", ButtonTiming(0.3, 0.4, 2.2), off_time=5.0)
    p = PowerSequence(Watching(), cfg, "spark aircraft", sleep=lambda x: None, record=record)
    p.powered = False
    p.on()
    assert all(c.on and not c.done for c in seen) and len(seen) == 4
    assert record.get("spark aircraft").done and record.get("spark aircraft").on
    p.off()
    assert record.get("spark aircraft").done and not record.get("spark aircraft").on
