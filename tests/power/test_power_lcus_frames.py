"""The LCUS protocol's pure core: set frames and status-reply parsing, no I/O."""

import pytest

from hil.power.lcus import (
    STATUS_QUERY,
    checksum,
    describe_frame,
    encode_set,
    expected_status,
    parse_status,
)
from hil.power.relay import RelayError

# -- encode_set ----------------------------------------------------------------------------


@pytest.mark.parametrize(("channel", "closed", "frame"), [
    (0, True, "A0 01 01 A2"),    # the vendor's examples: relay 1 on / off
    (0, False, "A0 01 00 A1"),
    (1, True, "A0 02 01 A3"),
    (1, False, "A0 02 00 A2"),
    (2, True, "A0 03 01 A4"),
    (7, True, "A0 08 01 A9"),    # the 8-relay board's listing: relay 8 on / off
    (7, False, "A0 08 00 A8"),
])
def test_encode_set_matches_the_documented_frames(channel, closed, frame):
    assert encode_set(channel, closed, 8) == bytes.fromhex(frame)


def test_encode_set_numbers_relays_from_1_and_sums_the_first_three_bytes():
    for channels in (1, 2, 4, 8, 16):
        for ch in range(channels):
            for closed in (False, True):
                frame = encode_set(ch, closed, channels)
                assert len(frame) == 4
                assert frame[0] == 0xA0
                assert frame[1] == ch + 1
                assert frame[2] == int(closed)
                assert frame[3] == (frame[0] + frame[1] + frame[2]) & 0xFF
                assert frame[3] == checksum(ch + 1, int(closed))
    assert encode_set(15, True, 16) == bytes.fromhex("A0 10 01 B1")


def test_checksum_wraps_to_one_byte():
    assert checksum(0x60, 0) == 0x00
    assert checksum(0x5F, 1) == 0x00
    assert checksum(0x01, 1) == 0xA2


@pytest.mark.parametrize(("channel", "message"), [
    (8, "lcus board: channel 8 does not exist on an 8-channel board (channels 0-7)"),
    (-1, "lcus board: channel -1 does not exist on an 8-channel board (channels 0-7)"),
    (True, "lcus board: channel True is not an integer"),
    ("1", "lcus board: channel '1' is not an integer"),
])
def test_encode_set_refuses_a_channel_the_board_does_not_have(channel, message):
    with pytest.raises(RelayError) as info:
        encode_set(channel, True, 8)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("channels", [0, 17, 32, True])
def test_encode_set_refuses_a_board_size_it_cannot_address(channels):
    with pytest.raises(RelayError, match=f"{channels!r} channels is not a board"):
        encode_set(0, True, channels)


# -- describe_frame ------------------------------------------------------------------------


def test_describe_frame_names_the_channel_the_harness_way():
    assert describe_frame(bytes.fromhex("A0 01 01 A2")) == "'A0 01 01 A2' (channel 0 on)"
    assert describe_frame(bytes.fromhex("A0 08 00 A8")) == "'A0 08 00 A8' (channel 7 off)"
    assert describe_frame(STATUS_QUERY) == "'FF' (status query)"
    assert describe_frame(bytes.fromhex("A0 01 01 B3")) == "'A0 01 01 B3'"  # bad sum
    assert describe_frame(b"\x00\x00\x00") == "'00 00 00'"


# -- parse_status: good replies --------------------------------------------------------------


def _status(*states: bool, form: str = "CH{}: {:<3}\r\n") -> bytes:
    return "".join(form.format(n, "ON" if on else "OFF")
                   for n, on in enumerate(states, start=1)).encode()


def test_parse_status_reads_the_padded_form_seen_on_real_boards():
    assert parse_status(b"CH1: ON \r\nCH2: OFF\r\n", 2) == [True, False]
    raw = _status(False, True, False, False, True, False, False, True)
    assert parse_status(raw, 8) == [False, True, False, False, True, False, False, True]


@pytest.mark.parametrize("raw", [
    b"CH1:ON\r\nCH2:OFF\r\n",          # compact
    b"CH1: ON\r\nCH2: OFF\r\n",        # unpadded
    b"CH1:  ON \nCH2: OFF\n",          # LF only, extra blanks
    b"CH1: ON \rCH2: OFF\r",           # CR only
    b"\r\nCH1: ON \r\n\r\nCH2: OFF\r\n",  # blank lines
    b"ch1: on\r\nCh2: Off\r\n",        # lowercase
    b"CH2: OFF\r\nCH1: ON \r\n",       # another order
])
def test_parse_status_accepts_variants(raw):
    assert parse_status(raw, 2) == [True, False]


def test_parse_status_of_one_and_sixteen_relay_boards():
    assert parse_status(b"CH1: ON \r\n", 1) == [True]
    states = [n % 3 == 0 for n in range(16)]
    assert parse_status(_status(*states), 16) == states


# -- parse_status: bad replies ---------------------------------------------------------------

EXPECTED_2 = "2 lines 'CHn: ON' or 'CHn: OFF', n = 1-2"


def test_expected_status_wording():
    assert expected_status(2) == EXPECTED_2


def test_parse_status_no_reply():
    with pytest.raises(RelayError) as info:
        parse_status(b"", 2)
    assert str(info.value) == f"no reply to 'FF' (status query) (expected {EXPECTED_2})"


@pytest.mark.parametrize("raw", [
    b"CH1: ON \r\nCH2: O",
    b"CH1: ON \r\nCH",
    b"CH1: O",
    b"C",
])
def test_parse_status_truncated(raw):
    with pytest.raises(RelayError) as info:
        parse_status(raw, 2)
    assert str(info.value) == (f"truncated status reply to 'FF' (status query): {raw!r} "
                               f"(expected {EXPECTED_2})")


@pytest.mark.parametrize("raw", [
    b"\xa5",                                  # line noise (a board at the wrong baud rate)
    b"\xda\xda\xda\r\n",                      # noise that ends a line
    b"\x01\x00",                              # one binary byte per relay (unverified claim)
    b"CH1: ON \r\nCH2: MAYBE\r\n",            # not a state
    b"CH1: ON \r\nCH1: OFF\r\n",              # a relay twice
    b"CH0: ON \r\nCH1: OFF\r\n",              # relays are numbered from 1
    b"CH1: ON \r\nCH3: OFF\r\n",              # a gap
    b"CH1: ON \r\nCH2: OFF\r\nxyz",           # junk after the lines
    b"CH1: ON \r\nCH2: \x07OFF\r\n",          # control characters
    b"CH1: \xc3\xa9\r\nCH2: OFF\r\n",         # not ASCII
    b"relay read 1\n\ron\n\r>",               # a Numato board at this URL
])
def test_parse_status_garbled(raw):
    with pytest.raises(RelayError) as info:
        parse_status(raw, 2)
    assert str(info.value) == (f"garbled status reply to 'FF' (status query): {raw!r} "
                               f"(expected {EXPECTED_2})")


@pytest.mark.parametrize(("states", "channels", "listed"), [
    ((True,) * 4, 8, "lists 4 relays (CH1-CH4), expected 8"),
    ((False,) * 8, 4, "lists 8 relays (CH1-CH8), expected 4"),
    ((False,), 2, "lists 1 relay (CH1), expected 2"),
])
def test_parse_status_wrong_channel_count_names_both_sizes(states, channels, listed):
    with pytest.raises(RelayError) as info:
        parse_status(_status(*states), channels)
    assert str(info.value) == (f"status reply to 'FF' (status query) {listed}: the board is "
                               f"not the size the bench file says (relay.channels)")
