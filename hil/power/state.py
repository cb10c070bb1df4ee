"""Whether a button-wired device is on: what was read, what was recorded, and what is known.

Pure: readings and records in, a `Known` state with its reason out, or `StateUnknown`
when nothing can tell (the caller must then not press: a press toggles).

How a state is known, best first:
1. A reading: the aircraft link heard the device (a heartbeat of the aircraft means it
   and its controller are on; of the controller alone: controller on, aircraft off), or
   the app shows the aircraft connected.
2. Nothing was heard: the devices are off, or the link does not reach them. The last
   command on record decides (`hil.power.record`), and the reason says it acted on the
   record. With no record at all, the device is taken as off (an assumption, said so).
3. The link could not be read at all (it cannot be opened, or its kind cannot tell): the
   record decides if it has a completed command; otherwise the state is unknown.
A press that was interrupted (its record not done) with nothing to read: unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.power.record import Command


class StateUnknown(Exception):
    """Nothing tells whether a button device is on; pressing would toggle it blindly.

    `reason`: what was tried, without the device's name or the fix.
    """

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


@dataclass(frozen=True)
class Reading:
    """What a reader says of one device: on/off, or None with why it cannot tell.

    `silent`: the reader works and heard nothing (off, or not reaching the device).
    """

    on: bool | None
    why: str
    silent: bool = False


@dataclass(frozen=True)
class Known:
    on: bool
    reason: str  # how it is known, e.g. "the link udpin:... hears the aircraft"
    from_record: bool = False  # acted on the record, not on a reading
    device: str = "the device"

    @property
    def word(self) -> str:
        return "on" if self.on else "off"

    @property
    def why(self) -> str:
        return f"{self.device} is {self.word}: {self.reason}"


def from_heard(role: str, heard: set[str] | None, link: str = "the link",
               error: str | None = None) -> Reading:
    """A device's reading from the heartbeats a link heard (None: it could not listen)."""
    if heard is None:
        return Reading(None, f"{link} cannot be read ({error or 'no link'})")
    if "aircraft" in heard:
        return Reading(True, f"{link} hears the aircraft")
    if "controller" in heard:
        if role == "controller":
            return Reading(True, f"{link} hears the controller")
        return Reading(False, f"{link} hears the controller but not the aircraft")
    return Reading(None, f"{link} hears nothing (off, or a link that does not reach it)",
                   silent=True)


def mark_hint(aircraft: str, role: str, bench_path) -> str:
    """What a person does when nothing tells: check the device, then say what they saw."""
    target = aircraft if role == "aircraft" else f"{aircraft}.controller"
    return f"Check whether it is on, then say so: hil power mark {target} on|off --bench " \
           f"{bench_path}"


def decide(device: str, reading: Reading, record: Command | None,
           fix: str = "") -> Known:
    """The state of `device` (e.g. "spark aircraft") from a reading and its record.

    Raises StateUnknown naming the device, what was tried and what to check (`fix`).
    """
    if reading.on is not None:
        why = reading.why
        if record is not None and record.done and record.on != reading.on:
            why += f" (the record, {record.describe()}, is overruled by the reading)"
        return Known(reading.on, why, device=device)
    if record is not None and record.done:
        return Known(record.on, f"{reading.why}; acting on the record: {record.describe()}",
                     from_record=True, device=device)
    if record is None and reading.silent:
        return Known(False, f"{reading.why}, and no command is on record: taken as off",
                     device=device)
    what = (f"its last press was interrupted ({record.describe()})" if record is not None
            else "no command is on record")
    reason = f"{reading.why}, and {what}"
    raise StateUnknown(f"{device}: its state cannot be told: {reason}; a button press "
                       "would toggle it blindly, so nothing was pressed"
                       + (f". {fix}" if fix else ""), reason)
