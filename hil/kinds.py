"""The bench kinds, by name: real, sim and netns.

A bench file's kind is the kind table it has: `[sim]` a simulated bench, `[netns]` a netns
bench, none a real one (`hil.bench` decides it, once, and keeps it as `Bench.kind`). Each
kind but `real` has a module, named here and imported only when a bench of that kind is
loaded, so `hil.bench` imports neither `hil.sim` nor `hil.netns`. A kind's module has:

- `parse(section: hil.bench.Section) -> hil.bench.SimConfig`: validate the kind's table
  (the section names the file and key in its errors); the result is `Bench.sim`;
- `start(template: Bench, faults: tuple[str, ...] | None) -> running`: start the bench's
  devices; `running.resolved` is the bench with live addresses, `running.stop()` takes it
  down and returns what it could not remove (empty when all is well). It raises
  `Unavailable` when this machine cannot run that kind.

A new kind is one module (its table's keys in its docstring), one line below and its tests.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# kind -> its module (None: nothing to validate or start)
KINDS: dict[str, str | None] = {
    "real": None,
    "sim": "hil.sim.kind",
    "netns": "hil.netns.kind",
}
TABLES = tuple(k for k, m in KINDS.items() if m is not None)  # kinds with a table


class Unavailable(Exception):
    """This machine cannot run a bench of this kind; the message says why."""


def module(kind: str) -> ModuleType | None:
    """The module of a kind (None for a real bench); KeyError for an unknown kind."""
    name = KINDS[kind]
    return importlib.import_module(name) if name else None


def start(template, faults: tuple[str, ...] | None = None):
    """Start the devices of a simulated bench (kind sim or netns); see the module's text."""
    mod = module(template.kind)
    if mod is None:
        raise ValueError(f"bench file {template.path} is a real bench: nothing to start")
    return mod.start(template, faults)
