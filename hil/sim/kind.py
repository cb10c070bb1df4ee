"""The `sim` bench kind: every device simulated on this machine, no hardware, no root.

A bench file is of this kind when it has a `[sim]` table::

    [sim]
    time_scale = 0.01     # (0, 1], default 0.01: boot times and windows are multiplied by it
    faults = []           # fault profiles (hil.sim.faults); --sim-fault replaces the list

Its address values may be the word "sim"; the simulator fills them in when it starts
(`RUNNER`, `hil.sim.bench.SimBench`).
"""

from __future__ import annotations

from hil.bench import Section, SimConfig
from hil.sim.faults import FAULTS

RUNNER = "hil.sim.bench.SimBench"  # named, not imported: reading a bench file is light


def simulation(section: Section, default_scale: float) -> tuple[float, tuple[str, ...]]:
    """The time scale and fault profiles of a simulated bench's table, validated."""
    scale = section.value("time_scale", float, default_scale)
    if not 0 < scale <= 1:
        raise section.fail("time_scale", f"{scale:g} must be a number in (0, 1]")
    faults = section.value("faults", list, [])
    for i, f in enumerate(faults):
        if f not in FAULTS:
            raise section.fail(f"faults[{i}]",
                               f"unknown fault {f!r}; known: {', '.join(FAULTS)}")
    return scale, tuple(faults)


def parse(section: Section) -> SimConfig:
    section.only(("time_scale", "faults"))
    return SimConfig(*simulation(section, 0.01))
