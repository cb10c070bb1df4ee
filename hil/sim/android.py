"""A simulated Android phone running a model of DJI GO 4, as adb sees it.

`SimAndroid(phone, version, faults)` wraps a `SimPhone` (the app's state and behaviour,
shared with its SSH agent: nothing here is kept twice) and answers what an adb client asks
of a device: `shell(command)` (the shell line after "shell:"), and the sync service's
`stat`, `listdir`, `read`, `write`. The adb transport (hil.sim.adbd) calls these.

The shell answers as a real phone does, output formats included: `pidof`, `am start`,
`am force-stop`, `monkey`, `pm path`, `dumpsys package|window|power|display|usb`,
`uiautomator dump`, `input tap|keyevent`, `screencap -p`, `rm`, `cat`, `ls`, `echo`,
`getprop`, `wm size|dismiss-keyguard`, `svc power stayon`, `settings put|get`; lines
joined with `;`, `&&`, `||`. Anything else: exit 127, "inaccessible or not found".

The app's files under /sdcard/DJI/dji.go.v4 are generated from the app's state (flight
records from the behaviour model's records, cached pictures and videos from what the app
took); other files written (dumps, screenshots, pushes) live in a plain dict.

The screens (hil.sim.go4screens) are a model of GO 4's, written from the simulator's side.

Fault knobs (hil/sim/faults.py, claim "!": they break the phone's automation, no claim):
- adb_toggle_ignored: tapping the diagnostics switch redraws, the setting stays;
- adb_unknown_dialog: once the app was launched, "Rate DJI GO 4!" covers every app
  screen ("Maybe later" hides it until the screen changes);
- adb_dump_fails: every `uiautomator dump` while the app is on screen prints
  "ERROR: could not get idle state." and exits 0, writing nothing;
- adb_app_crash: when the app first sees its aircraft, its process dies and the
  "keeps stopping" dialog shows;
- adb_version_change: the first force-stop after a launch updates the app (versionName
  4.3.36+sim -> 4.3.37+sim), as Play would between runs;
- adb_offline: played by the transport; `on_offline` is called (and `offline_due()` turns
  True) when the app first sees its aircraft.
The world changes behind the model's back (the link comes up or drops): `poll()` notices,
and every shell, sync call and the bench's loop call it.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
import stat as st
import struct
import threading
import time
import zlib
from collections.abc import Callable

from hil.sim import go4screens as ui
from hil.sim.phone import NotLinked, SimPhone

APP = ui.APP
LAUNCH_ACTIVITY = "dji.pilot.main.activity.DJILauncherActivity"
ROOT = "/sdcard/DJI/dji.go.v4"
RECORDS = ROOT + "/FlightRecord"
DATS = RECORDS + "/MCDatFlightRecords"
THUMBS = ROOT + "/CACHE_IMAGE"
VIDEOS = ROOT + "/DJI_RECORD"
DUMP_DEFAULT = "/sdcard/window_dump.xml"
DIR_MODE = st.S_IFDIR | 0o771
FILE_MODE = st.S_IFREG | 0o660
# directories that exist whatever the app did
DIRS = {"/", "/sdcard", "/sdcard/DJI", ROOT, RECORDS, DATS, THUMBS, VIDEOS, ROOT + "/LOG",
        "/sdcard/Download", "/sdcard/DCIM", "/data", "/data/local", "/data/local/tmp", "/dev"}
PROPS = {  # a Samsung Galaxy S10e: 2280 x 1080
    "ro.product.name": "beyond0ltexx",
    "ro.product.model": "SM-G970F",
    "ro.product.device": "beyond0",
    "ro.product.manufacturer": "samsung",
    "ro.product.brand": "samsung",
    "ro.build.version.release": "10",
    "ro.build.version.sdk": "29",
    "ro.build.type": "user",
    "ro.product.cpu.abi": "arm64-v8a",
}
KEYS = {"4": "back", "KEYCODE_BACK": "back", "BACK": "back",
        "3": "home", "KEYCODE_HOME": "home", "HOME": "home",
        "224": "wakeup", "KEYCODE_WAKEUP": "wakeup", "WAKEUP": "wakeup",
        "26": "power", "KEYCODE_POWER": "power", "POWER": "power",
        "223": "sleep", "KEYCODE_SLEEP": "sleep", "SLEEP": "sleep",
        "82": "menu", "KEYCODE_MENU": "menu"}
FAULT_NAMES = ("adb_toggle_ignored", "adb_unknown_dialog", "adb_dump_fails", "adb_app_crash",
               "adb_version_change", "adb_offline")
PID = 12345


def next_version(version: str) -> str:
    """4.3.36+sim -> 4.3.37+sim: the last number of the version, one up."""
    m = re.search(r"(\d+)(\D*)$", version)
    if not m:
        return version + ".1"
    return version[:m.start()] + str(int(m.group(1)) + 1) + m.group(2)


def version_code(version: str) -> int:
    nums = [int(x) for x in re.findall(r"\d+", version)[:3]] + [0, 0, 0]
    return nums[0] * 1_000_000 + nums[1] * 1_000 + nums[2]


def png(width: int = 228, height: int = 108, grey: int = 0x80) -> bytes:
    """A valid greyscale PNG of one shade (a screenshot stand-in)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\0" + bytes([grey]) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class SimAndroid:
    def __init__(self, phone: SimPhone, version: str, faults: frozenset[str],
                 serial_hint: str = "", *, aircraft_name: str = "Aircraft",
                 first_run: bool = False, sync_seconds: float = 0.3,
                 on_offline: Callable[[], None] | None = None):
        self.phone = phone
        self.version = version
        self.faults = frozenset(faults)
        self.serial = serial_hint or f"sim-{phone.name}"
        self.props = dict(PROPS, **{"ro.serialno": self.serial})
        self.aircraft_name = aircraft_name
        self.sync_seconds = sync_seconds
        self.on_offline = on_offline
        self.lock = threading.RLock()
        self.files: dict[str, tuple[bytes, int, int]] = {}  # path -> (data, mode, mtime)
        self._deleted: set[str] = set()  # generated files removed by `rm`
        self.global_settings: dict[str, str] = {}
        self.awake = True
        self.stay_on = False
        # the app's UI state (its process is phone.running)
        self._legal_pending = first_run
        self.stack: list[str] = ["home"]
        self.tab = "equipment"
        self.menu_open = False
        self.foreground = False  # the app's window is on top (else the launcher is)
        self.dialogs: list[str] = []  # top last
        self.selected: int | None = None
        self.shared = False
        self.capture_mode = "photo"
        self.recording = False
        self.last_media: str | None = None
        self.taken: list = []  # Media the app took (its cache files come from these)
        self._sync_started: float | None = None
        self._sync_shown = False
        self._launched_ever = False
        self._launched_since_stop = False
        self._version_changed = False
        self._first_link_seen = False
        self._was_linked = False
        self._offline_due = False
        self._rate_hidden_on: str | None = None  # adb_unknown_dialog: hidden on this screen
        self.installed_at = int(time.time()) - 86_400

    # -- the world behind the model's back ----------------------------------------------
    def poll(self) -> None:
        """Notice what changed in the world: the app seeing its aircraft for the first
        time (faults adb_app_crash, adb_offline), the link dropping under the camera view."""
        fire = False
        with self.lock:
            with self.phone.lock:
                linked = self.phone.shows_linked()
                if linked and not self._first_link_seen:
                    self._first_link_seen = True
                    if "adb_offline" in self.faults:
                        self._offline_due = fire = True
                    if "adb_app_crash" in self.faults:
                        self._kill_locked()
                        self.dialogs = ["crash"]
                        linked = False
                if (self._was_linked and not linked and self.phone.running
                        and self.stack[-1] == "camera" and "disconnected" not in self.dialogs):
                    self.dialogs.append("disconnected")
                self._was_linked = linked
                if not self.phone.running:
                    self.dialogs = [d for d in self.dialogs if d in ("crash", "permission")]
        if fire and self.on_offline is not None:
            self.on_offline()

    def offline_due(self) -> bool:
        """Fault adb_offline: the app has seen its aircraft, the transport should drop."""
        return self._offline_due

    def pop_dialog(self, name: str) -> None:
        """Put a dialog over the screen: "update", "permission", "anr" (the bench's or a
        test's doing; the app shows them by itself on a real phone)."""
        if name not in ("update", "permission", "anr", "crash", "disconnected", "rate"):
            raise ValueError(f"no such dialog {name!r}")
        with self.lock:
            self.dialogs.append(name)

    def screen_off(self) -> None:
        with self.lock:
            self.awake = False

    # -- the app's process ---------------------------------------------------------------
    def _kill_locked(self) -> None:  # phone.lock held
        self.phone.running = False
        self.foreground = False
        self.stack, self.tab, self.menu_open = ["home"], "equipment", False
        self.dialogs = [d for d in self.dialogs if d == "permission"]
        self.selected, self.shared, self.recording = None, False, False
        self._sync_started = None
        self._rate_hidden_on = None

    def _launch(self) -> bool:
        """Start the app (or bring it to the front); True when it was already running."""
        with self.phone.lock:
            was = self.phone.running
            if not was:
                self.phone.running = True
                self.stack = ["legal" if self._legal_pending else "home"]
                self.tab = "equipment"
                self.dialogs = [d for d in self.dialogs if d not in ("crash", "anr")]
            self.foreground = True
            self.awake = True
            self._launched_ever = self._launched_since_stop = True
        return was

    def _force_stop(self) -> None:
        with self.phone.lock:
            self._kill_locked()
            if ("adb_version_change" in self.faults and self._launched_since_stop
                    and not self._version_changed):
                self._version_changed = True
                old, self.version = self.version, next_version(self.version)
                if self.phone.behaviour.version == old:
                    self.phone.behaviour.version = self.version
            self._launched_since_stop = False

    # -- the screen ------------------------------------------------------------------------
    def _top_dialog(self) -> str | None:
        if self.dialogs:
            return self.dialogs[-1]
        if ("adb_unknown_dialog" in self.faults and self._launched_ever and self.phone.running
                and self.foreground and self._rate_hidden_on != self._screen_key()):
            return "rate"
        return None

    def _screen_key(self) -> str:
        return f"{len(self.stack)}:{self.stack[-1]}:{self.tab}:{self.menu_open}"

    def scene(self) -> ui.Scene:
        """What is on the screen now (phone.lock taken here)."""
        with self.phone.lock:
            running = self.phone.running and self.foreground
            linked = self.phone.shows_linked()
            settings = tuple(self.phone.settings.items())
            firmware = self.phone.shown_firmware()
            records = tuple(ui.RecordRow(r.time, r.size, r.synced)
                            for r in reversed(self.phone.behaviour.records))
        media = ()
        if linked and self.phone.camera is not None:
            card, _ = self.phone.camera.onboard.snapshot()
            media = tuple(ui.MediaRow(m.index, posixpath.basename(m.file_url), m.size)
                          for m in reversed(card))
        syncing = False
        if self._sync_started is not None:
            syncing = (not self._sync_shown
                       or time.monotonic() < self._sync_started + self.sync_seconds)
            if not syncing:
                self._sync_started = None
        return ui.Scene(awake=self.awake, running=running, screen=self.stack[-1],
                        dialog=self._top_dialog(), tab=self.tab, menu_open=self.menu_open,
                        linked=linked, aircraft_name=self.aircraft_name, settings=settings,
                        version=self.version, firmware=firmware, records=records,
                        syncing=syncing, media=media, selected=self.selected,
                        shared=self.shared, capture_mode=self.capture_mode,
                        recording=self.recording, last_media=self.last_media,
                        new_version=next_version(self.version))

    def dump_xml(self) -> str:
        s = self.scene()
        if s.syncing:
            self._sync_shown = True
        return ui.to_xml(ui.render(s))

    def tap(self, x: int, y: int) -> None:
        s = self.scene()
        if not s.awake:
            return
        node = ui.hit(ui.render(s), x, y)
        if node is None or not node.enabled or node.action is None:
            return
        self._act(node.action, s)

    def _push(self, screen: str) -> None:
        self.stack.append(screen)
        self.menu_open = False
        self.shared = False

    def _act(self, action: str, s: ui.Scene) -> None:
        kind, _, arg = action.partition(":")
        if s.dialog == "rate" and not self.dialogs:  # the fault's dialog, not in the stack
            if kind == "dismiss":
                self._rate_hidden_on = self._screen_key()
            return
        if kind == "launch":
            self._launch()
        elif kind == "noop":
            pass
        elif kind == "dismiss":
            self.dialogs.pop()
        elif kind == "kill":
            with self.phone.lock:
                self._kill_locked()
        elif kind == "back":
            self._back()
        elif kind == "menu":
            self.menu_open = True
        elif kind == "menu_close":
            self.menu_open = False
        elif kind == "tab":
            self.tab, self.menu_open = arg, False
        elif kind == "open":
            self._push(arg)
            if arg == "album":
                self.selected = None
        elif kind == "gofly":
            self._push("camera")
        elif kind == "legal_agree":
            self._legal_pending = False
            self.stack = ["home"]
        elif kind == "legal_disagree":
            with self.phone.lock:
                self._kill_locked()
        elif kind == "toggle":
            self._toggle(arg, s)
        elif kind == "ldm_ok":
            self.dialogs.pop()
            with self.phone.lock:
                self.phone.set_setting("local_data_mode", True)
        elif kind == "disconnected_ok":
            self.dialogs.pop()
            while len(self.stack) > 1 and self.stack[-1] == "camera":
                self.stack.pop()
        elif kind == "sync":
            with self.phone.lock:
                self.phone.user_action("sync")
            self._sync_started, self._sync_shown = time.monotonic(), False
        elif kind == "select":
            self.selected, self.shared = int(arg), False
        elif kind == "share":
            self.dialogs.append("share")
        elif kind == "share_confirm":
            self.dialogs.pop()
            with self.phone.lock:
                self.shared = self.phone.user_action(f"share:{self.selected}")
        elif kind == "mode":
            if not self.recording:
                self.capture_mode = "video" if self.capture_mode == "photo" else "photo"
        elif kind == "shutter":
            self._shutter()

    def _toggle(self, name: str, s: ui.Scene) -> None:
        on = dict(s.settings).get(name)
        if name == "diagnostics" and "adb_toggle_ignored" in self.faults:
            return  # redrawn, unchanged
        if name == "local_data_mode" and not on:
            self.dialogs.append("ldm_confirm")
            return
        with self.phone.lock:
            self.phone.set_setting(name, not on)

    def _shutter(self) -> None:
        if self.capture_mode == "photo":
            args = ["photo"]
        else:
            args = ["video", "stop" if self.recording else "start"]
        with self.phone.lock:
            try:
                media = self.phone.capture(args)
            except NotLinked:
                return
        if args[-1] == "start":
            self.recording = True
        elif args[0] == "video":
            self.recording = False
        if media is not None:
            self.taken.append(media)
            self.last_media = posixpath.basename(media.file_url)

    def _back(self) -> None:
        if not self.dialogs and self._top_dialog() == "rate":
            return  # fault adb_unknown_dialog: not cancelable
        if self.dialogs:
            if self.dialogs[-1] not in ("crash", "anr"):
                self.dialogs.pop()
            return
        with self.phone.lock:
            running = self.phone.running
        if not running or not self.foreground:
            return
        if self.menu_open:
            self.menu_open = False
        elif len(self.stack) > 1:
            self.stack.pop()
            self.shared = False
        elif self.stack[-1] == "home" and self.tab != "equipment":
            self.tab = "equipment"
        else:
            self.foreground = False  # to the launcher; the process lives on

    def _key(self, name: str) -> None:
        if name == "wakeup":
            self.awake = True
        elif name == "sleep":
            self.awake = False
        elif name == "power":
            self.awake = not self.awake
        elif not self.awake:
            return
        elif name == "back":
            self._back()
        elif name == "home":
            self.foreground = False

    # -- files -----------------------------------------------------------------------------
    def _generated(self) -> dict[str, tuple[int, int]]:
        """The app's files, from its state: path -> (size, mtime)."""
        out: dict[str, tuple[int, int]] = {}
        for r in list(self.phone.behaviour.records):
            t = time.gmtime(r.time)
            out[f"{RECORDS}/DJIFlightRecord_{time.strftime('%Y-%m-%d_[%H-%M-%S]', t)}.txt"] = (
                r.size, int(r.time))
            out[f"{DATS}/{time.strftime('%y-%m-%d-%H-%M-%S', t)}_FLY{r.id:03d}.DAT"] = (
                max(1, r.size // 3), int(r.time))
        for m in self.taken:
            if m.kind == "photo":
                h = hashlib.sha256(f"{m.index}:{m.taken}".encode()).hexdigest()[:16]
                out[f"{THUMBS}/thumb_{h}_{int(m.taken * 1000)}.jpg"] = (
                    max(1, m.size // 40), int(m.taken))
            else:
                base = f"{VIDEOS}/{time.strftime('%Y_%m_%d_%H_%M_%S', time.gmtime(m.taken))}"
                out[base + ".mp4"] = (max(1, m.size // 4), int(m.taken))
                out[base + ".info"] = (256, int(m.taken))
        return {p: v for p, v in out.items() if p not in self._deleted}

    @staticmethod
    def _norm(path: str) -> str:
        path = posixpath.normpath("/" + path.strip().lstrip("/"))
        for alias in ("/storage/emulated/0", "/storage/self/primary", "/mnt/sdcard"):
            if path == alias or path.startswith(alias + "/"):
                path = "/sdcard" + path[len(alias):]
        return path

    def _dirs(self, gen: dict) -> set[str]:
        dirs = set(DIRS)
        for p in list(gen) + list(self.files):
            d = posixpath.dirname(p)
            while d not in dirs:
                dirs.add(d)
                d = posixpath.dirname(d)
        return dirs

    def stat(self, path: str) -> tuple[int, int, int] | None:
        self.poll()
        path = self._norm(path)
        with self.lock:
            if path in self.files:
                data, mode, mtime = self.files[path]
                return mode, len(data), mtime
            gen = self._generated()
            if path in gen:
                size, mtime = gen[path]
                return FILE_MODE, size, mtime
            if path in self._dirs(gen):
                return DIR_MODE, 4096, self.installed_at
        return None

    def listdir(self, path: str) -> list[tuple[str, int, int, int]] | None:
        self.poll()
        path = self._norm(path)
        with self.lock:
            gen = self._generated()
            dirs = self._dirs(gen)
            if path not in dirs:
                return None
            out: dict[str, tuple[str, int, int, int]] = {}
            for d in dirs:
                if d != path and posixpath.dirname(d) == path:
                    out[d] = (posixpath.basename(d), DIR_MODE, 4096, self.installed_at)
            for p, (size, mtime) in gen.items():
                if posixpath.dirname(p) == path:
                    out[p] = (posixpath.basename(p), FILE_MODE, size, mtime)
            for p, (data, mode, mtime) in self.files.items():
                if posixpath.dirname(p) == path:
                    out[p] = (posixpath.basename(p), mode, len(data), mtime)
            return sorted(out.values())

    def read(self, path: str) -> bytes | None:
        self.poll()
        path = self._norm(path)
        with self.lock:
            if path in self.files:
                return self.files[path][0]
            gen = self._generated()
            if path in gen:
                size = gen[path][0]
                pattern = hashlib.sha256(path.encode()).digest()
                return (pattern * (size // len(pattern) + 1))[:size]
        return None

    def write(self, path: str, data: bytes, mode: int, mtime: int) -> bool:
        path = self._norm(path)
        with self.lock:
            parent = posixpath.dirname(path)
            gen = self._generated()
            if path in self._dirs(gen) or path in gen or (
                    not parent.startswith(("/sdcard", "/data/local/tmp"))):
                return False
            self.files[path] = (bytes(data), st.S_IFREG | (mode & 0o7777 or 0o660),
                                int(mtime))
            return True

    # -- the shell -------------------------------------------------------------------------
    def shell(self, command: str) -> tuple[int, bytes, bytes]:
        """Run a shell line as the phone's /system/bin/sh would (simple lines only)."""
        self.poll()
        try:
            lex = shlex.shlex(command, posix=True, punctuation_chars=";&|>")
            lex.whitespace_split = True
            tokens = list(lex)
        except ValueError as e:
            return 1, b"", f"/system/bin/sh: syntax error: {e}\n".encode()
        out, err, rc = b"", b"", 0
        argv: list[str] = []
        op = ";"
        for tok in tokens + [";"]:
            if tok in (";", "&&", "||", "&"):
                if argv:
                    run = op in (";", "&") or (op == "&&" and rc == 0) or (op == "||" and rc != 0)
                    if run:
                        rc, o, e = self._pipeline(argv)
                        out, err = out + o, err + e
                op, argv = (";" if tok == "&" else tok), []
            else:
                argv.append(tok)
        return rc, out, err

    def _pipeline(self, argv: list[str]) -> tuple[int, bytes, bytes]:
        """`cmd | grep [-v] [-E] WORD` (the one filter a harness pipes into)."""
        parts = [[]]
        for a in argv:
            if a == "|":
                parts.append([])
            else:
                parts[-1].append(a)
        rc, out, err = self._redirected(parts[0])
        for filt in parts[1:]:
            if filt[:1] != ["grep"] or not [a for a in filt[1:] if not a.startswith("-")]:
                name = filt[0] if filt else ""
                return 127, b"", f"/system/bin/sh: {name}: inaccessible or not found\n".encode()
            invert = "-v" in filt
            word = [a for a in filt[1:] if not a.startswith("-")][0]
            lines = [ln for ln in out.decode(errors="replace").splitlines(keepends=True)
                     if (re.search(word, ln) is not None) != invert]
            out, rc = "".join(lines).encode(), 0 if lines else 1
        return rc, out, err

    def _redirected(self, argv: list[str]) -> tuple[int, bytes, bytes]:
        """`cmd > PATH`, `cmd >> PATH`, `cmd 2> PATH` (stderr to /dev/null only)."""
        target, append, quiet = None, False, False
        while ">" in argv or ">>" in argv:
            i = next(i for i, a in enumerate(argv) if a in (">", ">>"))
            dest = argv[i + 1] if i + 1 < len(argv) else ""
            if i > 0 and argv[i - 1] == "2":
                quiet, argv = True, argv[:i - 1] + argv[i + 2:]
            else:
                target, append = dest, argv[i] == ">>"
                argv = argv[:i] + argv[i + 2:]
        if not argv:
            return 0, b"", b""
        rc, out, err = self._run(argv)
        err = b"" if quiet else err
        if target == "/dev/null":
            out = b""
        elif target is not None:
            old = (self.read(target) or b"") if append else b""
            if not self.write(target, old + out, 0o660, int(time.time())):
                return 1, b"", (f"/system/bin/sh: can't create {target}: "
                                "Permission denied\n").encode()
            out = b""
        return rc, out, err

    def _run(self, argv: list[str]) -> tuple[int, bytes, bytes]:
        name, args = argv[0], argv[1:]
        if name.startswith(("/system/bin/", "/system/xbin/")):
            name = posixpath.basename(name)
        fn = getattr(self, "_cmd_" + name, None) if re.fullmatch(r"[a-z]+", name) else None
        if fn is None:
            return 127, b"", f"/system/bin/sh: {argv[0]}: inaccessible or not found\n".encode()
        with self.lock:
            return fn(args)

    # each command: args -> (rc, stdout, stderr); self.lock held
    def _cmd_pidof(self, args):
        with self.phone.lock:
            running = self.phone.running
        if args == [APP] and running:
            return 0, f"{PID}\n".encode(), b""
        return 1, b"", b""

    def _cmd_am(self, args):
        if not args:
            return 1, b"", b"usage: am [subcommand] [options]\n"
        sub, rest = args[0], args[1:]
        if sub == "force-stop":
            if rest and rest[-1] == APP:
                self._force_stop()
            return 0, b"", b""
        if sub in ("start", "start-activity"):
            component, wait, stop = None, False, False
            i = 0
            while i < len(rest):
                a = rest[i]
                if a == "-n" and i + 1 < len(rest):
                    component, i = rest[i + 1], i + 2
                    continue
                wait |= a == "-W"
                stop |= a == "-S"
                i += 1
            if component is None:
                return 0, b"", b"Error: no component given\n"
            pkg, _, cls = component.partition("/")
            full = pkg + cls if cls.startswith(".") else cls
            out = f"Starting: Intent {{ cmp={component} }}\n"
            if pkg != APP or full != LAUNCH_ACTIVITY:
                return 0, out.encode(), (f"Error type 3\nError: Activity class "
                                         f"{{{pkg}/{full}}} does not exist.\n").encode()
            if stop:
                self._force_stop()
            was = self._launch()
            if was and not wait:
                out += ("Warning: Activity not started, its current task has been brought "
                        "to the front\n")
            if wait:
                out += (f"Status: ok\nLaunchState: {'HOT' if was else 'COLD'}\n"
                        f"Activity: {APP}/{ui.ACTIVITIES[self.stack[-1]]}\n"
                        f"TotalTime: 1843\nWaitTime: 1850\nComplete\n")
            return 0, out.encode(), b""
        return 255, b"", f"Unknown command: {sub}\n".encode()

    def _cmd_monkey(self, args):
        if "-p" in args and args.index("-p") + 1 < len(args) and args[args.index("-p") + 1] == APP:
            self._launch()
            return 0, (b"  bash arg: " + b"\n  bash arg: ".join(a.encode() for a in args)
                       + b"\nEvents injected: 1\n## Network stats: elapsed time=12ms (0ms "
                       b"mobile, 0ms wifi, 12ms not connected)\n"), b""
        return 252, b"", b"** No activities found to run, monkey aborted.\n"

    def _cmd_pm(self, args):
        if args[:1] == ["path"] and args[1:] == [APP]:
            return 0, f"package:/data/app/{APP}-1/base.apk\n".encode(), b""
        if args[:1] == ["list"] and args[1:2] == ["packages"]:
            return 0, f"package:{APP}\npackage:com.android.launcher3\n".encode(), b""
        return 1, b"", b""

    def _cmd_dumpsys(self, args):
        what = args[0] if args else ""
        if what == "package":
            return 0, self._dumpsys_package(args[1:]), b""
        if what == "window":
            pkg, title = ui.focus(self.scene())
            app = f"{APP}/{ui.ACTIVITIES[self.stack[-1]]}" if self._app_shown() else \
                f"{ui.LAUNCHER}/{ui.LAUNCHER_ACTIVITY}"
            return 0, (f"WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
                       f"  Window #0 Window{{7f1c2d0 u0 {title}}}:\n"
                       f"    mDisplayId=0 rootTaskId=12 mSession=Session{{3b9e1a8 {PID}:u0a234}}\n"
                       f"\n  mGlobalConfiguration={{1.0 ?mcc?mnc [en_US] ldltr sw411dp w869dp "
                       f"h387dp 420dpi nrml long land finger -keyb/v/h -nav/h winConfig="
                       f"{{ mBounds=Rect(0, 0 - 2280, 1080)}}}}\n"
                       f"  mCurrentFocus=Window{{7f1c2d0 u0 {title}}}\n"
                       f"  mFocusedApp=AppWindowToken{{a51e3f2 token=Token{{9c04b7e "
                       f"ActivityRecord{{5d2a0c1 u0 {app} t12}}}}}}\n").encode(), b""
        if what == "power":
            awake = "Awake" if self.awake else "Asleep"
            return 0, (f"POWER MANAGER (dumpsys power)\n\nPower Manager State:\n"
                       f"  mDirty=0x0\n  mWakefulness={awake}\n"
                       f"  mWakefulnessChanging=false\n  mIsPowered=true\n"
                       f"  mPlugType=2\n  mStayOn={str(self.stay_on).lower()}\n"
                       f"  mHoldingWakeLockSuspendBlocker=false\n"
                       f"  mHoldingDisplaySuspendBlocker={str(self.awake).lower()}\n"
                       f"Display Power: state={'ON' if self.awake else 'OFF'}\n").encode(), b""
        if what == "display":
            return 0, (b"DISPLAY MANAGER (dumpsys display)\n  mViewports=[DisplayViewport{"
                       b"type=INTERNAL, valid=true, isActive=true, displayId=0, uniqueId="
                       b"'local:0', physicalPort=0, orientation=1, logicalFrame=Rect(0, 0 - "
                       b"2280, 1080), physicalFrame=Rect(0, 0 - 2280, 1080), deviceWidth=2280,"
                       b" deviceHeight=1080}]\n"), b""
        if what == "usb":
            with self.phone.lock:
                linked = self.phone.linked()
            acc = ("UsbAccessory[mManufacturer=DJI, mModel=com.dji.logiclink, mDescription="
                   "DJI RC, mVersion=1.0, mUri=http://www.dji.com, mSerialNumberReader=null]"
                   if linked else "null")
            return 0, (f"USB MANAGER STATE (dumpsys usb):\n  USB Device State:\n"
                       f"    mCurrentFunctions=accessory,adb\n"
                       f"    mCurrentAccessory: {acc}\n").encode(), b""
        return 0, b"", b""

    def _app_shown(self) -> bool:
        with self.phone.lock:
            return self.phone.running and self.foreground

    def _dumpsys_package(self, args) -> bytes:
        if args != [APP]:
            return f"Unable to find package: {args[0] if args else ''}\n".encode()
        installed = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.installed_at))
        return (f"Activity Resolver Table:\n  Non-Data Actions:\n"
                f"      android.intent.action.MAIN:\n"
                f"        4e1b2a9 {APP}/{LAUNCH_ACTIVITY} filter 8d3f0c1\n"
                f"          Action: \"android.intent.action.MAIN\"\n"
                f"          Category: \"android.intent.category.LAUNCHER\"\n\n"
                f"Packages:\n  Package [{APP}] (2c7e9f4):\n    userId=10234\n"
                f"    pkg=Package{{6a0d3b5 {APP}}}\n    codePath=/data/app/{APP}-1\n"
                f"    resourcePath=/data/app/{APP}-1\n    primaryCpuAbi=armeabi-v7a\n"
                f"    secondaryCpuAbi=null\n"
                f"    versionCode={version_code(self.version)} minSdk=21 targetSdk=28\n"
                f"    versionName={self.version}\n    splits=[base]\n"
                f"    apkSigningVersion=2\n"
                f"    flags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP LARGE_HEAP ]\n"
                f"    timeStamp={installed}\n    firstInstallTime={installed}\n"
                f"    lastUpdateTime={installed}\n    installerPackageName=com.android.vending\n"
                f"    signatures=PackageSignatures{{b71e0a2 version:2, signatures:[3f5c91e4], "
                f"past signatures:[]}}\n    installPermissionsFixed=true\n"
                f"    pkgFlags=[ HAS_CODE ALLOW_CLEAR_USER_DATA ALLOW_BACKUP LARGE_HEAP ]\n"
                f"    requested permissions:\n      android.permission.INTERNET\n"
                f"      android.permission.ACCESS_FINE_LOCATION\n"
                f"      android.permission.WRITE_EXTERNAL_STORAGE\n"
                f"    User 0: ceDataInode=409621 installed=true hidden=false suspended=false "
                f"stopped={str(not self.phone.running).lower()} notLaunched=false enabled=0 "
                f"instant=false virtual=false\n").encode()

    def _cmd_uiautomator(self, args):
        if args[:1] != ["dump"]:
            return 1, b"", b"Usage: uiautomator <subcommand> [options]\n"
        paths = [a for a in args[1:] if not a.startswith("--")]
        path = paths[0] if paths else DUMP_DEFAULT
        if "adb_dump_fails" in self.faults and self._launched_ever and self._app_shown() \
                and self.awake:
            return 0, b"ERROR: could not get idle state.\n", b""
        xml = self.dump_xml().encode()
        done = f"UI hierchary dumped to: {path}\n".encode()
        if path == "/dev/tty":
            return 0, xml + done, b""
        if not self.write(path, xml, 0o660, int(time.time())):
            return 0, f"ERROR: could not write to {path}\n".encode(), b""
        return 0, done, b""

    def _cmd_input(self, args):
        if args[:1] == ["tap"] and len(args) == 3:
            try:
                x, y = int(float(args[1])), int(float(args[2]))
            except ValueError:
                return 1, b"", b"Error: Invalid arguments for command: tap\n"
            self.tap(x, y)
            return 0, b"", b""
        if args[:1] == ["keyevent"] and len(args) >= 2:
            for k in args[1:]:
                if k in KEYS:
                    self._key(KEYS[k])
            return 0, b"", b""
        if args[:1] in (["swipe"], ["text"]):
            return 0, b"", b""
        return 1, b"", b"Usage: input [<source>] <command> [<arg>...]\n"

    def _cmd_screencap(self, args):
        data = png(grey=0x80 if self.awake else 0)
        paths = [a for a in args if not a.startswith("-")]
        if paths:
            self.write(paths[0], data, 0o660, int(time.time()))
            return 0, b"", b""
        return 0, data, b""

    def _cmd_rm(self, args):
        force = any(a.startswith("-") and "f" in a for a in args)
        rc, err = 0, b""
        for a in (a for a in args if not a.startswith("-")):
            p = self._norm(a)
            if p in self.files:
                del self.files[p]
            elif p in self._generated():
                self._deleted.add(p)
            elif not force:
                rc, err = 1, err + f"rm: {a}: No such file or directory\n".encode()
        return rc, b"", err

    def _cmd_cat(self, args):
        out, err, rc = b"", b"", 0
        for a in args:
            data = self.read(a)
            if data is None:
                rc, err = 1, err + f"cat: {a}: No such file or directory\n".encode()
            else:
                out += data
        return rc, out, err

    def _cmd_ls(self, args):
        paths = [a for a in args if not a.startswith("-")] or ["/"]
        out, err, rc = b"", b"", 0
        for a in paths:
            entries = self.listdir(a)
            if entries is not None:
                out += b"".join(n.encode() + b"\n" for n, *_ in entries)
            elif self.stat(a) is not None:
                out += a.encode() + b"\n"
            else:
                rc, err = 1, err + f"ls: {a}: No such file or directory\n".encode()
        return rc, out, err

    def _cmd_echo(self, args):
        return 0, (" ".join(args) + "\n").encode(), b""

    def _cmd_true(self, args):
        return 0, b"", b""

    def _cmd_getprop(self, args):
        if args:
            return 0, (self.props.get(args[0], "") + "\n").encode(), b""
        return 0, "".join(f"[{k}]: [{v}]\n" for k, v in sorted(self.props.items())).encode(), b""

    def _cmd_wm(self, args):
        if args[:1] == ["size"]:
            return 0, b"Physical size: 1080x2280\n", b""
        if args[:1] == ["density"]:
            return 0, b"Physical density: 420\n", b""
        return 0, b"", b""

    def _cmd_svc(self, args):
        if args[:3] == ["power", "stayon", "true"] or args[:3] == ["power", "stayon", "usb"]:
            self.stay_on = True
        elif args[:3] == ["power", "stayon", "false"]:
            self.stay_on = False
        return 0, b"", b""

    def _cmd_settings(self, args):
        if args[:1] == ["put"] and len(args) >= 4:
            self.global_settings[f"{args[1]}/{args[2]}"] = args[3]
            return 0, b"", b""
        if args[:1] == ["get"] and len(args) >= 3:
            return 0, (self.global_settings.get(f"{args[1]}/{args[2]}", "null")
                       + "\n").encode(), b""
        return 0, b"", b""
