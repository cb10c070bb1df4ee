"""The index of runs: a SQLite database that the run folders can always rebuild.

Default path `artifacts/history.sqlite`; `HIL_HISTORY` or `--history PATH` chooses another.
Tables (schema version in `meta`):

  runs      id (folder name + identity hash, hil.runinfo.run_id), folder, path (absolute,
            where it was indexed from), digest (of its run.json, evidence and profiles),
            release, bench, harness, catalog (revision and hash), faults (JSON), started,
            ended (NULL: the run was stopped before its end), added
  aircraft  run_id, aircraft, model, platform, firmware, app_version
  verdicts  run_id, aircraft, model, claim, status, reasons (JSON), evidence (path
            relative to the run folder)
  traffic   run_id, aircraft, model, session, scenario, phase, destination, category,
            bytes_up, bytes_down, flows        (one row per destination of a phase)
  accepted  model, run_id, at, by              (baselines accepted by `hil gate accept`)

Promises:
- `add(run)` writes one run in one transaction (BEGIN IMMEDIATE ... COMMIT): a process
  killed mid-add leaves the database as it was (SQLite's journal rolls it back).
- Idempotent: a run already indexed with the same digest is left alone ("unchanged");
  a run indexed earlier with less in it (added while stopped, then its folder grew) is
  replaced whole ("updated").
- Accepted baselines are also written into the run's folder (`accepted.json`, best
  effort), and `add` restores them from there, so a rebuild loses nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from hil.runfolder import Run

SCHEMA = 1
DEFAULT = Path("artifacts") / "history.sqlite"
ACCEPTED_FILE = "accepted.json"

_DDL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
  id TEXT PRIMARY KEY, folder TEXT NOT NULL, path TEXT NOT NULL, digest TEXT NOT NULL,
  release TEXT NOT NULL, bench TEXT, harness TEXT, catalog TEXT, faults TEXT,
  started REAL NOT NULL, ended REAL, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS aircraft(
  run_id TEXT NOT NULL, aircraft TEXT NOT NULL, model TEXT NOT NULL, platform TEXT,
  firmware TEXT, app_version TEXT, PRIMARY KEY(run_id, aircraft));
CREATE TABLE IF NOT EXISTS verdicts(
  run_id TEXT NOT NULL, aircraft TEXT NOT NULL, model TEXT NOT NULL, claim TEXT NOT NULL,
  status TEXT NOT NULL, reasons TEXT NOT NULL, evidence TEXT NOT NULL,
  PRIMARY KEY(run_id, aircraft, claim));
CREATE TABLE IF NOT EXISTS traffic(
  run_id TEXT NOT NULL, aircraft TEXT NOT NULL, model TEXT NOT NULL, session TEXT NOT NULL,
  scenario TEXT NOT NULL, phase TEXT NOT NULL, destination TEXT NOT NULL,
  category TEXT NOT NULL, bytes_up INTEGER NOT NULL, bytes_down INTEGER NOT NULL,
  flows INTEGER NOT NULL, PRIMARY KEY(run_id, session, phase, destination));
CREATE TABLE IF NOT EXISTS accepted(
  model TEXT NOT NULL, run_id TEXT NOT NULL, at REAL NOT NULL, by TEXT NOT NULL,
  PRIMARY KEY(model, run_id));
CREATE INDEX IF NOT EXISTS runs_started ON runs(started);
"""


class HistoryError(ValueError):
    """The database cannot be used; the message names it."""


def default_path() -> Path:
    return Path(os.environ.get("HIL_HISTORY") or DEFAULT)


@dataclass
class RunRow:
    id: str
    folder: str
    path: str
    release: str
    bench: str
    started: float
    ended: float | None
    faults: list[str]


