"""The endpoint catalog: which server names belong to which category of traffic.

The catalog is a TOML file (the packaged one is ``hil/data/endpoints.toml``)::

    version = 1                       # the file format this loader reads
    revision = "2026-11-21.1"         # optional: the content's own version

    [[endpoint]]
    pattern = "mydjiflight.dji.com"   # an exact name, or "*.domain"
    category = "flightlog"            # one of CATEGORIES
    source = "the public source the entry comes from"
    verified = false                  # true once a lab capture confirmed it

Patterns:
- ``name.example.com`` matches exactly that name.
- ``*.example.com`` matches every name below ``example.com`` at any depth
  (``a.example.com``, ``a.b.example.com``) but NOT ``example.com`` itself; list the bare
  name as its own entry when it is needed.

Names and patterns compare case-insensitively and a trailing dot is ignored. When
several patterns match, the longest (most specific) wins: an exact name beats any
wildcard, and ``*.cdn.example.com`` beats ``*.example.com``.

Name resolution has its own category, ``dns``. A flow gets it from its server port
(:meth:`Catalog.flow_category`): DNS over UDP or TCP port 53 and DNS over TLS on TCP port
853 (:data:`RESOLVER_PORTS`). The catalog's name comes first: a flow whose name has an
entry keeps that entry's category on any port (a DJI host reached on port 53 is still
that host's traffic, and the claims looking for it keep seeing it); the port rule names
what the catalog cannot, a resolver's flow (it has no name of its own, or a DoT server
name the catalog does not list), which would otherwise read ``unknown``. An entry may
carry ``category = "dns"`` itself, for a resolver reached on another port (DNS over
HTTPS on 443).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass

from hil.capture.flows import DNS_PORT

__all__ = ["CATEGORIES", "RESOLVER_PORTS", "Catalog", "CatalogError", "Endpoint"]

#: Every category a flow can be given; ``unknown`` is what an unmatched name gets, ``dns``
#: what a flow to a name-resolution port gets when its name has no entry.
CATEGORIES = (
    "media",
    "flightlog",
    "diagnostics",
    "nfz",
    "firmware",
    "app-update",
    "account",
    "activation",
    "maps",
    "dns",
    "os",
    "unknown",
)

#: ``(proto, server port)`` of the flows that resolve names: plaintext DNS over UDP and
#: TCP (the lookups the analyzer reads), DNS over TLS (RFC 7858) on TCP 853 (encrypted).
RESOLVER_PORTS = frozenset({("udp", DNS_PORT), ("tcp", DNS_PORT), ("tcp", 853)})

_SUPPORTED_VERSION = 1
_ENTRY_KEYS = {"pattern": str, "category": str, "source": str, "verified": bool}
_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


class CatalogError(ValueError):
    """The catalog file cannot be used; the message names the file, entry and key."""

#: The packaged catalog, when the package is a directory of plain files.
_PACKAGED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                         "endpoints.toml")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One catalog entry: a name pattern, its category, where it comes from, verified?"""

    pattern: str
    category: str
    source: str
    verified: bool

    def to_dict(self) -> dict[str, object]:
        """The entry as plain data, as written in the catalog."""
        return {
            "pattern": self.pattern,
            "category": self.category,
            "source": self.source,
            "verified": self.verified,
        }


