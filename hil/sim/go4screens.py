"""DJI GO 4's screens as a simulated Android phone shows them to `uiautomator dump`.

Pure: `render(scene)` builds the node tree of what is on the screen for a `Scene` (a
snapshot of the app's and the phone's state, made by hil.sim.android); `to_xml(root)`
writes it in uiautomator's format; `hit(root, x, y)` finds what a tap at (x, y) touches.

Written from the simulator's side, not from any recipe: a lab records the real app's
screens later. The few public GO 4 facts are kept (resource ids `dji.go.v4:id/...`,
`main_device_more` opening a menu with "Flight Record", the sync button
`flightrecord_view_refresh` and its "Synchronizing", `legal_agreement_agree`,
`popup_dlg_cancel_btn`, "Ignore"); every other id and text is invented, plausibly.

The phone is landscape (GO 4 runs landscape): 2280 x 1080, rotation 1. A dump shows the
top window only, as `uiautomator dump` does: a dialog's nodes without the screen below.
A node's `action` is a word the Android model acts on when the node is tapped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

APP = "dji.go.v4"
LAUNCHER = "com.android.launcher3"
PERMISSIONS = "com.android.permissioncontroller"
SYSTEMUI = "com.android.systemui"
W, H = 2280, 1080  # landscape
ROTATION = 1

# activity (for `dumpsys window`) of each screen
ACTIVITIES = {
    "home": "dji.pilot2.main.activity.DJIMainFragmentActivity",
    "legal": "dji.pilot2.main.activity.DJILegalAgreement",
    "settings": "dji.pilot2.setting.activity.DJISettingActivity",
    "privacy": "dji.pilot2.setting.activity.DJIPrivacySettingActivity",
    "about": "dji.pilot2.setting.activity.DJIAboutActivity",
    "camera": "dji.pilot.fpv.activity.DJIPreviewActivity",
    "flightrecord": "dji.pilot.flightrecord.activity.DJIFlightRecordActivity",
    "album": "dji.pilot.album.activity.DJIAlbumActivity",
}
LAUNCHER_ACTIVITY = "com.android.launcher3.Launcher"


def rid(name: str, package: str = APP) -> str:
    return f"{package}:id/{name}"


@dataclass
class Node:
    cls: str
    bounds: tuple[int, int, int, int]  # x1, y1, x2, y2
    text: str = ""
    rid: str = ""
    desc: str = ""
    package: str = APP
    clickable: bool = False
    checkable: bool = False
    checked: bool = False
    enabled: bool = True
    scrollable: bool = False
    selected: bool = False
    action: str | None = None
    children: list[Node] = field(default_factory=list)

    def add(self, *nodes: Node) -> Node:
        for n in nodes:
            n.package = self.package if n.package == APP else n.package
        self.children.extend(nodes)
        return self

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass(frozen=True)
class MediaRow:
    index: int
    name: str  # DJI_0007.JPG
    size: int


@dataclass(frozen=True)
class RecordRow:
    time: float
    size: int
    synced: bool


@dataclass(frozen=True)
class Scene:
    """What the screen shows now; made by the Android model from the app's state."""

    awake: bool = True
    running: bool = False
    screen: str = "home"  # a key of ACTIVITIES (the top of the app's back stack)
    dialog: str | None = None  # top dialog: ldm_confirm share update permission
    #                             disconnected rate crash anr
    tab: str = "equipment"  # home: equipment | me
    menu_open: bool = False
    linked: bool = False
    aircraft_name: str = "Aircraft"
    settings: tuple = ()  # ((name, on), ...)
    version: str = ""
    firmware: str | None = None
    records: tuple[RecordRow, ...] = ()
    syncing: bool = False
    media: tuple[MediaRow, ...] = ()  # newest first
    selected: int | None = None  # media index
    shared: bool = False
    capture_mode: str = "photo"  # photo | video
    recording: bool = False
    last_media: str | None = None
    new_version: str = ""  # the update nag's


# -- building blocks -------------------------------------------------------------------
def frame(bounds=(0, 0, W, H), package=APP, **kw) -> Node:
    return Node("android.widget.FrameLayout", bounds, package=package, **kw)


def text(t: str, bounds, name: str = "", package=APP, **kw) -> Node:
    return Node("android.widget.TextView", bounds, text=t,
                rid=rid(name, package) if name else "", package=package, **kw)


def button(t: str, bounds, name: str, action: str, package=APP, **kw) -> Node:
    return Node("android.widget.Button", bounds, text=t, rid=rid(name, package),
                package=package, clickable=True, action=action, **kw)


