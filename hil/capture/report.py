"""What `hil analyze CAPTURE [--catalog FILE] [--json]` prints.

- :func:`table`: one row a flow, by upload bytes (largest first), with its server name,
  where the name came from and its category; a header line with the totals.
- :func:`to_json`: exactly ``{"packets": N, "flows": [{proto, src, sport, dst, dport,
  first, last, packets_up, packets_down, bytes_up, bytes_down, sni, dns_name, http_host,
  server_name, category}], "dns": [{ts, qname, answers}]}``, flows in the table's order,
  lookups in capture order, ``bytes_*`` transport payload bytes, times in seconds since
  the epoch, ``answers`` as ``[name, type, value]`` lists.
- :func:`run`: the command itself, for the CLI to call: analyzes, prints, returns the exit
  status. A truncated or corrupt capture still prints what was read before the damage,
  then names the damage on stderr and returns 2. The JSON is the text ``json.dump`` writes
  with ``indent=2``, written in a few large pieces (:mod:`hil.capture.jsontext`).
"""

from __future__ import annotations

import gc
import operator
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from hil.capture import jsontext
from hil.capture.analyze import Analysis, Flow, analyze
from hil.capture.catalog import Catalog
from hil.capture.errors import CaptureError

__all__ = ["DNS_KEYS", "FLOW_KEYS", "by_upload", "run", "table", "to_json"]

#: The keys of a flow in the JSON output, in order.
FLOW_KEYS = (
    "proto", "src", "sport", "dst", "dport", "first", "last", "packets_up", "packets_down",
    "bytes_up", "bytes_down", "sni", "dns_name", "http_host", "server_name", "category",
)  # fmt: skip
#: The keys of a DNS lookup in the JSON output, in order.
DNS_KEYS = ("ts", "qname", "answers")

_NAME_WIDTH = 44  # longer server names are cut, with an ellipsis


def by_upload(flows: Iterable[Flow]) -> list[Flow]:
    """The flows by upload bytes, largest first; ties in capture order."""
    return sorted(flows, key=lambda f: -f.bytes_up)


def to_json(analysis: Analysis) -> dict[str, object]:
    """The JSON object of ``hil analyze --json`` (see the module description)."""
    values = operator.attrgetter(*FLOW_KEYS)
    return {
        "packets": analysis.packets,
        "flows": [dict(zip(FLOW_KEYS, values(f), strict=True)) for f in by_upload(analysis.flows)],
        "dns": [
            {"ts": d.ts, "qname": d.qname, "answers": [list(a) for a in d.answers]}
            for d in analysis.dns
        ],
    }


def _json_doc(analysis: Analysis) -> dict[str, object]:
    """:func:`to_json`'s document with its lists as :class:`jsontext.Table` rows, taken
    straight from the flows: the same text, without building a dict per flow."""
    dns = analysis.dns
    return {
        "packets": analysis.packets,
        "flows": jsontext.Table(FLOW_KEYS, map(operator.attrgetter(*FLOW_KEYS),
                                               by_upload(analysis.flows))),  # fmt: skip
        "dns": jsontext.Table(DNS_KEYS, [(d.ts, d.qname, [list(a) for a in d.answers])
                                         for d in dns]),  # fmt: skip
    }


def _end(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _name(f: Flow) -> str:
    name = f.server_name or ("(QUIC, name encrypted)" if f.quic else "-")
    if len(name) > _NAME_WIDTH:
        name = name[: _NAME_WIDTH - 1] + "…"
    return name


def table(analysis: Analysis, source: str = "") -> str:
    """The readable table of ``hil analyze`` (see the module description)."""
    flows = by_upload(analysis.flows)
    head = (f"{analysis.packets} packets, {len(flows)} flows, {len(analysis.dns)} DNS lookups"
            + (f", {analysis.ignored} packets not TCP/UDP" if analysis.ignored else "")
            + (f": {source}" if source else ""))  # fmt: skip
    rows = [("proto", "client", "server", "name", "from", "category", "up B", "down B",
             "packets up/down")]  # fmt: skip
    for f in flows:
        rows.append((
            "quic" if f.quic else f.proto,
            _end(f.src, f.sport),
            _end(f.dst, f.dport),
            _name(f),
            f.name_source or "-",
            f.category,
            str(f.bytes_up),
            str(f.bytes_down),
            f"{f.packets_up}/{f.packets_down}",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {6, 7, 8}  # numbers line up on the right
    lines = [head]
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=True))]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def run(capture: str | Path, catalog: str | Path | None = None, as_json: bool = False,
        out: TextIO | None = None, err: TextIO | None = None) -> int:  # fmt: skip
    """``hil analyze``: print the table (or the JSON) of ``capture``; return the exit status.

    0 when the capture was read to its end; 2 when it could not be read at all (no such
    file, not a capture, a bad catalog) or is truncated or corrupt, in which case what was
    read before the damage is printed first. Messages go to ``err`` as ``hil: ...``.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        cat = Catalog.load(catalog) if catalog else Catalog.load()
        result = analyze(Path(capture), cat)
        damage = None
    except CaptureError as exc:
        if exc.partial is None:
            print(f"hil: {exc}", file=err)
            return 2
        result, damage = exc.partial, exc
    except (ValueError, OSError) as exc:
        print(f"hil: {exc}", file=err)
        return 2
    if as_json:
        # Tens of thousands of texts and no cycle among them: the cyclic collector would
        # walk every flow again and again while they are written.
        collecting = gc.isenabled()
        gc.disable()
        try:
            jsontext.write(_json_doc(result), out)
        finally:
            if collecting:
                gc.enable()
        out.write("\n")
    else:
        print(table(result, str(capture)), file=out)
    if damage is not None:
        print(f"hil: {damage}; the report above covers the {result.packets} packets before it",
              file=err)  # fmt: skip
        return 2
    return 0
