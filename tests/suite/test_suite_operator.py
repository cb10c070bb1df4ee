"""sim-dji's iPhone on the operator backend: the claim suite with a person at the bench.

The suite runs in a pseudo-terminal that is its controlling terminal; a simulated person
(hil.sim.person) reads each prompt and does the step on the simulated iPhone through its
own agent, on a bench served by `hil sim` in another process. Without a terminal the
iPhone's claims are skipped at once; a skipped step skips its claim; an unanswered prompt
errors its claim at the prompt timeout; the evidence has every answer, its time and who.
"""

import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

from hil.remote.operator import NO_TERMINAL
from hil.sim.person import SimPerson, run_in_pty

ROOT = Path(__file__).resolve().parents[2]
SIM_DJI = ROOT / "benches" / "sim-dji.toml"
CLAIMS = ("K1", "K2", "K3", "K4", "K5", "K6", "K7", "K8", "G1")


def pytest_argv(bench: Path, artifacts: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider", "-q", "-rs",
            "--color=no",
            "--bench", str(bench), "--artifacts", str(artifacts), *args]


def results_of(artifacts: Path) -> list[dict]:
    summaries = list(artifacts.glob("*/summary.json"))
    return json.loads(summaries[0].read_text())["results"] if summaries else []


@pytest.mark.slow
def test_whole_suite_with_a_person_at_the_iphone(served_bench, tmp_path):
    bench = served_bench(SIM_DJI)
    person = SimPerson.of_bench(bench, wrong_first=("Which app version",))
    start = time.monotonic()
    rc, out = run_in_pty(pytest_argv(bench, tmp_path / "a"), person, ROOT, timeout=600)
    took = time.monotonic() - start
    person.close()
    results = results_of(tmp_path / "a")
    got = {(r["model"], r["claim"]): r["status"] for r in results}
    want = {(m, c): "pass" for m in ("spark", "mavic", "phantom4pro", "inspire2")
            for c in CLAIMS if not (m == "phantom4pro" and c == "K7")}
    assert rc == 0 and got == want, out[-4000:]
    assert "35 passed, 1 skipped" in out, out[-2000:]
    print(f"\nwhole sim-dji suite with a simulated person: {took:.1f} s, "
          f"{len(person.heard)} prompts answered")
    assert "'banana': answer the version as the app shows it" in out  # asked again
    for r in results:
        if r["model"] != "phantom4pro":
            continue
        ev = json.loads(Path(r["evidence"]).read_text())
        answers = ev["observations"]["operator_answers"]
        assert answers and all(a["who"] == "sim-person" and a["phone"] == "iphone-phantom"
                               and a["at"] for a in answers), answers
        actions = [a["what"] for p in ev["phases"] for a in p["actions"]]
        assert any(a.startswith("operator sim-person answered ") for a in actions), actions
        if ev["session"].endswith("defaults"):
            assert any(a.startswith("operator sim-person answered 'yes' to 'Does DJI GO 4 "
                                    "show the aircraft connected?' at ") for a in actions)
        if r["claim"] == "K3":  # nobody can size a record a person counted: said so
            assert "not checked against the records' size" in " ".join(ev["verdict"]["reasons"])


@pytest.mark.slow
def test_a_skipped_step_skips_its_claim_and_an_unanswered_prompt_errors_it(served_bench,
                                                                           tmp_path):
    raw = tomllib.loads(SIM_DJI.read_text())
    raw["phone"]["iphone-phantom"]["prompt_timeout"] = 1.0
    for p in raw["phone"].values():  # the recipes beside the real template
        if p["backend"] == "adb":
            p["recipes"] = str(ROOT / "benches" / "recipes")
    template = tmp_path / "sim-dji-impatient.toml"
    template.write_text(tomli_w.dumps(raw))
    bench = served_bench(template)
    # K5's session turns diagnostics off: skipped; K6's turns it on: never answered
    person = SimPerson.of_bench(bench, skip=("turn OFF 'Send Diagnostic Data'",),
                                silent=("turn ON 'Send Diagnostic Data'",))
    rc, out = run_in_pty(pytest_argv(bench, tmp_path / "a", "-m", "phantom4pro", "-k",
                                     "k5 or k6"), person, ROOT, timeout=300)
    person.close()
    assert rc == 1, out[-3000:]
    assert "the operator skipped: set diagnostics off" in out, out[-3000:]
    assert "1 skipped" in out and "1 error" in out, out[-2000:]
    assert "nobody answered \"In DJI GO 4's settings, turn ON 'Send Diagnostic Data'. What " \
           "does it show now?\" within 1 s (prompt_timeout)" in out, out[-3000:]
    assert "[hil] no answer within 1 s" in out


@pytest.mark.slow
def test_without_a_terminal_the_iphone_claims_skip_at_once_and_android_ones_pass(tmp_path):
    start = time.monotonic()
    res = subprocess.run(pytest_argv(SIM_DJI, tmp_path / "a", "-m", "phantom4pro or spark",
                                     "-k", "k4 or k5"),
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL, start_new_session=True)  # no tty
    took = time.monotonic() - start
    assert res.returncode == 0, res.stdout[-3000:]
    got = {(r["model"], r["claim"]): r["status"] for r in results_of(tmp_path / "a")}
    assert got == {("spark", "K4"): "pass", ("spark", "K5"): "pass"}, res.stdout[-3000:]
    assert res.stdout.count(f"iphone-phantom: {NO_TERMINAL}") == 2, res.stdout[-3000:]
    assert took < 120


@pytest.mark.slow
def test_an_android_bench_whose_recipe_lacks_a_setting_hands_that_step_to_a_person(
        served_bench, tmp_path):
    """by_hand: the recipe holds only a placeholder for the diagnostics switch, so that
    step goes to the person; everything else on the phone is still driven over adb."""
    recipes = tmp_path / "recipes" / "dji.go.v4"
    recipes.mkdir(parents=True)
    text = (ROOT / "benches" / "recipes" / "dji.go.v4" / "4.3.36+sim-en.toml").read_text()
    text = re.sub(r"\[settings\.diagnostics\]\n[^\[]*",
                  "[settings.diagnostics]\nplaceholder = true\n\n", text)
    (recipes / "4.3.36+sim-en.toml").write_text(text)
    raw = tomllib.loads(SIM_DJI.read_text())
    raw["phone"]["pixel-spark"].update(recipes=str(tmp_path / "recipes"),
                                       by_hand=["set diagnostics"], operator="sim-person")
    template = tmp_path / "sim-dji-by-hand.toml"
    template.write_text(tomli_w.dumps(raw))
    bench = served_bench(template)
    person = SimPerson.of_bench(bench)
    rc, out = run_in_pty(pytest_argv(bench, tmp_path / "a", "-m", "spark", "-k", "k4 or k5"),
                         person, ROOT, timeout=300)
    person.close()
    assert rc == 0 and "2 passed" in out, out[-3000:]
    asked = [(phone, text) for phone, text, _ in person.heard]
    assert asked and all(phone == "pixel-spark" and "Send Diagnostic Data" in text
                         for phone, text in asked), asked
    for r in results_of(tmp_path / "a"):
        ev = json.loads(Path(r["evidence"]).read_text())
        answers = ev["observations"]["operator_answers"]
        assert answers and all(a["who"] == "sim-person" for a in answers)
        actions = [a["what"] for p in ev["phases"] for a in p["actions"]]
        assert "launch app" in actions  # the rest still over adb
    assert "hil.adb: adb server 127.0.0.1:" in out
