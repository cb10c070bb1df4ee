"""Aircraft links, one registry: the bench file's `link` value picks the backend.

- `"app"`: the aircraft as the app shows it (`hil.link.app`), how a DJI lab sees it;
- `"none"`: nothing tells (`hil.link.none`): readiness is the boot window, the firmware
  is the bench file's;
- a MAVLink connection string (`udpin:HOST:PORT`, `udpout:`, `udp:`, `tcp:`, `tcpin:`, a
  serial device `/dev/...`): `hil.link.mavlink`.

Adding a link: one module with an `AircraftLink` subclass, one line in `LINKS` (and in
`kind_of` if its bench value is not its name).
"""

from __future__ import annotations

import importlib

from hil.link.base import (
    ALL,
    FIRMWARE,
    LOGS,
    MEDIA,
    ON,
    STORAGE,
    AircraftLink,
    LinkError,
    Unsupported,
)

__all__ = ["ALL", "FIRMWARE", "LINKS", "LOGS", "MEDIA", "ON", "STORAGE", "AircraftLink",
           "LinkError", "Unsupported", "check", "kind_of", "open_link"]

#: link kind -> "module:Class" (imported on use: pymavlink is slow to import)
LINKS = {
    "mavlink": "hil.link.mavlink:MavlinkLink",
    "app": "hil.link.app:AppLink",
    "none": "hil.link.none:NoLink",
}
MAVLINK_PREFIXES = ("udpin:", "udpout:", "udp:", "udpbcast:", "tcp:", "tcpin:", "/dev/")
ALLOWED = ('"app", "none", or a MAVLink connection string (udpin:HOST:PORT, udpout:HOST:PORT, '
           'tcp:HOST:PORT, tcpin:HOST:PORT, a serial device /dev/...)')


def kind_of(value: str) -> str | None:
    """The link kind a bench file's `link` value names; None when it names none."""
    if value in LINKS and value != "mavlink":
        return value
    return "mavlink" if value.startswith(MAVLINK_PREFIXES) else None


def check(value: str) -> str | None:
    """None when `value` is a link; else what is wrong, with what is allowed."""
    if kind_of(value) is None:
        return f"{value!r} is not an aircraft link; allowed: {ALLOWED}"
    return None


def open_link(value: str, name: str, app=None, firmware: str | None = None) -> AircraftLink:
    """The link a bench file's `link` value names, for aircraft `name`.

    `app`: the aircraft's phone's app (the `app` link sees the aircraft through it);
    `firmware`: the bench file's declared firmware (the `none` link reports it).
    """
    kind = kind_of(value)
    if kind is None:
        raise LinkError(f"{name}: {check(value)}")
    module, cls = LINKS[kind].split(":")
    link_class = getattr(importlib.import_module(module), cls)
    if kind == "mavlink":
        return link_class(value, name=name)
    if kind == "app":
        return link_class(app, name=name)
    return link_class(name=name, firmware=firmware)
