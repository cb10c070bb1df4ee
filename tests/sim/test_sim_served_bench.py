"""`hil sim` serves a bench that production code drives as it would drive real devices.

The resolved bench file has no [sim] table: the second pytest run below starts no
simulator of its own, it only opens the pty, the SSH ports and the UDP links it names.
"""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_served_bench_runs_the_spark_claims_and_stops_clean(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "sim"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        resolved = None
        deadline = time.monotonic() + 30
        lines = []
        while resolved is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            m = re.search(r"pytest --bench (\S+)", line)
            if m:
                resolved = Path(m.group(1))
        assert resolved is not None, "".join(lines)
        assert "[sim]" not in resolved.read_text()
        res = subprocess.run([sys.executable, "-m", "pytest", "claims", "--bench", str(resolved),
                              "-m", "spark", "-p", "no:cacheprovider", "-q",
                              "--artifacts", str(tmp_path)], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0 and " passed" in res.stdout, res.stdout[-3000:]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    assert proc.returncode == 0
    assert not resolved.parent.exists()  # keys, known_hosts and the pty are gone
