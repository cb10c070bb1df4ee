"""A safe bench whatever happens: Ctrl-C or SIGTERM mid-phase, a second job, a dead model."""

import json
import os
import signal
import subprocess
import time
import tomllib

import pytest
import tomli_w
from sim_runs import ROOT, claims_cmd, sim_template

from hil import bench as benchmod
from hil.lock import BenchBusy, BenchLock
from hil.power.numato import NumatoBoard


def switch_bench(raw):
    """The Spark on `switch` channels, so a channel's state is the device's power."""
    for key in ("power", "controller"):
        raw["aircraft"]["spark"][key] = {"relay": raw["aircraft"]["spark"][key]["relay"],
                                         "sequence": "switch", "off_time": 0.01}
    raw["windows"]["observe"] = 30.0


def wait_for(proc, text, timeout=60):
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"never saw {text!r}:\n{''.join(lines[-40:])}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_phase_leaves_every_channel_open(tmp_path, served_bench, sig):
    resolved = served_bench(sim_template(tmp_path, switch_bench))
    bench = benchmod.load(resolved)
    run = subprocess.Popen(claims_cmd(resolved, "-m", "spark", "-k", "k4",
                                      "--artifacts", str(tmp_path / "a")),
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # the aircraft answers only while both switch channels are closed: inside the phase
    wait_for(run, "aircraft heartbeat on")
    run.send_signal(sig)
    out, _ = run.communicate(timeout=60)
    assert run.returncode == 2, out  # pytest: interrupted
    with NumatoBoard(bench.relay.url, bench.relay.channels) as board:
        assert board.states() == [False] * bench.relay.channels
    assert "power off (switch, relay channel 0)" in out


HOLD = """
import sys, time
from hil.lock import BenchLock
BenchLock("lab9", "/dev/ttyACM9", command="holder").acquire()
print("held", flush=True)
time.sleep(float(sys.argv[1]))
"""


def test_lock_names_the_holder_then_frees_when_it_dies(tmp_path, monkeypatch):
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path))
    holder = subprocess.Popen([os.sys.executable, "-c", HOLD, "30"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "HIL_LOCK_DIR": str(tmp_path)})
    assert holder.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    with pytest.raises(BenchBusy, match=rf"bench lab9 is in use by pid {holder.pid} on .* "
                                        r"\(holder\); gave up after 0.3 s"):
        BenchLock("lab9", "/dev/ttyACM9").acquire(timeout=0.3)
    assert time.monotonic() - t0 >= 0.3
    BenchLock("lab9", "/dev/ttyACM8").acquire().release()  # another bench: not blocked
    holder.kill()  # dies without releasing
    holder.wait()
    lock = BenchLock("lab9", "/dev/ttyACM9").acquire(timeout=2)
    assert lock.previous["pid"] == holder.pid  # reported, and taken over
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()
    assert BenchLock("lab9", "/dev/ttyACM9").acquire().previous is None  # clean release


def test_second_job_on_the_same_bench_stops_with_the_first_ones_pid(tmp_path, served_bench):
    resolved = served_bench(sim_template(
        tmp_path, lambda raw: raw["windows"].update(observe=20.0)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(claims_cmd(resolved, "-m", "spark", "-k", "k4", "--artifacts",
                                        str(tmp_path / "a1")), cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(first, "power on")  # it holds the bench
        second = subprocess.run(claims_cmd(resolved, "-m", "spark", "--bench-lock-timeout",
                                           "0.5", "--artifacts", str(tmp_path / "a2")),
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stdout
        assert f"is in use by pid {first.pid} on" in second.stdout
        assert "gave up after 0.5 s" in second.stdout
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)


def test_a_model_that_does_not_come_up_fails_its_tests_with_one_reason(tmp_path,
                                                                        served_bench):
    resolved = served_bench()
    raw = tomllib.loads(resolved.read_text())
    raw["aircraft"]["spark"]["link"] = "udpin:127.0.0.1:9"  # nothing answers there
    raw["windows"]["boot"] = 0.4
    broken = tmp_path / "broken.toml"
    broken.write_text(tomli_w.dumps(raw))
    res = subprocess.run(claims_cmd(broken, "-m", "spark", "--artifacts", str(tmp_path / "a")),
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    out = res.stdout
    assert res.returncode == 1, out
    assert " passed" not in out.splitlines()[-1]
    # one test meets it; every other Spark test fails at once, naming it, never waiting.
    # Counted in the ERRORS section only: the short summary repeats the messages in full
    # or cut to the terminal's width, depending on the width and on a CI variable.
    errors = out.split("short test summary info")[0]
    assert errors.count("NotReady: spark (DJI Spark) did not come up: ") == 1
    later = errors.count("spark did not come up earlier in this run") + \
        errors.count("session of spark failed earlier in this run")
    assert later == 8, out[-3000:]
    assert "Traceback" not in out and 'File "/' not in out


def test_channels_closed_at_the_start_are_reported_and_opened(tmp_path, served_bench):
    """A crashed job left two channels closed: the next run names them with their owners,
    opens them, and runs as usual."""
    resolved = served_bench()
    bench = benchmod.load(resolved)
    with NumatoBoard(bench.relay.url, bench.relay.channels) as board:
        board.set(1, True)
        board.set(6, True)
    res = subprocess.run(claims_cmd(resolved, "-m", "spark", "-k", "k4", "--artifacts",
                                    str(tmp_path / "a")), cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    out = res.stdout
    assert res.returncode == 0 and "1 passed" in out, out[-3000:]
    for ch, owner in ((1, "spark controller"), (6, "inspire2 aircraft")):
        assert (f"relay {bench.relay.url} channel {ch} ({owner}) was closed at the start of "
                "the run (a crashed job?); opening it") in out, out[-3000:]
    with NumatoBoard(bench.relay.url, bench.relay.channels) as board:
        assert board.states() == [False] * bench.relay.channels
