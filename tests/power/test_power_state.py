"""What the harness knows of a button device's power: a reading first, then the record."""

import json
import time

import pytest

from hil.power.record import Command, PowerRecord
from hil.power.state import Reading, StateUnknown, decide, from_heard

ON = Command(True, True, time.time(), 4242, "bench1")
OFF = Command(False, True, time.time(), 4242, "bench1")
HALF = Command(True, False, time.time(), 4242, "bench1")  # killed mid-press
LINK = "the link udpin:127.0.0.1:14551"


@pytest.mark.parametrize("heard, role, on", [
    ({"aircraft", "controller"}, "aircraft", True),
    ({"aircraft"}, "controller", True),  # the aircraft is heard through its controller
    ({"controller"}, "controller", True),
    ({"controller"}, "aircraft", False),
])
def test_a_heartbeat_is_a_reading(heard, role, on):
    assert from_heard(role, heard, LINK).on is on


def test_silence_and_a_link_that_cannot_be_read_are_not_readings():
    silent = from_heard("aircraft", set(), LINK)
    assert silent.on is None and silent.silent and "hears nothing" in silent.why
    broken = from_heard("controller", None, LINK, "port 14551 in use")
    assert broken.on is None and not broken.silent and "port 14551 in use" in broken.why


@pytest.mark.parametrize("record", [None, ON, OFF, HALF])
def test_a_reading_wins_over_any_record(record):
    k = decide("spark aircraft", from_heard("aircraft", {"aircraft"}, LINK), record)
    assert k.on and not k.from_record
    if record is OFF:
        assert "overruled by the reading" in k.why


@pytest.mark.parametrize("reading", [from_heard("aircraft", set(), LINK),
                                     from_heard("aircraft", None, LINK, "refused")])
def test_where_the_link_cannot_tell_the_record_decides_and_says_so(reading):
    k = decide("spark aircraft", reading, ON)
    assert k.on and k.from_record
    assert k.why.startswith("spark aircraft is on: ")
    assert "acting on the record: last commanded on at" in k.why and "pid 4242" in k.why


def test_silence_with_no_record_is_taken_as_off_and_said():
    k = decide("spark controller", from_heard("controller", set(), LINK), None)
    assert k.on is False and "no command is on record: taken as off" in k.why


@pytest.mark.parametrize("reading, record", [
    (from_heard("aircraft", None, LINK, "cannot open"), None),  # nothing to read, no record
    (from_heard("aircraft", set(), LINK), HALF),  # silence, and a press interrupted
    (Reading(None, "the aircraft link `none` cannot tell"), HALF),
])
def test_nothing_tells_refuses_naming_the_device_and_the_fix(reading, record):
    with pytest.raises(StateUnknown) as e:
        decide("spark aircraft", reading, record, "Check whether it is on, then say so: "
                                                  "hil power mark spark on|off")
    msg = str(e.value)
    assert msg.startswith("spark aircraft: its state cannot be told: ")
    assert "nothing was pressed" in msg and "hil power mark spark on|off" in msg
    assert "nothing was pressed" not in e.value.reason


def test_record_round_trip_and_marks(tmp_path):
    r = PowerRecord(tmp_path / "b.power.json")
    assert r.get("spark aircraft") is None
    r.commanding("spark aircraft", True)
    assert not r.get("spark aircraft").done
    r.commanded("spark aircraft", True)
    r.mark("spark controller", False, "ana")
    again = PowerRecord(tmp_path / "b.power.json")  # another process, later
    assert again.get("spark aircraft").on and again.get("spark aircraft").done
    assert again.get("spark controller").describe().startswith("off, marked by ana at ")


@pytest.mark.parametrize("text", [
    '{"spark aircraft": {"on": tru',  # cut short
    '{"spark aircraft": {"on": true, "done": true}}',  # who and when missing
    '{"spark aircraft": {"on": "false", "done": true, "at": 1, "pid": 2, "host": "h"}}',
])
def test_a_damaged_record_is_moved_aside_and_trusted_for_nothing(tmp_path, caplog, text):
    path = tmp_path / "b.power.json"
    path.write_text(text)
    r = PowerRecord(path)
    assert r.get("spark aircraft") is None
    aside = list(tmp_path.glob("b.power.json.damaged-*"))
    assert len(aside) == 1 and aside[0].read_text().startswith('{"spark aircraft"')
    assert "is damaged" in caplog.text and str(aside[0]) in caplog.text
    r.commanded("spark aircraft", False)  # and the record works again
    assert json.loads(path.read_text())["spark aircraft"]["on"] is False


def test_the_record_lives_beside_the_bench_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path))
    from hil.lock import lock_path
    r = PowerRecord.for_bench("lab2-bench1", "/dev/serial/by-path/x")
    assert r.path.parent == tmp_path
    assert r.path.name == lock_path("lab2-bench1", "/dev/serial/by-path/x").stem + ".power.json"
