"""The claim suite on a bench as a DJI lab has it: aircraft seen through the app, or not
at all. Every claim passes, or is judged in part / skipped, and says so."""

import json
import re
import subprocess
import sys

from sim_runs import ROOT, sim_template

from fixtures.tools import cannot_run
from hil.sim.adbserver import adb_binary


def run_spark(bench, tmp_path, *args):
    if "sim-dji" in bench.name and adb_binary() is None:  # its Android phones are on adb
        cannot_run("needs an adb binary (the adbutils wheel brings one; or apt-get install adb)")
    res = subprocess.run([sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider",
                          "-m", "spark", "--bench", str(bench), f"--artifacts={tmp_path}",
                          *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    evidence = {json.loads(p.read_text())["claim"]: json.loads(p.read_text())
                for p in tmp_path.rglob("evidence.json")}
    return res, evidence


def test_app_link_every_claim_passes_and_k2_says_what_it_did_not_judge(tmp_path):
    res, ev = run_spark(ROOT / "benches" / "sim-dji.toml", tmp_path)
    assert res.returncode == 0 and "9 passed" in res.stdout.splitlines()[-1], \
        res.stdout[-3000:]
    assert "heartbeat" not in res.stdout.lower()  # nothing here speaks MAVLink
    assert "shows the aircraft connected" in res.stdout
    assert ev["K2"]["verdict"]["reasons"][-1] == (
        "aircraft part not judged: the aircraft link `app` (the app on pixel-spark) cannot "
        "list onboard logs")
    assert {e["firmware"] for e in ev.values()} == {"01.00.0900"}  # as the app shows it
    # the Android phone is on adb: its app keeps no originals, so nobody measured the
    # photos, and the model's nominal photo size stands in (a lower bound), said so
    assert ("sizes: nominal 1476096 B: a 3968x2976 JPEG at 1 bit per pixel (12 MP stills, "
            "DJI Spark specifications)") in ev["K1"]["verdict"]["reasons"]
    # every step went through the real adb server to the simulated phone, and is logged
    adb = re.findall(r"hil\.adb: adb server 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+): "
                     r"(shell|sync list) (.*)", res.stdout)
    assert len({(server, phone) for server, phone, _, _ in adb}) == 1
    commands = [" ".join(c.split()[:2]) for _, _, _, c in adb]
    for seen in ("dumpsys package", "am start", "am force-stop", "pidof dji.go.v4",
                 "input tap", "/sdcard/DJI/dji.go.v4/FlightRecord"):
        assert any(c.startswith(seen) for c in commands), seen
    assert sum("uiautomator dump" in c for _, _, _, c in adb) > 50


def test_no_link_readiness_is_an_assumption_and_said(tmp_path):
    def none(raw):
        for a in raw["aircraft"].values():
            a["link"] = "none"
        del raw["windows"]["boot"]  # the models' boot times (scaled), not 6 s each time

    res, ev = run_spark(sim_template(tmp_path, none, "sim-none.toml"), tmp_path / "a",
                        "--firmware", "spark=01.00.1111")
    assert res.returncode == 0 and "9 passed" in res.stdout.splitlines()[-1], \
        res.stdout[-3000:]
    assert "spark: its link is `none`; assuming the aircraft is up after the boot window" \
        in res.stdout
    assert "assumed up (an assumption: nothing read it)" in res.stdout
    assert "heartbeat" not in res.stdout.lower()
    assert "aircraft part not judged: the aircraft link `none` cannot list onboard logs" in \
        ev["K2"]["verdict"]["reasons"]
    assert {e["firmware"] for e in ev.values()} == {"01.00.1111"}  # as --firmware declares
    power_on = [a["what"] for e in ev.values() for ph in e["phases"] for a in ph["actions"]
                if "ready, firmware" in a["what"]]
    assert power_on and all(w == "spark ready, firmware 01.00.1111 (declared, not read: the "
                                 "aircraft link `none` cannot read it)" for w in power_on)


def test_firmware_is_declared_only_for_aircraft_nothing_reads(tmp_path):
    res = subprocess.run([sys.executable, "-m", "pytest", "claims", "-p", "no:cacheprovider",
                          "--collect-only", "-q", "--firmware", "spark=01.00.1111"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 4, res.stdout
    assert "--firmware spark=01.00.1111: spark's link 'sim' reads its firmware; --firmware " \
           'is for link "none"' in res.stderr
    for bad, said in (("spark=", "no version"),
                      ("01.00.1111", 'bench sim has no aircraft on link "none"')):
        res = subprocess.run([sys.executable, "-m", "pytest", "claims", "-p",
                              "no:cacheprovider", "--collect-only", "-q", "--firmware", bad],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert res.returncode == 4 and f"--firmware {bad}: {said}" in res.stderr, res.stderr


def test_an_app_version_without_a_recipe_skips_what_needs_the_ui(tmp_path):
    import tomllib

    import tomli_w

    raw = tomllib.loads((ROOT / "benches" / "sim-dji.toml").read_text())
    (tmp_path / "no-recipes").mkdir()
    raw["phone"]["pixel-spark"]["recipes"] = str(tmp_path / "no-recipes")
    bench = tmp_path / "sim-dji-no-recipe.toml"
    bench.write_text(tomli_w.dumps(raw))
    res, ev = run_spark(bench, tmp_path / "a", "-rs")
    assert res.returncode == 0 and "9 skipped" in res.stdout.splitlines()[-1], \
        res.stdout[-3000:]
    assert res.stdout.count(
        "phone pixel-spark: no UI recipe for dji.go.v4 4.3.36+sim (locale en); recipes: "
        "public-en.toml (no versions: a template); record one with `hil phone dump`") == 9
    assert ev == {}  # nothing judged