def image(desc: str, bounds, name: str, action: str | None = None, **kw) -> Node:
    return Node("android.widget.ImageView", bounds, desc=desc, rid=rid(name) if name else "",
                clickable=action is not None, action=action, **kw)


def row(bounds, name: str, label: str, action: str | None, *extra: Node) -> Node:
    """A list row: a clickable LinearLayout (when it has an action) holding its label."""
    x1, y1, x2, y2 = bounds
    n = Node("android.widget.LinearLayout", bounds, rid=rid(name), clickable=action is not None,
             action=action)
    return n.add(text(label, (x1 + 96, y1 + 30, x1 + 1200, y2 - 30), name + "_title"), *extra)


def top_bar(title: str, back: bool = True) -> Node:
    bar = Node("android.widget.RelativeLayout", (0, 0, W, 132), rid=rid("common_top_bar"))
    if back:
        bar.add(image("Back", (24, 18, 120, 114), "common_back_btn", "back"))
    return bar.add(text(title, (160, 30, 1000, 102), "common_title"))


def size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{n / 1024:.1f} KB"


# -- screens ---------------------------------------------------------------------------
def launcher(s: Scene) -> Node:
    root = frame(package=LAUNCHER)
    ws = Node("android.widget.ScrollView", (0, 0, W, H), package=LAUNCHER,
              rid=rid("workspace", LAUNCHER))
    ws.add(text("DJI GO 4", (1040, 400, 1240, 600), "icon", package=LAUNCHER, desc="DJI GO 4",
                clickable=True, action="launch"),
           text("Settings", (1340, 400, 1540, 600), "icon", package=LAUNCHER, desc="Settings",
                clickable=True, action="noop"))
    return root.add(ws)


def keyguard(s: Scene) -> Node:
    root = frame(package=SYSTEMUI)
    return root.add(text(time.strftime("%H:%M"), (940, 300, 1340, 460), "clock_view",
                         package=SYSTEMUI))


def home(s: Scene) -> Node:
    root = frame()
    root.add(Node("android.widget.RelativeLayout", (0, 0, W, 132), rid=rid("main_top_bar")).add(
        text("DJI GO 4", (96, 30, 560, 102), "main_title"),
        image("More", (2136, 18, 2232, 114), "main_device_more", "menu")))
    if s.tab == "me":
        root.add(Node("android.widget.LinearLayout", (240, 180, 2040, 360),
                      rid=rid("me_account")).add(
            image("Avatar", (260, 200, 400, 340), "me_avatar"),
            text("hil-lab", (440, 230, 1400, 310), "me_user_name")))
        root.add(row((240, 420, 2040, 540), "me_settings", "Settings", "open:settings"),
                 row((240, 560, 2040, 680), "me_store", "DJI Store", "noop"))
    else:
        card = Node("android.widget.LinearLayout", (240, 200, 2040, 760),
                    rid=rid("main_device_card"))
        card.add(image(s.aircraft_name if s.linked else "No aircraft", (300, 240, 1100, 720),
                       "main_device_image"))
        if s.linked:
            card.add(text(s.aircraft_name, (1160, 300, 1980, 380), "main_device_name"))
        card.add(text("Connected" if s.linked else "Disconnected", (1160, 400, 1980, 470),
                      "main_device_status"),
                 button("GO FLY", (1160, 560, 1700, 680), "main_go_fly_btn", "gofly",
                        enabled=s.linked))
        root.add(card)
    tabs = Node("android.widget.LinearLayout", (0, 960, W, H), rid=rid("main_tab_bar"))
    for i, (name, label, action) in enumerate((("equipment", "Equipment", "tab:equipment"),
                                               ("album", "Album", "open:album"),
                                               ("me", "Me", "tab:me"))):
        b = (i * 760, 960, (i + 1) * 760, H)
        tab = Node("android.widget.LinearLayout", b, rid=rid(f"main_tab_{name}"),
                   clickable=True, action=action, selected=s.tab == name)
        tabs.add(tab.add(text(label, (b[0] + 280, 990, b[2] - 280, 1050),
                              f"main_tab_{name}_text")))
    root.add(tabs)
    if s.menu_open:
        root.add(Node("android.view.View", (0, 0, W, H), rid=rid("main_more_menu_mask"),
                      clickable=True, action="menu_close"))
        menu = Node("android.widget.LinearLayout", (1720, 120, 2232, 500),
                    rid=rid("main_more_menu"))
        for i, (name, label, action) in enumerate((
                ("main_more_flight_record", "Flight Record", "open:flightrecord"),
                ("main_more_academy", "Academy", "menu_close"),
                ("main_more_help", "Help", "menu_close"))):
            y = 130 + i * 120
            item = Node("android.widget.LinearLayout", (1720, y, 2232, y + 110), rid=rid(name),
                        clickable=True, action=action)
            menu.add(item.add(image("", (1740, y + 25, 1800, y + 85), ""),
                              text(label, (1820, y + 20, 2212, y + 90), name + "_text")))
        root.add(menu)
    return root


