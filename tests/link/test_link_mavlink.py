"""MavlinkLink against SimAircraft: real MAVLink 2 datagrams over UDP on 127.0.0.1."""

import logging
import socket
import time

import pytest
from pymavlink.dialects.v20 import common as mavlink2

from hil.link.mavlink import LinkError, MavlinkLink
from hil.sim.aircraft import SimAircraft

FIRMWARE = "01.00.0900"


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Power:
    """What the sim world would decide from relays and boot timers, set by the test."""

    def __init__(self, aircraft: bool = True, controller: bool = True) -> None:
        self.aircraft = aircraft
        self.controller = controller


@pytest.fixture
def port():
    return _free_udp_port()


@pytest.fixture
def power():
    return Power()


@pytest.fixture
def sim(port, power):
    aircraft = SimAircraft(
        port,
        FIRMWARE,
        aircraft_up=lambda: power.aircraft,
        controller_up=lambda: power.controller,
        heartbeat_interval=0.02,
    )
    aircraft.start()
    yield aircraft
    aircraft.stop()
    assert aircraft.failure is None


@pytest.fixture
def link(port):
    with MavlinkLink(f"udpin:127.0.0.1:{port}", name="spark") as opened:
        yield opened


def _progress_lines(caplog):
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "hil.link" and "waiting for aircraft heartbeat" in r.getMessage()
    ]


def test_ready_when_aircraft_and_controller_up(sim, link, caplog):
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="hil.link"):
        link.wait_ready(timeout=2.0)
    assert time.monotonic() - started < 1.0
    assert any("spark: aircraft heartbeat" in r.getMessage() for r in caplog.records)


def test_firmware_version_is_read(sim, link):
    link.wait_ready(timeout=2.0)
    assert link.firmware_version(timeout=2.0) == FIRMWARE


def test_firmware_version_without_wait_ready_finds_the_aircraft(sim, link):
    assert link.firmware_version(timeout=2.0) == FIRMWARE


def test_controller_only_logs_progress_then_says_aircraft_silent(sim, link, power, port, caplog):
    power.aircraft = False
    time.sleep(0.05)  # let a heartbeat the sim was already sending land before the wait
    with caplog.at_level(logging.INFO, logger="hil.link"), pytest.raises(LinkError) as info:
        link.wait_ready(timeout=0.4, progress_every=0.1)
    message = str(info.value)
    assert "spark" in message
    assert f"udpin:127.0.0.1:{port}" in message
    assert "0.4 s" in message
    assert "controller up but aircraft silent" in message
    lines = _progress_lines(caplog)
    assert len(lines) >= 2, lines
    assert all("controller heard" in line and "aircraft silent" in line for line in lines)
    assert all(line.startswith("spark: ") and "of 0.4 s" in line for line in lines)


def test_nothing_heard_says_no_heartbeat_at_all(sim, link, power, port, caplog):
    # The aircraft is up but its controller (the radio) is off: the bench hears nothing.
    power.controller = False
    time.sleep(0.05)  # let a heartbeat the sim was already sending land before the wait
    with caplog.at_level(logging.INFO, logger="hil.link"), pytest.raises(LinkError) as info:
        link.wait_ready(timeout=0.4, progress_every=0.1)
    message = str(info.value)
    assert f"udpin:127.0.0.1:{port}" in message
    assert "0.4 s" in message
    assert "no heartbeat at all" in message
    assert "controller up" not in message
    lines = _progress_lines(caplog)
    assert lines and all("nothing heard yet" in line for line in lines)


def test_aircraft_coming_up_after_300_ms_is_seen(port, link):
    started = time.monotonic()
    with SimAircraft(
        port,
        FIRMWARE,
        aircraft_up=lambda: time.monotonic() - started >= 0.3,
        controller_up=lambda: True,
        heartbeat_interval=0.02,
    ) as late:
        link.wait_ready(timeout=3.0, progress_every=0.1)
        assert time.monotonic() - started >= 0.3
        assert late.failure is None


def test_sim_survives_sending_before_anyone_listens(port):
    # Nobody is bound to the port yet: sends may bounce (ICMP port unreachable).
    with SimAircraft(port, FIRMWARE, lambda: True, lambda: True, heartbeat_interval=0.01) as early:
        time.sleep(0.2)
        with MavlinkLink(f"udpin:127.0.0.1:{port}") as link:
            link.wait_ready(timeout=2.0)
            assert link.firmware_version(timeout=2.0) == FIRMWARE
        assert early.failure is None