class Catalog:
    """A loaded endpoint catalog; :meth:`classify` maps a server name to its entry."""

    def __init__(self, endpoints: list[Endpoint], version: int = 1, origin: str = "",
                 revision: str = "") -> None:  # fmt: skip
        self.version = version
        self.revision = revision
        self.origin = origin
        self.endpoints: tuple[Endpoint, ...] = tuple(endpoints)
        self._exact: dict[str, Endpoint] = {}
        self._suffix: dict[str, Endpoint] = {}  # "*.example.com" stored as "example.com"
        for ep in self.endpoints:
            if ep.pattern.startswith("*."):
                self._suffix[ep.pattern[2:]] = ep
            else:
                self._exact[ep.pattern] = ep

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Catalog:
        """Read and validate a catalog file; without ``path``, the packaged catalog.

        Raises :class:`CatalogError` naming the file, the entry (1-based, in file order)
        and the key for invalid TOML, an unsupported version, a missing, unknown or
        mistyped key, an unknown category, a malformed or duplicated pattern.
        """
        if path is None:
            origin = _PACKAGED
            if os.path.isfile(origin):  # an installed package: a plain file next to us
                with open(origin, encoding="utf-8") as fh:
                    text = fh.read()
            else:  # importlib.resources (7 ms to import) for a zipped package and the like
                from importlib import resources

                ref = resources.files("hil").joinpath("data", "endpoints.toml")
                origin = str(ref)
                text = ref.read_text(encoding="utf-8")
        else:
            origin = os.fspath(path)
            try:
                with open(origin, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise CatalogError(f"endpoint catalog {origin}: cannot read: {exc}") from exc
        return cls.from_toml(text, origin)

    @classmethod
    def from_toml(cls, text: str, origin: str = "<string>") -> Catalog:
        """Parse and validate catalog TOML text; ``origin`` names it in error messages."""
        where = f"endpoint catalog {origin}"
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{where}: invalid TOML: {exc}") from exc
        version = doc.get("version")
        if version is None:
            raise CatalogError(f"{where}: missing 'version' (this harness reads version 1)")
        if version != _SUPPORTED_VERSION or isinstance(version, bool):
            raise CatalogError(
                f"{where}: unsupported catalog version {version!r} "
                f"(this harness reads version {_SUPPORTED_VERSION})"
            )
        unknown = sorted(set(doc) - {"version", "revision", "endpoint"})
        if unknown:
            raise CatalogError(f"{where}: unknown top-level key {unknown[0]!r}")
        revision = doc.get("revision", "")
        if not isinstance(revision, str):
            raise CatalogError(f"{where}: 'revision' must be a string, got {revision!r}")
        entries = doc.get("endpoint", [])
        if not isinstance(entries, list):
            raise CatalogError(f"{where}: 'endpoint' must be an array of tables ([[endpoint]])")
        endpoints: list[Endpoint] = []
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries, start=1):
            ep = _entry(entry, f"{where}: endpoint #{index}")
            if ep.pattern in seen:
                raise CatalogError(
                    f"{where}: endpoint #{index}: pattern {ep.pattern!r} "
                    f"already listed as endpoint #{seen[ep.pattern]}"
                )
            seen[ep.pattern] = index
            endpoints.append(ep)
        return cls(endpoints, version, origin, revision)

    def classify(self, name: str | None) -> Endpoint | None:
        """The entry whose pattern best matches server ``name``, or ``None``."""
        if not name:
            return None
        name = name.lower().rstrip(".")
        hit = self._exact.get(name)
        if hit is not None:
            return hit
        labels = name.split(".")
        for i in range(1, len(labels)):
            hit = self._suffix.get(".".join(labels[i:]))
            if hit is not None:
                return hit
        return None

    def category(self, name: str | None) -> str:
        """The category of server ``name``: its entry's, or ``"unknown"``."""
        hit = self.classify(name)
        return hit.category if hit is not None else "unknown"

    def flow_category(self, name: str | None, proto: str, server_port: int) -> str:
        """The category of a flow to ``server_port`` (``proto`` ``"tcp"``/``"udp"``) named
        ``name``: its name's entry's category when there is one; else ``dns`` when the
        port resolves names (:data:`RESOLVER_PORTS`); else ``"unknown"``."""
        category = self.category(name)
        if category == "unknown" and (proto, server_port) in RESOLVER_PORTS:
            return "dns"
        return category


def _entry(entry: object, where: str) -> Endpoint:
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: must be a table")
    for key in entry:
        if key not in _ENTRY_KEYS:
            raise CatalogError(f"{where}: unknown key {key!r} (expected: {', '.join(_ENTRY_KEYS)})")
    for key, kind in _ENTRY_KEYS.items():
        if key not in entry:
            raise CatalogError(f"{where}: missing key {key!r}")
        if not isinstance(entry[key], kind):
            raise CatalogError(
                f"{where}: key {key!r} must be a {'boolean' if kind is bool else 'string'}, "
                f"got {entry[key]!r}"
            )
    pattern = entry["pattern"]
    where = f"{where} (pattern {pattern!r})"
    problem = _pattern_problem(pattern)
    if problem:
        raise CatalogError(f"{where}: key 'pattern': {problem}")
    if entry["category"] not in CATEGORIES:
        raise CatalogError(
            f"{where}: key 'category': unknown category {entry['category']!r}; "
            f"expected one of: {', '.join(CATEGORIES)}"
        )
    if not entry["source"].strip():
        raise CatalogError(f"{where}: key 'source' is empty; say where the entry comes from")
    return Endpoint(
        pattern=pattern.lower().rstrip("."),
        category=entry["category"],
        source=entry["source"],
        verified=entry["verified"],
    )


def _pattern_problem(pattern: str) -> str:
    """Why ``pattern`` is not a valid exact name or ``*.domain``; empty when it is."""
    body = pattern.lower().rstrip(".")
    body = body.removeprefix("*.")
    if not body:
        return "empty name"
    for label in body.split("."):
        if label == "*" or "*" in label:
            return "'*' is only allowed as the whole first label ('*.example.com')"
        if not label:
            return "empty label"
        if not set(label) <= _LABEL_CHARS:
            return f"label {label!r} has characters other than letters, digits, '-', '_'"
    return ""
