"""What every relay driver promises, through pyserial against its simulator on a real pty.

Each test runs once per protocol (Numato, LCUS, KMTronic, Devantech): the `RelayBoard`
capability, opening and closing the port, and the failures whose wording the drivers
share. What a protocol's own failure messages say (which exchange, which reply was
expected) is checked in its own tests/power/test_power_<protocol>_io.py.
"""

import socket
import threading
import time
from dataclasses import dataclass

import pytest

from hil.power.devantech import DevantechBoard
from hil.power.kmtronic import KmtronicBoard
from hil.power.lcus import LcusBoard
from hil.power.numato import NumatoBoard
from hil.power.relay import RelayBoard, RelayError
from hil.sim.devantech import DevantechSimulator
from hil.sim.kmtronic import KmtronicSimulator
from hil.sim.lcus import LcusSimulator
from hil.sim.numato import NumatoSimulator
from hil.sim.ptyboard import PtyBoardSimulator

TIMEOUT = 0.2  # every failure test waits at most about this long per exchange
CHANNELS = 8


@dataclass(frozen=True)
class Protocol:
    """One driver and the simulator of its board."""

    kind: str
    driver: type[RelayBoard]
    simulator: type[PtyBoardSimulator]
    record: str  # the simulator's list of what it received: lines, frames or commands
    on_3: object  # how switching channel 3 on appears in that list

    def __str__(self) -> str:
        return self.kind


PROTOCOLS = [
    Protocol("numato", NumatoBoard, NumatoSimulator, "lines", "relay on 3"),
    Protocol("lcus", LcusBoard, LcusSimulator, "frames", bytes.fromhex("A0 04 01 A5")),
    Protocol("kmtronic", KmtronicBoard, KmtronicSimulator, "frames", b"\xff\x04\x01"),
    Protocol("devantech", DevantechBoard, DevantechSimulator, "commands", b"\x68"),
]


@pytest.fixture(params=PROTOCOLS, ids=str)
def protocol(request) -> Protocol:
    return request.param


@pytest.fixture
def sim(protocol):
    board = protocol.simulator(CHANNELS)
    yield board
    board.stop()


def _open(protocol: Protocol, url: str) -> RelayBoard:
    """Open the driver as a bench would; an LCUS board must come up reading back."""
    relay = protocol.driver(url, CHANNELS, timeout=TIMEOUT)
    assert getattr(relay, "reads_back", True) is True, "the LCUS probe missed the status query"
    return relay


@pytest.fixture
def board(protocol, sim):
    relay = _open(protocol, sim.url)
    yield relay
    relay.close()


def _record(protocol: Protocol, sim: PtyBoardSimulator) -> list:
    return getattr(sim, protocol.record)


# -- the simulators --------------------------------------------------------------------


def test_simulators_stand_in_for_each_other(protocol):
    """The simulated bench swaps relay simulators: same constructor, attributes, methods."""
    with NumatoSimulator(4) as numato, protocol.simulator(4) as sim:
        assert isinstance(sim, PtyBoardSimulator)
        for name in ("url", "channels", "silent", "garbage", "stuck_channels", "errors",
                     "state", "on_change", "stuck", "unplug", "stop",
                     "__enter__", "__exit__"):
            assert hasattr(sim, name), name
            assert type(getattr(sim, name)) is type(getattr(numato, name)), name
        assert sim.channels == numato.channels == [False] * 4
        assert sim.url.startswith("/dev/")
        assert sim.url in repr(sim)


def test_stuck_refuses_a_channel_the_simulator_does_not_have(sim):
    with pytest.raises(ValueError, match="channel 8 does not exist on this 8-channel"):
        sim.stuck(8)


def test_stop_is_idempotent(protocol):
    sim = protocol.simulator(CHANNELS)
    sim.stop()
    sim.stop()


# -- the capability --------------------------------------------------------------------


def test_board_is_a_relay_board(protocol, board, sim):
    assert isinstance(board, RelayBoard)
    assert (board.kind, board.url, board.channels) == (protocol.kind, sim.url, CHANNELS)
    assert board.description == f"{protocol.kind} board at {sim.url}"


def test_set_and_get_every_channel(board, sim):
    for ch in range(8):
        board.set(ch, True)
        assert sim.state(ch) is True
        assert board.get(ch) is True
        assert board.states() == [c <= ch for c in range(8)]
    for ch in range(8):
        board.set(ch, False)
        assert sim.state(ch) is False
        assert board.get(ch) is False
    assert board.states() == [False] * 8


