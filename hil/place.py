"""A bench that is a labgrid place: the `[labgrid]` table and what a place fills in. Pure.

A bench file may name a place of a labgrid coordinator (labgrid 25+, gRPC)::

    [labgrid]
    coordinator = "lab-coordinator:20408"   # default: $LG_COORDINATOR
    place = "lab2-bench1"                   # or: tags = { model = "spark" }

`place` names one place; `tags` asks for any place whose tags match (a labgrid
reservation). `--lg-place` / `$LG_PLACE` (labgrid's own names) win over both; `+` is
labgrid's "the place my reservation ($LG_TOKEN) holds", as `labgrid-client -p +` reads it.

The place's resources fill what the bench file leaves out; a value the file gives always
wins. Resources are found by name (as the place sees them, after a match's rename):

  ========================  ==================  ========================================
  bench key                 resource            value
  ========================  ==================  ========================================
  relay.url                 `relay`, a          ``rfc2217://HOST:PORT?ign_set_control``
                            NetworkSerialPort   (the exporter's ser2net; labgrid's own
                            (or the place's     SerialDriver opens it so: ser2net answers
                            only one)           no SET_CONTROL on a port without modem
                                                lines)
  gateway.host, .port,      `gateway`, a        its address, port, username
  .user                     NetworkService
  phone.NAME.serial (adb)   `NAME`, a           ADDRESS:PORT (adb over Wi-Fi; port 5555
                            NetworkService      where it gives none)
  ========================  ==================  ========================================

A key left out that no resource fills is one error naming the key and the resource the
place lacks. This module knows nothing of gRPC: the coordinator's records come in as
`Resource` and `PlaceState`; `hil.lgclient` talks to the coordinator.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

FILLED = "labgrid"  # placeholder of a key the place fills when the session starts
KEYS = ("coordinator", "place", "tags")
DEFAULT_PORT = 20408  # labgrid's coordinator port
ADB_PORT = 5555
RESERVED = "+"  # labgrid: the place the reservation $LG_TOKEN holds
# labgrid's tag syntax (labgrid.remote.common TAG_KEY / TAG_VAL)
_TAG_KEY = re.compile(r"^[a-z][a-z0-9_]+$")
_TAG_VAL = re.compile(r"^[a-z0-9_]?[a-z0-9_.-]*$")
_PLACE = re.compile(r"^[A-Za-z0-9_.+-]+$")


class PlaceError(Exception):
    """A place that cannot serve this bench: the message names the place and the fix."""


@dataclass(frozen=True)
class PlaceConfig:
    """The bench file's `[labgrid]` table, validated. `coordinator` is None where neither
    the file nor $LG_COORDINATOR names one (an error once a session needs it)."""

    coordinator: str | None
    place: str | None
    tags: dict[str, str] = field(default_factory=dict)

    def with_place(self, name: str | None) -> PlaceConfig:
        """The same, on the place `name` (--lg-place / $LG_PLACE), tags then unused."""
        return self if not name else PlaceConfig(self.coordinator, name, {})

    @property
    def wanted(self) -> str:
        """What the run asks for, in words: 'place X' or 'a place tagged model=spark'."""
        if self.place:
            return f"place {self.place}"
        return f"a place tagged {tag_text(self.tags)}"


@dataclass(frozen=True)
class Resource:
    """One resource of a place, as the coordinator publishes it."""

    name: str  # as the place sees it (a match's rename applied)
    cls: str  # NetworkSerialPort, NetworkService, ...
    params: dict[str, Any]
    path: str = ""  # exporter/group/cls/name
    avail: bool = True


@dataclass(frozen=True)
class PlaceState:
    """One place, as the coordinator has it."""

    name: str
    tags: dict[str, str]
    acquired: str | None  # "host/user" of the holder, None when free
    changed: float  # when it was last changed (for an acquired place: since when)
    resources: tuple[Resource, ...] = ()
    reservation: str | None = None


def parse(section) -> PlaceConfig:
    """Validate the `[labgrid]` table (a `hil.bench.Section`)."""
    section.only(KEYS)
    coordinator = section.value("coordinator", str, None) or os.environ.get("LG_COORDINATOR")
    place = section.value("place", str, None)
    tags = section.value("tags", dict, None)
    if place is not None and tags is not None:
        raise section.fail("tags", "a bench names one place or the tags of any place, not "
                                   "both (--lg-place overrides either)")
    if place is not None and not _PLACE.match(place):
        raise section.fail("place", f"{place!r} is not a labgrid place name")
    if tags is not None:
        if not tags:
            raise section.fail("tags", 'empty: e.g. tags = { model = "spark" }')
        for k, v in tags.items():
            if not isinstance(v, str):
                raise section.fail(f"tags.{k}", f"must be a string, not {v!r}")
            if not _TAG_KEY.match(k) or not _TAG_VAL.match(v):
                raise section.fail(f"tags.{k}", f"{k}={v} is not a labgrid tag (keys "
                                                "a-z0-9_, values a-z0-9_.-)")
    if coordinator is not None:
        try:
            address(coordinator)
        except ValueError as e:
            raise section.fail("coordinator", str(e)) from None
    return PlaceConfig(coordinator, place, dict(tags or {}))


def address(coordinator: str) -> str:
    """HOST:PORT of a coordinator written HOST or HOST:PORT (labgrid's default port)."""
    host, sep, port = coordinator.rpartition(":")
    if not sep:
        return f"{coordinator}:{DEFAULT_PORT}"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{coordinator!r}: the port is not a number 1-65535")
    if not host:
        raise ValueError(f"{coordinator!r}: no host")
    return coordinator


def tag_text(tags: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items()))


