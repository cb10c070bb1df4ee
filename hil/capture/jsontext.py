"""Write a JSON document as ``json.dump(doc, out, indent=2)`` does, fast and in few writes.

:func:`write` promises the very characters :func:`json.dump` writes with ``indent=2``
(ASCII only, key order kept, floats as ``repr`` gives them, ``NaN``/``Infinity`` allowed)
for any document of dicts with string keys, lists, tuples, strings, numbers, booleans and
``None``. It exists because the standard library encodes an indented document in pure
Python, one small piece a call, and writes each piece to the stream: a capture's report
of tens of thousands of flows took a quarter of a second and as many writes as it has
values.

Here a list of dicts with the same keys (the flows, the DNS lookups) is encoded a column
at a time with the C encoders of :mod:`json`, each dict then being one template filled
in, and the text goes to the stream in pieces of about :data:`CHUNK` characters. A
:class:`Table` is such a list given column by column, so that a caller holding columns
(a capture's flows) never builds the dicts: it is written as the list of dicts it stands
for.
"""

from __future__ import annotations

import json.encoder
import math
import operator
from typing import TextIO

__all__ = ["CHUNK", "Table", "dumps", "write"]

#: Characters gathered before one write to the stream.
CHUNK = 1 << 20
_ROWS = 2048  # members of a long list encoded at a time

_encode_str = json.encoder.encode_basestring_ascii


class Table:
    """A list of dicts with the same keys, held as rows of values: ``rows[r][i]`` is row
    ``r``'s value of ``keys[i]``. :func:`write` and :func:`dumps` write it exactly as the
    list of dicts it stands for (:meth:`dicts` gives that list)."""

    __slots__ = ("keys", "rows")

    def __init__(self, keys, rows) -> None:
        self.keys = tuple(keys)
        self.rows = rows if isinstance(rows, list) else list(rows)
        if not self.keys or not all(type(k) is str for k in self.keys):
            raise ValueError("a Table needs string keys, at least one")

    def __len__(self) -> int:
        return len(self.rows)

    def dicts(self) -> list[dict]:
        """The table as the list of dicts it stands for."""
        return [dict(zip(self.keys, values, strict=True)) for values in self.rows]


def _table_texts(table: Table, start: int, stop: int, depth: int) -> list[str]:
    """Rows ``start:stop`` of ``table`` (dicts at ``depth``) as texts."""
    columns = [_column(list(values), depth + 1)
               for values in zip(*table.rows[start:stop], strict=True)]  # fmt: skip
    if len(columns) != len(table.keys):
        raise ValueError(f"a Table row has {len(columns)} values for {len(table.keys)} keys")
    template = _template(table.keys, depth)
    return [template % row for row in zip(*columns, strict=True)]


def _template(keys: tuple[str, ...], depth: int) -> str:
    """A dict with ``keys`` at ``depth`` as a %-template of its values."""
    inner = "\n" + "  " * (depth + 1)
    return "{" + inner + ("," + inner).join(
        _encode_str(k).replace("%", "%%") + ": %s" for k in keys
    ) + "\n" + "  " * depth + "}"  # fmt: skip


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    return float.__repr__(value)


def _scalar(value) -> str | None:
    """``value`` as JSON text when it is a scalar, else ``None``; json.dump's checks."""
    if isinstance(value, str):
        return _encode_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    return None


