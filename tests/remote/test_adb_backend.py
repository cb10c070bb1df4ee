"""The adb phone backend, end to end: the production `AdbApp` -> the real adb server (the
one in the adbutils wheel) -> the simulated adbd -> a simulated Android phone running the
model of GO 4's screens, driven by the recipe recorded against it (benches/recipes/).

Every adb fault the simulator plays ends as an AppError naming the phone and the step;
a recipe with a wrong selector fails; an app version without a recipe is AppCannot (the
claims skip), naming the version and the recipes there are."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import threading

import pytest
from sim_runs import ROOT

from fixtures.tools import cannot_run
from hil.remote import adbshell
from hil.remote.adb import AdbApp, AdbOptions
from hil.remote.phone import AppCannot, AppError
from hil.sim.adbd import AdbdServer
from hil.sim.adbserver import AdbServer, adb_binary
from hil.sim.android import SimAndroid
from hil.sim.app import AppBehaviour, Record
from hil.sim.onboard import Onboard
from hil.sim.phone import Camera, SimPhone

RECIPES = ROOT / "benches" / "recipes"


@pytest.fixture(scope="module")
def server():
    if adb_binary() is None:
        cannot_run("needs an adb binary (the adbutils wheel brings one; or apt-get install adb)")
    with AdbServer() as srv:
        yield srv


class Phone:
    """A simulated Android phone on the adb server, its aircraft's link a switch."""

    def __init__(self, server, faults=(), version="4.3.36+sim", recipes=RECIPES):
        self.up = False
        self.onboard = Onboard(photo_size=2_000_000)
        self.phone = SimPhone("pixel-t", "10.20.0.31", "android", AppBehaviour(0.01), None,
                              None, lambda: self.up,
                              camera=Camera(self.onboard, "01.00.0900", 0.01))
        self.adbd = AdbdServer(None)
        self.android = SimAndroid(self.phone, version, frozenset(faults), aircraft_name="Spark",
                                  sync_seconds=0.05, on_offline=self.adbd.go_offline)
        self.adbd.device = self.android
        self.adbd.start()
        server.connect(self.adbd.serial)
        self.server = server
        self.app = AdbApp("pixel-t", AdbOptions(self.adbd.serial, server.port, recipes, "en",
                                                2.0))

    def link(self):
        self.up = True
        self.android.poll()  # the simulated bench's world loop does this

    def close(self):
        self.adbd.stop()
        try:
            self.server.disconnect(self.adbd.serial)
        except Exception:
            pass


