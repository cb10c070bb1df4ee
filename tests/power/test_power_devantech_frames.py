"""The Devantech USB-RLY protocol's pure core: command bytes and reply parsing, no I/O."""

import pytest

from hil.power.devantech import (
    MODULES,
    Module,
    Version,
    command_text,
    encode,
    encode_set_states,
    expected_reply,
    mask_states,
    parse_states,
    parse_version,
    reply_length,
)
from hil.power.relay import RelayError

# -- encode: the command table of the USB-RLY08 technical documentation -------------------


@pytest.mark.parametrize(("channel", "on", "off"), [
    (0, 0x65, 0x6F),
    (1, 0x66, 0x70),
    (2, 0x67, 0x71),
    (3, 0x68, 0x72),
    (4, 0x69, 0x73),
    (5, 0x6A, 0x74),
    (6, 0x6B, 0x75),
    (7, 0x6C, 0x76),
])
def test_encode_channel_c_is_relay_c_plus_1(channel, on, off):
    assert encode("on", channel, 8) == bytes([on])
    assert encode("off", channel, 8) == bytes([off])


@pytest.mark.parametrize(("command", "byte"), [
    ("all on", 0x64),
    ("all off", 0x6E),
    ("get version", 0x5A),
    ("get states", 0x5B),
])
def test_encode_commands_without_a_channel(command, byte):
    assert encode(command) == bytes([byte])


def test_encode_set_states_sends_the_mask_after_0x5c():
    assert encode_set_states(0x00) == b"\x5c\x00"
    assert encode_set_states(0xFF) == b"\x5c\xff"
    assert encode_set_states(0b101, 3) == b"\x5c\x05"


@pytest.mark.parametrize(("mask", "channels"), [(0x100, 8), (-1, 8), (0x04, 2), (True, 8)])
def test_encode_set_states_refuses_a_mask_that_does_not_fit(mask, channels):
    with pytest.raises(RelayError, match=f"state mask {mask!r} does not fit {channels}"):
        encode_set_states(mask, channels)


@pytest.mark.parametrize(("channel", "channels", "message"), [
    (8, 8, "devantech board: channel 8 does not exist on an 8-channel board (channels 0-7)"),
    (-1, 8, "devantech board: channel -1 does not exist on an 8-channel board (channels 0-7)"),
    (2, 2, "devantech board: channel 2 does not exist on a 2-channel board (channels 0-1)"),
    (True, 8, "devantech board: channel True is not an integer"),
    ("1", 8, "devantech board: channel '1' is not an integer"),
])
def test_encode_refuses_a_channel_the_board_does_not_have(channel, channels, message):
    with pytest.raises(RelayError) as info:
        encode("on", channel, channels)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("channels", [0, 9, 16, 32])
def test_encode_refuses_a_board_size_it_cannot_address(channels):
    with pytest.raises(RelayError, match=f"{channels} channels is not a board this driver"):
        encode("on", 0, channels)


def test_encode_refuses_misuse_of_the_api():
    with pytest.raises(ValueError, match="unknown devantech command 'toggle'"):
        encode("toggle", 1)
    with pytest.raises(ValueError, match="'get version' takes no channel"):
        encode("get version", 1)
    with pytest.raises(ValueError, match="'on' needs a channel"):
        encode("on")


@pytest.mark.parametrize(("sent", "text"), [
    (b"\x5a", "0x5A (get software version)"),
    (b"\x5b", "0x5B (get relay states)"),
    (b"\x5c\x03", "0x5C 0x03 (set relay states)"),
    (b"\x64", "0x64 (all relays on)"),
    (b"\x6e", "0x6E (all relays off)"),
    (b"\x65", "0x65 (relay 1 on)"),
    (b"\x6c", "0x6C (relay 8 on)"),
    (b"\x6f", "0x6F (relay 1 off)"),
    (b"\x76", "0x76 (relay 8 off)"),
    (b"\x00", "0x00 (not a devantech command)"),
])
def test_command_text_names_the_command_in_hex(sent, text):
    assert command_text(sent) == text


