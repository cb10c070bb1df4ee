"""The claim suite proves it can fail: under each fault profile exactly its claims fail
(and under `control_traffic`, a bench condition, none does).

The real claim suite (`pytest claims`) runs on the simulated bench in subprocesses, once
per fault profile (two at a time), the way a technician would run it; each run's
summary.json says every claim's verdict on every model. The table printed (and written
to artifacts/fault-matrix.txt) is the suite's fault detection.
"""

import json
import re
import signal
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import tomli_w

from fixtures.tools import cannot_run, need_tool
from hil.sim.adbserver import adb_binary
from hil.sim.faults import FAULTS
from hil.sim.person import SimPerson, run_in_pty

ROOT = Path(__file__).resolve().parents[2]
# suites played at once: a suite mostly waits (boot and observation windows, a quarter of
# its wall time on the CPU, measured), so three share two cores without a late press
MATRIX_WORKERS = 3
MODELS = ("spark", "mavic", "phantom4pro", "inspire2")
CLAIMS = ("K1", "K2", "K3", "K4", "K5", "K6", "K7", "K8", "G1")
IOS = {"phantom4pro"}  # its phone is an iPhone: K7 (Local Data Mode) is skipped there

# fault profile -> {claim: expected status} for the claims that must not pass
EXPECTED: dict[str | None, dict[str, str]] = {
    None: {},
    "auto_media_upload": {"K1": "fail"},
    "media_over_open_connection": {"K1": "fail"},
    "no_local_log": {"K2": "fail"},
    "logs_upload_without_sync": {"K3": "fail"},
    "no_diagnostics": {"K4": "fail"},
    "diagnostics_ignore_setting": {"K5": "fail"},
    "cut_ineffective": {"K6": "fail"},
    "deferred_diagnostics_flush": {"K6": "fail"},
    "ldm_leak": {"K7": "fail"},
    "aircraft_direct_uplink": {"K8": "fail"},
    "unknown_endpoint": {"G1": "fail"},
    # a deaf capture: every claim judged on traffic errors (its control fails), none
    # passes; K2 is judged on the devices' own stores, not on traffic
    "deaf_sniffer": {c: "error" for c in CLAIMS if c != "K2"},
    # the bench host's traffic with the phone: every claim sees through it, because the
    # bench file names the host (K1 and G1 would count it otherwise)
    "control_traffic": {},
    # diagnostics 16 times their size: no claim judges volume there, none may fail; the
    # release gate fails it on growth (tests/history)
    "diagnostics_inflated": {},
    # a dual-stack LAN (sim.toml's lan_subnet has an IPv6 prefix): diagnostics over IPv6
    # while the uplink is cut, through a router the gateway's table never sees; with the
    # setting off, over IPv6 only
    "ipv6_bypass": {"K6": "fail"},
    "ipv6_diagnostics": {"K5": "fail"},
    # DNS over TLS: no lookup is readable; no claim may fail (the verdicts relying on
    # lookups say they were not visible: checked below)
    "private_dns": {},
}
# rows that need the phones' IPv6 (sim.toml is dual-stack; sim-dji.toml is IPv4 only,
# as a DJI lab without IPv6 is): played on sim.toml only
DUAL_STACK = {"ipv6_bypass", "ipv6_diagnostics", "private_dns"}


def run_suite(tmp_path: Path, *args: str):
    artifacts = tmp_path / "artifacts"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider", "-q",
         "--artifacts", str(artifacts), "--junitxml", str(tmp_path / "junit.xml"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        stdin=subprocess.DEVNULL, start_new_session=True)  # no terminal: nobody is asked
    return res, results_in(artifacts, res.stdout + res.stderr)


def results_in(artifacts: Path, output: str) -> list[dict]:
    summaries = list(artifacts.glob("*/summary.json"))
    assert len(summaries) == 1, output[-6000:]
    return json.loads(summaries[0].read_text())["results"]


