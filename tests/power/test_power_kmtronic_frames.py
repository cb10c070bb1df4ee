"""The KMTronic protocol's pure core: frames and reply parsing, no I/O."""

import pytest

from hil.power.kmtronic import encode, frame_text, parse_reply, reads_all, reply_length
from hil.power.relay import RelayError

ALL = b"\xff\x09\x00"
ALL_8 = "8 bytes, one per relay from relay 1, each 00 or 01"

# -- encode ----------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "channel", "channels", "expected"), [
    ("on", 0, 8, b"\xff\x01\x01"),
    ("off", 0, 8, b"\xff\x01\x00"),
    ("on", 7, 8, b"\xff\x08\x01"),
    ("off", 3, 4, b"\xff\x04\x00"),
    ("on", 0, 1, b"\xff\x01\x01"),
    ("on", 1, 2, b"\xff\x02\x01"),
    ("status", 0, 1, b"\xff\x01\x03"),
    ("status", 1, 2, b"\xff\x02\x03"),
    ("status", 5, 8, ALL),
    ("status", None, 8, ALL),
    ("status", 2, 4, ALL),
    ("status", None, 4, ALL),
])
def test_encode_frames(command, channel, channels, expected):
    assert encode(command, channel, channels) == expected


def test_encode_maps_channel_n_to_relay_n_plus_1():
    assert [encode("on", ch, 8)[1] for ch in range(8)] == list(range(1, 9))


@pytest.mark.parametrize(("channels", "all_at_once"), [(1, False), (2, False), (4, True),
                                                       (8, True)])
def test_which_boards_answer_for_all_relays_at_once(channels, all_at_once):
    assert reads_all(channels) is all_at_once


@pytest.mark.parametrize(("channel", "message"), [
    (8, "kmtronic board: channel 8 does not exist on an 8-channel board (channels 0-7)"),
    (-1, "kmtronic board: channel -1 does not exist on an 8-channel board (channels 0-7)"),
    (True, "kmtronic board: channel True is not an integer"),
    ("1", "kmtronic board: channel '1' is not an integer"),
])
def test_encode_refuses_a_channel_the_board_does_not_have(channel, message):
    for command in ("on", "status"):
        with pytest.raises(RelayError) as info:
            encode(command, channel, 8)
        assert str(info.value).startswith(message)


def test_encode_refuses_the_second_relay_of_a_one_relay_board():
    with pytest.raises(RelayError, match="channel 1 does not exist on a 1-channel board"):
        encode("status", 1, 1)


@pytest.mark.parametrize("channels", [0, 3, 5, 16, True, "8"])
def test_encode_refuses_a_board_size_kmtronic_does_not_make(channels):
    with pytest.raises(RelayError, match="is not a KMTronic USB relay board"):
        encode("on", 0, channels)


def test_encode_refuses_misuse_of_the_api():
    with pytest.raises(ValueError, match="unknown kmtronic command 'toggle'"):
        encode("toggle", 1, 8)
    with pytest.raises(ValueError, match="'on' needs a channel"):
        encode("on", None, 8)
    with pytest.raises(ValueError, match="'status' needs a channel on a 2-channel board"):
        encode("status", None, 2)


def test_frame_text():
    assert frame_text(ALL) == "FF 09 00"
    assert frame_text(b"") == ""
    assert frame_text(bytes(30)).endswith(" 00 ... (30 bytes)")


# -- reply_length -------------------------------------------------------------------------


@pytest.mark.parametrize(("sent", "channels", "length"), [
    (b"\xff\x01\x01", 8, 0),
    (b"\xff\x01\x00", 1, 0),
    (ALL, 8, 8),
    (ALL, 4, 4),
    (b"\xff\x01\x03", 1, 3),
    (b"\xff\x02\x03", 2, 3),
])
def test_reply_length(sent, channels, length):
    assert reply_length(sent, channels) == length


@pytest.mark.parametrize(("sent", "channels"), [
    (b"\xff\x00\x00", 8),      # not a documented status query
    (b"\xff\x01\x03", 8),      # the small boards' query on a big board
    (ALL, 2),                  # the big boards' query on a small board
    (b"\xff\x05\x01", 4),      # a relay the board does not have
    (b"\xff\x01", 8),          # not a whole frame
])
def test_reply_length_refuses_frames_that_are_not_for_this_board(sent, channels):
    with pytest.raises(ValueError, match="is not a command for an? [1248]-channel kmtronic"):
        reply_length(sent, channels)


# -- parse_reply: good replies ----------------------------------------------------------


