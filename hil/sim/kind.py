"""The `sim` bench kind: every device simulated on this machine, no hardware, no root.

A bench file is of this kind when it has a `[sim]` table::

    [sim]
    time_scale = 0.01     # (0, 1], default 0.01: boot times and windows are multiplied by it
    faults = []           # fault profiles (hil.sim.faults); --sim-fault replaces the list

Its address values may be the word "sim"; `start()` fills them in (`hil.sim.bench`).
"""

from __future__ import annotations

from hil.bench import Bench, Section, SimConfig
from hil.sim.faults import FAULTS


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


def start(template: Bench, faults: tuple[str, ...] | None = None):
    """The started `SimBench` (its `.resolved` is the live bench)."""
    from hil.sim.bench import SimBench

    sim = SimBench(template, faults=faults)
    sim.start()
    return sim
