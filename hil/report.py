"""The summary of a run, rebuilt from its evidence JSON alone.

`build(run_dir)` reads every `*/evidence.json` under a run's artifacts folder and
returns the verdicts by claim and model; `html()` and `text()` render them, each cell
linking to its evidence and pcap, with a line per power session saying which claims it
served. A nightly job publishes the folder with the page `hil report` writes in it.
"""

from __future__ import annotations

import html as htmlmod
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

CLAIM_ORDER = ("K1", "K2", "K3", "K4", "K5", "K6", "K7", "K8", "G1")


class ReportError(ValueError):
    """A folder that holds no evidence, or evidence that cannot be read."""


@dataclass
class Summary:
    run_dir: Path
    verdicts: dict[tuple[str, str], dict] = field(default_factory=dict)  # (aircraft, claim)
    sessions: dict[str, set[str]] = field(default_factory=dict)  # session -> claims
    models: dict[str, str] = field(default_factory=dict)  # aircraft -> model
    firmware: dict[str, str] = field(default_factory=dict)
    app_version: dict[str, str] = field(default_factory=dict)  # aircraft -> as reported

    @property
    def claims(self) -> list[str]:
        seen = {c for _, c in self.verdicts}
        return [c for c in CLAIM_ORDER if c in seen] + sorted(seen - set(CLAIM_ORDER))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.verdicts.values():
            out[v["status"]] = out.get(v["status"], 0) + 1
        return out


def build(run_dir: str | Path) -> Summary:
    run_dir = Path(run_dir)
    files = sorted(run_dir.glob("*/evidence.json"))
    if not files:
        raise ReportError(f"{run_dir}: no */evidence.json here; give the folder of one run "
                          "(artifacts/<run>/)")
    s = Summary(run_dir)
    for f in files:
        try:
            ev = json.loads(f.read_text())
            key = (ev["aircraft"], ev["claim"])
            verdict = ev["verdict"]
        except (ValueError, KeyError, TypeError) as e:
            raise ReportError(f"{f}: not a harness evidence file ({e})") from None
        s.verdicts[key] = {"status": verdict["status"], "reasons": verdict["reasons"],
                           "evidence": f, "pcap": ev.get("pcap"), "session": ev.get("session")}
        s.models[ev["aircraft"]] = ev["model"]
        s.firmware[ev["aircraft"]] = ev.get("firmware") or "unknown"
        s.app_version[ev["aircraft"]] = ev.get("app_version") or "unknown"
        s.sessions.setdefault(ev.get("session") or "?", set()).add(ev["claim"])
    return s


def text(s: Summary) -> str:
    claims = s.claims
    lines = [f"{'aircraft':14} {'firmware':11} {'app':11} "
             + " ".join(f"{c:>5}" for c in claims)]
    for a in sorted(s.models):
        cells = [s.verdicts.get((a, c), {}).get("status", "-") for c in claims]
        lines.append(f"{a:14} {s.firmware[a]:11} {s.app_version[a]:11} "
                     + " ".join(f"{x:>5}" for x in cells))
    counts = s.counts()
    lines.append(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    for name, served in sorted(s.sessions.items()):
        lines.append(f"session {name}: {', '.join(c for c in s.claims if c in served)}")
    return "\n".join(lines) + "\n"


def html(s: Summary, out_dir: Path) -> str:
    e = htmlmod.escape
    colour = {"pass": "#dafbe1", "fail": "#ffebe9", "error": "#fff8c5"}

    def link(p) -> str:
        return os.path.relpath(p, out_dir) if p else ""
    head = "".join(f"<th>{e(c)}</th>" for c in s.claims)
    rows = []
    for a in sorted(s.models):
        cells = []
        for c in s.claims:
            v = s.verdicts.get((a, c))
            if v is None:
                cells.append("<td>-</td>")
                continue
            title = e(" | ".join(v["reasons"]))
            pcap = f' <a href="{e(link(v["pcap"]))}">pcap</a>' if v["pcap"] else ""
            cells.append(f'<td style="background:{colour.get(v["status"], "#eee")}" '
                         f'title="{title}"><a href="{e(link(v["evidence"]))}">'
                         f'{e(v["status"])}</a>{pcap}</td>')
        rows.append(f"<tr><th>{e(a)}</th><td>{e(s.models[a])}</td><td>{e(s.firmware[a])}</td>"
                    f"<td>{e(s.app_version[a])}</td>" + "".join(cells) + "</tr>")
    counts = ", ".join(f"{n} {k}" for k, n in sorted(s.counts().items()))
    sessions = "".join(f"<li>{e(n)}: {e(', '.join(c for c in s.claims if c in served))}</li>"
                       for n, served in sorted(s.sessions.items()))
    return (f"<!doctype html><meta charset=utf-8><title>hil run {e(s.run_dir.name)}</title>"
            f"<body style='font-family:sans-serif'><h1>Claims, run {e(s.run_dir.name)}</h1>"
            f"<p>{e(counts)}</p><table border=1 cellpadding=4 style='border-collapse:collapse'>"
            f"<tr><th>aircraft</th><th>model</th><th>firmware</th><th>app</th>{head}</tr>"
            f"{''.join(rows)}"
            f"</table><h2>Power sessions and the claims they served</h2><ul>{sessions}</ul>")
