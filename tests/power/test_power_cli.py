"""`hil power` against a served simulated bench: the technician's commands at the bench."""

import subprocess
import sys

from sim_runs import ROOT


def hil(*args):
    return subprocess.run([sys.executable, "-m", "hil.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_power_on_off_status_and_refusals(served_bench):
    bench = str(served_bench())
    status = hil("power", "status", "--bench", bench)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert len(lines) == 8
    assert lines[0] == "channel 0: open  spark aircraft (button): unknown"
    assert lines[1] == "channel 1: open  spark controller (button): off"
    # the aircraft alone cannot be read while its controller (its radio) is off
    res = hil("power", "on", "spark", "--bench", bench)
    assert res.returncode == 2 and "nothing was pressed" in res.stderr
    assert hil("power", "on", "spark.controller", "--bench", bench).stdout == \
        "spark controller: on\n"
    assert hil("power", "on", "spark", "--bench", bench).stdout == "spark aircraft: on\n"
    assert hil("power", "on", "spark", "--bench", bench).stdout == \
        "spark aircraft: already on\n"
    lines = hil("power", "status", "--bench", bench).stdout.splitlines()
    assert lines[:3] == ["channel 0: open  spark aircraft (button): on",
                         "channel 1: open  spark controller (button): on",
                         "channel 2: open  mavic aircraft (button): unknown"]
    res = hil("power", "off", "all", "--bench", bench)
    off = res.stdout.splitlines()
    assert off[0] == "spark aircraft: off" and "spark controller: off" in off
    assert off[1].startswith("mavic aircraft: its state cannot be read")
    assert "mavic controller: already off" in off
    assert res.returncode == 2
    assert "left alone, state unknown: mavic aircraft, phantom4pro aircraft" in res.stderr
    res = hil("power", "on", "spark.remote", "--bench", bench)
    assert res.returncode == 2 and "no power target 'spark.remote'" in res.stderr
    res = hil("power", "status", "--bench", str(ROOT / "benches" / "sim.toml"))
    assert res.returncode == 2 and "is simulated: start it with `hil sim" in res.stderr