@pytest.mark.parametrize(("sent", "raw", "channels", "states"), [
    (ALL, bytes(8), 8, dict.fromkeys(range(8), False)),
    (ALL, b"\x01\x00\x00\x00\x00\x00\x00\x01", 8,
     {0: True, 1: False, 2: False, 3: False, 4: False, 5: False, 6: False, 7: True}),
    (ALL, b"\x00\x01\x01\x00", 4, {0: False, 1: True, 2: True, 3: False}),
    (b"\xff\x01\x03", b"\xff\x01\x01", 1, {0: True}),
    (b"\xff\x01\x03", b"\xff\x01\x00", 2, {0: False}),
    (b"\xff\x02\x03", b"\xff\x02\x01", 2, {1: True}),
    (b"\xff\x03\x01", b"", 8, {}),
])
def test_parse_reply_returns_states_by_0_based_channel(sent, raw, channels, states):
    assert parse_reply(sent, raw, channels) == states


# -- parse_reply: bad replies -------------------------------------------------------------


@pytest.mark.parametrize(("sent", "channels", "expected"), [
    (ALL, 8, ALL_8),
    (ALL, 4, "4 bytes, one per relay from relay 1, each 00 or 01"),
    (b"\xff\x02\x03", 2, "3 bytes: FF 02 then 00 or 01"),
])
def test_parse_reply_no_reply_names_command_and_expectation(sent, channels, expected):
    with pytest.raises(RelayError) as info:
        parse_reply(sent, b"", channels)
    assert str(info.value) == f"no reply to {frame_text(sent)!r} (expected {expected})"


@pytest.mark.parametrize(("sent", "raw", "channels", "got", "expected"), [
    (ALL, b"\x00\x01\x00", 8, "00 01 00 (3 of 8 bytes", ALL_8),
    (ALL, bytes(7), 8, "00 00 00 00 00 00 00 (7 of 8 bytes", ALL_8),
    (b"\xff\x01\x03", b"\xff\x01", 1, "FF 01 (2 of 3 bytes", "3 bytes: FF 01 then 00 or 01"),
    (b"\xff\x01\x03", b"\xff", 1, "FF (1 of 3 bytes", "3 bytes: FF 01 then 00 or 01"),
])
def test_parse_reply_truncated_reply(sent, raw, channels, got, expected):
    with pytest.raises(RelayError) as info:
        parse_reply(sent, raw, channels)
    assert str(info.value) == (f"truncated reply to {frame_text(sent)!r}: {got}; "
                               f"expected {expected})")


@pytest.mark.parametrize(("sent", "raw", "channels", "bad", "expected"), [
    (ALL, b"\x00\x02\x00\x00\x00\x00\x00\x00", 8, "byte 2 is 02, not 00 or 01", ALL_8),
    (ALL, b"\xff\x01\x01", 8, "byte 1 is FF, not 00 or 01", ALL_8),       # short and wrong
    (ALL, b"\xa5\xd3\xda", 8, "byte 1 is A5, not 00 or 01", ALL_8),       # line noise
    (ALL, b"\x00" * 7 + b"\x30", 8, "byte 8 is 30, not 00 or 01", ALL_8),  # ASCII '0'
    (b"\xff\x01\x03", b"\xff\x01\x03", 1, "byte 3 is 03, not 00 or 01",
     "3 bytes: FF 01 then 00 or 01"),                                     # an echo
    (b"\xff\x02\x03", b"\xff\x01\x01", 2, "byte 2 is 01, not 02",
     "3 bytes: FF 02 then 00 or 01"),                                     # another relay
    (b"\xff\x01\x03", b"\x00\x01\x01", 1, "byte 1 is 00, not FF",
     "3 bytes: FF 01 then 00 or 01"),                                     # no header
])
def test_parse_reply_garbled_reply(sent, raw, channels, bad, expected):
    with pytest.raises(RelayError) as info:
        parse_reply(sent, raw, channels)
    assert str(info.value) == (f"garbled reply to {frame_text(sent)!r}: {frame_text(raw)} "
                               f"({bad}; expected {expected})")


def test_parse_reply_wrong_length_suggests_the_wrong_board_size():
    with pytest.raises(RelayError) as info:
        parse_reply(ALL, bytes(8), 4)
    assert str(info.value) == (
        "wrong reply length to 'FF 09 00': 8 bytes 00 00 00 00 00 00 00 00 (expected "
        "4 bytes, one per relay from relay 1, each 00 or 01; is this really a "
        "4-channel board?)")
    with pytest.raises(RelayError, match="wrong reply length to 'FF 01 03': 4 bytes"):
        parse_reply(b"\xff\x01\x03", b"\xff\x01\x01\x00", 1)


def test_parse_reply_a_switch_frame_gets_no_reply():
    with pytest.raises(RelayError) as info:
        parse_reply(b"\xff\x01\x01", b"\x00", 8)
    assert str(info.value) == "unexpected reply to 'FF 01 01': 00 (expected no reply)"


def test_parse_reply_refuses_a_frame_it_did_not_build():
    with pytest.raises(ValueError, match="'FF 00 00' is not a command for an 8-channel"):
        parse_reply(b"\xff\x00\x00", bytes(8), 8)