def legal(s: Scene) -> Node:
    root = frame()
    return root.add(
        top_bar("DJI GO 4 Terms of Use and Privacy Policy", back=False),
        Node("android.widget.ScrollView", (96, 160, 2184, 840), rid=rid("legal_agreement_content"),
             scrollable=True).add(
            text("Please read the Terms of Use and the Privacy Policy carefully before using "
                 "this app.", (96, 160, 2184, 260), "legal_agreement_text")),
        button("Disagree", (600, 900, 1100, 1020), "legal_agreement_disagree", "legal_disagree"),
        button("Agree", (1180, 900, 1680, 1020), "legal_agreement_agree", "legal_agree"))


def settings_list(s: Scene) -> Node:
    root = frame().add(top_bar("Settings"))
    lst = Node("android.widget.ListView", (0, 132, W, H), rid=rid("setting_list"))
    for i, (name, label, action) in enumerate((("setting_general", "General", "noop"),
                                               ("setting_privacy", "Privacy", "open:privacy"),
                                               ("setting_clear_cache", "Clear Cache", "noop"),
                                               ("setting_about", "About", "open:about"))):
        y = 132 + i * 120
        lst.add(row((0, y, W, y + 120), name, label, action))
    return root.add(lst)


PRIVACY = (("diagnostics", "setting_diagnostics", "Send Diagnostic Data",
            "Share app performance and user experience data with DJI"),
           ("local_data_mode", "setting_ldm", "Local Data Mode",
            "The app stops sending and receiving internet data"))


def privacy(s: Scene) -> Node:
    root = frame().add(top_bar("Privacy"))
    settings = dict(s.settings)
    for i, (key, name, label, desc) in enumerate(PRIVACY):
        y = 160 + i * 180
        item = Node("android.widget.LinearLayout", (0, y, W, y + 160), rid=rid(name + "_item"))
        item.add(text(label, (96, y + 20, 1600, y + 80), name + "_title"),
                 text(desc, (96, y + 90, 1600, y + 140), name + "_desc"),
                 Node("android.widget.Switch", (2040, y + 40, 2184, y + 120),
                      rid=rid(name + "_switch"), clickable=True, checkable=True,
                      checked=bool(settings.get(key)), action=f"toggle:{key}"))
        root.add(item)
    return root


def about(s: Scene) -> Node:
    root = frame().add(top_bar("About"))
    rows = [("about_app_version", "App Version", s.version)]
    if s.firmware is not None:
        rows.append(("about_aircraft_firmware", "Aircraft Firmware", s.firmware))
    for i, (name, label, value) in enumerate(rows):
        y = 160 + i * 120
        root.add(Node("android.widget.LinearLayout", (0, y, W, y + 120), rid=rid(name + "_item"))
                 .add(text(label, (96, y + 30, 1000, y + 90), name + "_title"),
                      text(value, (1400, y + 30, 2184, y + 90), name)))
    return root


def camera(s: Scene) -> Node:
    root = frame()
    root.add(Node("android.view.TextureView", (0, 0, W, H), rid=rid("fpv_video_view")),
             image("Back", (24, 18, 120, 114), "fpv_back_btn", "back"),
             text("Ready to Go (GPS)" if s.linked else "Disconnected", (160, 30, 900, 102),
                  "fpv_status_text"))
    if s.recording:
        root.add(text("REC", (1040, 30, 1240, 102), "fpv_record_time"))
    shutter = ("Take Photo" if s.capture_mode == "photo" else
               "Stop Recording" if s.recording else "Start Recording")
    panel = Node("android.widget.LinearLayout", (2100, 200, W, 880), rid=rid("fpv_camera_panel"))
    panel.add(image("Photo" if s.capture_mode == "photo" else "Video", (2140, 220, 2240, 320),
                    "fpv_capture_mode_btn", "mode"),
              image(shutter, (2120, 480, 2260, 620), "fpv_shutter_btn", "shutter"),
              image("Album", (2140, 760, 2240, 860), "fpv_playback_btn", "open:album"))
    root.add(panel)
    if s.last_media:
        root.add(text(s.last_media, (1700, 960, 2080, 1040), "fpv_last_media_name"))
    return root


ROWS = 7  # list rows that fit below a top bar