@pytest.fixture
def phone(server):
    made = []

    def make(*faults, **kw):
        p = Phone(server, faults, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def test_launch_version_and_close_through_the_real_adb_server(phone):
    p = phone()
    assert p.app.version() == "4.3.36+sim" and not p.app.running()
    p.app.launch()
    assert p.app.running() and p.phone.running
    p.app.close()
    assert not p.app.running() and not p.phone.running


def test_a_setting_is_taken_read_back_after_a_relaunch_and_the_app_left_as_found(phone):
    p = phone()
    p.app.set("diagnostics", False)
    assert p.phone.settings["diagnostics"] is False and not p.phone.running  # closed again
    p.app.set("local_data_mode", True)  # with its confirmation dialog
    assert p.phone.settings["local_data_mode"] is True
    p.app.launch()
    assert p.app.settings() == {"diagnostics": False, "local_data_mode": True}
    p.app.set("diagnostics", True)
    assert p.phone.settings["diagnostics"] is True and p.phone.running  # still running


def test_what_the_app_shows_of_the_aircraft_and_its_flight_records(phone):
    p = phone()
    p.app.launch()
    assert p.app.linked() is False and p.app.firmware() is None
    p.link()
    assert p.app.linked() is True and p.app.firmware() == "01.00.0900"
    p.phone.behaviour.records.append(Record(1, 1_700_000_000.0, 150_000))
    first = p.app.records()
    assert [(r["id"], r["size"], r["synced"]) for r in first] == \
        [("DJIFlightRecord_2023-11-14_[22-13-20].txt", 150_000, None)]  # before the first look
    p.phone.behaviour.records.append(Record(2, 1_700_000_100.0, 90_000))
    assert [r["synced"] for r in p.app.records()] == [None, False]
    p.app.sync()
    assert "sync" in p.phone.actions
    assert [r["synced"] for r in p.app.records()] == [True, True]


def test_photos_video_and_share_through_the_camera_view_and_album(phone):
    p = phone()
    p.app.launch()
    p.link()
    assert p.app.take_photo() == {"index": 1, "file": "DJI_0001.JPG", "size": None}
    assert p.app.take_photo()["index"] == 2
    assert p.app.video(True) is None
    assert p.app.video(False)["index"] == 3
    assert [m.kind for m in p.onboard.media] == ["photo", "photo", "video"]
    p.app.share(1)
    assert "share:1" in p.phone.actions


def test_an_app_version_without_a_recipe_is_not_driven(phone):
    p = phone(version="4.3.99+sim")
    with pytest.raises(AppCannot) as e:
        p.app.set("diagnostics", False)
    assert str(e.value) == (
        "phone pixel-t: no UI recipe for dji.go.v4 4.3.99+sim (locale en); recipes: "
        "public-en.toml (no versions: a template); 4.3.36+sim-en.toml (4.3.36+sim); record "
        "one with `hil phone dump`")
    assert p.phone.settings["diagnostics"] is True  # nothing was touched


def test_a_placeholder_entry_is_not_driven_and_says_so(phone, tmp_path):
    folder = tmp_path / "dji.go.v4"
    folder.mkdir()
    text = (RECIPES / "dji.go.v4" / "4.3.36+sim-en.toml").read_text()
    text = re.sub(r'\[reads.linked\]\n[^\[]*', "[reads.linked]\nplaceholder = true\n\n", text)
    (folder / "4.3.36+sim-en.toml").write_text(text)
    p = phone(recipes=tmp_path)
    p.app.launch()
    with pytest.raises(AppCannot, match="holds only a placeholder for reads.linked"):
        p.app.linked()


def wrong(tmp_path, old: str, new: str):
    folder = tmp_path / "dji.go.v4"
    folder.mkdir(parents=True, exist_ok=True)
    text = (RECIPES / "dji.go.v4" / "4.3.36+sim-en.toml").read_text()
    assert old in text
    (folder / "4.3.36+sim-en.toml").write_text(text.replace(old, new, 1))
    return tmp_path


def test_a_recipe_with_a_wrong_selector_fails(phone, tmp_path):
    # the diagnostics entry pointing at the Local Data Mode switch: the tap lands on the
    # wrong element, and the read-back catches it
    p = phone(recipes=wrong(tmp_path, 'switch = { id = "dji.go.v4:id/setting_diagnostics_switch" }',
                            'switch = { id = "dji.go.v4:id/setting_ldm_switch" }'))
    with pytest.raises(AppError, match="setting diagnostics did not take on"):
        p.app.set("diagnostics", True)
    assert p.phone.settings == {"diagnostics": True, "local_data_mode": False}
    p.app.close()
    # a way to a screen through an element that is not there
    p2 = phone(recipes=wrong(tmp_path / "b", 'tap = { id = "dji.go.v4:id/setting_privacy" }',
                             'tap = { id = "dji.go.v4:id/setting_privacy_typo" }'))
    with pytest.raises(AppError) as e:
        p2.app.set("diagnostics", False)
    assert "phone pixel-t: set diagnostics off: on screen settings, {id='dji.go.v4:id/" \
           "setting_privacy_typo'} (the way to privacy) is not there" in str(e.value)


@pytest.mark.parametrize("fault, step, said", [
    ("adb_toggle_ignored", lambda p: p.app.set("diagnostics", False),
     "phone pixel-t: setting diagnostics did not take off: the switch still reads on"),
    ("adb_unknown_dialog", lambda p: p.app.launch(),
     "phone pixel-t: launch the app: the app's first screen (home) did not show within 2 s; "
     "the screen shows <TextView id='dji.go.v4:id/rate_dialog_title' text='Rate DJI GO 4!'>"),
    ("adb_dump_fails", lambda p: p.app.launch(),
     "phone pixel-t: launch the app: cannot read the screen: ERROR: could not get idle "
     "state."),
    ("adb_app_crash", lambda p: (p.app.launch(), p.link(), p.app.linked()),
     "phone pixel-t: read whether the app shows the aircraft: the app crashed (dialog crash "
     "seen and dismissed)"),
    ("adb_version_change", lambda p: (p.app.launch(), p.app.close(), p.app.launch()),
     "phone pixel-t: the app's version changed during the run, from 4.3.36+sim to "
     "4.3.37+sim (an update?)"),
    ("adb_offline", lambda p: (p.app.launch(), p.link(), p.app.linked()),
     "phone pixel-t dropped off adb during check the app runs: "),
])
def test_each_adb_fault_is_an_error_naming_the_phone_and_the_step(phone, fault, step, said):
    p = phone(fault)
    with pytest.raises(AppError) as e:
        step(p)
    assert not isinstance(e.value, AppCannot)
    assert said in str(e.value), str(e.value)
    if fault == "adb_offline":
        assert "reconnected once (disconnect and connect)" in str(e.value)


def test_a_phone_that_drops_off_adb_and_comes_back_is_reconnected_once(phone):
    p = phone()
    p.app.launch()
    p.adbd.go_offline()
    threading.Timer(0.3, p.adbd.back_online).start()
    assert p.app.running()  # the first try fails, the reconnect (disconnect + connect) works


def test_any_adb_client_talks_to_the_simulated_phone(phone, server):
    p = phone()
    p.app.launch()
    cli = server.cli("-s", p.adbd.serial, "shell")
    pid = subprocess.run(cli + ["pidof", "dji.go.v4"], env=server.env, capture_output=True,
                         text=True, timeout=20)
    assert pid.returncode == 0 and pid.stdout.strip().isdigit(), pid
    dump = subprocess.run(cli + ["uiautomator", "dump", "/dev/tty"], env=server.env,
                          capture_output=True, text=True, timeout=20)
    assert dump.returncode == 0 and 'resource-id="dji.go.v4:id/main_device_more"' in dump.stdout
    assert dump.stdout.rstrip().endswith("UI hierchary dumped to: /dev/tty")
    png = p.app.screenshot()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_shell_client_decodes_v2_packets_and_names_a_refusal(server):
    packets = b"".join(struct.pack("<BI", k, len(d)) + d
                       for k, d in ((1, b"out"), (2, b"err"), (1, b"more"), (3, b"\x07")))
    assert adbshell.decode_v2(packets) == (7, b"outmore", b"err", len(packets))
    assert adbshell.decode_v2(packets[:7])[0] is None  # a packet cut short waits for more
    assert adbshell.request("host:version") == b"000chost:version"
    with pytest.raises(adbshell.AdbFailure, match="host:transport:127.0.0.1:1: device "
                                                  "'127.0.0.1:1' not found"):
        adbshell.run(server.port, adbshell.transport(None, "127.0.0.1:1"), "true", 2)


def test_a_bench_without_its_adb_server_says_how_to_start_it(tmp_path):
    p = AdbApp("pixel-t", AdbOptions("127.0.0.1:5555", 1, RECIPES, "en", 1.0))
    with pytest.raises(AppError, match=r"no adb server answers on 127.0.0.1:1 .*start it with "
                                       r"`adb -P 1 start-server`"):
        p.version()


def test_hil_sim_prints_each_phones_adb_line_and_hil_phone_dump_records_a_screen(
        served_bench, tmp_path):
    if adb_binary() is None:
        cannot_run("needs an adb binary (the adbutils wheel brings one)")
    bench = served_bench(ROOT / "benches" / "sim-dji.toml")
    text = bench.read_text()
    assert 'backend = "adb"' in text and 'serial = "127.0.0.1:' in text
    from hil import bench as benchmod

    phone = benchmod.load(bench).phones["pixel-spark"]
    env = {"ANDROID_ADB_SERVER_PORT": str(phone.options.adb_port), "HOME": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    adb = [adb_binary(), "-s", phone.options.serial, "shell"]
    start = subprocess.run(adb + ["am", "start", "-n", "dji.go.v4/dji.pilot.main.activity."
                                  "DJILauncherActivity"], env=env, capture_output=True,
                           text=True, timeout=30)
    assert "Starting: Intent" in start.stdout, start
    res = subprocess.run([sys.executable, "-m", "hil.cli", "phone", "dump", "pixel-spark",
                          "--bench", str(bench), "--out", str(tmp_path / "dumps")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "app version: 4.3.36+sim; running: True" in res.stdout
    assert "screens matched: home; dialogs: none" in res.stdout
    assert "id='dji.go.v4:id/main_device_more'" in res.stdout
    files = {p.suffix: p for p in (tmp_path / "dumps").iterdir()}
    assert set(files) == {".xml", ".png"}
    assert files[".xml"].read_bytes().startswith(b"<?xml")
    assert files[".png"].read_bytes().startswith(b"\x89PNG")
    template = subprocess.run([sys.executable, "-m", "hil.cli", "phone", "dump", "pixel-spark",
                               "--bench", str(ROOT / "benches" / "sim-dji.toml")], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    assert template.returncode == 2 and "start it with `hil sim" in template.stderr


def test_a_phone_not_on_the_adb_server_is_an_error_naming_it(server):
    app = AdbApp("pixel-t", AdbOptions("127.0.0.1:1", server.port, RECIPES, "en", 1.0))
    with pytest.raises(AppError) as e:
        app.version()
    assert str(e.value).startswith(f"phone pixel-t: not on adb at adb server 127.0.0.1:"
                                   f"{server.port} -> 127.0.0.1:1 (not listed): ")


def test_a_tap_is_not_sent_twice_when_the_phone_drops_off_adb(phone):
    p = phone()
    p.app.launch()
    node = p.app.screen()[0]
    p.adbd.go_offline()
    threading.Timer(0.3, p.adbd.back_online).start()
    with pytest.raises(AppError) as e:
        p.app.tap(node)
    assert "reconnected (disconnect and connect), and `input tap" in str(e.value)
    assert "not sent again: it may have acted already" in str(e.value)
    assert p.app.running()  # the phone is back: a read goes through
