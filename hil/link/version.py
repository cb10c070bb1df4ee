"""DJI firmware version strings <-> MAVLink ``AUTOPILOT_VERSION.flight_sw_version``.

DJI writes firmware versions as ``"AA.BB.CCDD"`` (e.g. ``"01.00.0900"``). MAVLink carries a
flight software version as one uint32 laid out as::

    major << 24 | minor << 16 | patch << 8 | type

where ``type`` is a ``FIRMWARE_VERSION_TYPE`` (``OFFICIAL`` = 255 for a release build).

The mapping used by the harness, in both directions:

- ``AA`` -> major, ``BB`` -> minor, ``CC`` -> patch, each two decimal digits (00..99);
- ``DD`` must be ``"00"``: the uint32 has no room for it, so a string with another value is
  rejected rather than silently truncated;
- encoding always sets ``type`` to ``FIRMWARE_VERSION_TYPE_OFFICIAL`` (255);
- decoding ignores ``type`` (a beta or dev build still gets a version string) and always
  yields ``"AA.BB.CC00"``, zero-padded.

So ``decode_firmware_version(encode_firmware_version(s)) == s`` for every valid ``s``.

Pure: no I/O, no pymavlink import (the one enum value it needs is copied below and checked
against pymavlink by the tests).
"""

from __future__ import annotations

import re

__all__ = [
    "FIRMWARE_VERSION_TYPE_OFFICIAL",
    "decode_firmware_version",
    "encode_firmware_version",
]

#: MAVLink ``FIRMWARE_VERSION_TYPE_OFFICIAL`` (common.xml): the release-build type byte.
FIRMWARE_VERSION_TYPE_OFFICIAL = 255

_DJI_VERSION = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{2})([0-9]{2})")


def encode_firmware_version(text: str) -> int:
    """Return the ``flight_sw_version`` uint32 for a DJI firmware string ``"AA.BB.CC00"``.

    Raises ``ValueError`` naming the string if it is not exactly two digits, dot, two
    digits, dot, four digits, or if its last two digits are not ``"00"``; ``TypeError`` if
    it is not a ``str``.
    """
    if not isinstance(text, str):
        raise TypeError(f"firmware version {text!r}: expected a string like '01.00.0900'")
    match = _DJI_VERSION.fullmatch(text)
    if match is None:
        raise ValueError(
            f"firmware version {text!r}: expected DJI format 'AA.BB.CCDD' with digits only,"
            " e.g. '01.00.0900'"
        )
    major, minor, patch, build = match.groups()
    if build != "00":
        raise ValueError(
            f"firmware version {text!r}: the last two digits must be '00' (got {build!r});"
            " MAVLink's flight_sw_version has room for major.minor.patch only"
        )
    return (
        int(major) << 24
        | int(minor) << 16
        | int(patch) << 8
        | FIRMWARE_VERSION_TYPE_OFFICIAL
    )


def decode_firmware_version(value: int) -> str:
    """Return the DJI firmware string ``"AA.BB.CC00"`` for a ``flight_sw_version`` uint32.

    The low (type) byte is ignored. Raises ``ValueError`` naming the value if it is outside
    0..2**32-1, or if major, minor or patch is above 99 (not writable as two digits);
    ``TypeError`` if it is not an ``int``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"flight_sw_version {value!r}: expected an unsigned 32-bit integer")
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"flight_sw_version {value!r}: expected an unsigned 32-bit integer")
    major = (value >> 24) & 0xFF
    minor = (value >> 16) & 0xFF
    patch = (value >> 8) & 0xFF
    for part, number in (("major", major), ("minor", minor), ("patch", patch)):
        if number > 99:
            raise ValueError(
                f"flight_sw_version 0x{value:08x}: {part} {number} does not fit the two-digit"
                " DJI format 'AA.BB.CC00'"
            )
    return f"{major:02d}.{minor:02d}.{patch:02d}00"
