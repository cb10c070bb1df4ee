"""The README's "Running claims" block runs as written.

Every command line of that block is run from the project's root, as a technician would
type it, with `--collect-only` added (a full run of each would take minutes): it must
collect tests and no collection error. The one line that promises a verdict (a fault
profile that must make K5 fail) is also run in full. A README line that stops at
collection, names a file that does not exist or selects nothing fails here.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
from sim_runs import ROOT

from hil.models import MODELS

PYTEST = ".venv/bin/pytest"


def running_claims_block() -> list[str]:
    """The command lines of the README's "Running claims" sh block, comments removed."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Running claims", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line]


def as_run(line: str) -> list[str]:
    """The line's argv; the README's `.venv/bin/pytest` is this interpreter's pytest
    when the project's venv is not where the README says (a run from another venv)."""
    argv = shlex.split(line)
    assert argv[0] == PYTEST, f"README line does not start with {PYTEST}: {line}"
    if (ROOT / PYTEST).exists():
        return [str(ROOT / PYTEST), *argv[1:]]
    return [sys.executable, "-m", "pytest", *argv[1:]]


def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(argv + ["-p", "no:cacheprovider"], cwd=ROOT, text=True,
                          capture_output=True, timeout=timeout)


def test_the_block_is_found():
    lines = running_claims_block()
    assert len(lines) >= 6 and all(line.startswith(PYTEST) for line in lines), lines


@pytest.mark.parametrize("line", running_claims_block())
def test_readme_line_collects(line):
    proc = run(as_run(line) + ["--collect-only", "-q"], timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{line!r} exited {proc.returncode}:\n{out[-3000:]}"
    assert "error" not in out.lower().split("collected")[-1], out[-3000:]
    ids = [x for x in proc.stdout.splitlines() if "::" in x]
    assert ids, f"{line!r} collected no test:\n{out[-2000:]}"
    expr = shlex.split(line)[shlex.split(line).index("-m") + 1] if " -m " in line else ""
    named = [m for m in MODELS if re.search(rf"\b{m}\b", expr)]
    if named:  # a model selection collects that model's claims and nothing else
        params = {re.search(r"\[(\w+)\]$", i).group(1) for i in ids}
        assert params == set(named), f"{line!r} selected {sorted(params)}"


def test_readme_fault_line_fails_exactly_its_claim(tmp_path):
    line = next(x for x in running_claims_block() if "--sim-fault" in x)
    fault = shlex.split(line)[shlex.split(line).index("--sim-fault") + 1]
    assert fault == "diagnostics_ignore_setting"  # the README says: K5 must fail
    proc = run(as_run(line) + [f"--artifacts={tmp_path}", "-q"], timeout=300)
    out = proc.stdout + proc.stderr
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.M)
    assert [f.split(" ")[0] for f in failed] == \
        ["claims/test_diagnostics.py::test_k5_diagnostics_setting_off[spark]"], out[-3000:]
    assert re.search(r"1 failed, \d+ passed", out) and "error" not in out.split("===")[-2], \
        out[-3000:]