@contextmanager
def served(template: Path, fault: str | None):
    """`hil sim TEMPLATE [--fault F]` in its own process: the resolved bench's path."""
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "sim", str(template),
                             *(["--fault", fault] if fault else [])], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(r"pytest --bench (\S+)", proc.stdout.readline())
            if m:
                yield Path(m.group(1))
                return
        raise AssertionError("hil sim did not print its resolved bench")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def run_suite_with_a_person(tmp_path: Path, template: Path, fault: str | None, *args: str):
    """The suite in a pseudo-terminal, on a bench served with the fault, a simulated person
    answering the operator phones' prompts (hil.sim.person)."""
    artifacts = tmp_path / "artifacts"
    with served(template, fault) as bench:
        person = SimPerson.of_bench(bench)
        try:
            rc, out = run_in_pty(
                [sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider", "-q",
                 "--color=no", "--bench", str(bench), "--artifacts", str(artifacts), *args],
                person, ROOT, timeout=900)
        finally:
            person.close()
    return SimpleNamespace(returncode=rc, stdout=out), results_in(artifacts, out)


# benches/sim-dji.toml sees each aircraft through the app (link "app"), as a DJI lab does:
# it cannot list onboard logs, so an aircraft that records none passes K2 there, judged on
# the app's records with the verdict saying the aircraft part was not judged
BLIND = {"sim-dji.toml": {"no_local_log"}}
# the models each bench's matrix runs: on sim-dji.toml an Android and an iPhone station
# (the app link behaves alike on every model; half the models halve the test's time)
ON = {"sim.toml": MODELS, "sim-dji.toml": ("spark", "phantom4pro")}


# benches with a phone on the operator backend: their suites run in a pseudo-terminal
# with a simulated person answering (so the iPhone's claims are judged, not skipped)
PERSON = {"sim-dji.toml"}


def expected(fault, bench="sim.toml"):
    return {} if fault in BLIND.get(bench, ()) else EXPECTED[fault]


def expected_grid(fault, bench="sim.toml"):
    return {(m, c): expected(fault, bench).get(c, "pass")
            for m in ON[bench] for c in CLAIMS if not (c == "K7" and m in IOS)}


def test_every_fault_profile_is_in_the_matrix():
    """Every claim fault profile is in the matrix; the `adb_*` ones (claim "!") break the
    Android phone's automation, not a claim, and are tested in tests/sim/test_sim_android.py
    (and by the adb backend's own tests)."""
    assert set(EXPECTED) - {None} == {f for f, (claim, _) in FAULTS.items() if claim != "!"}
    for name, (claim, _) in FAULTS.items():
        if claim == "!":
            assert name.startswith("adb_"), name
            continue
        assert (claim == "*" or EXPECTED[name] == {claim: "fail"}
                or claim == "-" and EXPECTED[name] == {})