def _column(values, depth: int) -> list[str]:
    """Each of ``values`` (found at ``depth``: one key's values in a list of dicts, or the
    members of a list) as JSON text."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return list(map(_encode_str, values))
    if kinds == {int}:
        return list(map(int.__repr__, values))
    if kinds == {float} and all(map(math.isfinite, values)):
        return list(map(float.__repr__, values))
    if kinds == {str, type(None)}:
        return [_encode_str(v) if v is not None else "null" for v in values]
    return [_render(v, depth) for v in values]


def _dicts(items: list, depth: int) -> list[str] | None:
    """The dicts ``items`` (each at ``depth``: members of a list one level up) as JSON
    texts, when they all have the same string keys; else ``None``."""
    first = items[0]
    if not isinstance(first, dict) or not first:
        return None
    keys = tuple(first)
    if not all(type(k) is str for k in keys):
        return None
    for item in items:
        if not isinstance(item, dict) or len(item) != len(keys) or tuple(item) != keys:
            return None
    if len(keys) > 1:
        rows = map(operator.itemgetter(*keys), items)
    else:
        rows = ([item[keys[0]]] for item in items)
    columns = [_column(list(values), depth + 1) for values in zip(*rows, strict=True)]
    template = _template(keys, depth)
    return [template % row for row in zip(*columns, strict=True)]


def _members(items, depth: int) -> list[str]:
    """The members of a list at ``depth``, each as JSON text."""
    texts = _dicts(items, depth + 1)
    return texts if texts is not None else _column(items, depth + 1)


def _render(value, depth: int) -> str:
    """``value``, found at ``depth``, as JSON text."""
    text = _scalar(value)
    if text is not None:
        return text
    inner = "\n" + "  " * (depth + 1)
    close = "\n" + "  " * depth
    if isinstance(value, Table):
        if not len(value):
            return "[]"
        return "[" + inner + ("," + inner).join(
            _table_texts(value, 0, len(value), depth + 1)) + close + "]"  # fmt: skip
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        if set(map(type, value)) == {str}:  # short lists of names: no column machinery
            return "[" + inner + ("," + inner).join(map(_encode_str, value)) + close + "]"
        return "[" + inner + ("," + inner).join(_members(value, depth)) + close + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{" + inner + ("," + inner).join(
            _key(k) + ": " + _render(v, depth + 1) for k, v in value.items()
        ) + close + "}"  # fmt: skip
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(key) -> str:
    if not isinstance(key, str):
        raise TypeError(f"keys must be str here, not {type(key).__name__}")
    return _encode_str(key)


def _pieces(doc, depth: int = 0):
    """The text of ``doc`` in order, with its long lists in many pieces."""
    if isinstance(doc, dict) and doc:
        inner = "\n" + "  " * (depth + 1)
        for i, (key, value) in enumerate(doc.items()):
            yield ("{" if not i else ",") + inner + _key(key) + ": "
            yield from _pieces(value, depth + 1)
        yield "\n" + "  " * depth + "}"
    elif isinstance(doc, Table) and len(doc):
        inner = "\n" + "  " * (depth + 1)
        yield "[" + inner
        for start in range(0, len(doc), _ROWS):  # a slice at a time: bounded memory
            texts = _table_texts(doc, start, min(start + _ROWS, len(doc)), depth + 1)
            yield ("," + inner if start else "") + ("," + inner).join(texts)
        yield "\n" + "  " * depth + "]"
    elif isinstance(doc, (list, tuple)) and doc:
        inner = "\n" + "  " * (depth + 1)
        yield "[" + inner
        for start in range(0, len(doc), _ROWS):  # a slice at a time: bounded memory
            texts = _members(doc[start : start + _ROWS], depth)
            yield ("," + inner if start else "") + ("," + inner).join(texts)
        yield "\n" + "  " * depth + "]"
    else:
        yield _render(doc, depth)


def write(doc, out: TextIO) -> int:
    """Write ``doc`` to ``out`` exactly as ``json.dump(doc, out, indent=2)`` would, in
    pieces of about :data:`CHUNK` characters; return the number of writes."""
    writes = 0
    parts: list[str] = []
    size = 0
    for piece in _pieces(doc):
        parts.append(piece)
        size += len(piece)
        if size >= CHUNK:
            out.write("".join(parts))
            writes += 1
            parts.clear()
            size = 0
    if parts:
        out.write("".join(parts))
        writes += 1
    return writes


def dumps(doc) -> str:
    """``doc`` as ``json.dumps(doc, indent=2)`` gives it."""
    return "".join(_pieces(doc))
