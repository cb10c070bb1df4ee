"""Aircraft links come from one registry; each declares what it can do."""

import logging
import threading
import time

import pytest
from sim_runs import ROOT

from hil import bench as benchmod
from hil import link
from hil.link.app import AppLink
from hil.link.mavlink import MavlinkLink
from hil.link.none import NoLink
from hil.remote.phone import App


@pytest.mark.parametrize("value, kind", [
    ("app", "app"), ("none", "none"), ("udpin:127.0.0.1:14551", "mavlink"),
    ("tcp:127.0.0.1:5760", "mavlink"), ("/dev/ttyUSB0", "mavlink"), ("mavlink", None),
    ("duml", None), ("", None)])
def test_a_bench_value_names_a_kind(value, kind):
    assert link.kind_of(value) == kind
    assert (link.check(value) is None) is (kind is not None)


def test_an_unknown_link_is_one_line_naming_file_key_and_what_is_allowed(tmp_path):
    text = (ROOT / "benches" / "example-lab.toml").read_text()
    path = tmp_path / "lab.toml"
    path.write_text(text.replace('link = "app"', 'link = "duml"', 1))
    with pytest.raises(benchmod.BenchError) as e:
        benchmod.load(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"bench file {path}: aircraft.spark.link: 'duml' is not an aircraft "
                          'link; allowed: "app", "none", or a MAVLink connection string')


def test_a_dji_model_is_seen_through_the_app_unless_the_file_says_otherwise(tmp_path):
    text = (ROOT / "benches" / "example-lab.toml").read_text()
    path = tmp_path / "lab.toml"
    path.write_text(text.replace('link = "app"', "", 1))
    assert benchmod.load(path).aircraft["spark"].link == "app"


def test_capabilities():
    assert MavlinkLink.capabilities == link.ALL
    assert AppLink.capabilities == {link.ON, link.FIRMWARE}
    assert NoLink.capabilities == frozenset()
    with pytest.raises(link.Unsupported, match="spark: the aircraft link `none` lacks a "
                                               "capability: lists onboard logs"):
        NoLink("spark").log_list()


def test_none_waits_out_the_boot_window_and_says_it_assumed(caplog):
    caplog.set_level(logging.INFO, "hil.link")
    t0 = time.monotonic()
    NoLink("spark", firmware="01.00.0900").wait_ready(0.2)
    assert time.monotonic() - t0 >= 0.2
    assert "spark: waited 0.2 s: assumed up (an assumption: nothing read it)" in caplog.text
    assert NoLink("spark", firmware="01.00.0900").firmware_version() == "01.00.0900"
    stop = threading.Event()
    stop.set()
    with pytest.raises(link.LinkError, match="the run is stopping"):
        NoLink("spark").wait_ready(30, stop=stop)


class ShownApp(App):
    """An app that shows the aircraft after `after` seconds (a unit-test double)."""

    name = "pixel4"

    def __init__(self, running=True, after=0.0):
        self.is_running, self.shows_at = running, time.monotonic() + after

    def running(self):
        return self.is_running

    def linked(self):
        return self.is_running and time.monotonic() >= self.shows_at

    def firmware(self):
        return "01.00.1000" if self.linked() else None

    settings = set = launch = close = records = sync = share = version = None


def test_the_app_link_is_ready_when_the_app_shows_the_aircraft():
    a = AppLink(ShownApp(after=0.1), "spark")
    a.wait_ready(2.0)
    assert a.firmware_version() == "01.00.1000" and a.listen(0) == {"aircraft", "controller"}
    with pytest.raises(link.LinkError, match="did not show the aircraft connected within"):
        AppLink(ShownApp(after=60), "spark").wait_ready(0.2)


def test_with_the_app_closed_the_app_link_assumes_and_cannot_tell(caplog):
    caplog.set_level(logging.INFO, "hil.link")
    a = AppLink(ShownApp(running=False), "spark")
    a.wait_ready(0.1)
    assert "the app on pixel4 is closed, so nothing shows the aircraft" in caplog.text
    with pytest.raises(link.LinkError, match="the app on pixel4 is closed: it shows nothing"):
        a.listen(0)
