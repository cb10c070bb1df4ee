"""The KMTronic driver through pyserial against the simulated board on a real pty.

What every relay driver promises is tested once for all in test_power_relay_contract.py;
here, what is KMTronic's own: its frames, its board sizes and their queries, truncated
replies, stray bytes, and the wording of its failures.
"""

import os
import threading
import time

import pytest

from hil.power.kmtronic import KmtronicBoard, encode, parse_reply, reply_length
from hil.power.relay import RelayError
from hil.sim.kmtronic import KmtronicSimulator

TIMEOUT = 0.1  # every failure test waits at most this long per exchange (a local pty)
ALL = b"\xff\x09\x00"
EXPECT_8 = "8 bytes, one per relay from relay 1, each 00 or 01"


@pytest.fixture
def sim():
    board = KmtronicSimulator(channels=8)
    yield board
    board.stop()


@pytest.fixture
def board(sim):
    relay = KmtronicBoard(sim.url, 8, timeout=TIMEOUT)
    yield relay
    relay.close()


def _exchange_raw(url: str, sent: bytes, want: int, timeout: float = 1.0) -> bytes:
    """Send `sent` on the pty with plain os calls; return up to `want` reply bytes."""
    fd = os.open(url, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        os.write(fd, sent)
        raw, deadline = b"", time.monotonic() + timeout
        while len(raw) < want and time.monotonic() < deadline:
            try:
                raw += os.read(fd, 100)
            except BlockingIOError:
                time.sleep(0.005)
        return raw
    finally:
        os.close(fd)


# -- the simulator speaks the protocol the parser expects ---------------------------------


@pytest.mark.parametrize(("channels", "sent", "raw"), [
    (8, ALL, bytes(8)),
    (4, ALL, bytes(4)),
    (8, b"\xff\x01\x01" + ALL, b"\x01" + bytes(7)),
    (8, b"\xff\x08\x01" + ALL, bytes(7) + b"\x01"),
    (1, b"\xff\x01\x03", b"\xff\x01\x00"),
    (2, b"\xff\x02\x01\xff\x02\x03", b"\xff\x02\x01"),
    (8, b"\xff\x01" + ALL, bytes(8)),           # a partial frame is dropped at the next FF
    (8, b"\x00\x01" + ALL, bytes(8)),           # bytes before a FF are dropped
])
def test_simulator_reply_bytes(channels, sent, raw):
    with KmtronicSimulator(channels) as sim:
        assert _exchange_raw(sim.url, sent, len(raw)) == raw
        assert _exchange_raw(sim.url, b"", 1, timeout=0.03) == b""  # and nothing more


@pytest.mark.parametrize(("channels", "sent"), [
    (8, b"\xff\x00\x00"),   # not a documented query: no answer
    (8, b"\xff\x01\x03"),   # the small boards' query on a big board
    (2, ALL),               # the big boards' query on a small board
    (4, b"\xff\x05\x01"),   # a relay the board does not have
    (8, b"\xff\x01\x02"),   # an unknown value
])
def test_simulator_ignores_other_frames(channels, sent):
    with KmtronicSimulator(channels) as sim:
        assert _exchange_raw(sim.url, sent, 1, timeout=0.05) == b""
        assert sim.channels == [False] * channels
        assert sim.frames == [sent]


def test_simulator_replies_parse(sim):
    for sent in (encode("on", 2, 8), encode("status", 2, 8)):
        got = _exchange_raw(sim.url, sent, reply_length(sent, 8))
        assert parse_reply(sent, got, 8) == ({} if sent[2] == 1 else
                                             {ch: ch == 2 for ch in range(8)})
    assert sim.state(2) is True


def test_simulator_refuses_a_size_kmtronic_does_not_make():
    with pytest.raises(ValueError, match="1, 2, 4 or 8 relays, not 3"):
        KmtronicSimulator(3)


# -- the capability --------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_set_and_get_every_channel_of_smaller_boards(channels):
    with KmtronicSimulator(channels) as sim, \
            KmtronicBoard(sim.url, channels, timeout=TIMEOUT) as board:
        for ch in range(channels):
            board.set(ch, True)
            assert sim.channels == [c == ch for c in range(channels)]
            assert board.get(ch) is True
            assert board.states() == sim.channels
            board.set(ch, False)
        assert board.states() == [False] * channels


def test_set_reads_the_channel_back(board, sim):
    sim.frames.clear()
    board.set(3, True)
    assert sim.frames == [b"\xff\x04\x01", ALL]


def test_set_reads_back_one_relay_on_a_two_relay_board():
    with KmtronicSimulator(2) as sim, KmtronicBoard(sim.url, 2, timeout=TIMEOUT) as board:
        sim.frames.clear()
        board.set(1, True)
        assert sim.frames == [b"\xff\x02\x01", b"\xff\x02\x03"]
        sim.frames.clear()
        assert board.states() == [False, True]
        assert sim.frames == [b"\xff\x01\x03", b"\xff\x02\x03"]


def test_states_is_one_query_on_an_eight_relay_board(board, sim):
    sim.frames.clear()
    assert board.states() == [False] * 8
    assert sim.frames == [ALL]


def test_open_reads_the_board_once(sim):
    sim.frames.clear()
    with KmtronicBoard(sim.url, 8, timeout=TIMEOUT):
        assert sim.frames == [ALL]


# -- opening -------------------------------------------------------------------------


def test_open_discards_stale_input(sim):
    fd = os.open(sim.url, os.O_RDWR | os.O_NOCTTY)
    os.write(fd, ALL)   # a reply nobody reads: stale bytes in the buffer
    time.sleep(0.05)
    os.close(fd)
    with KmtronicBoard(sim.url, 8, timeout=TIMEOUT) as board:
        board.set(1, True)
        assert board.get(1) is True


@pytest.mark.parametrize("channels", [3, 16])
def test_open_refuses_a_board_size_kmtronic_does_not_make(sim, channels):
    with pytest.raises(RelayError) as info:
        KmtronicBoard(sim.url, channels, timeout=TIMEOUT)
    assert str(info.value) == (f"kmtronic board at {sim.url}: {channels} channels is not a "
                               f"KMTronic USB relay board (they have 1, 2, 4 or 8 relays)")


def test_open_of_a_silent_board_fails(sim):
    sim.silent = True
    with pytest.raises(RelayError) as info:
        KmtronicBoard(sim.url, 8, timeout=TIMEOUT)
    assert str(info.value) == (
        f"kmtronic board at {sim.url}: no reply to 'FF 09 00' within {TIMEOUT} s (expected "
        f"{EXPECT_8}); opening failed: is an 8-channel KMTronic board powered and at this "
        f"URL?")


def test_open_of_a_garbage_board_fails(sim):
    sim.garbage = True
    with pytest.raises(RelayError, match=f"kmtronic board at {sim.url}: garbled reply to "
                                         f"'FF 09 00'"):
        KmtronicBoard(sim.url, 8, timeout=TIMEOUT)


def test_open_of_a_bigger_board_than_configured_is_a_wrong_reply_length():
    with KmtronicSimulator(8) as sim, pytest.raises(RelayError) as info:
        KmtronicBoard(sim.url, 4, timeout=TIMEOUT)
    assert str(info.value).startswith(
        f"kmtronic board at {sim.url}: wrong reply length to 'FF 09 00': 8 bytes")
    assert "is this really a 4-channel board?" in str(info.value)


def test_open_of_a_smaller_board_than_configured_is_a_truncated_reply():
    with KmtronicSimulator(4) as sim, pytest.raises(RelayError) as info:
        KmtronicBoard(sim.url, 8, timeout=TIMEOUT)
    assert str(info.value).startswith(
        f"kmtronic board at {sim.url}: truncated reply to 'FF 09 00': 00 00 00 00 "
        f"(4 of 8 bytes; expected {EXPECT_8}); nothing more within {TIMEOUT} s")


# -- faults ----------------------------------------------------------------------------


def test_silent_one_relay_board_names_its_own_query():
    with KmtronicSimulator(1) as sim, KmtronicBoard(sim.url, 1, timeout=TIMEOUT) as board:
        sim.silent = True
        with pytest.raises(RelayError) as info:
            board.set(0, True)
        assert str(info.value) == (f"kmtronic board at {sim.url}: no reply to 'FF 01 03' "
                                   f"within {TIMEOUT} s (expected 3 bytes: FF 01 then 00 "
                                   f"or 01)")


def test_garbage_reply_is_a_clear_error(board, sim):
    sim.garbage = True
    with pytest.raises(RelayError) as info:
        board.set(2, True)
    message = str(info.value)
    assert message.startswith(f"kmtronic board at {sim.url}: garbled reply to 'FF 09 00': ")
    assert "not 00 or 01; expected " in message
    assert message.endswith(f"; nothing more within {TIMEOUT} s")
    assert sim.state(2) is False  # a board speaking noise did nothing
    sim.garbage = False
    board.set(2, True)
    assert sim.state(2) is True


def test_truncated_reply_is_a_clear_error(board, sim):
    sim.truncated = True
    with pytest.raises(RelayError) as info:
        board.set(4, True)
    assert str(info.value) == (
        f"kmtronic board at {sim.url}: truncated reply to 'FF 09 00': 00 00 00 00 01 00 00 "
        f"(7 of 8 bytes; expected {EXPECT_8}); nothing more within {TIMEOUT} s")
    assert sim.state(4) is True  # the switch itself went through
    sim.truncated = False
    assert board.get(4) is True


def test_truncated_reply_of_a_two_relay_board():
    with KmtronicSimulator(2) as sim, KmtronicBoard(sim.url, 2, timeout=TIMEOUT) as board:
        sim.truncated = True
        with pytest.raises(RelayError, match="truncated reply to 'FF 02 03': FF 02 \\(2 of 3"):
            board.get(1)


def test_stray_bytes_before_a_query_are_discarded_with_a_warning(board, sim, caplog):
    sim._send(b"\x01\x01")  # bytes nobody asked for, e.g. the tail of a longer reply
    time.sleep(0.02)
    with caplog.at_level("WARNING", logger="hil.power"):
        assert board.states() == [False] * 8
    assert f"kmtronic board at {sim.url}: discarded 2 unexpected byte(s) before " \
           f"'FF 09 00'" in caplog.text


# -- how this protocol words the failures test_power_relay_contract.py checks -----------


def test_silent_board_error_names_the_query_and_its_reply(board, sim):
    sim.silent = True
    with pytest.raises(RelayError) as info:
        board.get(1)
    assert str(info.value) == (f"kmtronic board at {sim.url}: no reply to 'FF 09 00' "
                               f"within {TIMEOUT} s (expected {EXPECT_8})")


def test_stuck_relay_error_names_the_relay_the_frame_and_the_reading(board, sim):
    sim.stuck(5)
    with pytest.raises(RelayError) as info:
        board.set(5, True)
    assert str(info.value) == (
        f"kmtronic board at {sim.url}: channel 5 (relay 6) reads back off after 'FF 06 01' "
        f"(expected on); the relay may be stuck or the board faulty")


def test_unplugged_while_waiting_names_the_query(board, sim):
    sim.silent = True
    threading.Timer(0.05, sim.unplug).start()
    with pytest.raises(RelayError) as info:
        board.get(0)
    assert str(info.value).startswith(
        f"kmtronic board at {sim.url}: port failed during 'FF 09 00'")
