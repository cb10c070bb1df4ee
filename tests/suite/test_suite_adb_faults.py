"""Each adb fault the simulated Android phone plays ends the claims it touches as an
ERROR naming the phone and the step, never a pass; the others are judged as usual.

The claim suite runs on benches/sim-dji.toml (the Spark's phone on adb) in subprocesses,
one per fault, two at a time, on two claims with short sessions: K5 (diagnostics off:
the toggle is driven) and K6 (uplink cut: settings read, app launched, aircraft linked).
"""

import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest
from sim_runs import ROOT

from fixtures.tools import cannot_run
from hil.sim.adbserver import adb_binary
from hil.sim.faults import FAULTS

# fault -> {claim: (outcome, what the message says)}; the phone is pixel-spark
EXPECTED = {
    "adb_toggle_ignored": {"K5": ("error", "setting diagnostics did not take off"),
                           "K6": ("passed", "")},
    "adb_unknown_dialog": {c: ("error", "launch the app: the app's first screen (home) did "
                                        "not show") for c in ("K5", "K6")},
    "adb_dump_fails": {c: ("error", "cannot read the screen: ERROR: could not get idle "
                                    "state.") for c in ("K5", "K6")},
    # the app dies once, when it first sees the aircraft (in K5's session); K6's is clean
    "adb_app_crash": {"K5": ("error", "the app crashed (dialog crash seen and dismissed)"),
                      "K6": ("passed", "")},
    "adb_version_change": {c: ("error", "the app's version changed during the run, from "
                                        "4.3.36+sim to 4.3.37+sim") for c in ("K5", "K6")},
    # the phone goes off adb when the app first sees the aircraft, and stays off
    "adb_offline": {c: ("error", "dropped off adb during") for c in ("K5", "K6")},
}
CLAIM_OF = {"test_k5_diagnostics_setting_off[spark]": "K5",
            "test_k6_uplink_cut[spark]": "K6"}


def outcomes(junit: str) -> dict[str, tuple[str, str]]:
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        claim = CLAIM_OF.get(case.get("name"))
        bad = next((c for c in case if c.tag in ("error", "failure", "skipped")), None)
        out[claim] = ("passed", "") if bad is None else \
            ({"failure": "failed"}.get(bad.tag, bad.tag), bad.get("message", "") + bad.text
             if bad.text else bad.get("message", ""))
    return out


def test_every_adb_fault_is_tested():
    assert set(EXPECTED) == {f for f, (claim, _) in FAULTS.items() if claim == "!"}


@pytest.mark.slow
def test_each_adb_fault_is_an_error_naming_the_phone_and_the_step(tmp_path):
    if adb_binary() is None:
        cannot_run("needs an adb binary (the adbutils wheel brings one)")

    def one(fault):
        d = tmp_path / fault
        d.mkdir()
        res = subprocess.run(
            [sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider", "-q",
             "-m", "spark", "-k", "k5 or k6", "--bench", str(ROOT / "benches" / "sim-dji.toml"),
             "--sim-fault", fault, f"--artifacts={d / 'a'}", f"--junitxml={d / 'junit.xml'}"],
            cwd=ROOT, capture_output=True, text=True, timeout=600)
        return fault, res, outcomes(str(d / "junit.xml"))

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(one, EXPECTED))
    problems = []
    for fault, res, got in runs:
        for claim, (outcome, said) in EXPECTED[fault].items():
            status, message = got.get(claim, ("missing", ""))
            if status != outcome or (said and (said not in message
                                               or "phone pixel-spark" not in message)):
                problems.append(f"{fault} {claim}: got {status}: {message[:400]!r}; expected "
                                f"{outcome} saying {said!r}\n{res.stdout[-1500:]}")
        assert res.returncode == (0 if all(o == "passed" for o, _ in EXPECTED[fault].values())
                                  else 1), (fault, res.stdout[-2000:])
    assert not problems, "\n".join(problems)
