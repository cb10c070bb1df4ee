"""The Devantech driver through pyserial against the simulated module on a real pty.

What every relay driver promises is tested once for all in test_power_relay_contract.py;
here, what is Devantech's own: its command bytes and state mask, module ids and sizes,
truncated answers, and the wording of its failures.
"""

import os
import threading
import time

import pytest

from hil.power.devantech import (
    DevantechBoard,
    encode,
    encode_set_states,
    parse_states,
    parse_version,
)
from hil.power.relay import RelayError
from hil.sim.devantech import DevantechSimulator

TIMEOUT = 0.2  # every failure test waits at most this long per exchange


@pytest.fixture
def sim():
    module = DevantechSimulator(channels=8)
    yield module
    module.stop()


@pytest.fixture
def board(sim):
    relay = DevantechBoard(sim.url, 8, timeout=TIMEOUT)
    yield relay
    relay.close()


def _exchange_raw(url: str, sent: bytes, want: int, wait: float = 0.3) -> bytes:
    """Send `sent` on the pty with plain os calls; return what comes back.

    Reads until `want` bytes arrived, then for 20 ms more (to see any extra byte); with
    want=0, for `wait` seconds (to see that nothing comes).
    """
    fd = os.open(url, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        os.write(fd, sent)
        raw, deadline = b"", time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                raw += os.read(fd, 100)
            except BlockingIOError:
                pass
            if want and len(raw) >= want:
                deadline = min(deadline, time.monotonic() + 0.02)
            time.sleep(0.002)
        return raw
    finally:
        os.close(fd)


# -- the simulator speaks the protocol the parser expects ---------------------------------


@pytest.mark.parametrize(("sent", "want", "raw"), [
    (b"\x5a", 2, b"\x08\x01"),                  # module id 8 (USB-RLY08), software 1
    (b"\x5b", 1, b"\x00"),                      # all off at start
    (b"\x67\x5b", 1, b"\x04"),                  # relay 3 on: bit 2
    (b"\x64\x5b", 1, b"\xff"),                  # all on
    (b"\x64\x6e\x5b", 1, b"\x00"),              # all on, all off
    (b"\x64\x70\x5b", 1, b"\xfd"),              # all on, relay 2 off
    (b"\x5c\xa5\x5b", 1, b"\xa5"),              # set states
    (b"\x5c\x5a\x5b", 1, b"\x5a"),              # a mask byte that looks like 0x5A is a mask
    (b"\x65", 0, b""),                          # relay commands answer nothing
    (b"\x00\x5d\x77\x5b", 1, b"\x00"),          # unknown bytes are ignored
])
def test_simulator_reply_bytes(sim, sent, want, raw):
    assert _exchange_raw(sim.url, sent, want) == raw


def test_simulator_takes_the_mask_byte_from_a_later_read(sim):
    assert _exchange_raw(sim.url, b"\x5c", 0, wait=0.05) == b""
    assert _exchange_raw(sim.url, b"\x03\x5b", 1) == b"\x03"
    assert sim.commands == [b"\x5c\x03", b"\x5b"]


def test_simulator_replies_parse(sim):
    assert parse_version(_exchange_raw(sim.url, encode("get version"), 2)).module.name \
        == "USB-RLY08"
    _exchange_raw(sim.url, encode("on", 6), 0, wait=0.05)
    assert parse_states(_exchange_raw(sim.url, encode("get states"), 1)) == 0x40
    assert sim.state(6) is True


def test_simulator_with_fewer_relays_ignores_the_others():
    with DevantechSimulator(channels=2, module_id=10, software=3) as sim:
        assert _exchange_raw(sim.url, b"\x5a", 2) == b"\x0a\x03"
        assert _exchange_raw(sim.url, b"\x64\x5b", 1) == b"\x03"
        assert _exchange_raw(sim.url, b"\x6b\x5c\xff\x5b", 1) == b"\x03"
        assert sim.channels == [True, True]


def test_simulator_refuses_impossible_modules():
    with pytest.raises(ValueError, match="1 to 8 relays, not 9"):
        DevantechSimulator(channels=9)
    with pytest.raises(ValueError, match="a USB-RLY02 \\(module id 10\\) has 2 relays, not 8"):
        DevantechSimulator(channels=8, module_id=10)


# -- the capability --------------------------------------------------------------------


def test_open_identifies_the_module(board):
    assert (board.module.id, board.module.name, board.module.relays, board.software) == \
        (8, "USB-RLY08", 8, 1)
    assert "USB-RLY08" in repr(board)


def test_set_sends_the_relay_byte_then_reads_the_mask(board, sim):
    sim.commands.clear()
    board.set(3, True)
    board.set(3, False)
    assert sim.commands == [b"\x68", b"\x5b", b"\x72", b"\x5b"]


def test_states_is_one_exchange(board, sim):
    sim.commands.clear()
    assert board.states() == [False] * 8
    assert sim.commands == [b"\x5b"]


def test_board_reads_relays_switched_by_someone_else(board, sim):
    _exchange_raw(sim.url, encode_set_states(0x81), 0, wait=0.05)
    assert board.states() == [True] + [False] * 6 + [True]
    assert board.get(7) is True


def test_version(board):
    version = board.version()
    assert (version.module.name, version.software) == ("USB-RLY08", 1)


@pytest.mark.parametrize(("module_id", "name"), [(9, "USB-RLY16"), (15, "USB-RLY16L")])
def test_other_8_relay_modules(module_id, name):
    with DevantechSimulator(8, module_id=module_id) as sim, \
            DevantechBoard(sim.url, timeout=TIMEOUT) as board:
        assert board.channels == 8
        assert board.module.name == name
        board.set(7, True)
        assert sim.channels == [False] * 7 + [True]


def test_a_2_relay_module():
    with DevantechSimulator(2, module_id=10) as sim:
        with DevantechBoard(sim.url, 2, timeout=TIMEOUT) as board:
            board.set(1, True)
            assert board.states() == [False, True]
            with pytest.raises(RelayError, match="channel 2 does not exist on a 2-channel"):
                board.set(2, True)
        with pytest.raises(RelayError) as info:
            DevantechBoard(sim.url, 8, timeout=TIMEOUT)
        assert str(info.value) == (
            f"devantech board at {sim.url}: the board is a USB-RLY02 (module id 10) with 2 "
            f"relays; it cannot have 8 channels (set channels to at most 2)")


# -- opening -------------------------------------------------------------------------


def test_open_discards_stale_bytes(sim):
    fd = os.open(sim.url, os.O_RDWR | os.O_NOCTTY)
    os.write(fd, b"\x5a\x5b\x5b")   # replies nobody reads: stale bytes in the buffer
    time.sleep(0.05)
    os.close(fd)
    with DevantechBoard(sim.url, 8, timeout=TIMEOUT) as board:
        assert board.module.name == "USB-RLY08"
        board.set(1, True)
        assert board.get(1) is True
    assert sim.channels == [False, True] + [False] * 6


@pytest.mark.parametrize("channels", [0, 9, 16])
def test_open_refuses_a_board_size_it_cannot_address(sim, channels):
    with pytest.raises(RelayError, match=f"devantech board at {sim.url}: {channels} channels "
                                         f"is not a board this driver can address"):
        DevantechBoard(sim.url, channels, timeout=TIMEOUT)


def test_open_of_a_silent_board_fails(sim):
    sim.silent = True
    with pytest.raises(RelayError) as info:
        DevantechBoard(sim.url, 8, timeout=TIMEOUT)
    assert str(info.value) == (
        f"devantech board at {sim.url}: no reply to 0x5A (get software version) within "
        f"{TIMEOUT} s (expected 2 bytes: module id, software version)")


def test_open_of_a_garbage_board_fails(sim):
    sim.garbage = True
    with pytest.raises(RelayError) as info:
        DevantechBoard(sim.url, 8, timeout=TIMEOUT)
    message = str(info.value)
    assert message.startswith(f"devantech board at {sim.url}: garbled reply to 0x5A (get "
                              f"software version): received 0x")
    assert message.endswith("(expected 2 bytes: module id, software version)")


def test_open_of_a_board_with_an_unknown_module_id_fails():
    with DevantechSimulator(8, module_id=0x42, software=7) as sim:
        with pytest.raises(RelayError) as info:
            DevantechBoard(sim.url, 8, timeout=TIMEOUT)
        assert str(info.value) == (
            f"devantech board at {sim.url}: unknown module id 66 (0x42) in reply to 0x5A (get "
            f"software version): received 0x42 0x07 (expected a supported Devantech module "
            f"id: 8 USB-RLY08, 9 USB-RLY16, 10 USB-RLY02, 15 USB-RLY16L); is a supported "
            f"Devantech USB-RLY board at this URL?")


def test_open_with_a_truncated_version_reply_fails(sim):
    sim.truncated = True
    with pytest.raises(RelayError) as info:
        DevantechBoard(sim.url, 8, timeout=TIMEOUT)
    assert str(info.value) == (
        f"devantech board at {sim.url}: truncated reply to 0x5A (get software version): "
        f"received 0x08 (expected 2 bytes: module id, software version); no more bytes "
        f"within {TIMEOUT} s")


# -- faults ----------------------------------------------------------------------------


def test_garbage_reply_is_a_clear_error(board, sim):
    sim.garbage = True
    with pytest.raises(RelayError) as info:
        board.set(2, True)
    message = str(info.value)
    assert message.startswith(f"devantech board at {sim.url}: garbled reply to 0x5B (get "
                              f"relay states): received 0x")
    assert message.endswith("(expected 1 byte: the relay state mask)")
    sim.garbage = False
    board.set(2, True)
    assert sim.state(2) is True


def test_truncated_state_reply_is_no_reply(board, sim):
    sim.truncated = True
    with pytest.raises(RelayError, match="no reply to 0x5B \\(get relay states\\) within"):
        board.states()
    sim.truncated = False
    assert board.states() == [False] * 8


# -- how this protocol words the failures test_power_relay_contract.py checks -----------


def test_silent_module_error_names_the_command_and_its_reply(board, sim):
    sim.silent = True
    with pytest.raises(RelayError) as info:
        board.get(1)
    assert str(info.value) == (f"devantech board at {sim.url}: no reply to 0x5B (get relay "
                               f"states) within {TIMEOUT} s (expected 1 byte: the relay "
                               f"state mask)")


def test_stuck_relay_error_names_the_relay_the_command_and_the_mask(board, sim):
    sim.stuck(5)
    with pytest.raises(RelayError) as info:
        board.set(5, True)
    assert str(info.value) == (
        f"devantech board at {sim.url}: channel 5 (relay 6) reads back 'off' after 0x6A "
        f"(relay 6 on) (expected 'on'; state mask 0x00 from 0x5B); the relay may be stuck or "
        f"the board faulty")


def test_unplugged_while_waiting_names_the_command(board, sim):
    sim.silent = True
    threading.Timer(0.05, sim.unplug).start()
    with pytest.raises(RelayError) as info:
        board.get(0)
    assert str(info.value).startswith(
        f"devantech board at {sim.url}: port failed during 0x5B (get relay states)")