def matches(place: PlaceState, tags: dict[str, str]) -> bool:
    return all(place.tags.get(k) == v for k, v in tags.items())


# -- filling the bench file ------------------------------------------------------------
def relay_url(res: Resource) -> str:
    """The URL the relay driver opens for an exported serial port (pyserial, RFC 2217)."""
    host, port = res.params.get("host"), res.params.get("port")
    if not host or not port:
        raise PlaceError(f"resource {res.path or res.name}: the exporter serves no port for "
                         "it (is ser2net installed on the exporter host, and the place "
                         "acquired?)")
    if res.params.get("extra", {}).get("proxy_required"):
        raise PlaceError(f"resource {res.path or res.name}: the exporter says it is only "
                         "reachable through its SSH proxy, which hil does not do; reach "
                         f"{host} directly")
    return f"rfc2217://{host}:{port}?ign_set_control"


def _find(place: PlaceState, cls: str, name: str, only_one: bool = False) -> Resource | None:
    """The place's resource of class `cls` named `name` (with `only_one`: else its only
    resource of that class); PlaceError when two answer to the name (which one is the
    bench's cannot be told) or the one found is unavailable (its exporter says so)."""
    of_cls = [r for r in place.resources if r.cls == cls]
    named = [r for r in of_cls if r.name == name]
    if len(named) > 1:
        raise PlaceError(f"place {place.name} has {len(named)} {cls} resources named "
                         f"{name!r} ({', '.join(r.path or r.name for r in named)}): which one "
                         "is the bench's cannot be told; match the one the bench uses under "
                         f"that name (labgrid-client -p {place.name} add-named-match "
                         f"EXPORTER/GROUP/{cls}/NAME {name}) and the others under theirs")
    found = named[0] if named else (of_cls[0] if only_one and len(of_cls) == 1 else None)
    if found is not None and not found.avail:
        raise PlaceError(f"place {place.name}: resource {found.path or found.name} is "
                         "unavailable (its exporter has it, but not the device behind it, or "
                         "the exporter is gone); check the exporter host")
    return found


def fill(raw: dict[str, Any], place: PlaceState, where: str) -> tuple[dict, list[str]]:
    """The bench table `raw` with what it leaves out filled from the place's resources,
    and one line per filled key ("relay.url = rfc2217://..."; from resource ...).
    PlaceError names the key no resource fills; `where` names the bench file."""
    out = copy.deepcopy(raw)
    said: list[str] = []

    def missing(d: dict, key: str) -> bool:
        return d.get(key) in (None, FILLED)

    relay = out.setdefault("relay", {})
    if missing(relay, "url"):
        res = _find(place, "NetworkSerialPort", "relay", only_one=True)
        if res is None:
            raise PlaceError(
                f"bench file {where}: relay.url: not in the file, and place {place.name} has "
                f"no relay resource (a NetworkSerialPort named 'relay', e.g. a RawSerialPort "
                f"or USBSerialPort in the exporter's config); its resources: "
                f"{resource_list(place)}")
        relay["url"] = relay_url(res)
        said.append(f"relay.url = {relay['url']} (resource {res.path or res.name})")
    gw = out.setdefault("gateway", {})
    gw_keys = [k for k in ("host", "user") if missing(gw, k)]
    if gw_keys:
        res = _find(place, "NetworkService", "gateway")
        if res is None:
            raise PlaceError(
                f"bench file {where}: gateway.{gw_keys[0]}: not in the file, and place "
                f"{place.name} has no NetworkService named 'gateway'; its resources: "
                f"{resource_list(place)}")
        for key, param in (("host", "address"), ("user", "username")):
            if key in gw_keys:
                if not res.params.get(param):
                    raise PlaceError(f"bench file {where}: gateway.{key}: resource "
                                     f"{res.path or res.name} gives no {param}")
                gw[key] = res.params[param]
        if "port" not in gw and res.params.get("port"):
            gw["port"] = int(res.params["port"])
        said.append(f"gateway {gw['user']}@{gw['host']}:{gw.get('port', 22)} (resource "
                    f"{res.path or res.name})")
    for name, phone in (out.get("phone") or {}).items():
        if not isinstance(phone, dict) or phone.get("backend") != "adb":
            continue
        if not missing(phone, "serial"):
            continue
        res = _find(place, "NetworkService", name)
        if res is None or not res.params.get("address"):
            raise PlaceError(
                f"bench file {where}: phone.{name}.serial: not in the file, and place "
                f"{place.name} has no NetworkService named {name!r} with an address; its "
                f"resources: {resource_list(place)}")
        phone["serial"] = f"{res.params['address']}:{int(res.params.get('port') or ADB_PORT)}"
        said.append(f"phone.{name}.serial = {phone['serial']} (resource {res.path or res.name})")
    return out, said


def resource_list(place: PlaceState) -> str:
    return ", ".join(f"{r.name} ({r.cls})" for r in place.resources) or "none"


# -- words for the holder and the fix ------------------------------------------------
def since(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "?"


def holder_text(place: PlaceState) -> str:
    return f"{place.acquired} (since {since(place.changed)})"


def client_command(coordinator: str, place: str, *args: str) -> str:
    """A labgrid-client command line, quoted for a shell."""
    return shlex.join(["labgrid-client", "-x", coordinator, "-p", place, *args])


def free_command(coordinator: str, place: PlaceState) -> str:
    """The command that frees a place from its holder: `release-from HOST/USER` releases
    it only if that holder still has it (never someone who took it meanwhile)."""
    return client_command(coordinator, place.name, "release-from", place.acquired or "?")
