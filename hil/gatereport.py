"""The release gate's verdict as a person or a CI reads it: text, JSON, JUnit XML, HTML.

Renderers only (a `hil.gate.GateResult` in, a string out). JUnit has one test case per
model and check (classname `hil.gate.<model>`): a failed check is a `<failure>`, an
inconclusive one an `<error>`, so any CI shows which. The HTML page says the verdict, the
versions of both sides, each check with its table, and links to the evidence by paths
relative to the page.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from xml.sax.saxutils import quoteattr

from hil.gate import FAIL, INCONCLUSIVE, GateResult

COLOUR = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700"}


def _versions(v: dict) -> str:
    return "; ".join(f"{n}: firmware {a['firmware']}, app {a['app_version']}"
                     for n, a in v.items()) or "none"


def text(r: GateResult) -> str:
    lines = [f"gate {r.status.upper()}: candidate {r.candidate['id']}"
             + (f" ({r.candidate['release']})" if r.candidate["release"] else "")
             + f", policy {r.policy}"]
    for m in r.models:
        base = m.baseline["id"] if m.baseline else "none"
        lines.append(f"  {m.model}: {m.status.upper()}  candidate "
                     f"{_versions(m.candidate_versions)}; baseline {base}"
                     + (f" ({_versions(m.baseline['versions'])})" if m.baseline else ""))
        for c in m.checks:
            lines.append(f"    {c.status:12} {c.name}: {c.message}")
    return "\n".join(lines) + "\n"


def to_json(r: GateResult) -> str:
    return json.dumps(r.to_dict(), indent=2, sort_keys=True)


def junit(r: GateResult) -> str:
    cases = []
    n = fails = errors = 0
    for m in r.models:
        for c in m.checks:
            n += 1
            body = ""
            if c.status == FAIL:
                fails += 1
                body = f"<failure message={quoteattr(c.message)}/>"
            elif c.status == INCONCLUSIVE:
                errors += 1
                body = f"<error message={quoteattr('inconclusive: ' + c.message)}/>"
            cases.append(f"<testcase classname={quoteattr('hil.gate.' + m.model)} "
                         f"name={quoteattr(c.name)}>{body}</testcase>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<testsuites><testsuite name="hil gate" tests="{n}" failures="{fails}" '
            f'errors="{errors}"><properties><property name="candidate" '
            f'value={quoteattr(r.candidate["id"])}/><property name="release" '
            f'value={quoteattr(r.candidate["release"])}/><property name="verdict" '
            f'value={quoteattr(r.status)}/></properties>'
            + "".join(cases) + "</testsuite></testsuites>\n")


def _table(rows: list[dict], link) -> str:
    if not rows:
        return ""
    e = html.escape
    def behind(row):  # the flows behind a row: a list ("flows" alone may be a count)
        for k in ("via", "flows"):
            if isinstance(row.get(k), list):
                return k
        return None

    listed = behind(rows[0])
    keys = [k for k in rows[0] if k != listed]
    out = ["<table><tr>" + "".join(f"<th>{e(k)}</th>" for k in keys)
           + ("<th>flows behind it</th>" if listed else "") + "</tr>"]
    for row in rows:
        cells = []
        for k in keys:
            v = row[k]
            if k == "evidence" and v:
                cells.append(f'<td><a href="{e(link(v))}">evidence</a></td>')
            else:
                cells.append(f"<td>{e(', '.join(v) if isinstance(v, list) else str(v))}</td>")
        flows = row.get(listed) if listed else None
        if flows is not None:
            cells.append("<td>" + "<br>".join(
                f"{e(f['proto'])} {e(f['dst'])}:{f['dport']} {e(f['destination'])} "
                f"[{e(f['category'])}] up {f['bytes_up']} B, down {f['bytes_down']} B"
                for f in flows) + "</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table>"


def page(r: GateResult, out: Path) -> str:
    e = html.escape
    base = out.resolve().parent
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>hil gate "
        f"{e(r.status)}</title><style>body{{font-family:sans-serif;font-size:13px}}"
        "table{border-collapse:collapse;margin:4px 0}td,th{border:1px solid #d0d7de;"
        "padding:2px 5px;vertical-align:top}</style></head><body>",
        f'<h1>Release gate: <span id="verdict" style="color:{COLOUR[r.status]}">'
        f"{e(r.status.upper())}</span></h1>",
        f"<p>candidate <b>{e(r.candidate['id'])}</b>"
        + (f", release <b>{e(r.candidate['release'])}</b>" if r.candidate["release"] else "")
        + f" ({e(r.candidate['path'])}); policy {e(r.policy)}</p>"]
    for m in r.models:
        cand_dir = Path(r.candidate["path"])
        link = lambda rel, d=cand_dir: os.path.relpath(d / rel, base)  # noqa: E731
        parts.append(f'<h2 class="model" data-status="{e(m.status)}">{e(m.model)}: '
                     f'<span style="color:{COLOUR[m.status]}">{e(m.status.upper())}</span>'
                     "</h2>")
        parts.append("<table><tr><th></th><th>run</th><th>versions</th></tr>"
                     f"<tr><th>candidate</th><td>{e(r.candidate['id'])}</td>"
                     f"<td>{e(_versions(m.candidate_versions))}</td></tr>"
                     + (f"<tr><th>baseline</th><td>{e(m.baseline['id'])}"
                        f"{' (' + e(m.baseline['release']) + ')' if m.baseline['release'] else ''}"
                        f"</td><td>{e(_versions(m.baseline['versions']))}</td></tr>"
                        if m.baseline else "<tr><th>baseline</th><td colspan=2>none</td></tr>")
                     + "</table>")
        for c in m.checks:
            parts.append(f'<h3 style="color:{COLOUR[c.status]}">{e(c.status)}: '
                         f"{e(c.name)}</h3><p>{e(c.message)}</p>" + _table(c.rows, link))
    parts.append("</body></html>\n")
    return "".join(parts)
