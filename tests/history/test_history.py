"""Release gate and history on real runs of the claim suite (sim bench, Spark, K4 and G1).

Five runs are played once for the module, two at a time, each a subprocess the way a
release manager or a nightly job runs the suite (`--release`, `--history`): a clean
baseline, a candidate with `unknown_endpoint` (a new destination), a second clean one,
one with `deaf_sniffer` (every traffic claim an ERROR) and one with `diagnostics_inflated`
(diagnostics 16 times their size, every claim passing). K4 and G1 share the defaults
session, so each run plays one power session; the gate's policy requires those two.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sim_runs import ROOT

from fixtures.tools import need_tool

HIL = [sys.executable, "-m", "hil.cli"]
SELECT = ["-m", "spark", "-k", "k4 or g1"]
RUNS = {"base": None, "unknown": "unknown_endpoint", "clean": None, "deaf": "deaf_sniffer",
        "inflated": "diagnostics_inflated"}
UNKNOWN = "telemetry.sdk-unlisted.example"  # hil/sim/app.py: what unknown_endpoint calls


def suite(artifacts: Path, history: Path, *args: str, popen=False):
    cmd = [sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider", "-q",
           "--bench", str(ROOT / "benches" / "sim.toml"), "--artifacts", str(artifacts),
           "--history", str(history), *args]
    if popen:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def hil(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HIL, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """name -> the run's folder; every run added itself to `runs["db"]`."""
    top = tmp_path_factory.mktemp("runs")
    db = top / "history.sqlite"

    def one(name):
        fault = RUNS[name]
        res = suite(top / name, db, *SELECT, "--release", f"spark fw test {name}",
                    *(["--sim-fault", fault] if fault else []))
        folders = [p.parent for p in (top / name).glob("*/run.json")]
        assert len(folders) == 1, res.stdout[-3000:] + res.stderr[-2000:]
        assert "hil: history: added" in res.stdout, res.stdout[-2000:]
        return name, folders[0]

    with ThreadPoolExecutor(2) as pool:
        out = dict(pool.map(one, RUNS))
    policy = top / "policy.toml"
    policy.write_text('[claims]\nrequired = ["K4", "G1"]\n')
    out.update(db=db, policy=policy, top=top)
    return out


@pytest.fixture(scope="module")
def accepted(runs):
    res = hil("gate", "accept", str(runs["base"]), "--history", str(runs["db"]),
              "--policy", str(runs["policy"]))
    assert res.returncode == 0 and "spark: accepted" in res.stdout, res.stdout + res.stderr
    return runs


def gate(runs, name, tmp_path):
    page, js, junit = tmp_path / "gate.html", tmp_path / "gate.json", tmp_path / "junit.xml"
    res = hil("gate", str(runs[name]), "--history", str(runs["db"]), "--policy",
              str(runs["policy"]), "--html", str(page), "--json", str(js), "--junit",
              str(junit))
    return res, page.read_text(), json.loads(js.read_text()), junit.read_text()


def checks(result: dict) -> dict[str, dict]:
    (model,) = result["models"]
    return {c["name"]: c for c in model["checks"]}


def test_run_folder_records_what_the_issue_asks(runs):
    folder = runs["base"]
    rec = json.loads((folder / "run.json").read_text())
    assert rec["release"] == "spark fw test base" and rec["bench"] == "sim"
    assert rec["ended"] > rec["started"] and rec["exitstatus"] == 0
    assert rec["catalog"]["sha256"] and rec["harness"].startswith("0.")
    assert rec["aircraft"]["spark"]["firmware"] == "01.00.0900"
    assert rec["aircraft"]["spark"]["app_version"] == "4.3.36+sim"
    prof = json.loads((folder / "spark-defaults" / "profile.json").read_text())
    power_on = next(p for p in prof["phases"] if p["name"] == "power-on")
    assert power_on["categories"]["diagnostics"]["bytes_up"] > 10_000
    assert power_on["servers"]["statistical-report.djiservice.org"]["flows"] >= 1
    assert hil("report", str(folder)).returncode == 0  # hil report still reads the folder


