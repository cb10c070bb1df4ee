"""`run.json`: what a run folder says about the run as a whole.

Written twice, each time whole (a temporary file renamed over the old one), so a reader
never sees half of it:
- at the start, as soon as the run's folder is made: `start_record(...)`: the release
  label, the bench, the fault profiles of a simulated bench, the catalog revision, the
  harness version, the host, the pid and the start time; `ended` is null;
- at the end: `end_record(...)` adds `ended`, the pytest exit status and per aircraft the
  firmware and app versions the sessions read (also in each session's `profile.json`,
  which is what a run killed before its end leaves).

The run's identity (`run_id`) is the folder's name and a hash of the start record's
fields that never change (start time, host, pid, bench, release): the same run copied to
another machine keeps its id; two runs whose folders happen to share a name do not.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

KIND = "hil-run"
SCHEMA = 1
FILE = "run.json"
IDENTITY = ("started", "host", "pid", "bench", "release")


def harness_version() -> str:
    """The installed hil version, and the git commit of its checkout when there is one
    ("0.1.0+g1a2b3c4", "+dirty" when the checkout has changes)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("hil")
    except PackageNotFoundError:
        v = "unknown"
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return v
    return f"{v}+g{commit}{'.dirty' if dirty else ''}" if commit else v


def catalog_revision(catalog) -> dict:
    """The endpoint catalog a run classified with: its declared revision, where it came
    from, and a hash of its entries (pattern and category, which is what classifying
    depends on), so two runs on differently edited catalogs never look alike."""
    text = "\n".join(sorted(f"{e.pattern} {e.category}" for e in catalog.endpoints))
    return {"revision": catalog.revision, "origin": str(catalog.origin),
            "sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}


def start_record(*, folder: Path, release: str | None, bench, faults, catalog,
                 started: float, argv: list[str] | None = None) -> dict:
    return {
        "kind": KIND, "schema": SCHEMA, "run": folder.name, "release": release or "",
        "started": started, "ended": None, "exitstatus": None,
        "harness": harness_version(), "python": sys.version.split()[0],
        "bench": bench.name, "bench_file": str(bench.path), "bench_kind": bench.kind,
        "faults": list(faults or ()), "catalog": catalog_revision(catalog),
        "host": socket.gethostname(), "pid": os.getpid(),
        "argv": list(argv if argv is not None else sys.argv),
        "aircraft": {},
    }


def end_record(record: dict, *, exitstatus: int, aircraft: dict, ended: float | None = None
               ) -> dict:
    return {**record, "ended": time.time() if ended is None else ended,
            "exitstatus": int(exitstatus), "aircraft": aircraft}


def run_id(record: dict) -> str:
    """folder name + hash of the start record's unchanging fields."""
    key = json.dumps({k: record.get(k) for k in IDENTITY}, sort_keys=True)
    return f"{record['run']}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def write(folder: Path, record: dict) -> Path:
    """Write `run.json` whole (rename over the old one)."""
    path = folder / FILE
    tmp = folder / (FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def read(folder: Path) -> dict | None:
    """The folder's run record; None when it has none (JSON errors are the caller's)."""
    path = folder / FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())
