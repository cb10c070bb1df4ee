"""The simulated Android phone (hil.sim.android), driven through `shell()` strings exactly
as an adb client sends them: no adb, no sockets."""

import re
import stat
import time
import xml.etree.ElementTree as ET

import pytest

from hil.sim.android import DUMP_DEFAULT, SimAndroid, png
from hil.sim.app import AppBehaviour, Record
from hil.sim.onboard import Onboard
from hil.sim.phone import Camera, SimPhone

START = "am start -n dji.go.v4/dji.pilot.main.activity.DJILauncherActivity"
DUMP = "/data/local/tmp/uidump.xml"
ID = "dji.go.v4:id/"


class Bench:
    """One phone, its aircraft's card, and a switch for the link."""

    def __init__(self, faults=(), **kw):
        self.up = False
        self.onboard = Onboard()
        self.phone = SimPhone("pixel", "192.168.50.10", "android", AppBehaviour(0.01), None,
                              None, lambda: self.up,
                              camera=Camera(self.onboard, "01.00.0900", 0.01))
        self.offline = []
        self.dev = SimAndroid(self.phone, "4.3.36+sim", frozenset(faults), aircraft_name="Spark",
                              sync_seconds=0.05, on_offline=lambda: self.offline.append(1),
                              **kw)

    def sh(self, line: str) -> str:
        rc, out, err = self.dev.shell(line)
        assert rc == 0, (line, rc, out, err)
        return out.decode()

    def dump(self) -> ET.Element:
        """What adbutils' dump_hierarchy does: rm, dump to a file, read the file."""
        out = self.sh(f"rm -f {DUMP}; uiautomator dump {DUMP} && echo success")
        assert "ERROR" not in out and "success" in out, out
        return ET.fromstring(self.dev.read(DUMP))

    def find(self, root=None, **want):
        root = self.dump() if root is None else root
        for n in root.iter("node"):
            if all(n.get(k.replace("_", "-")) == v for k, v in want.items()):
                return n
        return None

    def tap(self, **want):
        n = self.find(**want)
        assert n is not None, (want, self.texts())
        x1, y1, x2, y2 = map(int, re.findall(r"\d+", n.get("bounds")))
        self.sh(f"input tap {(x1 + x2) // 2} {(y1 + y2) // 2}")

    def texts(self, root=None):
        root = self.dump() if root is None else root
        return [n.get("text") for n in root.iter("node") if n.get("text")]

    def launch(self):
        self.sh(START)
        assert self.find(resource_id=ID + "main_device_more") is not None


def rid(name):
    return ID + name


def test_launch_running_and_force_stop():
    b = Bench()
    assert b.dev.shell("pidof dji.go.v4") == (1, b"", b"")
    assert "com.android.launcher3/" in b.sh("dumpsys window windows")
    out = b.sh(START)
    assert out == ("Starting: Intent { cmp=dji.go.v4/dji.pilot.main.activity."
                   "DJILauncherActivity }\n")
    assert b.phone.running and b.sh("pidof dji.go.v4") == "12345\n"
    assert ("  mCurrentFocus=Window{7f1c2d0 u0 dji.go.v4/dji.pilot2.main.activity."
            "DJIMainFragmentActivity}\n") in b.sh("dumpsys window")
    assert "Warning: Activity not started" in b.sh(START)
    assert b.dev.shell("am force-stop dji.go.v4") == (0, b"", b"")
    assert not b.phone.running
    assert b.sh("monkey -p dji.go.v4 -c android.intent.category.LAUNCHER 1").endswith(
        "not connected)\n")
    assert b.phone.running
    rc, out, err = b.dev.shell("am start -n com.example/.Main")
    assert rc == 0 and err == (b"Error type 3\nError: Activity class "
                               b"{com.example/com.example.Main} does not exist.\n")
    out = b.sh("am start -W -S -n dji.go.v4/dji.pilot.main.activity.DJILauncherActivity")
    assert "LaunchState: COLD" in out and out.endswith("Complete\n")


