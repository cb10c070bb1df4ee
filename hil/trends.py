"""The trend page of `hil history --html PAGE`: one self-contained HTML file, offline.

- a grid of runs (rows, oldest first) by model and claim (columns), one colour per
  verdict; each cell links to that verdict's `evidence.json` by a path relative to the
  page, so the page and the run folders can be published together;
- per model, across runs (one position per run, in start order, labelled with its start
  time and release): the bytes sent per category, and the number of distinct
  destinations; a dashed vertical line where the firmware or the app version differs from
  the model's previous run, labelled with the new versions.

Plots are drawn with matplotlib (Agg, no display) as SVG and inlined into the page: no
script, no CDN, no file beside the page. matplotlib is imported only here, when a page is
drawn.
"""

from __future__ import annotations

import html
import io
import os
import time
from pathlib import Path

from hil.history import History
from hil.report import CLAIM_ORDER

COLOURS = {"pass": "#dafbe1", "fail": "#ff8182", "error": "#fff8c5"}


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]  # inline: without the XML prolog and doctype


def version_changes(points: list[tuple[float, str, str]]) -> list[tuple[float, str]]:
    """[(time, firmware, app)] in time order -> [(time, label)] where either changed."""
    out = []
    for (_, fw0, app0), (t, fw, app) in zip(points, points[1:], strict=False):
        parts = ([f"fw {fw}"] if fw != fw0 else []) + ([f"app {app}"] if app != app0 else [])
        if parts:
            out.append((t, ", ".join(parts)))
    return out


def model_plots(model: str, rows: list[dict]) -> str:
    """Two SVG plots for one model; rows: [{t, release, bytes_up: {cat: n}, destinations,
    firmware, app}] in time order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = f"hil-{model}"  # stable ids, none shared
    # one position per run, in time order, labelled with its start (and release): runs of
    # one night or of a release day stay apart however close their start times are
    xs = list(range(len(rows)))
    labels = [time.strftime("%m-%d %H:%M", time.localtime(r["t"]))
              + (f"\n{r['release'][:18]}" if r.get("release") else "") for r in rows]
    cats = sorted({c for r in rows for c in r["bytes_up"]})
    at = {r["t"]: i for i, r in enumerate(rows)}
    changes = version_changes([(r["t"], r["firmware"], r["app"]) for r in rows])
    out = []
    for what in ("bytes", "destinations"):
        fig, ax = plt.subplots(figsize=(9, 3.4))
        if what == "bytes":
            for c in cats:
                ax.plot(xs, [r["bytes_up"].get(c, 0) / 1024 for r in rows], marker="o",
                        label=c)
            ax.set_ylabel("KiB sent")
            ax.set_title(f"{model}: bytes sent per category, per run")
            if cats:
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        else:
            ax.plot(xs, [r["destinations"] for r in rows], marker="o", color="#0969da")
            ax.set_ylabel("destinations")
            ax.set_title(f"{model}: distinct destinations, per run")
        ax.set_ylim(bottom=0)
        for t, label in changes:
            x = at[t] - 0.5
            ax.axvline(x, color="#cf222e", linestyle="--", lw=1)
            ax.annotate(label, (x, 0.98), xycoords=("data", "axes fraction"), rotation=90,
                        va="top", ha="right", fontsize=7, color="#cf222e")
        ax.set_xticks(xs, labels, fontsize=7, rotation=30, ha="right")
        ax.set_xlim(-0.5, len(rows) - 0.5)
        ax.grid(alpha=0.3)
        out.append(f'<div class="plot" data-model="{html.escape(model)}" data-plot="{what}">'
                   f"{_svg(fig)}</div>")
        plt.close(fig)
    return "\n".join(out)


def page(h: History, out: Path, last: int = 60) -> str:
    """The trend page's HTML for the `last` runs; links relative to `out`'s folder."""
    e = html.escape
    runs = h.runs(last)
    ids = [r.id for r in runs]
    models = h.models(ids) if ids else []
    verdicts = h.verdicts(ids) if ids else {}
    claims = [c for c in CLAIM_ORDER if any(k[2] == c for k in verdicts)]
    base = out.resolve().parent
    head = "".join(f'<th colspan="{len(claims)}">{e(m)}</th>' for m in models)
    sub = "".join(f"<th>{e(c)}</th>" for _ in models for c in claims)
    rows = []
    for r in runs:
        cells = []
        for m in models:
            for c in claims:
                v = verdicts.get((r.id, m, c))
                if v is None:
                    cells.append('<td class="none">-</td>')
                    continue
                href = os.path.relpath(Path(r.path) / v["evidence"], base)
                cells.append(f'<td style="background:{COLOURS.get(v["status"], "#eee")}" '
                             f'title="{e(" | ".join(v["reasons"]))}"><a href="{e(href)}">'
                             f'{e(v["status"])}</a></td>')
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started))
        note = "" if r.ended is not None else " (stopped)"
        rows.append(f"<tr><td>{e(started)}{note}</td><td>{e(r.release or '-')}</td>"
                    f"<td>{e(r.bench)}</td><td>{e(', '.join(r.faults) or '-')}</td>"
                    + "".join(cells) + "</tr>")
    plots = []
    for m in models:
        series = []
        for r in runs:
            if not any(k[0] == r.id and k[1] == m for k in verdicts) and \
                    not h.bytes_up(r.id, m):
                continue
            fw, app = h.versions(r.id, m)
            series.append({"t": r.started, "release": r.release, "bytes_up": h.bytes_up(r.id, m),
                           "destinations": h.destinations(r.id, m), "firmware": fw,
                           "app": app})
        if series:
            plots.append(f"<h3>{e(m)}</h3>" + model_plots(m, series))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>hil history</title>"
        "<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
        "td,th{border:1px solid #d0d7de;padding:2px 5px}td a{color:inherit}"
        ".none{color:#8c959f}.plot{margin:4px 0}</style></head><body>"
        f"<h1>hil history: {len(runs)} run(s)</h1>"
        f"<p>from {e(str(h.path))}, written {e(time.strftime('%Y-%m-%d %H:%M'))}. Colours: "
        "green pass, red fail, yellow error (inconclusive); - not run. Each cell links to "
        "its evidence.</p>"
        '<table id="grid"><tr><th rowspan=2>started</th><th rowspan=2>release</th>'
        f"<th rowspan=2>bench</th><th rowspan=2>faults</th>{head}</tr><tr>{sub}</tr>"
        f"{''.join(rows)}</table>"
        "<h2>Traffic per model across runs</h2><p>Bytes the phones sent per category (all "
        "sessions and phases of the run), and distinct destinations; dashed red lines mark "
        "a firmware or app version change.</p>"
        f"{''.join(plots)}</body></html>\n")
