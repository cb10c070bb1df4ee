"""MAVLink aircraft link: readiness (heartbeats) and firmware version over pymavlink.

``MavlinkLink`` opens any pymavlink connection string (``udpin:127.0.0.1:14551``,
``udpout:...``, ``tcp:...``, a serial device) and offers the two things the harness needs
from an aircraft link today:

- ``wait_ready``: block until the *aircraft* (not just its controller) sends a heartbeat,
  logging what has been heard while waiting, and failing with a message that tells a
  silent link from a silent aircraft;
- ``firmware_version``: ask the aircraft for ``AUTOPILOT_VERSION`` and return its
  ``flight_sw_version`` as a DJI-style string (see ``hil.link.version``).

Who is who, from HEARTBEAT alone: a heartbeat with type ``MAV_TYPE_GCS`` is the remote
controller; any other heartbeat type is the aircraft.

MAVLink 2 is ensured twice: ``MAVLINK20=1`` is put in the environment before
``pymavlink.mavutil`` is first imported here (so mavutil's default dialect is the v2.0
one), and every connection's codec is replaced by a ``pymavlink.dialects.v20.common``
``MAVLink`` object with mavutil's protocol auto-switch turned off. The second step makes
the link independent of whatever dialect another module selected process-wide; frames sent
start with the MAVLink 2 marker 0xFD, and MAVLink 1 frames are still parsed.

The link identifies itself as system 255, component ``MAV_COMP_ID_MISSIONPLANNER`` (190),
i.e. a ground station. It sends nothing until ``firmware_version`` is called, so over a
``udpin:`` URL it can only talk to an aircraft it has heard from.

A ``MavlinkLink`` is not thread-safe: use it from one thread at a time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Self

os.environ["MAVLINK20"] = "1"  # before mavutil's import-time set_dialect(); see docstring

from pymavlink import mavutil
from pymavlink.dialects.v20 import common as mavlink2

from hil.link.base import ALL, AircraftLink, LinkError
from hil.link.version import decode_firmware_version

__all__ = ["LinkError", "MavlinkLink"]

_SOURCE_SYSTEM = 255
_SOURCE_COMPONENT = mavlink2.MAV_COMP_ID_MISSIONPLANNER
_REQUESTS_PER_TIMEOUT = 4  # firmware_version sends up to this many requests per timeout

# COMMAND_ACK results after which asking again cannot help.
_REFUSALS = frozenset(
    {
        mavlink2.MAV_RESULT_DENIED,
        mavlink2.MAV_RESULT_UNSUPPORTED,
        mavlink2.MAV_RESULT_FAILED,
    }
)


def _result_name(result: int) -> str:
    entry = mavlink2.enums["MAV_RESULT"].get(result)
    return entry.name if entry is not None else f"MAV_RESULT {result}"


class MavlinkLink(AircraftLink):
    """One MAVLink connection to one aircraft (and its controller).

    ``url`` is a pymavlink connection string; ``name`` (the model id, e.g. ``"spark"``)
    prefixes every log line and error. Progress and readiness are logged at INFO on
    ``logger``, or on ``logging.getLogger("hil.link")`` when none is given.

    Opening fails with ``LinkError`` naming the URL (e.g. the UDP port is taken).
    """

    kind = "mavlink"
    capabilities = ALL

    def __str__(self) -> str:
        return f"the link {self.url}"

    def __init__(
        self, url: str, name: str = "spark", logger: logging.Logger | None = None
    ) -> None:
        self.url = url
        self.name = name
        self._log = logger if logger is not None else logging.getLogger("hil.link")
        self._aircraft: tuple[int, int] | None = None  # (sysid, compid) of its heartbeat
        self._closed = False
        try:
            conn = mavutil.mavlink_connection(
                url, source_system=_SOURCE_SYSTEM, source_component=_SOURCE_COMPONENT
            )
        except (OSError, ValueError) as exc:
            raise LinkError(f"{name}: cannot open MAVLink link {url}: {exc}") from exc
        codec = mavlink2.MAVLink(conn, srcSystem=_SOURCE_SYSTEM, srcComponent=_SOURCE_COMPONENT)
        codec.robust_parsing = True
        conn.mav = codec
        conn.WIRE_PROTOCOL_VERSION = mavlink2.WIRE_PROTOCOL_VERSION  # "2.0"
        conn.first_byte = False  # no auto-switch back to the process-wide dialect
        self._conn = conn

    # -- public API --------------------------------------------------------------------

    def wait_ready(self, timeout: float, progress_every: float = 1.0,
                   stop: threading.Event | None = None) -> None:
        """Return once an aircraft heartbeat (HEARTBEAT type != MAV_TYPE_GCS) arrives.

        Only heartbeats received after the call count: anything queued before it is
        discarded first, so heartbeats buffered before a power cycle cannot make a
        powered-off aircraft look ready. About every ``progress_every`` seconds an INFO
        line says how long it has waited and what has been heard (nothing, or the
        controller only). After ``timeout`` seconds raises ``LinkError`` naming the link,
        the URL, the timeout and either "no heartbeat at all" or "controller up but
        aircraft silent". Once ``stop`` is set, raises ``LinkError`` within about 0.2 s
        (the run is stopping).
        """
        self._check_open()
        if not timeout > 0:
            raise ValueError(f"{self.name}: wait_ready timeout {timeout!r} must be > 0 s")
        if not progress_every > 0:
            raise ValueError(
                f"{self.name}: wait_ready progress_every {progress_every!r} must be > 0 s"
            )
        start = time.monotonic()
        deadline = start + timeout
        self._discard_queued(deadline)
        controller_last: float | None = None
        other_messages = 0
        next_progress = start + progress_every
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise LinkError(self._not_ready(timeout, now, controller_last, other_messages))
            if stop is not None and stop.is_set():
                raise LinkError(f"{self.name}: stopped waiting for the aircraft on {self.url}: "
                                "the run is stopping")
            if now >= next_progress:
                self._log.info(
                    "%s: waiting for aircraft heartbeat on %s, %.1f s of %.1f s; %s",
                    self.name,
                    self.url,
                    now - start,
                    timeout,
                    self._heard_so_far(now, controller_last, other_messages),
                )
                while next_progress <= now:
                    next_progress += progress_every
            msg = self._next_message(min(deadline, next_progress, now + 0.2))
            if msg is None:
                continue
            if msg.get_type() != "HEARTBEAT":
                other_messages += 1
            elif msg.type == mavlink2.MAV_TYPE_GCS:
                controller_last = time.monotonic()
            else:
                self._aircraft = (msg.get_srcSystem(), msg.get_srcComponent())
                self._log.info(
                    "%s: aircraft heartbeat on %s after %.1f s (system %d, component %d)",
                    self.name,
                    self.url,
                    time.monotonic() - start,
                    *self._aircraft,
                )
                return

    def listen(self, seconds: float) -> set[str]:
        """Who sends heartbeats now: a subset of {"aircraft", "controller"}.

        Listens for `seconds` to heartbeats received after the call (nothing queued
        before counts). An aircraft heard implies its controller, which is its radio.
        """
        self._check_open()
        deadline = time.monotonic() + seconds
        self._discard_queued(deadline)
        heard: set[str] = set()
        while (msg := self._next_message(deadline)) is not None:
            if msg.get_type() == "HEARTBEAT":
                heard.add("controller" if msg.type == mavlink2.MAV_TYPE_GCS else "aircraft")
        if "aircraft" in heard:
            heard.add("controller")
        return heard

    def firmware_version(self, timeout: float = 2.0) -> str:
        """Return the aircraft's firmware as a DJI string such as ``"01.00.0900"``.

        Sends ``COMMAND_LONG MAV_CMD_REQUEST_MESSAGE(AUTOPILOT_VERSION)`` to the aircraft
        (the one ``wait_ready`` saw, else the first aircraft heartbeat heard now), repeating
        it up to 4 times within ``timeout`` seconds, and decodes the
        ``flight_sw_version`` of the ``AUTOPILOT_VERSION`` answer. A ``COMMAND_ACK`` that
        accepts (or temporarily rejects) the request is waited through; one that denies,
        fails or does not support it raises ``LinkError`` at once. ``LinkError`` too when
        nothing answers within ``timeout`` or the version cannot be decoded.
        """
        self._check_open()
        if not timeout > 0:
            raise ValueError(f"{self.name}: firmware_version timeout {timeout!r} must be > 0 s")
        start = time.monotonic()
        deadline = start + timeout
        retry_every = timeout / _REQUESTS_PER_TIMEOUT
        requests = 0
        next_request = start
        last_ack: int | None = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise LinkError(self._no_version(timeout, requests, last_ack))
            if self._aircraft is not None and now >= next_request:
                self._request_autopilot_version(confirmation=requests)
                requests += 1
                next_request = now + retry_every
            wake = deadline if self._aircraft is None else min(deadline, next_request)
            msg = self._next_message(wake)
            if msg is None:
                continue
            kind = msg.get_type()
            if kind == "HEARTBEAT":
                if self._aircraft is None and msg.type != mavlink2.MAV_TYPE_GCS:
                    self._aircraft = (msg.get_srcSystem(), msg.get_srcComponent())
                continue
            if (msg.get_srcSystem(), msg.get_srcComponent()) != self._aircraft:
                continue
            if kind == "AUTOPILOT_VERSION":
                try:
                    return decode_firmware_version(msg.flight_sw_version)
                except ValueError as exc:
                    raise LinkError(
                        f"{self.name}: aircraft on {self.url} reported a firmware version"
                        f" the harness cannot read: {exc}"
                    ) from exc
            if kind == "COMMAND_ACK" and msg.command == mavlink2.MAV_CMD_REQUEST_MESSAGE:
                last_ack = msg.result
                if msg.result in _REFUSALS:
                    raise LinkError(
                        f"{self.name}: aircraft on {self.url} refused"
                        f" MAV_CMD_REQUEST_MESSAGE(AUTOPILOT_VERSION) with"
                        f" {_result_name(msg.result)}; it cannot report its firmware over"
                        " MAVLink"
                    )

    # -- camera, storage and onboard logs (MAVLink camera and log microservices) ----------

    def _await(self, what: str, timeout: float, pick, command: int | None = None):
        """The first message for which `pick(msg)` is not None, from the aircraft's system.

        A COMMAND_ACK for `command` that refuses raises LinkError at once; IN_PROGRESS and
        ACCEPTED acks are waited through. LinkError after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        system = self._aircraft[0] if self._aircraft else None
        while (msg := self._next_message(deadline)) is not None:
            if system is not None and msg.get_srcSystem() != system:
                continue
            if msg.get_type() == "COMMAND_ACK" and msg.command == command \
                    and msg.result in _REFUSALS:
                raise LinkError(f"{self.name}: aircraft on {self.url} refused {what} with "
                                f"{_result_name(msg.result)}")
            got = pick(msg)
            if got is not None:
                return got
        raise LinkError(f"{self.name}: no answer to {what} on {self.url} within {timeout:g} s")

    def _command(self, command: int, *params: float, component: int = 0) -> None:
        self._check_open()
        system = self._aircraft[0] if self._aircraft else 1
        p = [float(x) for x in params] + [0.0] * (7 - len(params))
        self._conn.mav.command_long_send(system, component, command, 0, *p)

    def storage_used(self, timeout: float = 2.0) -> float:
        """Bytes used on the aircraft's storage (STORAGE_INFORMATION.used_capacity)."""
        self._discard_queued(time.monotonic() + 0.01)
        self._command(mavlink2.MAV_CMD_REQUEST_MESSAGE,
                      mavlink2.MAVLINK_MSG_ID_STORAGE_INFORMATION)
        info = self._await("a storage information request", timeout,
                           lambda m: m if m.get_type() == "STORAGE_INFORMATION" else None,
                           mavlink2.MAV_CMD_REQUEST_MESSAGE)
        return float(info.used_capacity) * 1024 * 1024

    def take_photo(self, timeout: float = 5.0) -> tuple[int, str]:
        """Take one photo; return its (image index, file path) once the camera saved it.

        Sent once and never repeated (a repeat could take a second photo); an
        IN_PROGRESS ack before the ACCEPTED one is normal.
        """
        self._discard_queued(time.monotonic() + 0.01)
        self._command(mavlink2.MAV_CMD_IMAGE_START_CAPTURE, 0, 0, 1, 0,
                      component=mavlink2.MAV_COMP_ID_CAMERA)

        def captured(m):
            if m.get_type() == "CAMERA_IMAGE_CAPTURED":
                if m.capture_result != 1:
                    raise LinkError(f"{self.name}: the camera on {self.url} failed to save "
                                    f"image {m.image_index}")
                return m.image_index, m.file_url.rstrip("\x00")
            return None
        return self._await("MAV_CMD_IMAGE_START_CAPTURE", timeout, captured,
                           mavlink2.MAV_CMD_IMAGE_START_CAPTURE)

    def video(self, start: bool, timeout: float = 2.0) -> None:
        """Start or stop recording video; returns once the camera accepted."""
        cmd = mavlink2.MAV_CMD_VIDEO_START_CAPTURE if start else \
            mavlink2.MAV_CMD_VIDEO_STOP_CAPTURE
        self._discard_queued(time.monotonic() + 0.01)
        self._command(cmd, component=mavlink2.MAV_COMP_ID_CAMERA)
        self._await(f"video {'start' if start else 'stop'}", timeout,
                    lambda m: True if m.get_type() == "COMMAND_ACK" and m.command == cmd
                    and m.result == mavlink2.MAV_RESULT_ACCEPTED else None, cmd)

    def log_list(self, timeout: float = 3.0) -> list[dict]:
        """The aircraft's onboard flight logs: [{id, time_utc, size}], oldest first.

        LOG_REQUEST_LIST is answered by one LOG_ENTRY per log; "no logs" is a single
        entry with num_logs 0, returned as an empty list.
        """
        self._check_open()
        self._discard_queued(time.monotonic() + 0.01)
        system = self._aircraft[0] if self._aircraft else 1
        self._conn.mav.log_request_list_send(system, 0, 0, 0xFFFF)
        entries: dict[int, dict] = {}
        deadline = time.monotonic() + timeout

        def entry(m):
            return m if m.get_type() == "LOG_ENTRY" else None
        while True:
            left = deadline - time.monotonic()
            m = self._await("LOG_REQUEST_LIST", max(left, 0.001), entry)
            if m.num_logs == 0:
                return []
            entries[m.id] = {"id": m.id, "time_utc": m.time_utc, "size": m.size}
            if len(entries) >= m.num_logs:
                return [entries[k] for k in sorted(entries)]

    def close(self) -> None:
        """Close the connection. Idempotent; the link cannot be used afterwards."""
        if not self._closed:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LinkError(f"{self.name}: MAVLink link {self.url} is closed")

    def _next_message(self, deadline: float):  # -> MAVLink_message | None
        """The next parsed message, or None once ``deadline`` (monotonic) has passed."""
        while True:
            msg = self._conn.recv_msg()
            if msg is not None:
                if msg.get_type() == "BAD_DATA":
                    continue
                return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._conn.select(remaining)

    def _discard_queued(self, deadline: float) -> None:
        discarded = 0
        while time.monotonic() < deadline and self._conn.recv_msg() is not None:
            discarded += 1
        if discarded:
            self._log.debug("%s: discarded %d queued messages", self.name, discarded)

    def _request_autopilot_version(self, confirmation: int) -> None:
        assert self._aircraft is not None
        target_system, target_component = self._aircraft
        self._conn.mav.command_long_send(
            target_system,
            target_component,
            mavlink2.MAV_CMD_REQUEST_MESSAGE,
            min(confirmation, 255),
            float(mavlink2.MAVLINK_MSG_ID_AUTOPILOT_VERSION),
            0,
            0,
            0,
            0,
            0,
            0,
        )

    @staticmethod
    def _heard_so_far(now: float, controller_last: float | None, other_messages: int) -> str:
        if controller_last is not None:
            return f"controller heard (last {now - controller_last:.1f} s ago), aircraft silent"
        if other_messages:
            return f"no heartbeat yet ({other_messages} other MAVLink messages heard)"
        return "nothing heard yet"

    def _not_ready(
        self, timeout: float, now: float, controller_last: float | None, other_messages: int
    ) -> str:
        head = f"{self.name}: no aircraft heartbeat on {self.url} within {timeout:.1f} s: "
        if controller_last is not None:
            return head + (
                f"controller up but aircraft silent (controller last heard"
                f" {now - controller_last:.1f} s ago); check that the aircraft is powered,"
                " has finished booting and is linked to its controller"
            )
        others = f", {other_messages} other MAVLink messages" if other_messages else ""
        return head + (
            f"no heartbeat at all (neither controller nor aircraft{others}); check that the"
            f" controller is powered and sends MAVLink to {self.url}"
        )

    def _no_version(self, timeout: float, requests: int, last_ack: int | None) -> str:
        head = f"{self.name}: no AUTOPILOT_VERSION from the aircraft on {self.url}"
        if self._aircraft is None:
            return (
                f"{head} within {timeout:.1f} s: no aircraft heartbeat heard, so no request"
                " was sent; call wait_ready() first and check the aircraft is powered"
            )
        ack = f", last COMMAND_ACK {_result_name(last_ack)}" if last_ack is not None else ""
        return (
            f"{head} (system {self._aircraft[0]}, component {self._aircraft[1]}) within"
            f" {timeout:.1f} s after {requests} requests{ack}; is the aircraft still powered?"
        )