def test_on_change_reports_each_change_with_its_time(board, sim):
    seen = []
    sim.on_change(lambda ch, closed, t: seen.append((ch, closed, t)))
    before = time.monotonic()
    board.set(1, True)
    board.set(1, True)      # no change: no report
    board.set(1, False)
    after = time.monotonic()
    assert [(ch, closed) for ch, closed, _ in seen] == [(1, True), (1, False)]
    assert before <= seen[0][2] <= seen[1][2] <= after


def test_a_broken_observer_does_not_stop_the_board(board, sim):
    sim.on_change(lambda ch, closed, t: 1 / 0)
    board.set(0, True)
    assert board.get(0) is True
    assert [type(e) for e in sim.errors] == [ZeroDivisionError]


def test_context_manager_and_close(protocol, sim):
    with _open(protocol, sim.url) as board:
        board.set(0, True)
    board.close()  # idempotent
    closed = f"{protocol.kind} board at {sim.url}: port is closed"
    with pytest.raises(RelayError, match=closed):
        board.get(0)
    with pytest.raises(RelayError, match=closed):
        board.set(0, False)
    assert sim.state(0) is True  # closing the port leaves the relays as they are


def test_threads_share_one_board(protocol, board, sim):
    errors = []

    def toggle(ch):
        try:
            for _ in range(10):
                board.set(ch, True)
                board.set(ch, False)
        except RelayError as e:
            errors.append(e)

    threads = [threading.Thread(target=toggle, args=(ch,)) for ch in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _record(protocol, sim).count(protocol.on_3) == 10
    assert sim.channels == [False] * 8


# -- opening -------------------------------------------------------------------------


def test_second_open_of_the_same_port_fails(protocol, board, sim):
    with pytest.raises(RelayError) as info:
        protocol.driver(sim.url, CHANNELS, timeout=TIMEOUT)
    assert str(info.value).startswith(
        f"{protocol.kind} board at {sim.url}: port is already in use by another process or "
        f"job (exclusive lock refused)")
    board.close()
    with _open(protocol, sim.url) as again:
        assert again.states() == [False] * 8


def test_open_of_a_missing_port_fails(protocol, tmp_path):
    url = str(tmp_path / "ttyUSB9")
    with pytest.raises(RelayError, match=f"{protocol.kind} board at {url}: cannot open port"):
        protocol.driver(url, CHANNELS, timeout=TIMEOUT)


def test_open_of_an_unreachable_network_port_fails(protocol):
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"socket://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(RelayError, match=f"{protocol.kind} board at {url}: cannot open port"):
        protocol.driver(url, CHANNELS, timeout=TIMEOUT)


# -- faults ----------------------------------------------------------------------------


def test_channel_out_of_range(protocol, board, sim):
    _record(protocol, sim).clear()
    with pytest.raises(RelayError) as info:
        board.set(8, True)
    assert str(info.value) == (f"{protocol.kind} board at {sim.url}: channel 8 does not exist "
                               f"on an 8-channel board (channels 0-7)")
    with pytest.raises(RelayError, match="channel -1 does not exist on an 8-channel board"):
        board.get(-1)
    assert _record(protocol, sim) == []  # nothing was sent


def test_silent_board_times_out_with_a_clear_error(protocol, board, sim):
    sim.silent = True
    with pytest.raises(RelayError) as info:
        board.get(1)
    message = str(info.value)
    assert message.startswith(f"{protocol.kind} board at {sim.url}: no reply to ")
    assert f" within {TIMEOUT} s (expected " in message
    sim.silent = False
    assert board.get(1) is False  # the next exchange resyncs and works
    board.set(1, True)
    assert sim.state(1) is True


def test_stuck_relay_is_a_read_back_mismatch(protocol, board, sim):
    sim.stuck(5)
    with pytest.raises(RelayError) as info:
        board.set(5, True)
    message = str(info.value)
    assert message.startswith(f"{protocol.kind} board at {sim.url}: channel 5 ")
    assert " reads back " in message
    assert "; the relay may be stuck" in message
    assert sim.state(5) is False
    sim.stuck(5, False)
    board.set(5, True)
    assert sim.state(5) is True


def test_unplugged_board_raises_naming_the_url(protocol, board, sim):
    board.set(0, True)
    sim.unplug()
    for _ in range(2):  # and keeps raising, never hangs
        with pytest.raises(RelayError, match=f"{protocol.kind} board at {sim.url}: port failed"):
            board.set(0, False)
    board.close()
    with pytest.raises(RelayError, match=f"{protocol.kind} board at {sim.url}: "):
        protocol.driver(sim.url, CHANNELS, timeout=TIMEOUT)


def test_unplugged_while_waiting_for_a_reply(protocol, board, sim):
    sim.silent = True
    threading.Timer(0.05, sim.unplug).start()
    with pytest.raises(RelayError) as info:
        board.get(0)
    assert str(info.value).startswith(
        f"{protocol.kind} board at {sim.url}: port failed during ")
