"""The traffic profile of a power session: what each phase sent, by category and by server.

A pure core: `phase_profile(flows)` takes a phase's flows (plain dicts as
`hil.capture.analyze.Flow.to_dict()` makes them, control traffic already left out) and
returns, for that phase:

- `categories`: category -> {bytes_up, bytes_down, flows}
- `servers`: destination -> {category, bytes_up, bytes_down, flows}, where the destination
  is the flow's server name, or its server address when it has none;
- `flows`: every flow, reduced to what a comparison needs (destination, address, port,
  protocol, category, bytes up and down), largest upload first.

`session_profile(...)` wraps the phases of one session with who played it (aircraft,
model, phone, platform) and what the devices said they run (firmware, app version). It is
what `profile.json` holds in a session's folder (written as the session finishes, so a
run killed later still has it), and what `hil history` and `hil gate` compare.

"Bytes up" are what the client of a flow sent: on a phone's capture, what the phone sent.
"""

from __future__ import annotations

from collections.abc import Iterable

SCHEMA = 1


def destination(flow: dict) -> str:
    """What a flow is counted under: its server name, else its server address."""
    return flow.get("server_name") or flow["dst"]


def phase_profile(flows: Iterable[dict]) -> dict:
    """Bytes and flow counts per category and per destination of one phase's flows."""
    categories: dict[str, dict] = {}
    servers: dict[str, dict] = {}
    kept = []
    for f in flows:
        c = categories.setdefault(f["category"], {"bytes_up": 0, "bytes_down": 0, "flows": 0})
        name = destination(f)
        s = servers.setdefault(name, {"category": f["category"], "bytes_up": 0,
                                      "bytes_down": 0, "flows": 0})
        for d in (c, s):
            d["bytes_up"] += f["bytes_up"]
            d["bytes_down"] += f["bytes_down"]
            d["flows"] += 1
        kept.append({"destination": name, "dst": f["dst"], "dport": f["dport"],
                     "proto": f["proto"], "category": f["category"],
                     "bytes_up": f["bytes_up"], "bytes_down": f["bytes_down"]})
    kept.sort(key=lambda f: (-f["bytes_up"], f["destination"]))
    return {"categories": categories, "servers": servers, "flows": kept}


def session_profile(*, session: str, scenario: str, aircraft: str, model: str, phone: str,
                    platform: str, firmware: str | None, app_version: str | None,
                    phases: list[tuple[str, float, float | None, list[dict]]]) -> dict:
    """One session's record: who, which versions, and per phase (name, start, end, flows)
    its profile. Versions are as the devices reported them; None where they cannot tell."""
    return {
        "schema": SCHEMA, "session": session, "scenario": scenario, "aircraft": aircraft,
        "model": model, "phone": phone, "platform": platform, "firmware": firmware,
        "app_version": app_version,
        "phases": [{"name": name, "start": start, "end": end, **phase_profile(flows)}
                   for name, start, end, flows in phases],
    }


def totals(profiles: Iterable[dict]) -> dict:
    """Summed over sessions and phases: bytes up per category and the distinct
    destinations (what the trend page plots per model and run)."""
    up: dict[str, int] = {}
    names: set[str] = set()
    for p in profiles:
        for ph in p["phases"]:
            for cat, c in ph["categories"].items():
                up[cat] = up.get(cat, 0) + c["bytes_up"]
            names.update(ph["servers"])
    return {"bytes_up": up, "destinations": len(names)}
