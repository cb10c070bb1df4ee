"""IPv6 on the netns bench: the harness's real nft table stops an app that goes around the
cut over IPv6 (fault ipv6_bypass), and without the table's IPv6 rule K6 fails.

Each test runs the claim suite's K6 on the spark of benches/netns.toml (dual-stack: its
lan_subnet has an IPv6 prefix, its phones a MAC) in a subprocess, as a technician would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from netns_helpers import need_netns

ROOT = Path(__file__).resolve().parents[2]


def k6(tmp_path: Path, *extra: str, env: dict | None = None):
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "claims/test_diagnostics.py", "-k", "k6",
         "--bench", "benches/netns.toml", "-m", "spark", "--sim-fault", "ipv6_bypass",
         "-p", "no:cacheprovider", "-q", "-o", "log_cli=false", "--artifacts", str(tmp_path),
         *extra], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    [result] = summary["results"]
    ev = json.loads(Path(result["evidence"]).read_text())
    return res, result, ev


def v6_from_phone(ev, phase: str) -> list[dict]:
    [p] = [p for p in ev["phases"] if p["name"] == phase]
    return [f for f in p["flows"] if ":" in f["src"] and f["src"] in
            ev["observations"]["phone_addresses"]]


@pytest.mark.slow
def test_ipv6_bypass_is_stopped_by_the_real_nft_table(tmp_path):
    need_netns()
    res, result, ev = k6(tmp_path)
    assert result["status"] == "pass", res.stdout[-3000:] + res.stderr[-2000:]
    tried = v6_from_phone(ev, "cut")
    assert tried, "the app tried IPv6 during the cut (else this proves nothing)"
    assert all(f["packets_down"] == 0 for f in tried), tried  # none answered: the table held
    assert any("(MAC 02:00:0a:14:00:1f)" in a["what"] for p in ev["phases"]
               for a in p["actions"]), "cut by MAC"


@pytest.mark.slow
def test_k6_fails_with_the_ipv6_rule_removed(tmp_path):
    need_netns()
    env = {**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parent)}
    res, result, ev = k6(tmp_path, "-p", "ipv6_rule_removed", env=env)
    assert result["status"] == "fail", res.stdout[-3000:] + res.stderr[-2000:]
    leaks = [r for r in result["reasons"] if r.startswith("left the bench while the uplink")]
    assert leaks and all("2001:db8:20:" in r for r in leaks), result["reasons"]
    assert any("statistical-report.djiservice.org" in r for r in leaks), result["reasons"]
