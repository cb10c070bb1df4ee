"""The netns bench's configuration and its "can this machine run it" answer (no namespaces
needed: these run everywhere)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w
from netns_helpers import need_netns

from hil import bench as benchmod
from hil.netns import bench as nb
from hil.netns.kind import NetnsConfig

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_tool_is_named(monkeypatch):
    monkeypatch.setattr(nb, "find_tool", lambda t: None if t in ("nft", "sshd") else "/bin/x")
    assert nb.unavailable() == "the netns bench needs sshd, nft, not installed here"


def test_a_kernel_that_refuses_namespaces_is_explained(monkeypatch, tmp_path):
    fake = tmp_path / "unshare"
    fake.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(nb, "find_tool", lambda t: str(fake) if t == "unshare" else "/bin/x")
    why = nb.unavailable("rootless")
    assert why.startswith("cannot make network namespaces without root (user namespaces): "
                          "unshare: unshare failed: Operation not permitted (")
    assert "run as root" in why


def test_the_tests_skip_or_fail_with_the_reason(monkeypatch):
    monkeypatch.setattr("netns_helpers.unavailable", lambda: "no namespaces here")
    monkeypatch.setattr("netns_helpers.find_tool", lambda t: "/bin/x")
    monkeypatch.delenv("HIL_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no namespaces here"):
        need_netns()
    monkeypatch.setenv("HIL_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="no namespaces here .HIL_REQUIRE_TOOLS=1"):
        need_netns()


def test_the_netns_bench_file_is_a_netns_bench():
    t = benchmod.load(ROOT / "benches" / "netns.toml")
    assert t.kind == "netns"
    assert t.sim == NetnsConfig(time_scale=0.02, faults=(), mode="auto")
    assert set(t.aircraft) >= {"spark"} and t.phones["pixel-spark"].ip == "10.20.0.31"


@pytest.mark.parametrize("table, error", [
    ({"time_scale": 2}, "netns.time_scale: 2 must be a number in (0, 1]"),
    ({"faults": ["nope"]}, "netns.faults[0]: unknown fault 'nope'"),
    ({"faults": ["deaf_sniffer"]}, "netns.faults[0]: 'deaf_sniffer' breaks the simulated "
                                   "gateway"),
    ({"faults": ["media_over_open_connection"]}, "netns.faults[0]: "
                                                 "'media_over_open_connection' needs a "
                                                 "kept-alive connection"),
    ({"faults": ["control_traffic"]}, "netns.faults[0]: 'control_traffic' needs a bench host "
                                      "the phone reaches through the gateway"),
    ({"mode": "docker"}, "netns.mode: 'docker' is not one of: auto, root, rootless"),
    ({"scale": 1}, "netns.scale: unknown key"),
])
def test_netns_table_errors_name_the_file_and_key(tmp_path, table, error):
    raw = tomllib.loads((ROOT / "benches" / "netns.toml").read_text())
    raw["netns"] = table
    path = tmp_path / "b.toml"
    path.write_text(tomli_w.dumps(raw))
    with pytest.raises(benchmod.BenchError) as e:
        benchmod.load(path)
    assert str(e.value).startswith(f"bench file {path}: {error}"), str(e.value)


def test_a_bench_file_without_netns_is_not_a_netns_bench():
    with pytest.raises(ValueError, match="no \\[netns\\] table"):
        nb.NetnsBench(benchmod.load(ROOT / "benches" / "sim.toml"))