def test_version_props_and_other_commands():
    b = Bench()
    pkg = b.sh("dumpsys package dji.go.v4")
    assert "    versionCode=4003036 minSdk=21 targetSdk=28\n" in pkg
    assert "    versionName=4.3.36+sim\n" in pkg
    assert b.sh("dumpsys package nope") == "Unable to find package: nope\n"
    assert b.sh("getprop ro.product.model") == "SM-G970F\n"
    assert set(b.dev.props) >= {"ro.product.name", "ro.product.model", "ro.product.device"}
    assert "mWakefulness=Awake" in b.sh("dumpsys power")
    b.dev.screen_off()
    assert "mWakefulness=Asleep" in b.sh("dumpsys power")
    b.sh("input keyevent 224")
    assert "mWakefulness=Awake" in b.sh("dumpsys power")
    b.dev.screen_off()
    b.sh("input keyevent KEYCODE_WAKEUP; wm dismiss-keyguard")
    assert "mWakefulness=Awake" in b.sh("dumpsys power")
    for line in ("svc power stayon true", "settings put global stay_on_while_plugged_in 7"):
        assert b.dev.shell(line) == (0, b"", b"")
    assert b.sh("settings get global stay_on_while_plugged_in") == "7\n"
    assert b.sh("echo ok") == "ok\n"
    assert b.dev.shell("frobnicate -x") == (
        127, b"", b"/system/bin/sh: frobnicate: inaccessible or not found\n")
    shot = b.dev.shell("screencap -p")[1]
    assert shot.startswith(b"\x89PNG\r\n\x1a\n") and shot == png()
    b.sh("screencap -p /sdcard/s.png")
    assert b.dev.read("/sdcard/s.png") == png()
    assert b.dev.shell("cat /sdcard/s.png") == (0, png(), b"")
    assert b.dev.shell("cat /sdcard/none")[0] == 1


def test_uiautomator_dump_formats():
    b = Bench()
    b.sh(START)
    out = b.sh("uiautomator dump")
    assert out == f"UI hierchary dumped to: {DUMP_DEFAULT}\n"
    xml = b.dev.read(DUMP_DEFAULT).decode()
    assert xml.startswith("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"
                          '<hierarchy rotation="1"><node index="0" text="" resource-id="" '
                          'class="android.widget.FrameLayout" package="dji.go.v4" '
                          'content-desc="" checkable="false" checked="false" clickable="false"'
                          ' enabled="true" focusable="false" focused="false" scrollable="false"'
                          ' long-clickable="false" password="false" selected="false" '
                          'bounds="[0,0][2280,1080]">')
    tty = b.sh("uiautomator dump --compressed /dev/tty")
    assert tty.endswith("UI hierchary dumped to: /dev/tty\n") and tty.startswith("<?xml")
    root = ET.fromstring(tty[:tty.index("UI hierchary")])
    for n in root.iter("node"):  # every node has real bounds inside the screen
        x1, y1, x2, y2 = map(int, re.findall(r"\d+", n.get("bounds")))
        assert 0 <= x1 < x2 <= 2280 and 0 <= y1 < y2 <= 1080, n.attrib


def test_home_shows_the_aircraft_and_go_fly_only_when_linked():
    b = Bench()
    b.launch()
    assert b.find(resource_id=rid("main_device_status")).get("text") == "Disconnected"
    assert b.find(resource_id=rid("main_go_fly_btn")).get("enabled") == "false"
    b.tap(resource_id=rid("main_go_fly_btn"))  # disabled: nothing
    assert b.find(resource_id=rid("main_device_more")) is not None
    b.up = True
    root = b.dump()
    assert b.find(root, resource_id=rid("main_device_status")).get("text") == "Connected"
    assert b.find(root, resource_id=rid("main_device_name")).get("text") == "Spark"
    b.tap(resource_id=rid("main_go_fly_btn"))
    assert "dji.pilot.fpv.activity.DJIPreviewActivity}" in b.sh("dumpsys window windows")
    b.sh("input tap 5 1075")  # on nothing clickable: nothing
    assert "DJIPreviewActivity}" in b.sh("dumpsys window windows")
    b.sh("input keyevent 4")
    assert "DJIMainFragmentActivity}" in b.sh("dumpsys window windows")


