"""The bench kinds, by name: real, sim and netns.

A bench file's kind is the kind table it has: `[sim]` a simulated bench, `[netns]` a netns
bench, none a real one (`hil.bench` decides it, once, and keeps it as `Bench.kind`). Each
kind but `real` has a module, named here and imported only when a bench of that kind is
loaded, so `hil.bench` imports neither `hil.sim` nor `hil.netns`. A kind's module has:

- `parse(section: hil.bench.Section) -> hil.bench.SimConfig`: validate the kind's table
  (the section names the file and key in its errors); the result is `Bench.sim`;
- `RUNNER`: the dotted name of the class that runs such a bench, imported only when one
  starts (the runner may import the kind's module; never the other way round):
  `Runner(template: Bench, faults=None)`, `.start() -> Bench` (the bench with live
  addresses, also kept as `.resolved`), `.stop() -> list[str]` (what it could not remove;
  empty when all is well). `start()` raises `Unavailable` where this machine cannot run
  that kind.

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
    """The started runner of a simulated bench (kind sim or netns); `.resolved` is the
    bench with live addresses. Stop it with `.stop()`."""
    mod = module(template.kind)
    if mod is None:
        raise ValueError(f"bench file {template.path} is a real bench: nothing to start")
    where, _, name = mod.RUNNER.rpartition(".")
    runner = getattr(importlib.import_module(where), name)(template, faults=faults)
    runner.start()
    return runner
