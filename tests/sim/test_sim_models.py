"""The simulator's pure models: button presses, and the app's behaviour per fault."""

import dataclasses
from pathlib import Path

import pytest

from hil import bench
from hil.models import ButtonTiming
from hil.sim.app import BENCH_HOST, DIAGNOSTICS, NFZ, AppBehaviour, AppInputs, MediaItem
from hil.sim.bench import SimBench
from hil.sim.power import SimPowerInput

T = ButtonTiming(short=0.3, gap=0.3, long=2.2)


def press(inp, t, held):
    inp.contact(True, t)
    inp.contact(False, t + held)
    return t + held


def test_button_short_then_long_toggles_power_and_boots():
    inp = SimPowerInput("button", T, boot_time=20)
    t = press(inp, 0.0, 0.3)
    t = press(inp, t + 0.3, 2.2)
    assert inp.powered and not inp.booted(t + 19) and inp.booted(t + 20)
    t = press(inp, t + 30, 0.3)
    press(inp, t + 0.3, 2.2)
    assert not inp.powered


def test_button_patterns_that_do_nothing():
    for pattern in ([0.3], [2.2], [0.3, 1.0], [2.2, 0.3]):
        inp = SimPowerInput("button", T, boot_time=0)
        t = 0.0
        for held in pattern:
            t = press(inp, t, held) + 0.3
        assert not inp.powered, pattern
    inp = SimPowerInput("button", T, boot_time=0)
    t = press(inp, 0.0, 0.3)
    press(inp, t + 5.0, 2.2)  # the long press came too late after the short one
    assert not inp.powered


def test_an_ignored_press_says_why():
    inp = SimPowerInput("button", T, boot_time=0)
    assert inp.contact(True, 0.0) is None
    assert inp.contact(False, 2.2) == "a long press without a short press before it"
    t = press(inp, 5.0, 0.3)
    inp.contact(True, t + 2.6)  # long starts 2.6 s after the short one: gap + long is 2.5
    assert inp.contact(False, t + 4.8) == \
        "a long press 2600 ms after the short one (at most 2500 ms)"
    assert not inp.powered


def test_late_contact_changes_still_make_the_pattern():
    """Commands that reach the board late stretch the short press and the gap; a press
    under 3/4 of the long one is short, and the long one may start up to gap + long after
    the short one."""
    inp = SimPowerInput("button", T, boot_time=0)
    t = press(inp, 0.0, 1.6)  # a 0.3 s press that came out 1.3 s late: still short
    press(inp, t + 2.4, 2.2)  # a gap of 0.3 s that came out 2.1 s late
    assert inp.powered


def test_switch_follows_the_contact():
    inp = SimPowerInput("switch", T, boot_time=1)
    inp.contact(True, 0.0)
    assert inp.powered and inp.booted(1.0)
    inp.contact(False, 2.0)
    assert not inp.powered and not inp.booted(3.0)


def run(beh, inputs, until=30.0, step=0.5):
    sent = []
    t = 0.0
    while t <= until:
        sent += [(t, r.name) for r in beh.tick(t, inputs(t))]
        t += step
    return sent


def linked_at(t0, settings=None, cut=lambda t: False):
    return lambda t: AppInputs(True, t >= t0, cut(t), settings or {"diagnostics": True})


def names(sent):
    return [n for _, n in sent]


def test_app_sends_nfz_then_diagnostics_after_link_up():
    sent = run(AppBehaviour(1.0, "ios"), linked_at(5.0))
    assert sent == [(6.0, NFZ), (7.0, DIAGNOSTICS)]


def test_diagnostics_setting_and_faults():
    off = {"diagnostics": False}
    assert DIAGNOSTICS not in names(run(AppBehaviour(1.0, "ios"), linked_at(0, off)))
    beh = AppBehaviour(1.0, "ios", frozenset({"diagnostics_ignore_setting"}))
    assert DIAGNOSTICS in names(run(beh, linked_at(0, off)))
    beh = AppBehaviour(1.0, "ios", frozenset({"no_diagnostics"}))
    assert names(run(beh, linked_at(0))) == [NFZ]


