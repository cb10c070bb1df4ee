"""Fixtures for the harness's own tests."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sim_runs import ROOT


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
