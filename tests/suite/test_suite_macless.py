"""A dual-stack bench whose file gives a phone no MAC: the phone's IPv6 traffic is in its
captures all the same (the gateway keeps the LAN's IPv6 beside the phone's IPv4), so the
claims judged on them are ERRORs naming the addresses, never a pass on traffic the
harness could not attribute."""

import json
import re
import subprocess

from sim_runs import ROOT, claims_cmd, sim_template


def test_a_phone_without_a_mac_that_uses_ipv6_errors_its_claims_naming_the_addresses(tmp_path):
    def no_mac(raw):
        del raw["phone"]["pixel-spark"]["mac"]

    bench = sim_template(tmp_path, no_mac, "sim-no-mac.toml")
    res = subprocess.run([*claims_cmd(bench, "-m", "spark and diagnostics", "-k", "k4 or k6",
                                      f"--artifacts={tmp_path / 'art'}")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    evidence = {e["claim"]: e for e in
                (json.loads(p.read_text()) for p in (tmp_path / "art").rglob("evidence.json"))}
    assert set(evidence) == {"K4", "K6"}, res.stdout[-3000:]
    assert res.returncode == 1, res.stdout[-3000:]
    # the simulated phone reaches the no-fly-zone and connectivity checks over its global
    # IPv6 address, in the LAN's prefix; the bench file cannot tell it is the phone's
    for claim in ("K4", "K6"):  # sessions in which the app talks over IPv6
        verdict = evidence[claim]["verdict"]
        assert verdict["status"] == "error", (claim, verdict)
        said = verdict["reasons"][0]
        assert "IPv6 traffic from the phone's MAC that the harness could not attribute" in said
        assert re.search(r"2001:db8:20:[0-9a-f:]+ \(from MAC 02:00:0a:14:00:1f\)", said), said
        assert "give phone.NAME.mac" in said
    assert "passed" not in res.stdout.splitlines()[-1], res.stdout.splitlines()[-1]