@pytest.mark.slow
@pytest.mark.parametrize("bench", ["sim.toml", "sim-dji.toml"])
def test_each_fault_fails_exactly_its_claims(tmp_path, bench):
    if bench == "sim-dji.toml" and adb_binary() is None:  # its Android phones are on adb
        cannot_run("needs an adb binary (the adbutils wheel brings one; or apt-get install adb)")
    def one(fault):
        d = tmp_path / (fault or "no-fault")
        d.mkdir()
        if bench in PERSON:
            return fault, *run_suite_with_a_person(d, ROOT / "benches" / bench, fault,
                                                   "-m", " or ".join(ON[bench]))
        return fault, *run_suite(d, "--bench", str(ROOT / "benches" / bench),
                                 "-m", " or ".join(ON[bench]),
                                 *(["--sim-fault", fault] if fault else []))

    rows = [f for f in EXPECTED if bench == "sim.toml" or f not in DUAL_STACK]
    with ThreadPoolExecutor(MATRIX_WORKERS) as pool:
        runs = list(pool.map(one, rows))
    table = [f"{'fault profile':28} " + " ".join(f"{c:>3}" for c in CLAIMS)]
    problems = []
    for fault, res, results in runs:
        got = {(r["model"], r["claim"]): r["status"] for r in results}
        row = []
        for c in CLAIMS:
            cells = {got.get((m, c), "-") for m in ON[bench]
                     if not (c == "K7" and m in IOS)}
            row.append({"pass": ".", "fail": "F", "error": "E"}.get(
                cells.pop() if len(cells) == 1 else "mixed", "?"))
        table.append(f"{fault or '(none)':28} " + " ".join(f"{x:>3}" for x in row))
        if got != expected_grid(fault, bench):
            diff = {k: (got.get(k), v) for k, v in expected_grid(fault, bench).items()
                    if got.get(k) != v}
            problems.append(f"{fault}: (model, claim): (got, expected) {diff}\n"
                            f"{res.stdout[-2000:]}")
        for r in results:
            ev = json.loads(Path(r["evidence"]).read_text())
            assert ev["firmware"] and ev["phases"] and ev["verdict"]["reasons"], r
            assert ev["session"] and ev["claim"] in ev["served"], r
            if fault == "control_traffic" and r["claim"] == "K1":  # seen, listed, not judged
                media = next(p for p in ev["phases"] if p["name"] == "media")
                assert media["control"] and all(
                    set(ev["bench_hosts"]) & {f["src"], f["dst"]} for f in media["control"])
                assert sum(f["bytes_up"] for f in media["control"]) > max(
                    m["size"] for m in ev["observations"]["media"]), r
            if fault == "private_dns" and r["claim"] in ("K5", "K7", "K8"):  # relies on lookups
                assert any(x.startswith("lookups were not visible") for x in r["reasons"]), r
            if fault in ("ipv6_bypass", "ipv6_diagnostics") and r["status"] == "fail":
                assert any(":" in f["src"] for p in ev["phases"] for f in p["flows"]
                           if f["category"] in ("diagnostics", "os", "nfz")), r
        assert res.returncode == (1 if expected(fault, bench) else 0), res.stdout[-2000:]
    text = (f"bench {bench}, models {', '.join(ON[bench])}"
            + (" (the operator phones answered by a simulated person in a pty)"
               if bench in PERSON else "") + "\n" + "\n".join(table)
            + "\n(. pass, F fail, E error; K7 not on iOS; control_traffic: none may fail)\n")
    print("\n" + text)
    (ROOT / "artifacts").mkdir(exist_ok=True)
    name = "fault-matrix.txt" if bench == "sim.toml" else f"fault-matrix-{Path(bench).stem}.txt"
    (ROOT / "artifacts" / name).write_text(text)
    assert not problems, "\n".join(problems)


def test_junit_carries_model_firmware_app_and_bench(tmp_path):
    res, results = run_suite(tmp_path, "-m", "spark and diagnostics", "-k", "k4")
    assert [r["status"] for r in results] == ["pass"], res.stdout[-3000:]
    junit = (tmp_path / "junit.xml").read_text()
    for prop in ('name="model" value="spark"', 'name="bench" value="sim"',
                 'name="firmware" value="01.00.0900"', 'name="app_version" value="4.3.36+sim"'):
        assert prop in junit


def test_sim_capture_reads_cleanly_in_tshark(tmp_path):
    tshark = need_tool("tshark")
    res, results = run_suite(tmp_path, "-m", "spark and diagnostics", "-k", "k4")
    assert [r["status"] for r in results] == ["pass"], res.stdout[-3000:]
    t = subprocess.run([tshark, "-r", results[0]["pcap"], "-T", "fields", "-e",
                        "tls.handshake.extensions_server_name", "-e", "dns.qry.name"],
                       capture_output=True, text=True, timeout=120)
    complaints = [line for line in t.stderr.splitlines()
                  if line.strip() and "Running as user" not in line]
    assert t.returncode == 0 and not complaints, t.stderr
    for name in ("flysafe-api.dji.com", "statistical-report.djiservice.org",
                 "upload.skypixel.com", "mydjiflight.dji.com"):
        assert name in t.stdout


def test_marker_selects_exactly_those_models(tmp_path):
    res = subprocess.run([sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider",
                          "--collect-only", "-q", "-m", "mavic or inspire2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    ids = [line for line in res.stdout.splitlines() if "::" in line]
    assert len(ids) == 2 * len(CLAIMS), res.stdout
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
    assert f"{len(CLAIMS)} skipped" in res.stdout
    assert f"bench sim ({bench}) has no inspire2 aircraft" in res.stdout
