"""Helpers of the harness tests that run the claim suite against a simulated bench.

A module of its own name, not `conftest`: two conftest.py files (claims/ and tests/)
both import as `conftest`, so `from conftest import ...` finds whichever pytest loaded
first, and a run from the project's root collected claims/conftest.py first.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

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


def claims_cmd(bench: Path, *args: str) -> list[str]:
    """The claim suite on `bench` as a subprocess command line (no cache folder)."""
    return [sys.executable, "-m", "pytest", "claims", "--bench", str(bench),
            "-p", "no:cacheprovider", *args]
