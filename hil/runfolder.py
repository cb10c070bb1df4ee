"""A run folder read back whole, validated: what `hil history` indexes and `hil gate` compares.

`load(path)` returns a `Run`: its record (`run.json`), every claim verdict (from the
`*/evidence.json` files), every session's traffic profile (`*/profile.json`), per aircraft
its model, phone platform, firmware and app version, its identity (`hil.runinfo.run_id`)
and a digest of those files' contents. A run killed before its end loads too (`complete`
is False): what its finished sessions and judged tests wrote is there.

A folder that is not one of this harness's run folders, or whose files cannot be read, is
refused with `RunFolderError` naming the path and the reason; nothing is guessed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from hil import runinfo


class RunFolderError(ValueError):
    """A folder that cannot be indexed or compared: the message names it and says why."""


@dataclass
class Run:
    path: Path
    id: str
    digest: str
    record: dict
    verdicts: list[dict] = field(default_factory=list)  # aircraft model claim status ...
    profiles: list[dict] = field(default_factory=list)  # hil.profile session profiles
    aircraft: dict[str, dict] = field(default_factory=dict)  # name -> model, versions

    @property
    def complete(self) -> bool:
        return self.record.get("ended") is not None

    @property
    def release(self) -> str:
        return self.record.get("release") or ""

    @property
    def started(self) -> float:
        return float(self.record["started"])

    def models(self) -> list[str]:
        return sorted({a["model"] for a in self.aircraft.values()})

    def of_model(self, model: str) -> tuple[list[dict], list[dict]]:
        """(verdicts, profiles) of that model's aircraft."""
        return ([v for v in self.verdicts if v["model"] == model],
                [p for p in self.profiles if p["model"] == model])


_EVIDENCE_KEYS = ("claim", "aircraft", "model", "verdict")
_PROFILE_KEYS = ("session", "scenario", "aircraft", "model", "phases")


def _json(path: Path, folder: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunFolderError(f"{folder}: {path.relative_to(folder)} cannot be read as "
                             f"JSON ({e}): the folder is damaged") from None


def load(path: str | Path) -> Run:
    folder = Path(path)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: not a folder (give a run's folder, "
                             "artifacts/<run>/)")
    folder = folder.resolve()
    if not (folder / runinfo.FILE).is_file():
        raise RunFolderError(f"{folder}: no {runinfo.FILE}: not the folder of a run of this "
                             "harness (or one recorded before runs kept run.json; "
                             "`hil report` still reads its evidence)")
    record = _json(folder / runinfo.FILE, folder)
    if not isinstance(record, dict) or record.get("kind") != runinfo.KIND:
        raise RunFolderError(f"{folder}: {runinfo.FILE} is not a hil run record "
                             f"(kind {record.get('kind') if isinstance(record, dict) else None!r}"
                             f", expected {runinfo.KIND!r})")
    if record.get("schema") != runinfo.SCHEMA:
        raise RunFolderError(f"{folder}: {runinfo.FILE} has schema {record.get('schema')!r}; "
                             f"this harness reads schema {runinfo.SCHEMA}")
    missing = [k for k in (*runinfo.IDENTITY, "run") if k not in record]
    if missing or not isinstance(record.get("started"), (int, float)):
        lacks = ", ".join(missing) or "a numeric started"
        raise RunFolderError(f"{folder}: {runinfo.FILE} lacks {lacks}: the folder is damaged")
    digest = hashlib.sha256()
    files = [folder / runinfo.FILE, *sorted(folder.glob("*/evidence.json")),
             *sorted(folder.glob("*/profile.json"))]
    run = Run(folder, runinfo.run_id(record), "", record)
    for f in files:
        digest.update(str(f.relative_to(folder)).encode() + b"\0")
        try:
            digest.update(f.read_bytes())
        except OSError as e:
            raise RunFolderError(f"{folder}: {f.relative_to(folder)} cannot be read: {e}") \
                from None
    for f in files[1:]:
        doc = _json(f, folder)
        keys = _EVIDENCE_KEYS if f.name == "evidence.json" else _PROFILE_KEYS
        if not isinstance(doc, dict) or any(k not in doc for k in keys):
            raise RunFolderError(f"{folder}: {f.relative_to(folder)} is not a harness "
                                 f"{f.stem} file (it needs {', '.join(keys)})")
        if f.name == "evidence.json":
            v = doc["verdict"] or {}
            if "status" not in v:
                raise RunFolderError(f"{folder}: {f.relative_to(folder)} has no verdict "
                                     "status: the folder is damaged")
            run.verdicts.append({
                "aircraft": doc["aircraft"], "model": doc["model"], "claim": doc["claim"],
                "status": v["status"], "reasons": list(v.get("reasons", ())),
                "evidence": str(f.relative_to(folder)), "session": doc.get("session", ""),
                "firmware": doc.get("firmware"), "app_version": doc.get("app_version")})
        else:
            doc["folder"] = str(f.parent.relative_to(folder))
            run.profiles.append(doc)
    if not run.verdicts and not run.profiles:
        raise RunFolderError(f"{folder}: nothing recorded yet: no session finished and no "
                             "claim was judged (a run stopped before its first session ends "
                             "leaves nothing to index)")
    run.digest = digest.hexdigest()[:16]
    run.profiles.sort(key=lambda p: (p["phases"][0]["start"] if p["phases"] else 0,
                                     p["session"]))
    for v in run.verdicts:
        a = run.aircraft.setdefault(v["aircraft"], {"model": v["model"], "platform": None,
                                                    "firmware": None, "app_version": None})
        a["firmware"] = a["firmware"] or v["firmware"]
        a["app_version"] = a["app_version"] or v["app_version"]
    for p in run.profiles:  # the last session's reading wins: what the devices said last
        a = run.aircraft.setdefault(p["aircraft"], {"model": p["model"]})
        a["platform"] = p.get("platform")
        a["firmware"] = p.get("firmware") or a.get("firmware")
        a["app_version"] = p.get("app_version") or a.get("app_version")
    return run