def open_privacy(b):
    b.tap(text="Me")
    b.tap(text="Settings")
    b.tap(text="Privacy")


def test_settings_toggle_and_persist_across_force_stop():
    b = Bench()
    b.launch()
    open_privacy(b)
    sw = b.find(resource_id=rid("setting_diagnostics_switch"))
    assert sw.get("class") == "android.widget.Switch" and sw.get("checkable") == "true"
    assert sw.get("checked") == "true"
    b.tap(resource_id=rid("setting_diagnostics_switch"))
    assert b.find(resource_id=rid("setting_diagnostics_switch")).get("checked") == "false"
    assert b.phone.settings["diagnostics"] is False
    b.sh("am force-stop dji.go.v4")
    b.launch()
    open_privacy(b)
    assert b.find(resource_id=rid("setting_diagnostics_switch")).get("checked") == "false"


def test_local_data_mode_asks_first_and_turns_off_at_once():
    b = Bench()
    b.launch()
    open_privacy(b)
    b.tap(resource_id=rid("setting_ldm_switch"))
    root = b.dump()
    assert b.find(root, text="Enable Local Data Mode?") is not None
    assert b.phone.settings["local_data_mode"] is False
    b.tap(resource_id=rid("popup_dlg_cancel_btn"))
    assert b.find(resource_id=rid("setting_ldm_switch")).get("checked") == "false"
    b.tap(resource_id=rid("setting_ldm_switch"))
    b.tap(text="OK")
    assert b.find(resource_id=rid("setting_ldm_switch")).get("checked") == "true"
    assert b.phone.settings["local_data_mode"] is True
    b.tap(resource_id=rid("setting_ldm_switch"))  # off: no question
    assert b.phone.settings["local_data_mode"] is False


def test_about_shows_firmware_only_when_linked():
    b = Bench()
    b.launch()
    b.tap(text="Me")
    b.tap(text="Settings")
    b.tap(text="About")
    root = b.dump()
    assert b.find(root, resource_id=rid("about_app_version")).get("text") == "4.3.36+sim"
    assert b.find(root, resource_id=rid("about_aircraft_firmware")) is None
    b.up = True
    assert b.find(resource_id=rid("about_aircraft_firmware")).get("text") == "01.00.0900"


def test_flight_record_sync_shows_synchronizing_then_asks_the_app():
    b = Bench()
    b.phone.behaviour.records.append(Record(1, 1_765_000_000.0, 150_000))
    b.launch()
    b.tap(resource_id=rid("main_device_more"))
    b.tap(text="Flight Record")
    root = b.dump()
    assert b.find(root, resource_id=rid("flightrecord_item_date")).get("text") == (
        "2025-12-06 05:46:40")
    assert b.find(root, resource_id=rid("flightrecord_item_size")).get("text") == "146.5 KB"
    b.tap(resource_id=rid("flightrecord_view_refresh"))
    assert b.phone.actions == ["sync"]
    assert "Synchronizing" in b.texts()
    time.sleep(0.06)
    assert "Synchronizing" not in b.texts()


