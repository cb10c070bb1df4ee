"""Fixtures for the harness's own tests."""

import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

ROOT = Path(__file__).resolve().parents[1]


def sim_template(tmp_path: Path, edit=None, name="variant.toml") -> Path:
    """A copy of benches/sim.toml, changed by `edit(raw)`, written under tmp_path."""
    raw = tomllib.loads((ROOT / "benches" / "sim.toml").read_text())
    if edit:
        edit(raw)
    path = tmp_path / name
    path.write_text(tomli_w.dumps(raw))
    return path


@pytest.fixture
def served_bench():
    """Start `hil sim TEMPLATE` in its own process; return the resolved bench's path.

    The simulated devices outlive the pytest runs a test starts against them, so the
    test can read their state afterwards. Stopped with SIGINT at teardown.
    """
    procs = []

    def start(template: Path | None = None) -> Path:
        cmd = [sys.executable, "-m", "hil.cli", "sim"] + ([str(template)] if template else [])
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        procs.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = re.search(r"pytest --bench (\S+)", proc.stdout.readline())
            if m:
                return Path(m.group(1))
        raise AssertionError("hil sim did not print its resolved bench")

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


def claims_cmd(bench: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "claims", "--bench", str(bench),
            "-p", "no:cacheprovider", *args]
