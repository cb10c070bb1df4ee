"""The LCUS driver through pyserial against the simulated board on a real pty.

What every relay driver promises is tested once for all in test_power_relay_contract.py
(on a board that reads back); here, what is LCUS's own: its frames and status lines,
reading back or only tracking, checksums, its resync, and the wording of its failures.
"""

import dataclasses
import os
import select
import threading
import time
from pathlib import Path

import pytest

from hil import bench as benchmod
from hil.power.lcus import LcusBoard, encode_set, parse_status
from hil.power.manual import BenchPower
from hil.power.relay import RelayError
from hil.sim.lcus import LcusSimulator

TIMEOUT = 0.2  # every failure test waits at most about this long per exchange
EXPECTED_8 = "8 lines 'CHn: ON' or 'CHn: OFF', n = 1-8"


@pytest.fixture
def sim():
    board = LcusSimulator(channels=8)
    yield board
    board.stop()


@pytest.fixture
def board(sim):
    relay = LcusBoard(sim.url, 8, timeout=TIMEOUT)
    yield relay
    relay.close()


@pytest.fixture
def mute_sim():
    """A board whose firmware has no status query."""
    board = LcusSimulator(channels=8, status_query=False)
    yield board
    board.stop()


@pytest.fixture
def tracked(mute_sim):
    relay = LcusBoard(mute_sim.url, 8, timeout=TIMEOUT, status_query=False)
    yield relay
    relay.close()


def _exchange_raw(url: str, sent: bytes, quiet: float = 0.03) -> bytes:
    """Send `sent` on the pty with plain os calls; return what arrives until `quiet` s pass."""
    fd = os.open(url, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, sent)
        raw = b""
        while select.select([fd], [], [], quiet)[0]:
            raw += os.read(fd, 100)
        return raw
    finally:
        os.close(fd)


