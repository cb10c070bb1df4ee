"""The Numato protocol's pure core: command lines and reply parsing, no I/O."""

import pytest

from hil.power.numato import encode, parse_reply
from hil.power.relay import RelayError, channel_check

# -- encode ----------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "channel", "expected"), [
    ("relay on", 0, b"relay on 0\r"),
    ("relay off", 7, b"relay off 7\r"),
    ("relay read", 3, b"relay read 3\r"),
    ("ver", None, b"ver\r"),
])
def test_encode_commands_on_an_8_channel_board(command, channel, expected):
    assert encode(command, channel, 8) == expected


@pytest.mark.parametrize(("channels", "channel", "index"), [
    (10, 9, "9"),
    (16, 10, "A"),
    (16, 11, "B"),
    (16, 15, "F"),
    (32, 31, "V"),
])
def test_encode_channels_from_10_are_uppercase_letters(channels, channel, index):
    assert encode("relay on", channel, channels) == f"relay on {index}\r".encode()


def test_encode_every_channel_of_a_32_channel_board_is_one_distinct_character():
    lines = [encode("relay read", ch, 32) for ch in range(32)]
    indexes = [line.removeprefix(b"relay read ").removesuffix(b"\r") for line in lines]
    assert all(len(i) == 1 for i in indexes)
    assert len(set(indexes)) == 32


@pytest.mark.parametrize(("channel", "message"), [
    (8, "numato board: channel 8 does not exist on an 8-channel board (channels 0-7)"),
    (-1, "numato board: channel -1 does not exist on an 8-channel board (channels 0-7)"),
    (True, "numato board: channel True is not an integer"),
    ("1", "numato board: channel '1' is not an integer"),
])
def test_encode_refuses_a_channel_the_board_does_not_have(channel, message):
    with pytest.raises(RelayError) as info:
        encode("relay on", channel, 8)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("channels", [0, 33, 64])
def test_encode_refuses_a_board_size_it_cannot_address(channels):
    with pytest.raises(RelayError, match=f"{channels} channels is not a board"):
        encode("relay on", 0, channels)


def test_encode_refuses_misuse_of_the_api():
    with pytest.raises(ValueError, match="unknown numato command 'relay toggle'"):
        encode("relay toggle", 1, 8)
    with pytest.raises(ValueError, match="'ver' takes no channel"):
        encode("ver", 1, 8)
    with pytest.raises(ValueError, match="'relay on' needs a channel"):
        encode("relay on", None, 8)


def test_channel_check_message_names_board_and_range():
    with pytest.raises(RelayError) as info:
        channel_check("numato board at /dev/pts/5", 8, 9)
    assert str(info.value) == ("numato board at /dev/pts/5: channel 9 does not exist on an "
                               "8-channel board (channels 0-7)")
    with pytest.raises(RelayError, match="on a 16-channel board \\(channels 0-15\\)"):
        channel_check("numato board at x", 16, 16)
    assert channel_check("numato board at x", 16, 15) == 15


# -- parse_reply: good replies ----------------------------------------------------------


@pytest.mark.parametrize(("sent", "raw", "payload"), [
    (b"relay read 1\r", b"relay read 1\n\ron\n\r>", "on"),
    (b"relay read 1\r", b"relay read 1\n\roff\n\r>", "off"),
    (b"relay read C\r", b"relay read C\n\ron\n\r>", "on"),
    (b"relay on 1\r", b"relay on 1\n\r>", ""),
    (b"relay off 7\r", b"relay off 7\n\r>", ""),
    (b"ver\r", b"ver\n\r00000008\n\r>", "00000008"),
    (b"\r", b"\n\r>", ""),
])
def test_parse_reply_returns_the_payload(sent, raw, payload):
    assert parse_reply(sent, raw) == payload


@pytest.mark.parametrize("raw", [
    b"relay read 1\r\non\r\n>",
    b"relay read 1\ron\r>",
    b"relay read 1\non\n>",
    b"relay read 1\n\r\n\ron\n\r\n\r>",
])
def test_parse_reply_accepts_any_mix_of_line_ends(raw):
    assert parse_reply(b"relay read 1\r", raw) == "on"


# -- parse_reply: bad replies -------------------------------------------------------------


def test_parse_reply_no_reply_names_command_and_expectation():
    with pytest.raises(RelayError) as info:
        parse_reply(b"relay read 1\r", b"")
    assert str(info.value) == "no reply to 'relay read 1' (expected 'on' or 'off' then '>')"


@pytest.mark.parametrize(("sent", "raw", "expected"), [
    (b"relay read 1\r", b"relay read 1\n\ro", "'on' or 'off' then '>'"),
    (b"relay read 1\r", b"relay re", "'on' or 'off' then '>'"),
    (b"relay on 1\r", b"relay on 1\n\r", "'>' right after the echo"),
    (b"ver\r", b"ver\n\r0000", "a version string then '>'"),
])
def test_parse_reply_truncated_reply(sent, raw, expected):
    with pytest.raises(RelayError) as info:
        parse_reply(sent, raw)
    cmd = sent.decode().rstrip("\r")
    assert str(info.value) == f"truncated reply to {cmd!r}: {raw!r} (expected {expected})"


@pytest.mark.parametrize("raw", [
    b"\xa8\xbf\xb6\xbb\xa3",              # line noise, no prompt
    b"\x00\xff>",                         # noise ending in a prompt
    b"relay read 2\n\ron\n\r>",           # the echo of another command
    b"relay read 10\n\ron\n\r>",          # the echo runs on past the command
    b"xrelay read 1\n\ron\n\r>",          # junk before the echo
    b"relay read 1\n\r>on\n\r>",          # a prompt inside the reply
    b"relay read 1\n\r\xc3\xa9\n\r>",     # not ASCII
    b"relay read 1\n\ro\x07n\n\r>",       # control characters in the payload
])
def test_parse_reply_garbled_reply(raw):
    with pytest.raises(RelayError) as info:
        parse_reply(b"relay read 1\r", raw)
    assert str(info.value) == (f"garbled reply to 'relay read 1': {raw!r} "
                               f"(expected 'on' or 'off' then '>')")


@pytest.mark.parametrize(("sent", "raw", "expected"), [
    (b"relay read 1\r", b"relay read 1\n\rmaybe\n\r>", "'on' or 'off' then '>'"),
    (b"relay read 1\r", b"relay read 1\n\r>", "'on' or 'off' then '>'"),
    (b"relay read 1\r", b"relay read 1\n\ron\n\roff\n\r>", "'on' or 'off' then '>'"),
    (b"relay on 1\r", b"relay on 1\n\rerror\n\r>", "'>' right after the echo"),
    (b"ver\r", b"ver\n\r>", "a version string then '>'"),
])
def test_parse_reply_payload_that_does_not_fit_the_command(sent, raw, expected):
    with pytest.raises(RelayError) as info:
        parse_reply(sent, raw)
    cmd = sent.decode().rstrip("\r")
    assert str(info.value) == f"unexpected reply to {cmd!r}: {raw!r} (expected {expected})"