def flightrecord(s: Scene) -> Node:
    root = frame().add(top_bar("Flight Record"))
    root.add(image("Sync", (2136, 18, 2232, 114), "flightrecord_view_refresh", "sync"))
    if s.syncing:
        root.add(text("Synchronizing", (1500, 30, 2100, 102), "flightrecord_sync_status"))
    root.add(text(f"Total flights: {len(s.records)}", (96, 150, 1200, 220), "flightrecord_total"))
    if not s.records:
        return root.add(text("No flight records", (840, 500, 1440, 580), "flightrecord_empty"))
    lst = Node("android.widget.ListView", (0, 240, W, H), rid=rid("flightrecord_list"),
               scrollable=len(s.records) > ROWS)
    for i, r in enumerate(s.records[:ROWS]):
        y = 240 + i * 120
        lst.add(Node("android.widget.LinearLayout", (0, y, W, y + 120),
                     rid=rid("flightrecord_item")).add(
            text(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.time)),
                 (96, y + 30, 900, y + 90), "flightrecord_item_date"),
            text(size_text(r.size), (1000, y + 30, 1500, y + 90), "flightrecord_item_size"),
            image("Synced" if r.synced else "Not synced", (2100, y + 30, 2160, y + 90),
                  "flightrecord_item_synced")))
    return root.add(lst)


def album(s: Scene) -> Node:
    root = frame().add(top_bar("Album"))
    if s.shared:
        root.add(text("Shared", (1300, 30, 1860, 102), "album_share_result"))
    root.add(button("Share", (1900, 24, 2232, 108), "album_share_btn", "share",
                    enabled=s.selected is not None))
    if not s.linked:
        return root.add(text("Connect the aircraft to view its SD card", (640, 500, 1640, 580),
                             "album_empty"))
    if not s.media:
        return root.add(text("No photos or videos", (840, 500, 1440, 580), "album_empty"))
    lst = Node("android.widget.ListView", (0, 132, W, H), rid=rid("album_list"),
               scrollable=len(s.media) > 8)
    for i, m in enumerate(s.media[:8]):
        y = 132 + i * 118
        lst.add(Node("android.widget.LinearLayout", (0, y, W, y + 118), rid=rid("album_item"),
                     clickable=True, selected=m.index == s.selected,
                     action=f"select:{m.index}").add(
            image(m.name, (96, y + 9, 296, y + 109), "album_item_thumb"),
            text(m.name, (340, y + 29, 1100, y + 89), "album_item_name"),
            text(size_text(m.size), (1200, y + 29, 1700, y + 89), "album_item_size")))
    return root.add(lst)


SCREENS = {"home": home, "legal": legal, "settings": settings_list, "privacy": privacy,
           "about": about, "camera": camera, "flightrecord": flightrecord, "album": album}


# -- dialogs ---------------------------------------------------------------------------
def _dialog(title: str, message: str, buttons, package=APP, title_id="dialog_title",
            message_id="dialog_message", bounds=(540, 240, 1740, 840)) -> Node:
    x1, y1, x2, y2 = bounds
    root = frame(bounds, package=package)
    root.add(text(title, (x1 + 60, y1 + 40, x2 - 60, y1 + 120), title_id, package=package),
             text(message, (x1 + 60, y1 + 150, x2 - 60, y1 + 400), message_id, package=package))
    n = len(buttons)
    width = (x2 - x1 - 40) // n
    for i, (label, name, action) in enumerate(buttons):
        bx = x1 + 20 + i * width
        root.add(button(label, (bx, y2 - 120, bx + width - 20, y2 - 20), name, action,
                        package=package))
    return root


