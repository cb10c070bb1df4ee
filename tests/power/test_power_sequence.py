"""Power sequences on a recording board: switch, button patterns, a press always released."""

import pytest

from hil.bench import PowerConfig
from hil.models import ButtonTiming
from hil.power.sequence import PowerSequence


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
    p.on()
    assert b.calls == [("set", 3, True), ("set", 3, False)] * 2
    assert s == [0.3, 0.4, 2.2]
    p.on()  # already on: pressing again would turn it off
    assert len(b.calls) == 4
    p.off()
    assert len(b.calls) == 8 and p.powered is False


def test_an_interrupted_press_is_released():
    b = Board()

    def sleep(x):
        raise KeyboardInterrupt

    cfg = PowerConfig(3, "button", ButtonTiming(), off_time=1.0)
    p = PowerSequence(b, cfg, "spark controller", sleep=sleep)
    with pytest.raises(KeyboardInterrupt):
        p.on()
    assert b.calls == [("set", 3, True), ("set", 3, False)]
    assert p.powered is None  # unknown: the pattern did not complete