def _wait_for(predicate, timeout: float = 1.0) -> bool:
    """The board sends nothing back for a frame: poll the simulator until it has acted."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


# -- the simulator speaks the protocol the parser expects ---------------------------------


def test_simulator_answers_a_frame_with_nothing_and_switches(sim):
    assert _exchange_raw(sim.url, bytes.fromhex("A0 03 01 A4")) == b""
    assert sim.channels == [False, False, True] + [False] * 5
    assert sim.frames == [bytes.fromhex("A0 03 01 A4")]


def test_simulator_status_reply_bytes(sim):
    sim.channels[0] = True
    raw = _exchange_raw(sim.url, b"\xff")
    assert raw == b"CH1: ON \r\n" + b"".join(b"CH%d: OFF\r\n" % n for n in range(2, 9))
    assert parse_status(raw, 8) == [True] + [False] * 7


def test_simulator_without_status_query_answers_nothing(mute_sim):
    assert _exchange_raw(mute_sim.url, b"\xff") == b""
    assert _exchange_raw(mute_sim.url, encode_set(1, True, 8)) == b""
    assert mute_sim.state(1) is True


def test_simulator_ignores_a_frame_with_a_wrong_checksum(sim):
    assert _exchange_raw(sim.url, bytes.fromhex("A0 03 01 A5")) == b""
    assert sim.channels == [False] * 8
    assert sim.bad_checksum_seen == 1
    assert sim.frames == [bytes.fromhex("A0 03 01 A5")]


def test_simulator_ignores_frames_for_relays_it_does_not_have(sim):
    for frame in ("A0 09 01 AA", "A0 00 01 A1", "A0 01 02 A3"):
        _exchange_raw(sim.url, bytes.fromhex(frame))
    assert sim.channels == [False] * 8
    assert (sim.bad_frames_seen, sim.bad_checksum_seen) == (3, 0)


def test_simulator_ignores_bytes_between_frames(sim):
    # host scripts append CR LF to frames; the driver's resync pad is 00 bytes
    raw = _exchange_raw(sim.url, bytes.fromhex("0D 0A 00 A0 02 01 A3 0D 0A FF 0D 0A"))
    assert parse_status(raw, 8) == [False, True] + [False] * 6


def test_simulator_frames_by_byte_count(sim):
    """A half frame swallows what follows, as on the real board: why the driver pads."""
    _exchange_raw(sim.url, bytes.fromhex("A0 02"))
    assert _exchange_raw(sim.url, b"\xff") == b""   # the query became the frame's 3rd byte
    _exchange_raw(sim.url, bytes.fromhex("00 00 00"))
    assert sim.bad_checksum_seen == 1
    assert parse_status(_exchange_raw(sim.url, b"\xff"), 8) == [False] * 8


# -- the capability, reading back ----------------------------------------------------------


def test_probe_finds_the_status_query_and_reads_back(board):
    assert board.reads_back is True
    assert board.status_query is None
    assert "read back" in board.describe()
    assert "reads back" in repr(board)


@pytest.mark.parametrize("channels", [1, 2, 4, 16])
def test_set_every_channel_of_other_board_sizes(channels):
    with LcusSimulator(channels) as sim, LcusBoard(sim.url, channels, timeout=TIMEOUT) as board:
        for ch in range(channels):
            board.set(ch, True)
            assert sim.channels == [c == ch for c in range(channels)]
            board.set(ch, False)
        assert encode_set(channels - 1, True, channels) in sim.frames


def test_set_sends_the_frame_then_reads_back(board, sim):
    sim.frames.clear()
    board.set(3, True)
    assert sim.frames == [bytes.fromhex("A0 04 01 A5"), b"\xff"]


def test_get_reads_the_board_not_a_cache(board, sim):
    sim.channels[6] = True  # switched behind the driver's back (another tool, a button)
    assert board.get(6) is True
    assert board.states() == [False] * 6 + [True, False]


def test_state_at_open_is_read_from_the_board():
    with LcusSimulator(4) as sim:
        sim.channels[:] = [False, True, False, True]  # left closed by a crashed job
        with LcusBoard(sim.url, 4, timeout=TIMEOUT, status_query=True) as board:
            assert board.states() == [False, True, False, True]


# -- the capability, tracked (firmware without the status query) ---------------------------


def test_probe_finds_a_board_without_status_query(mute_sim):
    with LcusBoard(mute_sim.url, 8, timeout=TIMEOUT) as board:
        assert board.reads_back is False
        assert "tracked, not read" in board.describe()
        assert "tracked, not read" in repr(board)
        board.set(2, True)
        assert _wait_for(lambda: mute_sim.state(2))
        assert board.get(2) is True


def test_tracked_board_set_and_get(tracked, mute_sim):
    assert tracked.states() == [False] * 8  # assumed at open: the harness opens them all
    for ch in range(8):
        tracked.set(ch, True)
        assert _wait_for(lambda ch=ch: mute_sim.state(ch))
        assert tracked.get(ch) is True
    for ch in range(8):
        tracked.set(ch, False)
    assert _wait_for(lambda: mute_sim.channels == [False] * 8)
    assert tracked.states() == [False] * 8


def test_tracked_board_never_sends_the_query(tracked, mute_sim):
    tracked.set(5, True)
    tracked.get(5)
    tracked.states()
    assert _wait_for(lambda: len(mute_sim.frames) == 1)
    time.sleep(0.02)
    assert mute_sim.frames == [encode_set(5, True, 8)]


def test_tracked_board_cannot_see_a_stuck_relay(tracked, mute_sim):
    """What "tracked, not read" means: get() says what was commanded, not what happened."""
    mute_sim.stuck(4)
    tracked.set(4, True)  # no error: nothing can be read back
    assert _wait_for(lambda: encode_set(4, True, 8) in mute_sim.frames)
    assert mute_sim.state(4) is False
    assert tracked.get(4) is True


def test_status_query_false_is_honoured_on_a_board_that_has_it(sim):
    with LcusBoard(sim.url, 8, timeout=TIMEOUT, status_query=False) as board:
        assert board.reads_back is False
        board.set(0, True)
        assert _wait_for(lambda: sim.state(0))
    assert b"\xff" not in sim.frames


# -- opening -------------------------------------------------------------------------


def test_resync_at_open_completes_a_half_frame(sim):
    fd = os.open(sim.url, os.O_RDWR | os.O_NOCTTY)
    os.write(fd, bytes.fromhex("A0 03"))  # a crashed job's half frame
    time.sleep(0.05)
    os.close(fd)
    with LcusBoard(sim.url, 8, timeout=TIMEOUT, status_query=True) as board:
        assert board.reads_back is True
        board.set(1, True)
        assert board.get(1) is True
    assert sim.bad_checksum_seen == 1  # A0 03 00 00: ignored, as intended
    assert sim.channels == [False, True] + [False] * 6


def test_resync_at_open_skips_a_stale_status_reply(sim):
    fd = os.open(sim.url, os.O_RDWR | os.O_NOCTTY)
    os.write(fd, b"\xff")  # a reply nobody reads: stale bytes in the buffer
    time.sleep(0.05)
    os.close(fd)
    with LcusBoard(sim.url, 8, timeout=TIMEOUT) as board:
        board.set(2, True)
        assert board.states() == [False, False, True] + [False] * 5


def test_open_refuses_bad_arguments(sim):
    with pytest.raises(RelayError, match=f"lcus board at {sim.url}: 17 channels"):
        LcusBoard(sim.url, 17, timeout=TIMEOUT)
    with pytest.raises(RelayError, match="status_query must be true, false or unset"):
        LcusBoard(sim.url, 8, timeout=TIMEOUT, status_query="yes")


def test_open_with_status_query_promised_but_no_reply(mute_sim):
    with pytest.raises(RelayError) as info:
        LcusBoard(mute_sim.url, 8, timeout=TIMEOUT, status_query=True)
    assert str(info.value).startswith(
        f"lcus board at {mute_sim.url}: no reply to 'FF' (status query) within {TIMEOUT} s "
        f"(expected {EXPECTED_8}); the board was opened with status_query=True")


@pytest.mark.parametrize(("board_has", "bench_says", "status_query", "listed"), [
    (4, 8, True, "lists 4 relays (CH1-CH4), expected 8"),
    (8, 4, True, "lists 8 relays (CH1-CH8), expected 4"),
    (8, 4, None, "lists 8 relays (CH1-CH8), expected 4"),  # a probe does not fall back
])
def test_open_checks_the_channel_count_in_the_status(board_has, bench_says, status_query,
                                                     listed):
    with LcusSimulator(board_has) as sim:
        with pytest.raises(RelayError) as info:
            LcusBoard(sim.url, bench_says, timeout=TIMEOUT, status_query=status_query)
        assert str(info.value) == (
            f"lcus board at {sim.url}: status reply to 'FF' (status query) {listed}: "
            f"the board is not the size the bench file says (relay.channels)")


@pytest.mark.parametrize("status_query", [True, None, False])
def test_open_of_a_garbage_board_fails(sim, status_query):
    sim.garbage = True
    with pytest.raises(RelayError) as info:
        LcusBoard(sim.url, 8, timeout=TIMEOUT, status_query=status_query)
    assert str(info.value).startswith(
        f"lcus board at {sim.url}: garbled reply to '00 00 00' (resync): b'")
    assert "wrong board kind or baud rate?" in str(info.value)


def test_open_of_a_silent_board(sim):
    sim.silent = True
    with pytest.raises(RelayError, match=f"lcus board at {sim.url}: no reply to 'FF'"):
        LcusBoard(sim.url, 8, timeout=TIMEOUT, status_query=True)
    # a probe cannot tell a hung board from one without the query: it drives it blind
    with LcusBoard(sim.url, 8, timeout=TIMEOUT) as board:
        assert board.reads_back is False


# -- faults, reading back -------------------------------------------------------------


def test_wrong_checksum_is_ignored_and_the_read_back_catches_it(board, sim):
    sim.corrupt(1)  # line noise damages the next frame's checksum byte
    with pytest.raises(RelayError) as info:
        board.set(2, True)
    assert str(info.value).startswith(
        f"lcus board at {sim.url}: channel 2 reads back 'OFF' (CH3) after 'A0 03 01 A4' "
        f"(channel 2 on) (expected 'ON')")
    assert "the board ignores a frame whose checksum is wrong" in str(info.value)
    assert sim.bad_checksum_seen == 1
    assert sim.state(2) is False
    assert sim.frames[-2:] == [b"\xff", b"\xff"]  # read back twice before giving up
    board.set(2, True)  # the next frame arrives whole
    assert sim.state(2) is True


def test_garbage_reply_is_a_clear_error(board, sim):
    sim.garbage = True
    with pytest.raises(RelayError) as info:
        board.get(2)
    message = str(info.value)
    assert message.startswith(
        f"lcus board at {sim.url}: garbled status reply to 'FF' (status query): b'")
    assert message.endswith(f"(expected {EXPECTED_8}); no line end within {TIMEOUT} s")
    sim.garbage = False
    board.set(2, True)
    assert sim.state(2) is True


def test_truncated_status_reply_is_a_clear_error(board, sim, monkeypatch):
    real = LcusSimulator._status
    monkeypatch.setattr(LcusSimulator, "_status", lambda self: real(self)[:23])
    with pytest.raises(RelayError) as info:
        board.get(0)
    assert str(info.value) == (
        f"lcus board at {sim.url}: truncated status reply to 'FF' (status query): "
        f"b'CH1: OFF\\r\\nCH2: OFF\\r\\nCH3' (expected {EXPECTED_8}); no line end within "
        f"{TIMEOUT} s")
    monkeypatch.undo()
    assert board.get(0) is False


# -- how this protocol words the failures test_power_relay_contract.py checks -----------


def test_silent_board_error_names_the_query_and_its_reply(board, sim):
    sim.silent = True
    with pytest.raises(RelayError) as info:
        board.get(1)
    assert str(info.value) == (
        f"lcus board at {sim.url}: no reply to 'FF' (status query) within {TIMEOUT} s "
        f"(expected {EXPECTED_8}); the board answered the status query before: is it hung "
        f"or unplugged?")


def test_stuck_relay_error_names_the_line_the_frame_and_the_reading(board, sim):
    board.set(5, True)
    sim.stuck(5)
    with pytest.raises(RelayError) as info:
        board.set(5, False)
    assert str(info.value).startswith(
        f"lcus board at {sim.url}: channel 5 reads back 'ON' (CH6) after 'A0 06 00 A6' "
        f"(channel 5 off) (expected 'OFF'); the relay may be stuck")
    sim.stuck(5, False)
    board.set(5, False)
    assert sim.state(5) is False


def test_unplugged_while_waiting_names_the_query(board, sim):
    sim.silent = True
    threading.Timer(0.05, sim.unplug).start()
    with pytest.raises(RelayError) as info:
        board.get(0)
    assert str(info.value).startswith(
        f"lcus board at {sim.url}: port failed during 'FF' (status query)")


# -- faults, tracked -------------------------------------------------------------------


def test_tracked_board_unplugged_raises_on_the_next_frame_and_get(tracked, mute_sim):
    tracked.set(0, True)
    mute_sim.unplug()
    with pytest.raises(RelayError) as info:
        tracked.set(0, False)
    assert str(info.value).startswith(
        f"lcus board at {mute_sim.url}: port failed during 'A0 01 00 A1' (channel 0 off)")
    # the tracked state is not served while the port is known to be broken
    with pytest.raises(RelayError, match=f"lcus board at {mute_sim.url}: port failed"):
        tracked.get(0)


def test_power_status_says_a_tracked_board_is_not_read_back(tracked, board):
    sim_bench = benchmod.load(Path(__file__).resolve().parents[2] / "benches" / "sim.toml")
    bench = dataclasses.replace(sim_bench, aircraft={})
    lines = BenchPower(bench, tracked, say=lambda _: None).status()
    assert lines[0] == (f"lcus board at {tracked.url} cannot report its relays: the states "
                        "below are the ones this command set (tracked), not read back")
    assert lines[1:] == [f"channel {ch}: open  (unused)" for ch in range(8)]
    assert len(BenchPower(bench, board, say=lambda _: None).status()) == 8  # reads back: no note
