"""A bench recovers by itself after a job killed with SIGKILL (a CI timeout, the OOM killer).

A SIGKILL runs no teardown: the Spark and its controller stay on (button devices: the
relay's contacts are open, the devices keep their power). The next job must read their
state before its first press, turn them off, and run as usual; where the link cannot tell,
it acts on the power record the killed job left in the lock folder, and says so.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tomllib

import pytest
import tomli_w
from sim_runs import ROOT, claims_cmd

from hil import bench as benchmod
from hil.power.record import PowerRecord


def variant(resolved, tmp_path, name, edit):
    """A copy of the served bench's file (same bench and relay: same lock and record)."""
    raw = tomllib.loads(resolved.read_text())
    edit(raw)
    path = tmp_path / name
    path.write_text(tomli_w.dumps(raw))
    return path


def spark_status(resolved) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "hil.cli", "power", "status", "--bench",
                          str(resolved)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()[:2]  # channels 0 and 1: the spark aircraft, controller


def kill_mid_session(resolved, tmp_path):
    """Start the Spark's claims, SIGKILL the job inside its first observation window (the
    defaults session: a baseline power-on and off, then the power-on that is observed)."""
    slow = variant(resolved, tmp_path, "slow.toml",
                   lambda raw: raw["windows"].update(observe=30.0))
    job = subprocess.Popen(claims_cmd(slow, "-m", "spark", f"--artifacts={tmp_path / 'k'}"),
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen, heard = [], 0
    try:
        for line in job.stdout:
            seen.append(line)
            heard += "spark: aircraft heartbeat on" in line
            if heard == 2:
                break
        else:
            raise AssertionError("the job never powered the spark:\n" + "".join(seen[-40:]))
    finally:
        job.send_signal(signal.SIGKILL)
        job.communicate(timeout=30)
    assert job.returncode == -signal.SIGKILL
    status = spark_status(resolved)  # left on: nothing ran its teardown
    assert all(" (button): on (" in line for line in status), status
    record = PowerRecord.for_bench(benchmod.load(resolved).name,
                                   benchmod.load(resolved).relay.url)
    assert record.get("spark aircraft").on and record.get("spark controller").on


def test_after_a_sigkill_the_next_run_passes_and_leaves_every_device_off(tmp_path,
                                                                         served_bench):
    resolved = served_bench()
    kill_mid_session(resolved, tmp_path)
    res = subprocess.run(claims_cmd(resolved, "-m", "spark", f"--artifacts={tmp_path / 'a'}"),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = res.stdout
    assert res.returncode == 0 and "9 passed" in out.splitlines()[-1], out[-4000:]
    for device in ("spark aircraft", "spark controller"):  # read, then turned off
        assert f"WARNING hil.station: {device} is on: the link udpin:" in out, out[-4000:]
        assert f"power off {device}, found on before the session: {device} is on: the link " \
               f"udpin:" in evidence_actions(tmp_path / "a")
    status = spark_status(resolved)
    assert all(" (button): off (" in line and "hears nothing" in line for line in status), \
        status


def evidence_actions(artifacts) -> str:
    """Every action the run's evidence recorded, one per line."""
    return "\n".join(a["what"] for path in artifacts.rglob("evidence.json")
                     for ph in json.loads(path.read_text())["phases"] for a in ph["actions"])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("app", ["closed", "running"])
def test_after_a_sigkill_with_a_silent_link_the_record_or_the_app_tells(tmp_path,
                                                                        served_bench, app):
    """The link hears nothing now. With the app closed (K8's no-app session closes it
    before the power-on) only the record can tell: the run acts on it and says so. With
    the app launched and showing the aircraft (every other session), that is a reading,
    and it wins."""
    resolved = served_bench()
    kill_mid_session(resolved, tmp_path)
    port = free_udp_port()

    def silent(raw):  # the spark's link hears nothing now; its devices are still on
        raw["aircraft"]["spark"]["link"] = f"udpin:127.0.0.1:{port}"
        raw["windows"]["boot"] = 0.5

    deaf = variant(resolved, tmp_path, "silent-link.toml", silent)
    only = ["-k", "k8"] if app == "closed" else []
    res = subprocess.run(claims_cmd(deaf, "-m", "spark", *only,
                                    f"--artifacts={tmp_path / 'a'}"),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = res.stdout
    assert res.returncode == 1, out[-4000:]  # it cannot come up on a silent link: NotReady
    assert "did not come up" in out
    for device in ("spark aircraft", "spark controller"):  # (an errored session keeps no
        said = (f"{device} is on: the link udpin:127.0.0.1:{port} hears nothing (off, or a "
                "link that does not reach it); acting on the record: last commanded on at "
                if app == "closed" else
                f"{device} is on: the app on pixel-spark shows the aircraft connected")
        assert f"WARNING hil.station: {said}" in out, out[-4000:]  # evidence to look in)
    status = spark_status(resolved)  # read on the real link: every device is off
    assert all(" (button): off (" in line and "hears nothing" in line for line in status), \
        status