@pytest.mark.parametrize(("sent", "length", "expected"), [
    (b"\x5a", 2, "2 bytes: module id, software version"),
    (b"\x5b", 1, "1 byte: the relay state mask"),
    (b"\x65", 0, "no reply"),
    (b"\x6e", 0, "no reply"),
    (b"\x5c\x5a", 0, "no reply"),  # a mask byte equal to 0x5A is not a version request
])
def test_reply_length_and_expectation(sent, length, expected):
    assert reply_length(sent) == length
    assert expected_reply(sent) == expected


# -- parse_version ---------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "name", "relays"), [
    (b"\x08\x01", "USB-RLY08", 8),
    (b"\x09\x04", "USB-RLY16", 8),
    (b"\x0a\x02", "USB-RLY02", 2),
    (b"\x0f\x01", "USB-RLY16L", 8),
])
def test_parse_version_names_the_module(raw, name, relays):
    version = parse_version(raw)
    assert version == Version(Module(raw[0], name, relays), raw[1])
    assert version.module is MODULES[raw[0]]
    assert version.software == raw[1]


def test_parse_version_no_reply():
    with pytest.raises(RelayError) as info:
        parse_version(b"")
    assert str(info.value) == ("no reply to 0x5A (get software version) "
                               "(expected 2 bytes: module id, software version)")


def test_parse_version_truncated_reply():
    with pytest.raises(RelayError) as info:
        parse_version(b"\x08")
    assert str(info.value) == ("truncated reply to 0x5A (get software version): received "
                               "0x08 (expected 2 bytes: module id, software version)")


def test_parse_version_garbled_reply():
    with pytest.raises(RelayError) as info:
        parse_version(b"\xf0\xaf\xd2")
    assert str(info.value) == ("garbled reply to 0x5A (get software version): received "
                               "0xF0 0xAF 0xD2 (expected 2 bytes: module id, software version)")


def test_parse_version_long_garbage_is_cut_in_the_message():
    with pytest.raises(RelayError, match=r"0x00 \.\.\. \(40 bytes\)") as info:
        parse_version(bytes(40))
    assert str(info.value).count("0x00") == 16


@pytest.mark.parametrize("module_id", [0x00, 0x07, 0x0B, 0x3E, 0x5A, 0xFF])
def test_parse_version_unknown_module_id(module_id):
    raw = bytes([module_id, 0x01])
    with pytest.raises(RelayError) as info:
        parse_version(raw)
    assert str(info.value) == (
        f"unknown module id {module_id} (0x{module_id:02X}) in reply to 0x5A (get software "
        f"version): received 0x{module_id:02X} 0x01 (expected a supported Devantech module "
        f"id: 8 USB-RLY08, 9 USB-RLY16, 10 USB-RLY02, 15 USB-RLY16L)")


# -- parse_states and masks ----------------------------------------------------------------


@pytest.mark.parametrize("mask", [0x00, 0x01, 0x80, 0xA5, 0xFF])
def test_parse_states_returns_the_mask(mask):
    assert parse_states(bytes([mask])) == mask


def test_parse_states_no_reply():
    with pytest.raises(RelayError) as info:
        parse_states(b"")
    assert str(info.value) == ("no reply to 0x5B (get relay states) "
                               "(expected 1 byte: the relay state mask)")


def test_parse_states_more_than_one_byte_is_garbled():
    with pytest.raises(RelayError) as info:
        parse_states(b"\x01\x02")
    assert str(info.value) == ("garbled reply to 0x5B (get relay states): received 0x01 0x02 "
                               "(expected 1 byte: the relay state mask)")


def test_mask_bit_c_is_channel_c():
    assert mask_states(0b0000_0101, 8) == [True, False, True] + [False] * 5
    assert mask_states(0x80, 8) == [False] * 7 + [True]
    assert mask_states(0xFF, 2) == [True, True]  # bits of channels not in use are ignored
    for channel in range(8):
        assert mask_states(1 << channel, 8) == [c == channel for c in range(8)]