def test_records_and_cached_media_as_files():
    b = Bench()
    b.phone.behaviour.records += [Record(1, 1_765_000_000.0, 150_000),
                                  Record(2, 1_765_003_600.5, 90_000)]
    d = "/sdcard/DJI/dji.go.v4/FlightRecord"
    names = b.sh(f"ls {d}").split()
    assert names == ["DJIFlightRecord_2025-12-06_[05-46-40].txt",
                     "DJIFlightRecord_2025-12-06_[06-46-40].txt", "MCDatFlightRecords"]
    entries = b.dev.listdir(d)
    assert entries[0][1:] == (stat.S_IFREG | 0o660, 150_000, 1_765_000_000)
    assert entries[2][1] == stat.S_IFDIR | 0o771
    assert b.dev.stat(d)[0] == stat.S_IFDIR | 0o771
    assert len(b.dev.read(f"{d}/{names[1]}")) == 90_000
    assert b.dev.listdir(d + "/MCDatFlightRecords")[0][0] == "25-12-06-05-46-40_FLY001.DAT"
    assert b.dev.stat("/storage/emulated/0/DJI/dji.go.v4/FlightRecord/" + names[0])[1] == 150_000
    assert b.dev.stat("/sdcard/nope") is None and b.dev.listdir("/sdcard/nope") is None
    assert b.dev.write("/sdcard/Download/x.bin", b"abc", 0o644, 7)
    assert b.dev.stat("/sdcard/Download/x.bin") == (stat.S_IFREG | 0o644, 3, 7)
    # the app takes a photo and a video: its cache holds a thumbnail and the video
    b.up = True
    b.launch()
    b.tap(resource_id=rid("main_go_fly_btn"))
    b.tap(resource_id=rid("fpv_shutter_btn"))
    b.tap(resource_id=rid("fpv_capture_mode_btn"))
    b.tap(resource_id=rid("fpv_shutter_btn"))
    b.tap(resource_id=rid("fpv_shutter_btn"))
    [thumb] = b.sh("ls /sdcard/DJI/dji.go.v4/CACHE_IMAGE").split()
    assert re.fullmatch(r"thumb_[0-9a-f]{16}_\d{13}\.jpg", thumb)
    videos = b.sh("ls /sdcard/DJI/dji.go.v4/DJI_RECORD").split()
    assert len(videos) == 2 and videos[0][:-5] == videos[1][:-4]  # X.info, X.mp4
    assert re.fullmatch(r"\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.mp4", videos[1])


def test_camera_view_takes_photo_and_video_through_the_aircraft():
    b = Bench()
    b.up = True
    b.launch()
    b.tap(text="GO FLY")
    b.tap(resource_id=rid("fpv_shutter_btn"))
    assert [m.kind for m in b.onboard.media] == ["photo"]
    assert b.find(resource_id=rid("fpv_last_media_name")).get("text") == "DJI_0001.JPG"
    b.tap(resource_id=rid("fpv_capture_mode_btn"))
    assert b.find(resource_id=rid("fpv_shutter_btn")).get("content-desc") == "Start Recording"
    b.tap(resource_id=rid("fpv_shutter_btn"))
    assert b.find(resource_id=rid("fpv_record_time")).get("text") == "REC"
    b.tap(content_desc="Stop Recording")
    assert [m.kind for m in b.onboard.media] == ["photo", "video"]
    assert b.find(resource_id=rid("fpv_last_media_name")).get("text") == "DJI_0002.MP4"
    # the link drops under the camera view: the app says so, OK goes home
    b.up = False
    b.tap(text="OK")
    assert "DJIMainFragmentActivity}" in b.sh("dumpsys window windows")


def test_share_one_photo_from_the_album():
    b = Bench()
    b.up = True
    b.onboard.take_photo()
    b.onboard.take_photo()
    b.launch()
    b.tap(text="Album")
    root = b.dump()
    assert [n.get("text") for n in root.iter("node")
            if n.get("resource-id") == rid("album_item_name")] == ["DJI_0002.JPG",
                                                                 "DJI_0001.JPG"]
    assert b.find(root, resource_id=rid("album_share_btn")).get("enabled") == "false"
    b.tap(text="DJI_0001.JPG")
    assert b.find(text="DJI_0001.JPG") is not None
    row = [n for n in b.dump().iter("node") if n.get("resource-id") == rid("album_item")][1]
    assert row.get("selected") == "true"
    b.tap(resource_id=rid("album_share_btn"))
    sheet = b.dump()
    assert b.find(sheet, text="Share to SkyPixel") is not None
    assert b.find(sheet, resource_id=rid("share_sheet_file")).get("text") == "DJI_0001.JPG"
    b.tap(resource_id=rid("share_confirm_btn"))
    assert b.phone.actions == ["share:1"]
    assert b.find(resource_id=rid("album_share_result")).get("text") == "Shared"


def test_dialogs_over_any_screen():
    b = Bench()
    b.launch()
    b.dev.pop_dialog("update")
    assert b.find(text="A new version is available") is not None
    b.tap(text="Ignore")
    b.dev.pop_dialog("permission")
    allow = b.find(resource_id="com.android.permissioncontroller:id/permission_allow_button")
    assert allow.get("package") == "com.android.permissioncontroller"
    b.tap(text="Allow")
    b.dev.pop_dialog("anr")
    assert b.find(text="DJI GO 4 isn't responding") is not None
    b.tap(resource_id="android:id/aerr_wait")
    assert b.find(resource_id=rid("main_device_more")) is not None and b.phone.running