def test_nfz_retried_while_cut_diagnostics_dropped():
    sent = run(AppBehaviour(1.0, "ios"), linked_at(0, cut=lambda t: t < 20))
    assert names(sent).count(DIAGNOSTICS) == 1
    nfz_times = [t for t, n in sent if n == NFZ]
    assert nfz_times == [1.0, 9.0, 17.0, 25.0]  # the last one after the restore


def test_time_scale_and_android_noise():
    sent = run(AppBehaviour(0.01, "android"), linked_at(0.0), until=1.3, step=0.005)
    assert sent[0][1] == NFZ and abs(sent[0][0] - 0.01) < 0.006
    assert "connectivitycheck.gstatic.com" in names(sent)


def test_media_over_the_open_no_fly_zone_connection():
    """Fault media_over_open_connection: the NFZ connection is kept, each new photo goes
    through it; without the fault nothing is kept and no media leaves on its own."""
    photo = MediaItem(1, 500_000)

    def inputs(t):
        return AppInputs(True, True, False, {}, (photo,) if t >= 5 else ())

    def requests(beh):
        out, t = [], 0.0
        while t <= 10:
            out += [(t, r) for r in beh.tick(t, inputs(t))]
            t += 0.5
        return out

    sent = requests(AppBehaviour(1.0, "ios", frozenset({"media_over_open_connection"})))
    nfz = [r for _, r in sent if r.purpose == "nfz"]
    media = [(t, r) for t, r in sent if r.purpose == "media"]
    assert [r.keep for r in nfz] == ["nfz"]
    assert [(t, r.name, r.up, r.via) for t, r in media] == [(6.0, NFZ, 500_000, "nfz")]
    plain = requests(AppBehaviour(1.0, "ios"))
    assert all(r.keep is None and r.via is None for _, r in plain)
    assert not [r for _, r in plain if r.purpose == "media"]


def test_control_traffic_copies_each_new_photo_to_the_bench_host():
    """Fault control_traffic: each new file goes to the bench host at once, more than its
    size; the app's own traffic is unchanged, and without the fault nothing goes there."""
    photo = MediaItem(1, 500_000)

    def inputs(t):
        return AppInputs(True, True, False, {}, (photo,) if t >= 5 else ())

    faulty = run(AppBehaviour(1.0, "ios", frozenset({"control_traffic"})), inputs, until=10)
    assert [(t, n) for t, n in faulty if n == BENCH_HOST] == [(5.0, BENCH_HOST)]
    plain = run(AppBehaviour(1.0, "ios"), inputs, until=10)
    assert [x for x in faulty if x[1] != BENCH_HOST] == plain
    beh = AppBehaviour(1.0, "ios", frozenset({"control_traffic"}))
    beh.tick(0.0, inputs(0.0))
    [req] = [r for r in beh.tick(5.0, inputs(5.0)) if r.name == BENCH_HOST]
    assert req.purpose == "control" and req.up > photo.size


def test_sim_bench_refuses_control_traffic_without_a_bench_host(tmp_path):
    sim = bench.load(Path(__file__).resolve().parents[2] / "benches" / "sim.toml")
    with pytest.raises(ValueError, match="has no bench.host_addresses"):
        SimBench(dataclasses.replace(sim, host_addresses=()), faults=("control_traffic",),
                 workdir=tmp_path)


def test_every_model_has_a_nominal_photo_size_that_names_its_source():
    from hil.models import MODELS

    spark = MODELS["spark"].photo
    assert spark.size == 3968 * 2976 // 8  # 1 bit per pixel: a lower bound on purpose
    assert spark.describe() == ("nominal 1476096 B: a 3968x2976 JPEG at 1 bit per pixel "
                                "(12 MP stills, DJI Spark specifications)")
    for m in MODELS.values():
        assert m.photo.size > 1_000_000 and "specifications" in m.photo.source
        assert m.default_link == "app"  # DJI aircraft speak DUML: a lab sees them via the app
