"""The `netns` bench kind: the simulator's relay board and aircraft, a real network.

A bench file is of this kind when it has a `[netns]` table::

    [netns]
    time_scale = 0.02     # (0, 1], default 0.02
    faults = []           # app and aircraft fault profiles (hil.sim.faults); the gateway's
                          # are refused: the netns gateway is real
    mode = "auto"         # auto (root if root, else rootless) | root | rootless;
                          # HIL_NETNS_MODE overrides it

Its runner (`RUNNER`, `hil.netns.bench.NetnsBench`) makes the namespaces; it raises
`hil.kinds.Unavailable` (as `NetnsUnavailable`) where this machine cannot.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.bench import Section, SimConfig
from hil.sim.kind import simulation

RUNNER = "hil.netns.bench.NetnsBench"  # named, not imported: it imports this module

MODES = ("auto", "root", "rootless")
# faults of the simulated gateway or Wi-Fi: the netns gateway is real and has none of them
GATEWAY_FAULTS = ("cut_ineffective", "deaf_sniffer", "aircraft_direct_uplink")
# faults the real phone of this bench does not play, and why
PHONE_FAULTS = {
    "media_over_open_connection": "needs a kept-alive connection, which the netns bench's "
                                  "phone does not play (its cloud stand-ins answer one "
                                  "request per connection)",
    "control_traffic": "needs a bench host the phone reaches through the gateway; the "
                       "netns bench's host reaches its boxes without crossing it",
}


@dataclass(frozen=True)
class NetnsConfig(SimConfig):
    mode: str = "auto"  # how the namespaces are made: auto | root | rootless


def fault_refused(fault: str) -> str | None:
    """Why the netns bench cannot play this fault, or None when it can."""
    if fault in GATEWAY_FAULTS:
        return (f"{fault!r} breaks the simulated gateway or Wi-Fi; the netns gateway is real "
                "(use benches/sim.toml)")
    if fault in PHONE_FAULTS:
        return f"{fault!r} {PHONE_FAULTS[fault]} (use benches/sim.toml)"
    return None


def parse(section: Section) -> NetnsConfig:
    section.only(("time_scale", "faults", "mode"))
    scale, faults = simulation(section, 0.02)
    for i, f in enumerate(faults):
        why = fault_refused(f)
        if why:
            raise section.fail(f"faults[{i}]", why)
    mode = section.value("mode", str, "auto", choices=MODES)
    return NetnsConfig(scale, faults, mode)
