"""The claim suite proves it can fail: under each fault profile exactly its claims fail.

Each case runs the real claim suite (`pytest claims`) on the simulated bench in a
subprocess, the way a technician would, and reads the run's summary.json. The table
printed at the end is the suite's fault detection.
"""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w

from fixtures.tools import need_tool
from hil.sim.faults import FAULTS

ROOT = Path(__file__).resolve().parents[2]
MODELS = ("spark", "mavic", "phantom4pro", "inspire2")
CLAIMS = ("K4", "K5", "K6")

# fault profile -> the claims that must fail (on every model); all others must pass
EXPECTED = {
    None: set(),
    "no_diagnostics": {"K4"},
    "diagnostics_ignore_setting": {"K5"},
    "cut_ineffective": {"K6"},
}


def test_every_fault_profile_is_in_the_matrix():
    assert set(EXPECTED) - {None} == set(FAULTS)
    assert all(EXPECTED[name] == {claim} for name, (claim, _) in FAULTS.items())


def run_suite(tmp_path, *args):
    artifacts = tmp_path / "artifacts"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider", "-q",
         "--artifacts", str(artifacts), "--junitxml", str(tmp_path / "junit.xml"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    summaries = list(artifacts.glob("*/summary.json"))
    assert len(summaries) == 1, res.stdout[-3000:] + res.stderr[-3000:]
    return res, json.loads(summaries[0].read_text())["results"]


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(EXPECTED), ids=lambda f: f or "no-fault")
def test_each_fault_fails_exactly_its_claims(tmp_path, fault):
    args = ["--sim-fault", fault] if fault else []
    res, results = run_suite(tmp_path, *args)
    got = {(r["model"], r["claim"]): r["status"] for r in results}
    want = {(m, c): ("fail" if c in EXPECTED[fault] else "pass")
            for m in MODELS for c in CLAIMS}
    assert got == want, res.stdout[-4000:]
    for r in results:
        ev = json.loads(Path(r["evidence"]).read_text())
        assert Path(ev["pcap"]).stat().st_size > 24  # more than a pcap header
        assert ev["firmware"] and ev["phases"] and ev["verdict"]["reasons"]
    assert res.returncode == (1 if EXPECTED[fault] else 0)
    junit = (tmp_path / "junit.xml").read_text()
    assert 'name="model" value="spark"' in junit and 'name="bench" value="sim"' in junit


def test_sim_capture_reads_cleanly_in_tshark(tmp_path):
    tshark = need_tool("tshark")
    res, results = run_suite(tmp_path, "-m", "spark", "-k", "k4")
    assert [r["status"] for r in results] == ["pass"], res.stdout[-3000:]
    t = subprocess.run([tshark, "-r", results[0]["pcap"], "-T", "fields", "-e",
                        "tls.handshake.extensions_server_name", "-e", "dns.qry.name"],
                       capture_output=True, text=True, timeout=120)
    complaints = [line for line in t.stderr.splitlines()
                  if line.strip() and "Running as user" not in line]
    assert t.returncode == 0 and not complaints, t.stderr
    assert "flysafe-api.dji.com" in t.stdout
    assert "statistical-report.djiservice.org" in t.stdout


def test_marker_selects_exactly_those_models(tmp_path):
    res = subprocess.run([sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider",
                          "--collect-only", "-q", "-m", "mavic or inspire2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    ids = [line for line in res.stdout.splitlines() if "::" in line]
    assert len(ids) == 6, res.stdout
    assert all(("[mavic]" in i) or ("[inspire2]" in i) for i in ids), ids


def test_model_absent_from_the_bench_is_skipped_with_a_reason(tmp_path):
    raw = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
    for name in ("mavic", "phantom4pro", "inspire2"):
        del raw["aircraft"][name]
    bench = tmp_path / "spark-only.toml"
    bench.write_text(tomli_w.dumps(raw))
    res = subprocess.run([sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider",
                          "-q", "-rs", "-m", "inspire2", "--bench", str(bench),
                          "--artifacts", str(tmp_path / "a")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout
    assert "3 skipped" in res.stdout
    assert f"bench sim ({bench}) has no inspire2 aircraft" in res.stdout
