"""What a claim test records, and how a reviewer reads it: JSON beside the pcap, and HTML.

A claim is judged on a power session's phases. `Recorder` stamps phases and actions on
the gateway's clock (through a clock function it is given), and `Evidence` gathers, for
one claim test, the session's phases with their flows, the facts read from the devices
(observations), the verdict, the capture's path and the other claims the same session
served. `Evidence.to_json()` is the
record kept under the artifacts folder; `Evidence.html()` is the block attached to the
test's row of the HTML report: a summary line, a timeline, then per phase its actions and
its flow table.

Control traffic (the bench host's own, see `hil.claims.Context.control`) is kept apart:
per phase in `Phase.control`, never in `Phase.flows`; the HTML shows it in a table of its
own under each phase and as outlined bars on the timeline, labelled "control traffic".
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = 1


@dataclass
class Action:
    t: float
    what: str


@dataclass
class Phase:
    name: str
    start: float
    end: float | None = None
    actions: list[Action] = field(default_factory=list)
    flows: list[dict] = field(default_factory=list)
    dns: list[dict] = field(default_factory=list)
    control: list[dict] = field(default_factory=list)  # the bench host's flows: not judged


@dataclass
class Evidence:
    test: str
    claim: str
    aircraft: str
    model: str
    bench: str
    phone: str
    firmware: str | None = None
    app_version: str | None = None  # as the phone's backend reported it; None: it cannot tell
    session: str = ""
    served: list[str] = field(default_factory=list)
    observations: dict = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)
    pcap: str | None = None
    capture_log: str = ""
    verdict: dict | None = None
    bench_hosts: list[str] = field(default_factory=list)  # whose traffic is control traffic
    started: float = field(default_factory=time.time)

    def to_json(self) -> str:
        d = asdict(self)
        d["schema"] = SCHEMA
        return json.dumps(d, indent=2, sort_keys=True)

    # -- HTML -------------------------------------------------------------------------
    def summary(self) -> str:
        v = self.verdict or {"status": "error", "reasons": ["not judged"]}
        first = v["reasons"][0] if v.get("reasons") else ""
        return f"{self.claim} {v['status'].upper()} on {self.aircraft} ({self.model}): {first}"

    def html(self) -> str:
        e = html.escape
        v = self.verdict or {"status": "error", "reasons": ["not judged"]}
        colour = {"pass": "#1a7f37", "fail": "#cf222e"}.get(v["status"], "#9a6700")
        parts = [
            '<div class="hil-evidence" style="font-family:sans-serif;font-size:13px">',
            f'<p><b style="color:{colour}">{e(v["status"].upper())}</b> '
            f"{e(self.claim)} on <b>{e(self.aircraft)}</b> ({e(self.model)}), firmware "
            f"{e(self.firmware or 'unknown')}, bench {e(self.bench)}, phone {e(self.phone)}, "
            f"app {e(self.app_version or 'unknown')}</p>",
            "<ul>" + "".join(f"<li>{e(r)}</li>" for r in v.get("reasons", [])) + "</ul>",
            f"<p>session <b>{e(self.session)}</b>, which served "
            f"{e(', '.join(self.served) or self.claim)}</p>",
            self.timeline_svg(),
        ]
        control = [f for ph in self.phases for f in ph.control]
        if control:
            parts.append(
                f"<p>control traffic with the bench host ({e(', '.join(self.bench_hosts))}): "
                f"{len(control)} flow(s), {sum(f['bytes_up'] for f in control)} B up, "
                f"{sum(f['bytes_down'] for f in control)} B down; not the phone's, "
                "not judged</p>")
        if self.observations:
            parts.append("<p>observations:</p><ul>" + "".join(
                f"<li>{e(k)}: <code>{e(json.dumps(val, default=str))}</code></li>"
                for k, val in self.observations.items()) + "</ul>")
        t0 = self.phases[0].start if self.phases else 0.0
        for ph in self.phases:
            end = ph.end if ph.end is not None else ph.start
            parts.append(f"<h4>phase {e(ph.name)}: +{ph.start - t0:.3f} s to +{end - t0:.3f} s"
                         f" ({end - ph.start:.3f} s)</h4>")
            if ph.actions:
                parts.append("<p>actions: " + "; ".join(
                    f"+{a.t - t0:.3f} s {e(a.what)}" for a in ph.actions) + "</p>")
            parts.append(_flow_table(ph.flows, t0))
            if ph.control:
                parts.append("<p>control traffic (the bench host's, not judged):</p>"
                             + _flow_table(ph.control, t0, client="client"))
            if ph.dns:
                parts.append("<p>DNS: " + "; ".join(
                    f"+{d['ts'] - t0:.3f} s {e(d['qname'])} -> "
                    f"{e(', '.join(a[2] for a in d['answers']) or 'no answer')}" for d in ph.dns)
                    + "</p>")
        if self.pcap:
            parts.append(f"<p>capture: <code>{e(self.pcap)}</code></p>")
        parts.append("</div>")
        return "\n".join(parts)

    def timeline_svg(self, width: int = 900) -> str:
        """Phases as bands, actions as marks, flows as bars (height ~ bytes up)."""
        if not self.phases:
            return ""
        t0 = self.phases[0].start
        t1 = max((p.end or p.start) for p in self.phases)
        for p in self.phases:
            for f in p.flows + p.control:
                t1 = max(t1, f["last"])
        span = max(t1 - t0, 1e-6)
        x = lambda t: 10 + (width - 20) * (t - t0) / span  # noqa: E731
        colours = {"diagnostics": "#cf222e", "nfz": "#0969da", "os": "#8c959f",
                   "dns": "#6e7781", "unknown": "#9a6700", "media": "#8250df",
                   "flightlog": "#bf3989"}
        out = [f'<svg width="{width}" height="90" xmlns="http://www.w3.org/2000/svg" '
               'style="border:1px solid #d0d7de">']
        for i, p in enumerate(self.phases):
            fill = "#f6f8fa" if i % 2 == 0 else "#eaeef2"
            out.append(f'<rect x="{x(p.start):.1f}" y="0" width="'
                       f'{max(x(p.end or p.start) - x(p.start), 1):.1f}" height="90" '
                       f'fill="{fill}"/><text x="{x(p.start) + 3:.1f}" y="12" '
                       f'font-size="11">{html.escape(p.name)}</text>')
            for a in p.actions:
                out.append(f'<line x1="{x(a.t):.1f}" x2="{x(a.t):.1f}" y1="14" y2="90" '
                           f'stroke="#57606a" stroke-dasharray="2,2"><title>'
                           f'{html.escape(a.what)}</title></line>')
            for f in p.flows:
                h = min(60, 4 + f["bytes_up"] / 500)
                c = colours.get(f["category"], "#1a7f37")
                out.append(f'<rect x="{x(f["first"]):.1f}" y="{88 - h:.1f}" width="'
                           f'{max(x(f["last"]) - x(f["first"]), 2):.1f}" height="{h:.1f}" '
                           f'fill="{c}"><title>{html.escape(f["server_name"] or f["dst"])} '
                           f'[{f["category"]}] up {f["bytes_up"]} B</title></rect>')
            for f in p.control:  # outlined, not filled: seen, not judged
                h = min(60, 4 + f["bytes_up"] / 500)
                out.append(f'<rect x="{x(f["first"]):.1f}" y="{88 - h:.1f}" width="'
                           f'{max(x(f["last"]) - x(f["first"]), 2):.1f}" height="{h:.1f}" '
                           'fill="none" stroke="#57606a" stroke-dasharray="3,2"><title>'
                           f'control traffic: {html.escape(f["src"])} -&gt; '
                           f'{html.escape(f["dst"])}:{f["dport"]} up {f["bytes_up"]} B'
                           '</title></rect>')
        out.append("</svg>")
        return "".join(out)


def _flow_table(flows: list[dict], t0: float, client: str = "phone") -> str:
    if not flows:
        return "<p><i>no flows in this phase</i></p>"
    e = html.escape
    rows = ["<table border=1 cellpadding=3 style='border-collapse:collapse'><tr><th>start"
            f"</th><th>proto</th><th>{client}</th><th>server</th><th>name</th><th>from</th>"
            "<th>category</th><th>pkts up/down</th><th>bytes up</th><th>bytes down</th></tr>"]
    for f in sorted(flows, key=lambda f: f["first"]):
        start = f"+{f['first'] - t0:.3f}"
        if f.get("opened") is not None and f["opened"] < f["first"]:
            # a slice of a connection opened earlier: its counts are this phase's only
            start += f" (open since +{f['opened'] - t0:.3f})"
        rows.append(
            f"<tr><td>{start}</td><td>{e(f['proto'])}</td>"
            f"<td>{e(f['src'])}:{f['sport']}</td><td>{e(f['dst'])}:{f['dport']}</td>"
            f"<td>{e(f['server_name'] or '')}</td><td>{e(f.get('name_source') or '')}</td>"
            f"<td>{e(f['category'])}</td><td>{f['packets_up']}/{f['packets_down']}</td>"
            f"<td>{f['bytes_up']}</td><td>{f['bytes_down']}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


class Recorder:
    """Stamps phases and actions with a clock (the gateway's) into a list of phases."""

    def __init__(self, phases: list[Phase], clock: Callable[[], float]):
        self.phases = phases
        self.clock = clock
        self.current: Phase | None = None

    @contextmanager
    def phase(self, name: str):
        ph = Phase(name, self.clock())
        self.phases.append(ph)
        self.current = ph
        try:
            yield ph
        finally:
            ph.end = self.clock()
            self.current = None

    def act(self, what: str, fn: Callable[[], Any] | None = None) -> Any:
        """Record an action at the moment it starts and run it."""
        target = self.current or (self.phases[-1] if self.phases else None)
        if target is None:
            raise RuntimeError(f"action {what!r} outside any phase")
        target.actions.append(Action(self.clock(), what))
        return fn() if fn else None