def test_heartbeats_queued_before_the_wait_do_not_count(sim, link, power):
    time.sleep(0.15)  # aircraft heartbeats pile up unread in the link's socket
    power.aircraft = False
    time.sleep(0.05)
    with pytest.raises(LinkError, match="controller up but aircraft silent"):
        link.wait_ready(timeout=0.3)


def test_firmware_version_times_out_when_the_aircraft_goes_silent(sim, link, power, port):
    link.wait_ready(timeout=2.0)
    power.aircraft = False
    with pytest.raises(LinkError) as info:
        link.firmware_version(timeout=0.4)
    message = str(info.value)
    assert "no AUTOPILOT_VERSION" in message
    assert f"udpin:127.0.0.1:{port}" in message
    assert "4 requests" in message


def test_closed_link_refuses_use(port):
    link = MavlinkLink(f"udpin:127.0.0.1:{port}")
    link.close()
    link.close()
    with pytest.raises(LinkError, match="closed"):
        link.wait_ready(timeout=0.1)


def test_bad_url_is_a_link_error_naming_it():
    with pytest.raises(LinkError, match="udpin:127.0.0.1"):
        MavlinkLink("udpin:127.0.0.1")


# -- wire level: both ends speak MAVLink 2 ------------------------------------------------


def _raw_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    return sock


def test_sim_sends_mavlink2_heartbeats_with_documented_identities():
    raw = _raw_socket()
    with raw, SimAircraft(raw.getsockname()[1], FIRMWARE, lambda: True, lambda: True):
        parser = mavlink2.MAVLink(None)
        seen = {}
        while len(seen) < 2:
            data = raw.recv(65535)
            assert data[0] == 0xFD  # MAVLink 2 start-of-frame
            (msg,) = parser.parse_buffer(data)
            assert msg.get_type() == "HEARTBEAT"
            seen[msg.type] = (msg.get_srcSystem(), msg.get_srcComponent(), msg.autopilot)
    assert seen[mavlink2.MAV_TYPE_GCS] == (
        1,
        mavlink2.MAV_COMP_ID_USER1,
        mavlink2.MAV_AUTOPILOT_INVALID,
    )
    assert seen[mavlink2.MAV_TYPE_QUADROTOR][:2] == (1, 1)


def test_sim_acks_unsupported_requests_as_unsupported():
    raw = _raw_socket()
    with raw, SimAircraft(raw.getsockname()[1], FIRMWARE, lambda: True, lambda: True) as sim:
        codec = mavlink2.MAVLink(None, srcSystem=255, srcComponent=190)
        sys_status = float(mavlink2.MAVLINK_MSG_ID_SYS_STATUS)
        request = codec.command_long_encode(
            1, 1, mavlink2.MAV_CMD_REQUEST_MESSAGE, 0, sys_status, 0, 0, 0, 0, 0, 0
        )
        raw.sendto(request.pack(codec), sim.address)
        parser = mavlink2.MAVLink(None)
        while True:
            (msg,) = parser.parse_buffer(raw.recv(65535))
            if msg.get_type() == "COMMAND_ACK":
                break
    assert msg.command == mavlink2.MAV_CMD_REQUEST_MESSAGE
    assert msg.result == mavlink2.MAV_RESULT_UNSUPPORTED
    assert (msg.target_system, msg.target_component) == (255, 190)


def test_link_sends_mavlink2_requests(link, port):
    # A raw "aircraft" that sends one heartbeat and never answers.
    with _raw_socket() as raw:
        codec = mavlink2.MAVLink(None, srcSystem=7, srcComponent=1)
        beat = codec.heartbeat_encode(mavlink2.MAV_TYPE_QUADROTOR, 0, 0, 0, 0)
        raw.sendto(beat.pack(codec), ("127.0.0.1", port))
        with pytest.raises(LinkError, match="system 7, component 1"):
            link.firmware_version(timeout=0.2)
        raw.settimeout(0.0)
        datagrams = []
        while True:
            try:
                datagrams.append(raw.recv(65535))
            except BlockingIOError:
                break
    assert datagrams
    parser = mavlink2.MAVLink(None)
    for data in datagrams:
        assert data[0] == 0xFD  # MAVLink 2 start-of-frame
        (msg,) = parser.parse_buffer(data)
        assert msg.get_type() == "COMMAND_LONG"
        assert (msg.get_srcSystem(), msg.get_srcComponent()) == (255, 190)
        assert (msg.target_system, msg.target_component) == (7, 1)
        assert msg.command == mavlink2.MAV_CMD_REQUEST_MESSAGE
        assert int(msg.param1) == mavlink2.MAVLINK_MSG_ID_AUTOPILOT_VERSION
