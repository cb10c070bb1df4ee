"""Every relay driver drives the claim suite: the sim bench speaks the protocol it names."""

import subprocess

import pytest
from sim_runs import ROOT, claims_cmd, sim_template

from hil.power.boards import DRIVERS


@pytest.mark.parametrize("driver", [d for d in DRIVERS if d != "numato"])
def test_spark_claims_pass_on_a_sim_bench_with_this_relay(tmp_path, driver):
    bench = sim_template(tmp_path, lambda raw: raw["relay"].update(driver=driver))
    res = subprocess.run(claims_cmd(bench, "-m", "spark", "-q", "--artifacts",
                                    str(tmp_path / "a")), cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0 and " passed" in res.stdout, res.stdout[-3000:]
    assert f"relay: {driver} board at " in res.stdout  # the board the run opened
    # no relay warnings or errors, and no press the simulated devices ignored
    assert not [line for line in res.stdout.splitlines()
                if ("WARNING" in line or "ERROR" in line) and "relay" in line], res.stdout
