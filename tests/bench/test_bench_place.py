"""A bench file's [labgrid] table and what a place's resources fill (hil.place: pure)."""

import tomllib

import pytest
from sim_runs import ROOT

from hil import bench as benchmod
from hil.place import FILLED, PlaceError, PlaceState, Resource

EXAMPLE = ROOT / "benches" / "labgrid-example.toml"


def example(edit=None):
    raw = tomllib.loads(EXAMPLE.read_text())
    if edit:
        edit(raw)
    return benchmod.parse(raw, EXAMPLE)


def place(*resources):
    return PlaceState("lab2-bench1", {"model": "spark"}, "host/user", 0.0, tuple(resources))


RELAY = Resource("relay", "NetworkSerialPort", {"host": "bench1", "port": 51234},
                 "lab2-bench1/bench/NetworkSerialPort/relay")
GATEWAY = Resource("gateway", "NetworkService", {"address": "10.20.0.1", "username": "hil",
                                                 "port": 2222})
PHONE = Resource("pixel4", "NetworkService", {"address": "10.20.0.34"})


def test_the_example_leaves_out_what_the_place_fills():
    b = example()
    assert b.place.coordinator == "lab-coordinator:20408" and b.place.place == "lab2-bench1"
    assert b.relay.url == FILLED and b.gateway.ssh.host == FILLED
    assert b.identity == "labgrid://lab-coordinator:20408/lab2-bench1"
    filled, said = b.with_place(place(RELAY, GATEWAY, PHONE))
    assert filled.relay.url == "rfc2217://bench1:51234?ign_set_control"
    assert (filled.gateway.ssh.host, filled.gateway.ssh.user, filled.gateway.ssh.port) == \
        ("10.20.0.1", "hil", 2222)
    assert filled.phones["pixel4"].options.serial == "10.20.0.34:5555"
    assert said[0] == ("relay.url = rfc2217://bench1:51234?ign_set_control (resource "
                       "lab2-bench1/bench/NetworkSerialPort/relay)")
    assert filled.identity == b.identity  # the lock and record: the place, not the port


def test_the_file_wins_and_a_missing_resource_is_named():
    b = example(lambda raw: raw["relay"].update(url="/dev/ttyACM0"))
    filled, said = b.with_place(place(GATEWAY, PHONE))
    assert filled.relay.url == "/dev/ttyACM0" and not any("relay" in s for s in said)
    with pytest.raises(PlaceError, match=r"relay.url: not in the file, and place lab2-bench1 "
                                         r"has no relay resource .*its resources: gateway "
                                         r"\(NetworkService\), pixel4 \(NetworkService\)"):
        example().with_place(place(GATEWAY, PHONE))
    with pytest.raises(PlaceError, match=r"gateway.host: not in the file, and place "
                                         "lab2-bench1 has no NetworkService named 'gateway'"):
        example().with_place(place(RELAY, PHONE))


def test_two_resources_under_one_name_or_an_unavailable_one_are_named_not_guessed():
    other = Resource("relay", "NetworkSerialPort", {"host": "bench2", "port": 4001},
                     "lab2-bench2/bench/NetworkSerialPort/relay")
    with pytest.raises(PlaceError, match=r"place lab2-bench1 has 2 NetworkSerialPort resources "
                                         r"named 'relay' \(lab2-bench1/bench/NetworkSerialPort"
                                         r"/relay, lab2-bench2/bench/NetworkSerialPort/relay\)"
                                         r": which one is the bench's cannot be told"):
        example().with_place(place(RELAY, other, GATEWAY))
    gone = Resource("relay", "NetworkSerialPort", {"host": "bench1", "port": 51234},
                    "lab2-bench1/bench/NetworkSerialPort/relay", avail=False)
    with pytest.raises(PlaceError, match=r"resource lab2-bench1/bench/NetworkSerialPort/relay "
                                         r"is unavailable"):
        example().with_place(place(gone, GATEWAY))


@pytest.mark.parametrize("edit, message", [
    (lambda raw: raw["labgrid"].update(tags={"model": "spark"}),
     "labgrid.tags: a bench names one place or the tags of any place, not both"),
    (lambda raw: raw.update(labgrid={"tags": {"Model": "spark"}}),
     "labgrid.tags.Model: Model=spark is not a labgrid tag"),
    (lambda raw: raw["labgrid"].update(coordinator="host:99999"),
     "labgrid.coordinator: 'host:99999': the port is not a number"),
    (lambda raw: raw["labgrid"].update(colour="red"), "labgrid.colour: unknown key"),
    (lambda raw: raw.pop("labgrid"), "relay.url: missing"),
])
def test_bad_labgrid_tables_are_one_error(edit, message):
    with pytest.raises(benchmod.BenchError, match=f"bench file {EXAMPLE}: .*") as e:
        example(edit)
    assert message in str(e.value)
