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
    # nothing heard and nothing on record: off, and the line says it was taken as off
    assert lines[0].startswith("channel 0: open  spark aircraft (button): off (the link ")
    assert lines[0].endswith("hears nothing (off, or a link that does not reach it), and no "
                             "command is on record: taken as off)")
    assert lines[1].startswith("channel 1: open  spark controller (button): off (")
    assert hil("power", "on", "spark.controller", "--bench", bench).stdout == \
        "spark controller: on\n"
    assert hil("power", "on", "spark", "--bench", bench).stdout == "spark aircraft: on\n"
    assert hil("power", "on", "spark", "--bench", bench).stdout == \
        "spark aircraft: already on\n"
    lines = hil("power", "status", "--bench", bench).stdout.splitlines()
    assert lines[0].startswith("channel 0: open  spark aircraft (button): on (the link ")
    assert lines[0].endswith(" hears the aircraft)")
    assert lines[1].endswith(" hears the aircraft)") and "controller (button): on" in lines[1]
    assert lines[2].startswith("channel 2: open  mavic aircraft (button): off (")
    res = hil("power", "off", "all", "--bench", bench)
    assert res.returncode == 0, res.stderr
    off = res.stdout.splitlines()
    assert off[0] == "spark aircraft: off" and "spark controller: off" in off
    assert "mavic aircraft: already off" in off and "mavic controller: already off" in off
    res = hil("power", "on", "spark.remote", "--bench", bench)
    assert res.returncode == 2 and "no power target 'spark.remote'" in res.stderr
    res = hil("power", "status", "--bench", str(ROOT / "benches" / "sim.toml"))
    assert res.returncode == 2 and "is a sim bench: start it with `hil sim" in res.stderr


def test_a_device_nothing_can_read_is_pressed_only_on_a_record(served_bench, tmp_path):
    served = served_bench()
    text = served.read_text()
    link = text.split('link = "', 1)[1].split('"', 1)[0]  # the spark's, the first aircraft
    broken = tmp_path / "broken-link.toml"  # same bench, same relay: same lock and record
    broken.write_text(text.replace(link, "/dev/hil-no-such-link", 1))
    bench = str(broken)
    res = hil("power", "on", "spark", "--bench", bench)
    assert res.returncode == 2, res.stdout
    assert res.stderr.startswith("hil: spark aircraft: its state cannot be told: the link "
                                 "/dev/hil-no-such-link cannot be read (")
    assert "no command is on record; a button press would toggle it blindly, so nothing " \
           "was pressed" in res.stderr
    assert f"hil power mark spark on|off --bench {bench}" in res.stderr
    status = hil("power", "status", "--bench", bench).stdout.splitlines()
    assert status[0].startswith("channel 0: open  spark aircraft (button): unknown (the link")
    # a person checked: it is off
    res = hil("power", "mark", "spark", "off", "--by", "ana", "--bench", bench)
    assert res.stdout == "spark aircraft: marked off (by ana)\n", res.stderr
    res = hil("power", "on", "spark", "--bench", bench)
    assert res.returncode == 0, res.stderr
    acted, done = res.stdout.splitlines()
    assert acted.startswith("spark aircraft is off: the link /dev/hil-no-such-link cannot be "
                            "read (") and "acting on the record: off, marked by ana at" in acted
    assert done == "spark aircraft: on"
    # the good link reads it on; the record agrees (commanded on, completed)
    status = hil("power", "status", "--bench", str(served)).stdout.splitlines()
    assert status[0].startswith("channel 0: open  spark aircraft (button): on (")
    res = hil("power", "off", "spark", "--bench", bench)  # acting on the harness's record
    assert "acting on the record: last commanded on at" in res.stdout, res.stderr
    status = hil("power", "status", "--bench", str(served)).stdout.splitlines()
    assert status[0].startswith("channel 0: open  spark aircraft (button): off (")
    res = hil("power", "mark", "spark", "--bench", bench)
    assert res.returncode == 2 and "hil power mark TARGET on|off" in res.stderr