def test_first_run_shows_the_legal_agreement():
    b = Bench(first_run=True)
    b.sh(START)
    assert "DJILegalAgreement}" in b.sh("dumpsys window windows")
    b.tap(resource_id=rid("legal_agreement_agree"))
    assert b.find(resource_id=rid("main_device_more")) is not None
    b.sh("am force-stop dji.go.v4")
    b.launch()


# -- faults -----------------------------------------------------------------------------
def test_fault_toggle_ignored():
    b = Bench({"adb_toggle_ignored"})
    b.launch()
    open_privacy(b)
    b.tap(resource_id=rid("setting_diagnostics_switch"))
    assert b.find(resource_id=rid("setting_diagnostics_switch")).get("checked") == "true"
    assert b.phone.settings["diagnostics"] is True


def test_fault_unknown_dialog_covers_every_screen():
    b = Bench({"adb_unknown_dialog"})
    assert b.find(text="DJI GO 4") is not None  # the launcher: no dialog before a launch
    b.sh(START)
    assert b.find(text="Rate DJI GO 4!") is not None
    b.sh("input keyevent 4")  # not cancelable
    assert b.find(text="Rate DJI GO 4!") is not None
    b.tap(text="Maybe later")
    b.tap(text="Me")
    assert b.find(text="Rate DJI GO 4!") is not None  # back on the next screen


def test_fault_dump_fails_once_the_app_is_on_screen():
    b = Bench({"adb_dump_fails"})
    assert b.dump() is not None  # the launcher dumps
    b.sh(START)
    out = b.sh(f"rm -f {DUMP}; uiautomator dump {DUMP} && echo success")
    assert out == "ERROR: could not get idle state.\nsuccess\n"
    assert b.dev.read(DUMP) is None


def test_fault_app_crash_when_it_first_sees_the_aircraft():
    b = Bench({"adb_app_crash"})
    b.launch()
    b.up = True
    assert b.dev.shell("pidof dji.go.v4") == (1, b"", b"")
    assert b.find(text="DJI GO 4 keeps stopping") is not None
    b.tap(resource_id="android:id/aerr_close")
    b.launch()  # once only
    assert b.sh("pidof dji.go.v4") == "12345\n"


def test_fault_version_changes_after_the_first_force_stop():
    b = Bench({"adb_version_change"})
    b.sh("am force-stop dji.go.v4")  # never launched: no update
    assert "versionName=4.3.36+sim\n" in b.sh("dumpsys package dji.go.v4")
    b.sh(START)
    assert "versionName=4.3.36+sim\n" in b.sh("dumpsys package dji.go.v4")
    b.sh("am force-stop dji.go.v4")
    assert "versionName=4.3.37+sim\n" in b.sh("dumpsys package dji.go.v4")
    b.sh(START)
    b.sh("am force-stop dji.go.v4")
    assert "versionName=4.3.37+sim\n" in b.sh("dumpsys package dji.go.v4")


def test_fault_offline_hook_fires_when_the_app_first_sees_the_aircraft():
    b = Bench({"adb_offline"})
    b.launch()
    assert not b.dev.offline_due() and b.offline == []
    b.up = True
    b.dev.poll()
    b.dev.poll()
    assert b.dev.offline_due() and b.offline == [1]


def test_no_fault_no_effects():
    b = Bench()
    b.launch()
    b.up = True
    assert b.sh("pidof dji.go.v4") == "12345\n" and not b.dev.offline_due()
    assert "Rate DJI GO 4!" not in b.texts()


@pytest.mark.parametrize("name", ["adb_toggle_ignored", "adb_unknown_dialog", "adb_dump_fails",
                                  "adb_app_crash", "adb_version_change", "adb_offline"])
def test_adb_faults_are_known_to_the_bench(name):
    from hil.sim.faults import FAULTS
    assert FAULTS[name][0] == "!"