class History:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # autocommit mode: every transaction below is an explicit BEGIN ... COMMIT
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.executescript(_DDL)
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as e:
            raise HistoryError(f"history database {self.path}: {e}") from None
        if row is None:
            self.db.execute("INSERT OR IGNORE INTO meta VALUES('schema', ?)", (str(SCHEMA),))
        elif int(row[0]) != SCHEMA:
            raise HistoryError(f"history database {self.path}: schema {row[0]}, this "
                               f"harness reads {SCHEMA}; rebuild it from the run folders "
                               "(move it away, then `hil history add artifacts/*/`)")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------
    def add(self, run: Run) -> str:
        """Index one run; "added", "updated" or "unchanged". One transaction."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            old = db.execute("SELECT digest FROM runs WHERE id=?", (run.id,)).fetchone()
            if old and old[0] == run.digest:
                db.execute("ROLLBACK")
                self._restore_accepted(run)
                return "unchanged"
            for table in ("runs", "aircraft", "verdicts", "traffic"):
                col = "id" if table == "runs" else "run_id"
                db.execute(f"DELETE FROM {table} WHERE {col}=?", (run.id,))
            r = run.record
            db.execute("INSERT INTO runs VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", (
                run.id, run.path.name, str(run.path), run.digest, run.release,
                r.get("bench"), r.get("harness"), json.dumps(r.get("catalog")),
                json.dumps(r.get("faults") or []), run.started, r.get("ended"), time.time()))
            db.executemany("INSERT INTO aircraft VALUES(?,?,?,?,?,?)", [
                (run.id, name, a["model"], a.get("platform"), a.get("firmware"),
                 a.get("app_version")) for name, a in run.aircraft.items()])
            db.executemany("INSERT OR REPLACE INTO verdicts VALUES(?,?,?,?,?,?,?)", [
                (run.id, v["aircraft"], v["model"], v["claim"], v["status"],
                 json.dumps(v["reasons"]), v["evidence"]) for v in run.verdicts])
            db.executemany("INSERT OR REPLACE INTO traffic VALUES(?,?,?,?,?,?,?,?,?,?,?)", [
                (run.id, p["aircraft"], p["model"], p["session"], p["scenario"], ph["name"],
                 dest, s["category"], s["bytes_up"], s["bytes_down"], s["flows"])
                for p in run.profiles for ph in p["phases"]
                for dest, s in ph["servers"].items()])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._restore_accepted(run)
        return "updated" if old else "added"

    def _restore_accepted(self, run: Run) -> None:
        """Acceptances the run's folder remembers (accepted.json), back into the index."""
        path = run.path / ACCEPTED_FILE
        if not path.is_file():
            return
        try:
            doc = json.loads(path.read_text())
            rows = [(m, run.id, float(a["at"]), str(a["by"]))
                    for m, a in doc.get("models", {}).items()]
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # an unreadable note is not the run's evidence: ignored
        with self._transaction():
            self.db.executemany("INSERT OR IGNORE INTO accepted VALUES(?,?,?,?)", rows)

    def accept(self, run: Run, model: str, by: str) -> None:
        """Make `run` the baseline of `model` (the run must be indexed: `add` it first)."""
        at = time.time()
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO accepted VALUES(?,?,?,?)",
                            (model, run.id, at, by))
        path = run.path / ACCEPTED_FILE
        try:  # best effort: the folder may be read-only (a copy on a share)
            doc = json.loads(path.read_text()) if path.is_file() else {"models": {}}
            doc.setdefault("models", {})[model] = {"at": at, "by": by}
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, indent=2))
            os.replace(tmp, path)
        except (OSError, ValueError):
            pass

    class _Tx:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type, *_):
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _transaction(self):
        return History._Tx(self.db)

    # -- reading ----------------------------------------------------------------------
    def runs(self, last: int | None = None) -> list[RunRow]:
        """Runs by start time, oldest first (the `last` newest when given)."""
        q = "SELECT id, folder, path, release, bench, started, ended, faults FROM runs " \
            "ORDER BY started DESC, id"
        rows = self.db.execute(q + (f" LIMIT {int(last)}" if last else "")).fetchall()
        return [RunRow(*r[:7], json.loads(r[7] or "[]")) for r in reversed(rows)]

    def run(self, run_id: str) -> RunRow | None:
        rows = [r for r in self.runs() if r.id == run_id]
        return rows[0] if rows else None

    def verdicts(self, run_ids: list[str]) -> dict[tuple[str, str, str], dict]:
        """(run, model, claim) -> status and evidence path (relative to the run folder);
        with several aircraft of a model, the worst verdict wins."""
        rank = {"fail": 3, "error": 2, "skipped": 1, "pass": 0}
        out: dict[tuple[str, str, str], dict] = {}
        for run_id, aircraft, model, claim, status, reasons, evidence in self.db.execute(
                "SELECT run_id, aircraft, model, claim, status, reasons, evidence FROM "
                f"verdicts WHERE run_id IN ({','.join('?' * len(run_ids))})", run_ids):
            key = (run_id, model, claim)
            if key not in out or rank.get(status, 2) > rank.get(out[key]["status"], 2):
                out[key] = {"status": status, "reasons": json.loads(reasons),
                            "evidence": evidence, "aircraft": aircraft}
        return out

    def models(self, run_ids: list[str]) -> list[str]:
        return [m for (m,) in self.db.execute(
            "SELECT DISTINCT model FROM aircraft WHERE run_id IN "
            f"({','.join('?' * len(run_ids))}) ORDER BY model", run_ids)]

    def versions(self, run_id: str, model: str) -> tuple[str, str]:
        """(firmware, app version) of the model's aircraft in a run ("unknown" if unread)."""
        rows = self.db.execute("SELECT firmware, app_version FROM aircraft WHERE run_id=? "
                               "AND model=? ORDER BY aircraft", (run_id, model)).fetchall()
        fw = ",".join(sorted({r[0] or "unknown" for r in rows})) or "unknown"
        app = ",".join(sorted({r[1] or "unknown" for r in rows})) or "unknown"
        return fw, app

    def bytes_up(self, run_id: str, model: str) -> dict[str, int]:
        """Bytes sent per category by the model's phones over the whole run."""
        return dict(self.db.execute(
            "SELECT category, SUM(bytes_up) FROM traffic WHERE run_id=? AND model=? "
            "GROUP BY category", (run_id, model)).fetchall())

    def destinations(self, run_id: str, model: str) -> int:
        return self.db.execute("SELECT COUNT(DISTINCT destination) FROM traffic WHERE "
                               "run_id=? AND model=?", (run_id, model)).fetchone()[0]

    def baseline(self, model: str) -> RunRow | None:
        """The run last accepted for `model`."""
        row = self.db.execute("SELECT run_id FROM accepted WHERE model=? ORDER BY at DESC "
                              "LIMIT 1", (model,)).fetchone()
        return self.run(row[0]) if row else None


