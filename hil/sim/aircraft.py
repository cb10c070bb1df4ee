"""A simulated DJI aircraft and its remote controller, speaking MAVLink 2 over loopback UDP.

The production ``hil.link.mavlink.MavlinkLink`` talks to this exactly as to a real MAVLink
aircraft: real UDP datagrams on 127.0.0.1, real MAVLink 2 frames.

Identities on the wire (``common`` dialect):

- controller: sysid 1, compid ``MAV_COMP_ID_USER1`` (25), HEARTBEAT type ``MAV_TYPE_GCS``,
  autopilot ``MAV_AUTOPILOT_INVALID``. It shares the aircraft's system id because on a DJI
  bench the controller and aircraft are one paired system.
- aircraft: sysid 1, compid ``MAV_COMP_ID_AUTOPILOT1`` (1), HEARTBEAT type
  ``MAV_TYPE_QUADROTOR``, autopilot ``MAV_AUTOPILOT_GENERIC`` (MAVLink has no DJI value).

The controller is the radio: the bench host reaches the aircraft only through it. So the
controller heartbeat is sent while ``controller_up()`` is true, and the aircraft heartbeat
and every aircraft answer only while ``aircraft_up()`` *and* ``controller_up()`` are true.
Who decides "up" (relay channels, boot timers, fault profiles) is the owner's business:
both are callables polled once per heartbeat tick and once per received command.

Commands answered by the aircraft (addressed to sysid 0 or 1, compid 0 or 1):

- ``COMMAND_LONG MAV_CMD_REQUEST_MESSAGE`` with param1 = ``AUTOPILOT_VERSION`` (148):
  ``COMMAND_ACK`` ``MAV_RESULT_ACCEPTED`` followed by ``AUTOPILOT_VERSION`` whose
  ``flight_sw_version`` encodes ``firmware`` (see ``hil.link.version``).
- ``MAV_CMD_REQUEST_MESSAGE`` with param1 = ``STORAGE_INFORMATION`` (261): the SD card's
  used capacity in MiB (a float: the harness learns a new file's size from its change).
- ``MAV_CMD_IMAGE_START_CAPTURE`` (also addressed to the camera, compid 100): an ``IN_PROGRESS``
  ack, then ``ACCEPTED``, then ``CAMERA_IMAGE_CAPTURED`` with the new file's index and path.
- ``MAV_CMD_VIDEO_START_CAPTURE`` / ``MAV_CMD_VIDEO_STOP_CAPTURE``: ``ACCEPTED``; the video's
  size follows from how long it ran (scaled back to real seconds).
- ``LOG_REQUEST_LIST``: one ``LOG_ENTRY`` per onboard flight log, or a single entry with
  ``num_logs`` 0 when there are none.
- any other ``COMMAND_LONG`` (or another requested message): ``COMMAND_ACK``
  ``MAV_RESULT_UNSUPPORTED``.

Camera, storage and logs exist only when an ``Onboard`` store is given (see
``hil.sim.onboard``); without one those commands are unsupported.

MAVLink 2 is ensured by packing and parsing with ``pymavlink.dialects.v20.common`` directly
(never through ``mavutil``'s process-wide dialect switch), so every frame sent starts with
the MAVLink 2 marker 0xFD.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Self

from pymavlink.dialects.v20 import common as mavlink2

from hil.link.version import encode_firmware_version
from hil.sim.onboard import MIB, Onboard

__all__ = ["SimAircraft"]

_log = logging.getLogger("hil.sim.aircraft")

_LOOPBACK = "127.0.0.1"
_SYSID = 1
_AIRCRAFT_COMPID = mavlink2.MAV_COMP_ID_AUTOPILOT1
_CONTROLLER_COMPID = mavlink2.MAV_COMP_ID_USER1
_CAMERA_COMPID = mavlink2.MAV_COMP_ID_CAMERA
_DJI_USB_VENDOR_ID = 0x2CA3
_MAX_DATAGRAM = 65535
_MAX_SLEEP = 0.05  # bound on how long stop() waits for the thread to notice


class _UdpWriter:
    """The ``file`` a pymavlink ``MAVLink`` object writes to: one datagram per frame.

    Sending to a port nobody listens on yet can surface as ECONNREFUSED (ICMP port
    unreachable); that is normal while the harness has not opened its link, so it is
    ignored, like any other transient send error.
    """

    def __init__(self, sock: socket.socket, destination: tuple[str, int]) -> None:
        self._sock = sock
        self._destination = destination

    def write(self, buf: bytes) -> None:
        try:
            self._sock.sendto(buf, self._destination)
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, errno.ENOBUFS, errno.EAGAIN):
                _log.debug("sim aircraft: send to %s failed: %s", self._destination, exc)


class SimAircraft:
    """A simulated aircraft + controller that send MAVLink 2 to ``127.0.0.1:target_port``.

    ``start()`` binds one UDP socket to 127.0.0.1 on a free port and starts a daemon
    thread that, every ``heartbeat_interval`` seconds, sends the heartbeats allowed by
    ``controller_up()``/``aircraft_up()`` and answers commands as described in the module
    docstring. ``stop()`` ends the thread and closes the socket; both are idempotent and
    a stopped simulator cannot be restarted.

    ``firmware`` is a DJI version string such as ``"01.00.0900"``; it is validated here, so
    a bad string raises ``ValueError`` at construction, not in the thread.

    ``aircraft_up`` and ``controller_up`` must not raise. If one does (or the thread fails
    otherwise), the thread logs the exception on ``hil.sim.aircraft``, stores it in
    ``failure`` and stops sending: the aircraft goes silent, as a crashed one would.
    """

    def __init__(
        self,
        target_port: int,
        firmware: str,
        aircraft_up: Callable[[], bool],
        controller_up: Callable[[], bool],
        heartbeat_interval: float = 0.05,
        onboard: Onboard | None = None,
        time_scale: float = 1.0,
    ) -> None:
        if not isinstance(target_port, int) or not 0 < target_port < 65536:
            raise ValueError(f"sim aircraft: target_port {target_port!r} is not a UDP port")
        if not heartbeat_interval > 0:
            raise ValueError(
                f"sim aircraft: heartbeat_interval {heartbeat_interval!r} must be > 0 seconds"
            )
        self.target_port = target_port
        self.firmware = firmware
        self._flight_sw_version = encode_firmware_version(firmware)
        self._aircraft_up = aircraft_up
        self._controller_up = controller_up
        self._interval = float(heartbeat_interval)
        self.onboard = onboard
        self._time_scale = time_scale
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.failure: BaseException | None = None
        """The exception that ended the thread, or None while healthy / after a clean stop."""

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the simulator sends from; only valid after ``start()``."""
        if self._sock is None:
            raise RuntimeError("sim aircraft: not started")
        host, port = self._sock.getsockname()[:2]
        return host, port

    def start(self) -> None:
        """Bind the socket and start the thread. Raises RuntimeError if already started."""
        if self._thread is not None:
            raise RuntimeError("sim aircraft: already started (a stopped one cannot restart)")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((_LOOPBACK, 0))
        sock.setblocking(False)
        self._sock = sock
        writer = _UdpWriter(sock, (_LOOPBACK, self.target_port))
        self._controller = mavlink2.MAVLink(
            writer, srcSystem=_SYSID, srcComponent=_CONTROLLER_COMPID
        )
        self._aircraft = mavlink2.MAVLink(writer, srcSystem=_SYSID, srcComponent=_AIRCRAFT_COMPID)
        self._camera = mavlink2.MAVLink(writer, srcSystem=_SYSID, srcComponent=_CAMERA_COMPID)
        self._parser = mavlink2.MAVLink(None)
        self._parser.robust_parsing = True
        self._thread = threading.Thread(
            target=self._run, name=f"sim-aircraft->{self.target_port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (within about 50 ms) and close the socket. Safe to call twice."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=2.0)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - kept in .failure; the aircraft goes silent
            self.failure = exc
            _log.exception(
                "sim aircraft -> port %d: thread failed, going silent", self.target_port
            )

    def _loop(self) -> None:
        assert self._sock is not None
        next_beat = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                self._send_heartbeats()
                next_beat += self._interval
                if next_beat <= now:  # fell behind (e.g. a slow machine): don't burst
                    next_beat = now + self._interval
            wait = min(max(next_beat - time.monotonic(), 0.0), _MAX_SLEEP)
            readable, _, _ = select.select([self._sock], [], [], wait)
            if readable:
                self._drain_socket()

    def _reachable(self) -> tuple[bool, bool]:
        """(controller up, aircraft reachable): the aircraft needs the controller's radio."""
        controller = bool(self._controller_up())
        aircraft = controller and bool(self._aircraft_up())
        return controller, aircraft

    def _send_heartbeats(self) -> None:
        controller, aircraft = self._reachable()
        if controller:
            self._controller.send(
                self._controller.heartbeat_encode(
                    mavlink2.MAV_TYPE_GCS,
                    mavlink2.MAV_AUTOPILOT_INVALID,
                    0,
                    0,
                    mavlink2.MAV_STATE_ACTIVE,
                )
            )
        if aircraft:
            self._aircraft.send(
                self._aircraft.heartbeat_encode(
                    mavlink2.MAV_TYPE_QUADROTOR,
                    mavlink2.MAV_AUTOPILOT_GENERIC,
                    0,
                    0,
                    mavlink2.MAV_STATE_STANDBY,
                )
            )

    def _drain_socket(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data, _sender = self._sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno == errno.ECONNREFUSED:  # ICMP from an earlier send: ignore
                    continue
                raise
            try:
                messages = self._parser.parse_buffer(data) or []
            except mavlink2.MAVError as exc:
                _log.debug("sim aircraft: unparsable datagram ignored: %s", exc)
                continue
            for msg in messages:
                if msg.get_type() == "COMMAND_LONG":
                    self._answer_command(msg)
                elif msg.get_type() == "LOG_REQUEST_LIST":
                    self._answer_log_list(msg)

    def _ack(self, msg, result: int) -> None:
        self._aircraft.send(self._aircraft.command_ack_encode(
            msg.command, result, target_system=msg.get_srcSystem(),
            target_component=msg.get_srcComponent()))

    def _answer_log_list(self, msg) -> None:
        if self.onboard is None or msg.target_system not in (0, _SYSID) or \
                not self._reachable()[1]:
            return
        _, logs = self.onboard.snapshot()
        if not logs:
            self._aircraft.send(self._aircraft.log_entry_encode(0, 0, 0, 0, 0))
            return
        for log in logs:
            self._aircraft.send(self._aircraft.log_entry_encode(
                log.id, len(logs), logs[-1].id, log.time_utc, log.size))

    def _answer_camera(self, msg) -> bool:
        """Camera and storage commands; False when `msg` is none of them."""
        ob = self.onboard
        if ob is None:
            return False
        cmd = msg.command
        if cmd == mavlink2.MAV_CMD_REQUEST_MESSAGE and \
                int(msg.param1) == mavlink2.MAVLINK_MSG_ID_STORAGE_INFORMATION:
            self._ack(msg, mavlink2.MAV_RESULT_ACCEPTED)
            used = ob.used_bytes() / MIB
            total = 32 * 1024.0
            self._camera.send(self._camera.storage_information_encode(
                0, 1, 1, mavlink2.STORAGE_STATUS_READY, total, used, total - used, 90.0, 60.0))
            return True
        if cmd == mavlink2.MAV_CMD_IMAGE_START_CAPTURE:
            self._ack(msg, mavlink2.MAV_RESULT_IN_PROGRESS)
            media = ob.take_photo()
            self._ack(msg, mavlink2.MAV_RESULT_ACCEPTED)
            self._camera.send(self._camera.camera_image_captured_encode(
                0, int(media.taken * 1e6), 1, 0, 0, 0, 0, [1.0, 0.0, 0.0, 0.0], media.index, 1,
                media.file_url.encode()))
            return True
        if cmd == mavlink2.MAV_CMD_VIDEO_START_CAPTURE:
            ob.start_video(time.monotonic())
            self._ack(msg, mavlink2.MAV_RESULT_ACCEPTED)
            return True
        if cmd == mavlink2.MAV_CMD_VIDEO_STOP_CAPTURE:
            done = ob.stop_video(time.monotonic(), self._time_scale)
            self._ack(msg, mavlink2.MAV_RESULT_ACCEPTED if done else mavlink2.MAV_RESULT_DENIED)
            return True
        return False

    def _answer_command(self, msg: mavlink2.MAVLink_command_long_message) -> None:
        if msg.target_system not in (0, _SYSID) or msg.target_component not in (
            0,
            _AIRCRAFT_COMPID,
            _CAMERA_COMPID,
        ):
            return
        _, aircraft = self._reachable()
        if not aircraft:
            return
        if self._answer_camera(msg):
            return
        wants_version = (
            msg.command == mavlink2.MAV_CMD_REQUEST_MESSAGE
            and int(msg.param1) == mavlink2.MAVLINK_MSG_ID_AUTOPILOT_VERSION
        )
        result = mavlink2.MAV_RESULT_ACCEPTED if wants_version else mavlink2.MAV_RESULT_UNSUPPORTED
        self._aircraft.send(
            self._aircraft.command_ack_encode(
                msg.command,
                result,
                target_system=msg.get_srcSystem(),
                target_component=msg.get_srcComponent(),
            )
        )
        if wants_version:
            self._aircraft.send(
                self._aircraft.autopilot_version_encode(
                    mavlink2.MAV_PROTOCOL_CAPABILITY_MAVLINK2,
                    self._flight_sw_version,
                    0,
                    0,
                    0,
                    [0] * 8,
                    [0] * 8,
                    [0] * 8,
                    _DJI_USB_VENDOR_ID,
                    0,
                    0,
                )
            )
