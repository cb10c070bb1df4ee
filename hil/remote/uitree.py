"""A phone's screen as `uiautomator dump` writes it: nodes, selectors, tap points.

Pure: `parse(xml)` turns a dump into `Node`s (or raises `DumpError` for what a phone prints
instead of a hierarchy: "ERROR: could not get idle state.", an empty file, broken XML);
`Selector` says which nodes an element is by what a person reads on the screen or a
developer named it (resource-id, text, content-desc, class, package), never by where it
is drawn; `Node.centre` is where a tap lands.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

_BOUNDS = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")
# selector key in a recipe -> attribute of a uiautomator node
SELECTOR_KEYS = {"id": "resource-id", "text": "text", "desc": "content-desc",
                 "class": "class", "package": "package", "text_contains": "text"}


class DumpError(Exception):
    """What the phone returned is not a screen hierarchy (the message says what it was)."""


@dataclass(frozen=True)
class Node:
    attrs: dict
    bounds: tuple[int, int, int, int]

    def get(self, name: str) -> str:
        return self.attrs.get(name, "")

    @property
    def checked(self) -> bool:
        return self.get("checked") == "true"

    @property
    def centre(self) -> tuple[int, int]:
        x1, y1, x2, y2 = self.bounds
        return (x1 + x2) // 2, (y1 + y2) // 2

    def __str__(self) -> str:
        said = [f"{k}={self.get(a)!r}" for k, a in (("id", "resource-id"), ("text", "text"),
                                                   ("desc", "content-desc")) if self.get(a)]
        return f"<{self.get('class').rsplit('.', 1)[-1]} {' '.join(said)}>"


def parse(xml: str | bytes) -> list[Node]:
    """Every node of a dump, in document order; DumpError for anything else."""
    text = xml.decode("utf-8", "replace") if isinstance(xml, bytes) else xml
    stripped = text.strip()
    if not stripped:
        raise DumpError("the dump is empty")
    if stripped.startswith("ERROR") or "<hierarchy" not in stripped:
        raise DumpError(f"the phone did not dump the screen: {stripped.splitlines()[0][:200]!r}")
    start = stripped.index("<?xml") if stripped.startswith("<?xml") else \
        stripped.index("<hierarchy")
    end = stripped.rfind("</hierarchy>")
    if end < 0:
        raise DumpError("the dump is cut short (no </hierarchy>)")
    try:
        root = ET.fromstring(stripped[start:end + len("</hierarchy>")])
    except ET.ParseError as e:
        raise DumpError(f"the dump is not well-formed XML: {e}") from None
    nodes = []
    for el in root.iter("node"):
        m = _BOUNDS.fullmatch(el.get("bounds", ""))
        if not m:
            raise DumpError(f"a node has no bounds: {dict(el.attrib)}")
        nodes.append(Node(dict(el.attrib), tuple(int(g) for g in m.groups())))
    return nodes


@dataclass(frozen=True)
class Selector:
    """An element by its attributes; every given attribute must match (text exactly,
    text_contains as a substring). `{name}` in a value is filled in from parameters."""

    fields: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, table: dict) -> Selector:
        unknown = [k for k in table if k not in SELECTOR_KEYS]
        if unknown or not table:
            raise ValueError(f"a selector takes {', '.join(SELECTOR_KEYS)} (at least one); "
                             f"not {', '.join(unknown) or 'nothing'}")
        for k, v in table.items():
            if not isinstance(v, str) or not v:
                raise ValueError(f"selector key {k} must be a non-empty string")
        return cls(tuple(sorted(table.items())))

    def fill(self, params: dict) -> Selector:
        return Selector(tuple((k, v.format(**params)) for k, v in self.fields)) \
            if params else self

    def matches(self, node: Node) -> bool:
        for k, v in self.fields:
            have = node.get(SELECTOR_KEYS[k])
            if not (v in have if k == "text_contains" else have == v):
                return False
        return True

    def find(self, nodes: list[Node]) -> Node | None:
        """The first node that matches; None."""
        return next((n for n in nodes if self.matches(n)), None)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{k}={v!r}" for k, v in self.fields) + "}"
