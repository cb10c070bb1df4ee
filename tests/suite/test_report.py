"""`hil report`: the run's summary rebuilt from evidence JSON alone."""

import json
import subprocess
import sys

from hil import report


def write(run, test, aircraft, model, claim, status, session):
    d = run / test
    d.mkdir(parents=True)
    (d / "evidence.json").write_text(json.dumps({
        "aircraft": aircraft, "model": model, "claim": claim, "firmware": "01.00.0900",
        "app_version": "4.3.36" if aircraft == "spark" else None, "session": session,
        "pcap": str(run / session / "capture.pcap"),
        "verdict": {"status": status, "reasons": [f"{claim} {status} because"]}}))


def test_summary_from_evidence_only(tmp_path):
    run = tmp_path / "20261121-run"
    write(run, "t1", "spark", "spark", "K4", "pass", "spark-defaults")
    write(run, "t2", "spark", "spark", "G1", "fail", "spark-defaults")
    write(run, "t3", "mavic", "mavic", "K4", "error", "mavic-defaults")
    s = report.build(run)
    assert s.claims == ["K4", "G1"]
    assert s.counts() == {"pass": 1, "fail": 1, "error": 1}
    assert s.sessions == {"spark-defaults": {"K4", "G1"}, "mavic-defaults": {"K4"}}
    text = report.text(s)
    assert "mavic          01.00.0900  unknown     error     -" in text  # no version reported
    assert "spark          01.00.0900  4.3.36       pass  fail" in text
    assert "session spark-defaults: K4, G1" in text
    page = report.html(s, run)
    assert 'href="t2/evidence.json">fail</a>' in page and 'title="G1 fail because"' in page
    assert "<td>01.00.0900</td><td>4.3.36</td>" in page

    res = subprocess.run([sys.executable, "-m", "hil.cli", "report", str(run)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1  # not everything passed
    assert (run / "index.html").is_file()


def test_bad_folder_and_bad_file(tmp_path):
    res = subprocess.run([sys.executable, "-m", "hil.cli", "report", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "no */evidence.json here" in res.stderr
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "evidence.json").write_text("{\"claim\": 1}")
    res = subprocess.run([sys.executable, "-m", "hil.cli", "report", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "x/evidence.json: not a harness evidence file" in res.stderr