def text(h: History, last: int = 20) -> str:
    """The last runs, one row a run: start, release, then per model one character per
    claim (. pass, F fail, E error, - not run)."""
    from hil.report import CLAIM_ORDER

    runs = h.runs(last)
    if not runs:
        return f"history {h.path}: no runs indexed yet\n"
    ids = [r.id for r in runs]
    models = h.models(ids)
    verdicts = h.verdicts(ids)
    mark = {"pass": ".", "fail": "F", "error": "E"}
    width = len(CLAIM_ORDER)
    head1 = f"{'':19} {'release':24} {'run':32} " + " ".join(f"{m:<{width}}" for m in models)
    head2 = f"{'started':19} {'':24} {'':32} " + " ".join(
        "".join(c[-1] if c != "G1" else "G" for c in CLAIM_ORDER) for _ in models)
    lines = [head1.rstrip(), head2.rstrip()]
    for r in runs:
        cells = ["".join(mark.get(verdicts.get((r.id, m, c), {}).get("status"), "-")
                         if (r.id, m, c) in verdicts else "-" for c in CLAIM_ORDER)
                 for m in models]
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started))
        stopped = "" if r.ended is not None else "  (stopped before its end)"
        lines.append(f"{started:19} {(r.release or '-')[:24]:24} {r.id[:32]:32} "
                     + " ".join(f"{c:<{width}}" for c in cells) + stopped)
    lines.append("claims K1..K8 then G1 (G); . pass, F fail, E error, - not run")
    return "\n".join(lines) + "\n"
