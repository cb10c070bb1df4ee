"""The Numato driver through pyserial against the simulated board on a real pty.

What every relay driver promises is tested once for all in test_power_relay_contract.py;
here, what is Numato's own: its bytes, its board sizes, its version, its resync, and the
wording of its failures.
"""

import os
import threading
import time

import pytest

from hil.power.numato import NumatoBoard, encode, parse_reply
from hil.power.relay import RelayError
from hil.sim.numato import NumatoSimulator

TIMEOUT = 0.2  # every failure test waits at most this long per exchange


@pytest.fixture
def sim():
    board = NumatoSimulator(channels=8)
    yield board
    board.stop()


@pytest.fixture
def board(sim):
    relay = NumatoBoard(sim.url, 8, timeout=TIMEOUT)
    yield relay
    relay.close()


def _exchange_raw(url: str, sent: bytes, timeout: float = 1.0) -> bytes:
    """Send `sent` on the pty with plain os calls; return the reply up to the prompt."""
    fd = os.open(url, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, sent)
        raw, deadline = b"", time.monotonic() + timeout
        while not raw.endswith(b">") and time.monotonic() < deadline:
            raw += os.read(fd, 100)
        return raw
    finally:
        os.close(fd)


# -- the simulator speaks the protocol the parser expects ---------------------------------


@pytest.mark.parametrize(("sent", "raw"), [
    (b"relay read 1\r", b"relay read 1\n\roff\n\r>"),
    (b"relay on 1\r", b"relay on 1\n\r>"),
    (b"ver\r", b"ver\n\r00000008\n\r>"),
    (b"\r", b"\n\r>"),
    (b"relay toggle 1\r", b"relay toggle 1\n\r>"),   # unknown: just a new prompt
    (b"relay on 12\r", b"relay on 12\n\r>"),          # not one index character: unknown
])
def test_simulator_reply_bytes(sim, sent, raw):
    assert _exchange_raw(sim.url, sent) == raw


def test_simulator_replies_parse(sim):
    for sent in (encode("relay on", 2, 8), encode("relay read", 2, 8), encode("ver", None, 8)):
        parse_reply(sent, _exchange_raw(sim.url, sent))
    assert sim.state(2) is True


# -- the capability --------------------------------------------------------------------


def test_set_and_get_every_channel_of_a_16_channel_board():
    with NumatoSimulator(channels=16) as sim, NumatoBoard(sim.url, 16, timeout=TIMEOUT) as board:
        for ch in range(16):
            board.set(ch, True)
            assert sim.channels == [c == ch for c in range(16)]
            board.set(ch, False)
        assert "relay on F" in sim.lines


def test_set_reads_the_channel_back(board, sim):
    sim.lines.clear()
    board.set(3, True)
    assert sim.lines == ["relay on 3", "relay read 3"]


def test_version(board):
    assert board.version() == "00000008"


# -- opening -------------------------------------------------------------------------


def test_resync_at_open_clears_junk(sim):
    fd = os.open(sim.url, os.O_RDWR | os.O_NOCTTY)
    os.write(fd, b"relay read 1\r")   # a reply nobody reads: stale bytes in the buffer
    os.write(fd, b"relay o")          # a half-typed line left on the board
    time.sleep(0.05)
    os.close(fd)
    with NumatoBoard(sim.url, 8, timeout=TIMEOUT) as board:
        assert board.version() == "00000008"
        board.set(1, True)
        assert board.get(1) is True
    assert "relay o" in sim.lines
    assert sim.channels == [False, True] + [False] * 6


def test_open_refuses_a_board_size_it_cannot_address(sim):
    with pytest.raises(RelayError, match=f"numato board at {sim.url}: 33 channels"):
        NumatoBoard(sim.url, 33, timeout=TIMEOUT)


def test_open_of_a_silent_board_fails(sim):
    sim.silent = True
    with pytest.raises(RelayError) as info:
        NumatoBoard(sim.url, 8, timeout=TIMEOUT)
    assert str(info.value).startswith(
        f"numato board at {sim.url}: no reply to '\\r' (resync) within {TIMEOUT} s "
        f"(expected '>')")


def test_open_of_a_garbage_board_fails(sim):
    sim.garbage = True
    with pytest.raises(RelayError, match=f"numato board at {sim.url}: garbled reply to"):
        NumatoBoard(sim.url, 8, timeout=TIMEOUT)


# -- faults ----------------------------------------------------------------------------


def test_garbage_reply_is_a_clear_error(board, sim):
    sim.garbage = True
    with pytest.raises(RelayError) as info:
        board.set(2, True)
    message = str(info.value)
    assert message.startswith(f"numato board at {sim.url}: garbled reply to 'relay on 2': b'")
    assert message.endswith(f"(expected '>' right after the echo); no prompt within {TIMEOUT} s")
    sim.garbage = False
    board.set(2, True)
    assert sim.state(2) is True




# -- how this protocol words the failures test_power_relay_contract.py checks -----------


def test_silent_board_error_names_the_read_and_its_reply(board, sim):
    sim.silent = True
    with pytest.raises(RelayError) as info:
        board.get(1)
    assert str(info.value) == (f"numato board at {sim.url}: no reply to 'relay read 1' "
                               f"within {TIMEOUT} s (expected 'on' or 'off' then '>')")


def test_stuck_relay_error_names_the_command_and_the_reading(board, sim):
    sim.stuck(5)
    with pytest.raises(RelayError) as info:
        board.set(5, True)
    assert str(info.value).startswith(
        f"numato board at {sim.url}: channel 5 reads back 'off' after 'relay on 5' "
        f"(expected 'on')")


def test_unplugged_while_waiting_names_the_exchange(board, sim):
    sim.silent = True
    threading.Timer(0.05, sim.unplug).start()
    with pytest.raises(RelayError) as info:
        board.get(0)
    assert str(info.value).startswith(
        f"numato board at {sim.url}: port failed during 'relay read 0'")