def dialog(s: Scene) -> Node:
    d = s.dialog
    if d == "ldm_confirm":
        return _dialog("Enable Local Data Mode?",
                       "The app will stop sending and receiving internet data. Maps, "
                       "firmware updates and flight record sync will be unavailable.",
                       [("Cancel", "popup_dlg_cancel_btn", "dismiss"),
                        ("OK", "popup_dlg_confirm_btn", "ldm_ok")])
    if d == "share":
        name = next((m.name for m in s.media if m.index == s.selected), "")
        sheet = frame((0, 600, W, H))
        return sheet.add(text("Share to SkyPixel", (96, 630, 1400, 710), "share_sheet_title"),
                         text(name, (96, 730, 1400, 800), "share_sheet_file"),
                         button("Cancel", (1180, 940, 1680, 1050), "share_cancel_btn",
                                "dismiss"),
                         button("Share", (1720, 940, 2220, 1050), "share_confirm_btn",
                                "share_confirm"))
    if d == "update":
        return _dialog("A new version is available",
                       f"DJI GO 4 {s.new_version} is available. Update now?",
                       [("Ignore", "popup_dlg_cancel_btn", "dismiss"),
                        ("Update", "popup_dlg_confirm_btn", "dismiss")])
    if d == "disconnected":
        return _dialog("Aircraft disconnected", "The connection to the aircraft was lost.",
                       [("OK", "popup_dlg_confirm_btn", "disconnected_ok")])
    if d == "rate":
        return _dialog("Rate DJI GO 4!", "Enjoying DJI GO 4? Tell us what you think.",
                       [("Maybe later", "rate_dialog_later_btn", "dismiss"),
                        ("Rate now", "rate_dialog_rate_btn", "dismiss")],
                       title_id="rate_dialog_title", message_id="rate_dialog_message")
    if d == "permission":
        return _dialog("", "Allow DJI GO 4 to access this device's location?",
                       [("Deny", "permission_deny_button", "dismiss"),
                        ("Allow", "permission_allow_button", "dismiss")],
                       package=PERMISSIONS, title_id="permission_title",
                       message_id="permission_message")
    if d == "crash":
        return _dialog("DJI GO 4 keeps stopping", "",
                       [("App info", "aerr_app_info", "dismiss"),
                        ("Close app", "aerr_close", "dismiss")],
                       package="android", title_id="alertTitle", message_id="message")
    if d == "anr":
        return _dialog("DJI GO 4 isn't responding", "",
                       [("Close app", "aerr_close", "kill"), ("Wait", "aerr_wait", "dismiss")],
                       package="android", title_id="alertTitle", message_id="message")
    raise ValueError(f"no such dialog {d!r}")


def render(s: Scene) -> Node:
    """The top window: the lock screen, a dialog, the app's screen or the launcher."""
    if not s.awake:
        return keyguard(s)
    if s.dialog:
        return dialog(s)
    if not s.running:
        return launcher(s)
    return SCREENS[s.screen](s)


def focus(s: Scene) -> tuple[str, str]:
    """(package, window title) of the focused window, as `dumpsys window` names it."""
    if not s.awake:
        return SYSTEMUI, "NotificationShade"
    if s.dialog in ("crash", "anr"):
        what = "Error" if s.dialog == "crash" else "Not Responding"
        return "android", f"Application {what}: {APP}"
    if s.dialog == "permission":
        return PERMISSIONS, (f"{PERMISSIONS}/com.android.packageinstaller.permission.ui."
                             "GrantPermissionsActivity")
    if not s.running:
        return LAUNCHER, f"{LAUNCHER}/{LAUNCHER_ACTIVITY}"
    return APP, f"{APP}/{ACTIVITIES[s.screen]}"


# -- uiautomator's XML, and taps --------------------------------------------------------
def _attrs(n: Node, index: int) -> str:
    b = n.bounds

    def flag(v: bool) -> str:
        return "true" if v else "false"
    return (f'index="{index}" text={quoteattr(n.text)} resource-id={quoteattr(n.rid)} '
            f'class="{n.cls}" package="{n.package}" content-desc={quoteattr(n.desc)} '
            f'checkable="{flag(n.checkable)}" checked="{flag(n.checked)}" '
            f'clickable="{flag(n.clickable)}" enabled="{flag(n.enabled)}" '
            f'focusable="{flag(n.clickable)}" focused="false" '
            f'scrollable="{flag(n.scrollable)}" long-clickable="false" password="false" '
            f'selected="{flag(n.selected)}" bounds="[{b[0]},{b[1]}][{b[2]},{b[3]}]"')


def _xml(n: Node, index: int, out: list[str]) -> None:
    if not n.children:
        out.append(f"<node {_attrs(n, index)} />")
        return
    out.append(f"<node {_attrs(n, index)}>")
    for i, c in enumerate(n.children):
        _xml(c, i, out)
    out.append("</node>")


def to_xml(root: Node) -> str:
    out = ["<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>",
           f'<hierarchy rotation="{ROTATION}">']
    _xml(root, 0, out)
    out.append("</hierarchy>")
    return "".join(out)


def _inside(n: Node, x: int, y: int) -> bool:
    x1, y1, x2, y2 = n.bounds
    return x1 <= x < x2 and y1 <= y < y2


def hit(root: Node, x: int, y: int) -> Node | None:
    """The deepest clickable node under (x, y), the later (upper) sibling first."""
    if not _inside(root, x, y):
        return None
    for c in reversed(root.children):
        found = hit(c, x, y)
        if found is not None:
            return found
    return root if root.clickable else None
