"""DJI firmware string <-> MAVLink flight_sw_version (pure, no I/O)."""

import pytest
from pymavlink.dialects.v20 import common as mavlink2

from hil.link.version import (
    FIRMWARE_VERSION_TYPE_OFFICIAL,
    decode_firmware_version,
    encode_firmware_version,
)


def test_official_type_matches_pymavlink():
    assert FIRMWARE_VERSION_TYPE_OFFICIAL == mavlink2.FIRMWARE_VERSION_TYPE_OFFICIAL == 255


def test_encode_known_value():
    assert encode_firmware_version("01.00.0900") == (1 << 24) | (0 << 16) | (9 << 8) | 255


def test_decode_known_value():
    assert decode_firmware_version(0x010009FF) == "01.00.0900"


@pytest.mark.parametrize(
    "text", ["01.00.0900", "00.00.0000", "99.99.9900", "01.02.0300", "10.20.3000"]
)
def test_round_trip_from_string(text):
    assert decode_firmware_version(encode_firmware_version(text)) == text


@pytest.mark.parametrize("major,minor,patch", [(0, 0, 0), (1, 0, 9), (2, 15, 7), (99, 99, 99)])
def test_round_trip_from_uint32(major, minor, patch):
    value = major << 24 | minor << 16 | patch << 8 | FIRMWARE_VERSION_TYPE_OFFICIAL
    assert encode_firmware_version(decode_firmware_version(value)) == value


def test_decode_zero_pads_every_field():
    assert decode_firmware_version(2 << 24 | 3 << 16 | 4 << 8 | 255) == "02.03.0400"


@pytest.mark.parametrize("type_byte", [0, 64, 128, 192, 255])
def test_decode_ignores_the_type_byte(type_byte):
    assert decode_firmware_version(0x01000900 | type_byte) == "01.00.0900"


def test_encode_rejects_nonzero_build_digits_naming_the_string():
    with pytest.raises(ValueError, match=r"'01\.00\.0901'.*'00'"):
        encode_firmware_version("01.00.0901")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.0.900",
        "01.00.09",
        "01.00.09000",
        "v01.00.0900",
        "01.00.0900 ",
        "01-00-0900",
        "01.00.09a0",
        "\u0660\u0661.00.0900",  # Arabic-Indic digits are not DJI digits
    ],
)
def test_encode_rejects_malformed_strings_naming_them(text):
    with pytest.raises(ValueError) as info:
        encode_firmware_version(text)
    assert repr(text) in str(info.value)


def test_encode_rejects_non_strings():
    with pytest.raises(TypeError):
        encode_firmware_version(0x010009FF)


@pytest.mark.parametrize("value", [-1, 2**32])
def test_decode_rejects_values_outside_uint32(value):
    with pytest.raises(ValueError, match=str(value)):
        decode_firmware_version(value)


@pytest.mark.parametrize(
    "value,part", [(100 << 24, "major"), (100 << 16, "minor"), (255 << 8, "patch")]
)
def test_decode_rejects_fields_above_99(value, part):
    with pytest.raises(ValueError, match=part):
        decode_firmware_version(value | 255)


@pytest.mark.parametrize("value", [1.0, "0x010009ff", None, True])
def test_decode_rejects_non_integers(value):
    with pytest.raises(TypeError):
        decode_firmware_version(value)
