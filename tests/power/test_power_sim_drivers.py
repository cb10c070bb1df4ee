"""Every relay driver drives the claim suite: the sim bench speaks the protocol it names.

The three suites run at once (each its own simulated bench on its own ptys and ports),
started together the first time one of them is asked for: one after the other they took
75 s of a CI run, together about a third of that."""

import subprocess

import pytest
from sim_runs import ROOT, claims_cmd, sim_template

from hil.power.boards import DRIVERS

OTHERS = [d for d in DRIVERS if d != "numato"]


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    """driver -> its running `pytest claims -m spark` on a sim bench with that relay."""
    runs = {}
    try:
        for driver in OTHERS:
            tmp = tmp_path_factory.mktemp(driver)
            bench = sim_template(tmp, lambda raw, d=driver: raw["relay"].update(driver=d))
            runs[driver] = subprocess.Popen(
                claims_cmd(bench, "-m", "spark", "-q", "--artifacts", str(tmp / "a")),
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        yield runs
    finally:
        for proc in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.mark.parametrize("driver", OTHERS)
def test_spark_claims_pass_on_a_sim_bench_with_this_relay(suites, driver):
    proc = suites[driver]
    try:
        out, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the suite on the {driver} relay did not end in 300 s:\n{out[-3000:]}")
    assert proc.returncode == 0 and " passed" in out, out[-3000:]
    assert f"relay: {driver} board at " in out  # the board the run opened
    # no relay warnings or errors, and no press the simulated devices ignored
    assert not [line for line in out.splitlines()
                if ("WARNING" in line or "ERROR" in line) and "relay" in line], out