def test_new_destination_fails_the_gate_and_the_page_names_it(accepted, tmp_path):
    res, page, result, junit = gate(accepted, "unknown", tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert result["status"] == "fail"
    c = checks(result)
    assert c["new destinations"]["status"] == "fail"
    assert [r["destination"] for r in c["new destinations"]["rows"]] == [UNKNOWN]
    assert c["claims"]["status"] == "fail"  # G1 failed too
    assert UNKNOWN in page and "spark" in page and 'id="verdict"' in page
    assert 'classname="hil.gate.spark" name="new destinations"><failure' in junit


def test_clean_candidate_passes(accepted, tmp_path):
    res, page, result, _ = gate(accepted, "clean", tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert {n: c["status"] for n, c in checks(result).items()} == {
        "run": "pass", "claims": "pass", "baseline": "pass", "new destinations": "pass",
        "new categories": "pass", "gone": "pass", "growth": "pass"}
    # the page links to the candidate's evidence, relative to itself
    for href in re.findall(r'<a href="([^"]+)"', page):
        assert (tmp_path / href).resolve().is_file(), href


def test_deaf_sniffer_is_inconclusive_never_a_pass(accepted, tmp_path):
    res, _, result, junit = gate(accepted, "deaf", tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert checks(result)["claims"]["status"] == "inconclusive"
    assert "<error" in junit


def test_diagnostics_growth_fails_the_gate_though_every_claim_passes(accepted, tmp_path):
    res, page, result, _ = gate(accepted, "inflated", tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    c = checks(result)
    assert c["claims"]["status"] == "pass" and c["new destinations"]["status"] == "pass"
    grown = c["growth"]["rows"]
    assert grown and {g["category"] for g in grown} == {"diagnostics"}
    assert all(g["flows"] and g["candidate_bytes_up"] > 2 * g["baseline_bytes_up"]
               for g in grown)
    assert "statistical-report.djiservice.org" in page


def test_gate_without_a_baseline_is_inconclusive(runs, tmp_path):
    res = hil("gate", str(runs["clean"]), "--history", str(tmp_path / "empty.sqlite"),
              "--policy", str(runs["policy"]))
    assert res.returncode == 2 and "no accepted baseline for spark" in res.stdout


def test_bad_policy_key_is_one_line_naming_file_and_key(runs, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[traffic]\nfactr = 3\n")
    res = hil("gate", str(runs["clean"]), "--policy", str(bad))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"hil: policy file {bad}: unknown key traffic.factr; known: factor, floor, "
        "fail_on_new_destination, fail_on_new_category, ignore_categories, "
        "ignore_destinations"]


def test_history_add_of_a_copied_folder_twice_adds_it_once(runs, tmp_path):
    copy = tmp_path / "from-another-bench" / runs["base"].name
    shutil.copytree(runs["base"], copy)
    db = tmp_path / "h.sqlite"
    first = hil("history", "add", str(copy), "--history", str(db))
    again = hil("history", "add", str(copy), "--history", str(db))
    assert first.returncode == 0 and first.stdout.startswith("added: "), first.stderr
    assert again.returncode == 0 and again.stdout.startswith("unchanged: "), again.stderr
    # the original folder is the same run: still one row
    assert hil("history", "add", str(runs["base"]), "--history", str(db)).stdout.startswith(
        "unchanged: ")
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone() == (1,)
        assert c.execute("SELECT COUNT(*) FROM traffic").fetchone()[0] > 5


def test_damaged_and_foreign_folders_are_refused_with_path_and_reason(runs, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(runs["clean"], damaged)
    ev = next(damaged.glob("*/evidence.json"))
    ev.write_text(ev.read_text()[:100])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a run")
    db = tmp_path / "h.sqlite"
    res = hil("history", "add", str(damaged), str(foreign), "--history", str(db))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith(f"hil: refused: {damaged}: {ev.relative_to(damaged)} cannot "
                               "be read as JSON")
    assert lines[1].startswith(f"hil: refused: {foreign}: no run.json: not the folder of a "
                               "run of this harness")
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)


def test_a_kill_mid_add_leaves_the_database_as_it_was(runs, tmp_path):
    db = tmp_path / "h.sqlite"
    assert hil("history", "add", str(runs["base"]), "--history", str(db)).returncode == 0
    # SIGKILL the adding process after its new run's row is written, before the commit
    script = (
        "import os, signal, sys\n"
        "import hil.history as h\n"
        "from hil import runfolder\n"
        "real = h.json.dumps\n"
        "calls = []\n"
        "class J:\n"
        "    loads = staticmethod(h.json.loads)\n"
        "    @staticmethod\n"
        "    def dumps(x, **kw):\n"
        "        calls.append(1)\n"
        "        if len(calls) == 3:\n"  # catalog, faults (runs row), then a verdict's reasons
        "            os.kill(os.getpid(), signal.SIGKILL)\n"
        "        return real(x, **kw)\n"
        "h.json = J\n"
        "h.History(sys.argv[1]).add(runfolder.load(sys.argv[2]))\n")
    res = subprocess.run([sys.executable, "-c", script, str(db), str(runs["clean"])],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == -signal.SIGKILL, res.stderr
    with sqlite3.connect(db) as c:
        assert [r[0] for r in c.execute("SELECT folder FROM runs")] == [runs["base"].name]
        assert c.execute("SELECT COUNT(DISTINCT run_id) FROM traffic").fetchone() == (1,)
    again = hil("history", "add", str(runs["clean"]), "--history", str(db))
    assert again.stdout.startswith("added: "), again.stdout + again.stderr


def test_a_run_killed_before_its_end_is_added_from_its_folder(tmp_path):
    db = tmp_path / "h.sqlite"
    proc = suite(tmp_path / "a", db, "-m", "spark", "-k", "k4 or k5", popen=True)
    try:  # K5 plays a second session: kill the run once the first one's profile is there
        deadline = time.monotonic() + 60
        while not list((tmp_path / "a").glob("*/spark-defaults/profile.json")):
            assert proc.poll() is None and time.monotonic() < deadline, "no profile.json"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (folder,) = [p.parent for p in (tmp_path / "a").glob("*/run.json")]
    assert json.loads((folder / "run.json").read_text())["ended"] is None
    assert not db.exists() or sqlite3.connect(db).execute(
        "SELECT COUNT(*) FROM runs").fetchone() == (0,)
    res = hil("history", "add", str(folder), "--history", str(db))
    assert res.returncode == 0 and "(stopped before its end)" in res.stdout, res.stderr
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT ended FROM runs").fetchall() == [(None,)]
        assert c.execute("SELECT SUM(bytes_up) FROM traffic WHERE category='diagnostics'"
                         ).fetchone()[0] > 10_000
    assert "(stopped before its end)" in hil("history", "--history", str(db)).stdout


def test_history_page_over_five_runs_loads_in_chromium(runs, tmp_path):
    chromium = need_tool("chromium")
    from browser import load

    text = hil("history", "--history", str(runs["db"]))
    assert text.returncode == 0 and len([x for x in text.stdout.splitlines()
                                         if "spark fw test" in x]) == 5, text.stdout
    page = runs["top"] / "site" / "history.html"
    start = time.monotonic()
    res = hil("history", "--history", str(runs["db"]), "--html", str(page))
    took = time.monotonic() - start
    assert res.returncode == 0, res.stderr
    print(f"hil history --html over five runs: {took:.1f} s")
    # the grid's links resolve (relative to the page)
    html = page.read_text()
    links = re.findall(r'<a href="([^"]+)"', html)
    assert len(links) == 10  # five runs x K4, G1
    assert all((page.parent / h).resolve().is_file() for h in links), links
    problems, found = load(chromium, page.resolve().as_uri(), "JSON.stringify({"
                           "plots: [...document.querySelectorAll('.plot svg')].map(s => "
                           "s.closest('.plot').dataset.plot + ':' + s.querySelectorAll("
                           "'path, use').length), cells: document.querySelectorAll("
                           "'#grid td a').length})")
    assert problems == []
    found = json.loads(found)
    assert found["cells"] == 10
    assert [p.split(":")[0] for p in found["plots"]] == ["bytes", "destinations"]
    assert all(int(p.split(":")[1]) > 5 for p in found["plots"]), found  # drawn, not empty


def test_the_browser_check_sees_errors(tmp_path):
    """The check above can fail: a console error and a missing file are both reported."""
    chromium = need_tool("chromium")
    from browser import load

    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><img src="gone.png"><script>console.error("boom")'
                   "</script>")
    problems, _ = load(chromium, bad.as_uri())
    assert any("boom" in p for p in problems) and any("gone.png" in p for p in problems)
