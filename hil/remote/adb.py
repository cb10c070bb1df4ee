"""The `adb` phone backend: DJI GO 4 on an Android phone, driven through the adb server.

Nothing is installed on the phone. The app is launched, stopped and asked for its version
with `am`, `pidof` and `dumpsys`; its flight records are listed from its folders; every
setting and action goes through the UI recipe of the app's exact version
(`hil.remote.recipe`): the screen is read with `uiautomator dump`, an element is tapped at
the centre of its bounds in a fresh dump (`input tap`), and the screen is read again until
the expected state shows, within `step_timeout`. A setting is read once more after a
force-stop and relaunch. Known dialogs are dismissed before each step (and logged); a
dialog the recipe marks as an error (a crash) ends the step as an AppError.

Promises:
- An app version with no recipe, or a recipe entry that is only a placeholder, raises
  `AppCannot` (the claims that need it are skipped, naming the version and the recipes
  that exist); nothing is guessed.
- A phone that drops off adb is reconnected once (disconnect and connect, for a phone on
  `host:port`), and the command retried; then AppError naming the phone and the step.
- The app's version is read at every launch: a version that changes during a run (an
  update) is an AppError naming both.
- Every adb command is logged (logger `hil.adb`) with the server and the phone.

Flight records: id is the file name, time its mtime, size its size. Whether a record is
synced is known only for records the harness saw: those listed when a sync it pressed
finished are synced, those first seen after that are not; a record that predates the
harness's first look is `synced = None` (not counted as unsynced).

Bench file (its keys beyond every phone's backend, ip, platform)::

    [phone.pixel4]
    backend = "adb"
    ip = "10.20.0.34"
    platform = "android"
    serial = "10.20.0.34:5555"   # USB serial, or host:port for adb over Wi-Fi
    adb_port = 5037              # the adb server's port (default: ANDROID_ADB_SERVER_PORT,
                                 #   else 5037); the server runs on the bench host
    recipes = "recipes"          # a folder of recipes beside the bench file (its
                                 #   PACKAGE/*.toml files); the shipped ones come first
    locale = "en"                # the phone's language: recipes are per locale
    step_timeout = 20            # seconds a step may take to show its expected state
"""

from __future__ import annotations

import fnmatch
import logging
import os
import posixpath
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from hil.bench import SIM, PhoneConfig, Section
from hil.remote import adbshell, uitree
from hil.remote import recipe as recipes
from hil.remote.phone import (
    MEDIA,
    RECORDS,
    SETTINGS,
    SHOWS_AIRCRAFT,
    SHOWS_FIRMWARE,
    App,
    AppCannot,
    AppError,
)
from hil.remote.uitree import DumpError, Node

KEYS = ("serial", "adb_port", "recipes", "locale", "step_timeout")
PACKAGE = "dji.go.v4"
DUMP = "/data/local/tmp/hil-window.xml"
BACK = 4  # KEYCODE_BACK
WAKEUP = 224  # KEYCODE_WAKEUP
POLL = 0.05
log = logging.getLogger("hil.adb")


@dataclass(frozen=True)
class AdbOptions:
    serial: str
    adb_port: int | str  # str only while it is the "sim" placeholder
    recipes: Path | None
    locale: str
    step_timeout: float


def parse(section: Section) -> AdbOptions:
    """The phone's adb address, server port and recipe folder, validated."""
    serial = section.address("serial")
    port = section.table.get("adb_port", os.environ.get("ANDROID_ADB_SERVER_PORT", 5037))
    if port == SIM:
        section.address("adb_port")  # "sim" only on a simulated bench
    else:
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise section.fail("adb_port", f"{port!r} is not a port number") from None
        if not 0 < port < 65536:
            raise section.fail("adb_port", f"{port} is not a port number (1-65535)")
    folder = section.path("recipes", None)
    if folder is None and (section.folder / "recipes").is_dir():
        folder = section.folder / "recipes"
    folder = folder.resolve() if folder is not None else None  # a resolved copy lives elsewhere
    timeout = section.value("step_timeout", float, 20.0)
    if timeout <= 0:
        raise section.fail("step_timeout", "must be a positive number of seconds")
    return AdbOptions(serial, port, folder, section.value("locale", str, "en"), timeout)


def open_app(phone: PhoneConfig) -> AdbApp:
    return AdbApp(phone.name, phone.options)


def recipes_of(options: AdbOptions) -> recipes.Recipes:
    """The recipes this phone may use: the shipped ones, then its bench's folder."""
    return recipes.Recipes([recipes.SHIPPED, options.recipes])


class AdbApp(App):
    """GO 4 on one Android phone, through the adb server on the bench host."""

    capabilities = frozenset({SHOWS_AIRCRAFT, SHOWS_FIRMWARE, RECORDS, MEDIA})

    def __init__(self, name: str, options: AdbOptions, package: str = PACKAGE):
        import adbutils  # here, not at import: reading a bench file stays light

        self._adbutils = adbutils
        self.name, self.options, self.package = name, options, package
        self.client = adbutils.AdbClient(host="127.0.0.1", port=int(options.adb_port),
                                         socket_timeout=max(10.0, options.step_timeout))
        self.recipes = recipes_of(options)
        self._recipe: recipes.Recipe | None = None
        self._version: str | None = None  # the first version read in this run
        self._synced: set[str] = set()
        self._seen: set[str] | None = None  # records present at the first look
        self.step = "start"
        self._device = None
        self._transport = ""
        self.last_dump = ""  # the last screen read, its XML
        self._launched = False  # launched by the harness, not closed since

    # -- adb ----------------------------------------------------------------------------
    def _where(self) -> str:
        return f"adb server 127.0.0.1:{self.options.adb_port} -> {self.options.serial}"

    def sh(self, cmd: str, step: str | None = None, timeout: float | None = None,
           binary: bool = False, repeat: bool = True):
        """Run a shell command on the phone: (exit code, output). On a drop: one reconnect,
        then the command again if `repeat` (a read); a command that acts (a tap, a key, a
        launch) is not sent twice: the step is an AppError (it may have landed)."""
        step = step or self.step
        timeout = timeout or self.options.step_timeout
        log.info("%s: shell %s", self._where(), cmd)
        try:
            return self._shell(cmd, timeout, binary)
        except (self._adbutils.AdbError, OSError) as first:
            log.warning("phone %s: adb failed during %s (%s); reconnecting once",
                        self.name, step, first)
            try:
                self.reconnect()
                if not repeat:
                    raise AppError(f"phone {self.name} dropped off adb during {step}: "
                                   f"{first}; reconnected (disconnect and connect), and "
                                   f"`{cmd}` not sent again: it may have acted already")
                return self._shell(cmd, timeout, binary)
            except (self._adbutils.AdbError, OSError) as second:
                raise AppError(f"phone {self.name} dropped off adb during {step}: {first}; "
                               f"reconnected once (disconnect and connect): {second}") \
                    from None

    def device(self):
        """The phone as an adbutils device, by its transport id (adbutils asks the server
        its version before every command addressed by serial)."""
        if self._device is None:
            info = next((i for i in self.client.list(extended=True)
                         if i.serial == self.options.serial), None)
            tid = (info.tags or {}).get("transport_id") if info else None
            self._device = self.client.device(transport_id=int(tid)) if tid else \
                self.client.device(self.options.serial)
            self._transport = adbshell.transport(int(tid) if tid else None,
                                                 self.options.serial)
        return self._device

    def _shell(self, cmd: str, timeout: float, binary: bool):
        self.device()
        port = int(self.options.adb_port)
        if binary:  # exec: raw bytes, as `adb exec-out` (screencap)
            return 0, adbshell.exec_out(port, self._transport, cmd, timeout)
        rc, out, err = adbshell.run(port, self._transport, cmd, timeout)
        return rc, (out + err).decode("utf-8", "replace")

    def reconnect(self) -> None:
        """Disconnect and connect a phone on host:port (never `reconnect offline`, which
        forgets network devices); a USB phone is only waited for."""
        serial = self.options.serial
        self._device = None  # a new transport id
        if ":" in serial:
            try:
                self.client.disconnect(serial)
            except self._adbutils.AdbError:
                pass
            self.client.connect(serial, timeout=self.options.step_timeout)
        self.client.wait_for(serial, state="device", timeout=self.options.step_timeout)

    def connect(self) -> None:
        """Make sure the adb server has the phone (connecting a host:port phone).

        The server must be running: adbutils would otherwise start one itself, on the
        default port with the user's HOME, whatever port the bench names."""
        serial = self.options.serial
        try:
            socket.create_connection(("127.0.0.1", int(self.options.adb_port)), 2).close()
        except OSError as e:
            raise AppError(f"phone {self.name}: no adb server answers on 127.0.0.1:"
                           f"{self.options.adb_port} ({e}); start it with `adb -P "
                           f"{self.options.adb_port} start-server`") from None
        known: dict[str, str] = {}
        try:
            known = {d.serial: d.state for d in self.client.list()}
            if known.get(serial) == "device":
                return
            self._device = None
            if ":" in serial:
                log.info("%s: connect", self._where())
                self.client.connect(serial, timeout=self.options.step_timeout)
            self.client.wait_for(serial, state="device", timeout=self.options.step_timeout)
        except self._adbutils.AdbError as e:
            raise AppError(f"phone {self.name}: not on adb at {self._where()} "
                           f"({known.get(serial, 'not listed')}): {e}") from None

    # -- what the phone says --------------------------------------------------------------
    def version(self) -> str | None:
        self.connect()
        _, out = self.sh(f"dumpsys package {self.package}", "read the app's version")
        m = re.search(r"versionName=(\S+)", out)
        return m.group(1) if m and m.group(1) != "null" else None

    def running(self) -> bool:
        """Whether the app's process runs. An app the harness launched that stopped by
        itself is an AppError (a crash dialog on screen says so), never a quiet False."""
        rc, _ = self.sh(f"pidof {self.package}", "check the app runs")
        if rc != 0 and self._launched:
            self._launched = False
            self.screen()  # a dialog the recipe marks as an error raises here
            raise AppError(f"phone {self.name}: the app stopped by itself during "
                           f"{self.step}")
        return rc == 0

    def launch(self) -> None:
        self.step = "launch the app"
        self.connect()
        version = self.version()
        if self._version is None:
            self._version = version
        elif version != self._version:
            raise AppError(f"phone {self.name}: the app's version changed during the run, "
                           f"from {self._version} to {version} (an update?): the run stops "
                           "judging this phone")
        self.sh(f"input keyevent {WAKEUP}; wm dismiss-keyguard")  # where adb allows
        self.sh(f"am start -n {self.package}/{self.recipe().launch}", repeat=False)
        self._until(lambda nodes: self._on(nodes, self._launch_screen()),
                    f"the app's first screen ({self._launch_screen()})")
        if not self.running():
            raise AppError(f"phone {self.name}: the app is not running after launch")
        self._launched = True

    def close(self) -> None:
        self.step = "close the app"
        self._launched = False
        self.sh(f"am force-stop {self.package}")

    # -- the recipe -------------------------------------------------------------------
    def recipe(self) -> recipes.Recipe:
        """The recipe of the app's version; AppCannot where there is none."""
        if self._recipe is None:
            version = self._version or self.version()
            if version is None:
                raise AppCannot(f"phone {self.name}: {self.package} is not installed (no "
                                "versionName in `dumpsys package`)")
            try:
                found = self.recipes.select(self.package, version, self.options.locale)
            except recipes.RecipeError as e:
                raise AppError(f"phone {self.name}: {e}") from None
            if found is None:
                raise AppCannot(
                    f"phone {self.name}: no UI recipe for {self.package} {version} (locale "
                    f"{self.options.locale}); recipes: {self.recipes.describe(self.package)}; "
                    "record one with `hil phone dump`")
            self._recipe = found
            log.info("phone %s: %s %s driven by recipe %s", self.name, self.package,
                     version, found.path)
        return self._recipe

    def entry(self, kind: str, name: str) -> recipes.Entry:
        r = self.recipe()
        e = r.get(kind, name)
        if e is None:
            raise AppCannot(f"phone {self.name}: {r.why_missing(kind, name)}")
        return e

    def _launch_screen(self) -> str:
        return next((e.name for e in self.recipe().of("screens") if e.data["from"] ==
                     recipes.LAUNCH), "home")

    # -- screens ------------------------------------------------------------------------
    def dump(self, step: str | None = None) -> list[Node]:
        """The screen now (dialogs not handled); AppError when it cannot be read. The dump
        is written to a fresh file and read back in the same command (one round trip)."""
        step = step or self.step
        last = None
        for flags in ("", "--compressed "):
            rc, out = self.sh(f"rm -f {DUMP}; uiautomator dump {flags}{DUMP} && cat {DUMP}",
                              step)
            at = out.find("<?xml")
            if at < 0:
                last = DumpError(out.strip().splitlines()[0] if out.strip() else
                                 f"nothing (exit status {rc})")
                continue
            try:
                nodes = uitree.parse(out[at:])
            except DumpError as e:
                last = e
                continue
            self.last_dump = out[at:]  # as the phone wrote it (hil phone dump saves it)
            return nodes
        raise AppError(f"phone {self.name}: {step}: cannot read the screen: {last}")

    def screen(self) -> list[Node]:
        """The screen after every known dialog on it is dismissed (each logged)."""
        for _ in range(5):
            nodes = self.dump()
            dialog = next((d for d in self.recipe().of("dialogs")
                           if all(s.find(nodes) for s in d.data["signature"])), None)
            if dialog is None:
                return nodes
            button = dialog.data["dismiss"].find(nodes)
            if button is None:
                raise AppError(f"phone {self.name}: {self.step}: dialog {dialog.name} shows "
                               f"but its dismiss button {dialog.data['dismiss']} does not")
            log.warning("phone %s: %s: dialog %s dismissed", self.name, self.step, dialog.name)
            self.tap(button)
            if dialog.data["error"]:
                raise AppError(f"phone {self.name}: {self.step}: {dialog.data['error']} "
                               f"(dialog {dialog.name} seen and dismissed)")
        raise AppError(f"phone {self.name}: {self.step}: dialogs keep coming back")

    def tap(self, node: Node) -> None:
        x, y = node.centre
        self.sh(f"input tap {x} {y}", repeat=False)

    def _on(self, nodes: list[Node], screen: str) -> bool:
        e = self.entry("screens", screen)
        return all(s.find(nodes) for s in e.data["signature"])

    def _until(self, ok, what: str) -> list[Node]:
        """Read the screen until `ok(nodes)`, within the step timeout."""
        deadline = time.monotonic() + self.options.step_timeout
        while True:
            nodes = self.screen()
            if ok(nodes):
                return nodes
            if time.monotonic() >= deadline:
                raise AppError(f"phone {self.name}: {self.step}: {what} did not show within "
                               f"{self.options.step_timeout:g} s; the screen shows "
                               f"{describe(nodes)}")
            time.sleep(POLL)

    def goto(self, screen: str) -> list[Node]:
        """Reach a screen of the recipe from wherever the app is; its nodes."""
        chain = [screen]
        while (e := self.entry("screens", chain[-1])).data["from"] != recipes.LAUNCH:
            chain.append(e.data["from"])
        backs = relaunched = 0
        nodes = self.screen()
        while True:
            at = next((i for i, s in enumerate(chain) if self._on(nodes, s)), None)
            if at == 0:
                return nodes
            if at is not None:
                nxt = self.entry("screens", chain[at - 1])
                el = nxt.data["tap"].find(nodes)
                if el is None:
                    raise AppError(f"phone {self.name}: {self.step}: on screen {chain[at]}, "
                                   f"{nxt.data['tap']} (the way to {nxt.name}) is not there; "
                                   f"the screen shows {describe(nodes)}")
                self.tap(el)
                nodes = self._until(lambda n, s=nxt.name: self._on(n, s), f"screen {nxt.name}")
                continue
            if backs < 2:
                backs += 1
                self.sh(f"input keyevent {BACK}", repeat=False)
                nodes = self.screen()
                continue
            if relaunched:
                raise AppError(f"phone {self.name}: {self.step}: cannot find the way to "
                               f"screen {screen}: the screen shows none the recipe knows: "
                               f"{describe(nodes)}")
            relaunched = 1
            self.close()
            self.launch()
            nodes = self.screen()

    # -- settings -----------------------------------------------------------------------
    def settings(self) -> dict[str, bool]:
        out = {}
        for name in SETTINGS:
            if self.recipe().get("settings", name) is not None:
                out[name] = self._read_setting(name)
        return out

    def _read_setting(self, name: str) -> bool:
        e = self.entry("settings", name)
        nodes = self.goto(e.data["screen"])
        switch = e.data["switch"].find(nodes)
        if switch is None:
            raise AppError(f"phone {self.name}: {self.step}: the switch of {name} "
                           f"{e.data['switch']} is not on screen {e.data['screen']}")
        return switch.checked

    def set(self, setting: str, on: bool) -> None:
        if setting not in SETTINGS:
            raise AppError(f"phone {self.name}: unknown setting {setting!r}; "
                           f"known: {', '.join(SETTINGS)}")
        word = "on" if on else "off"
        self.step = f"set {setting} {word}"
        e = self.entry("settings", setting)
        was_running = self.running()
        if not was_running:
            self.launch()
        self.step = f"set {setting} {word}"
        nodes = self.goto(e.data["screen"])
        switch = e.data["switch"].find(nodes)
        if switch is None:
            raise AppError(f"phone {self.name}: {self.step}: the switch {e.data['switch']} "
                           f"is not on screen {e.data['screen']}")
        if switch.checked != on:
            self.tap(switch)
            confirm = e.data["confirm_on" if on else "confirm_off"]
            if confirm is not None:
                button = self._until(lambda n: confirm.find(n) is not None,
                                     f"the confirmation {confirm}")
                self.tap(confirm.find(button))
            try:
                self._until(lambda n: (s := e.data["switch"].find(n)) is not None
                            and s.checked == on, f"{setting} reading {word}")
            except AppError:
                raise AppError(f"phone {self.name}: setting {setting} did not take {word}: "
                               f"the switch still reads {'off' if on else 'on'} after "
                               f"{self.options.step_timeout:g} s") from None
        self.close()  # read back once more after a force-stop and relaunch
        self.launch()
        self.step = f"read {setting} back after a relaunch"
        if self._read_setting(setting) != on:
            raise AppError(f"phone {self.name}: setting {setting} did not persist: it reads "
                           f"{'off' if on else 'on'} after a force-stop and relaunch")
        if not was_running:
            self.close()

    # -- what the app shows -----------------------------------------------------------
    def linked(self) -> bool:
        self.step = "read whether the app shows the aircraft"
        if not self.running():
            return False
        e = self.entry("reads", "linked")
        return e.data["present"].find(self.goto(e.data["screen"])) is not None

    def firmware(self) -> str | None:
        self.step = "read the aircraft's firmware"
        if not self.running():
            return None
        e = self.entry("reads", "firmware")
        node = e.data["node"].find(self.goto(e.data["screen"]))
        return _value(node, e.data["pattern"]) if node is not None else None

    # -- actions ----------------------------------------------------------------------
    def act(self, action: str, **params) -> tuple[str, str] | None:
        """Run an action of the recipe; its result (the value its pattern reads, and the
        node's whole text), if it has one."""
        self.step = action.replace("_", " ") + (f" {params}" if params else "")
        e = self.entry("actions", action)
        if not self.running():
            raise AppError(f"phone {self.name}: {self.step}: the app is not running")
        nodes = self.goto(e.data["screen"])
        for i, st in enumerate(e.data["steps"]):
            was = None
            if st.changes is not None:
                node = st.changes.fill(params).find(nodes)
                was = node.get("text") if node is not None else None
            if st.tap is not None:
                sel = st.tap.fill(params)
                el = sel.find(nodes)
                if el is None:
                    raise AppError(f"phone {self.name}: {self.step}, step {i + 1}: {sel} is "
                                   f"not on the screen; it shows {describe(nodes)}")
                self.tap(el)
            nodes = self._until(lambda n, st=st, was=was: _step_done(self, st, n, params, was),
                                _step_what(st, params, was))
        if "result" not in e.data:
            return None
        sel, pattern = e.data["result"]
        node = sel.fill(params).find(nodes)
        value = _value(node, pattern) if node is not None else None
        if value is None:
            raise AppError(f"phone {self.name}: {self.step}: its result {sel} did not show")
        return value, node.get("text")

    def sync(self) -> None:
        self.act("sync")
        self._synced |= {r["id"] for r in self._list_records()}

    def share(self, media_index: int) -> None:
        self.act("share", index=int(media_index))

    def take_photo(self) -> dict:
        return self._media(self.act("photo"), "photo")

    def video(self, start: bool) -> dict | None:
        if start:
            self.act("video_start")
            return None
        return self._media(self.act("video_stop"), "video")

    def _media(self, result: tuple[str, str] | None, what: str) -> dict:
        value, text = result or (None, None)
        try:
            index = int(re.sub(r"\D", "", value or ""))
        except ValueError:
            raise AppError(f"phone {self.name}: the {what} taken has no number the recipe "
                           f"could read ({text!r})") from None
        return {"index": index, "file": text, "size": None}  # the phone holds no original

    # -- files --------------------------------------------------------------------------
    def records(self) -> list[dict]:
        self.step = "list the app's flight records"
        listed = self._list_records()
        if self._seen is None:
            self._seen = {r["id"] for r in listed}
        for r in listed:
            r["synced"] = True if r["id"] in self._synced else \
                None if r["id"] in self._seen else False
        return listed

    def _list_records(self) -> list[dict]:
        self.connect()
        files = self.entry("files", "files").data
        if not files["flight_records"]:
            raise AppCannot(f"phone {self.name}: recipe {self.recipe().name} does not say "
                            "where the flight records are (files.flight_records)")
        return [{"id": name, "time": float(mtime), "size": size}
                for name, size, mtime in self.list_files(files["flight_records"])]

    def list_files(self, pattern: str) -> list[tuple[str, int, int]]:
        """(name, size, mtime) of the phone's files matching an absolute path glob."""
        folder, glob = posixpath.split(pattern)
        log.info("%s: sync list %s", self._where(), folder)
        try:
            entries = self.device().sync.list(folder)
        except (self._adbutils.AdbError, OSError) as e:
            raise AppError(f"phone {self.name}: {self.step}: cannot list {folder}: {e}") \
                from None
        return sorted((f.path, f.size, int(f.mtime.timestamp()) if hasattr(f.mtime, "timestamp")
                       else int(f.mtime)) for f in entries
                      if fnmatch.fnmatchcase(f.path, glob) and f.path not in (".", ".."))

    def screenshot(self) -> bytes:
        """The screen as PNG (`screencap -p`)."""
        _, data = self.sh("screencap -p", "take a screenshot", binary=True)
        return data

    def disconnect(self) -> None:
        """Nothing to release: each adb command has its own connection to the server."""


def _value(node: Node, pattern: re.Pattern | None) -> str | None:
    text = node.get("text")
    if pattern is None:
        return text or None
    m = pattern.search(text)
    return m.group(1) if m else None


def _step_done(app: AdbApp, st: recipes.Step, nodes: list[Node], params: dict,
               was: str | None) -> bool:
    if st.expect is not None and st.expect.fill(params).find(nodes) is None:
        return False
    if st.gone is not None and st.gone.fill(params).find(nodes) is not None:
        return False
    if st.changes is not None:
        node = st.changes.fill(params).find(nodes)
        if node is None or node.get("text") == was:
            return False
    return st.screen is None or app._on(nodes, st.screen)


def _step_what(st: recipes.Step, params: dict, was: str | None = None) -> str:
    parts = []
    if st.changes is not None:
        parts.append(f"{st.changes.fill(params)} changed from {was!r}")
    if st.expect is not None:
        parts.append(f"{st.expect.fill(params)}")
    if st.gone is not None:
        parts.append(f"{st.gone.fill(params)} gone")
    if st.screen is not None:
        parts.append(f"screen {st.screen}")
    return " and ".join(parts)


def describe(nodes: list[Node], most: int = 6) -> str:
    """A few texts and ids on a screen, for an error a person can act on."""
    said = [str(n) for n in nodes if n.get("text") or n.get("resource-id")][:most]
    return ", ".join(said) or "no text or ids"


def doctor(p: PhoneConfig, say, bench_path="B"):
    """`hil doctor`'s checks of an adb phone: the adb server answers, the phone is on it
    (a host:port phone it does not list is connected, as a run does, and disconnected
    after), the app's version, the UI recipe for it, the screen awake."""
    import adbutils

    from hil.checks import FAIL, OK, SKIP, Check, wakefulness
    from hil.remote.recipe import RecipeError


    dev, o = f"phone {p.name}", p.options
    later = ("app", "recipe", "screen")
    try:
        socket.create_connection(("127.0.0.1", int(o.adb_port)), 2).close()
        app = open_app(p)
        server = app.client.server_version()
    except (OSError, adbutils.AdbError) as e:
        yield Check(dev, "reach", FAIL, f"no adb server answers on 127.0.0.1:{o.adb_port} "
                    f"({e})", f"start it: adb -P {o.adb_port} start-server")
        yield from (Check(dev, n, SKIP, "no adb server") for n in later)
        return
    connected = False
    try:
        states = {d.serial: d.state for d in app.client.list()}
        state = states.get(o.serial)
        if state is None and ":" in o.serial:
            say(f"wait {dev} reach: adb connect {o.serial} (as a run does; disconnected "
                "after)")
            try:
                app.client.connect(o.serial, timeout=min(o.step_timeout, 5.0))
            except adbutils.AdbError:
                pass
            state = {d.serial: d.state for d in app.client.list()}.get(o.serial)
            connected = state is not None
        if state != "device":
            yield Check(dev, "reach", FAIL, f"{o.serial} is {state or 'not listed'} on the adb "
                        f"server 127.0.0.1:{o.adb_port}",
                        "check the phone's Wi-Fi or USB cable and that USB debugging is "
                        f"allowed for this host; then `adb -P {o.adb_port} connect "
                        f"{o.serial}` (Wi-Fi) or replug it (USB)")
            yield from (Check(dev, n, SKIP, "the phone is not on adb") for n in later)
            return
        yield Check(dev, "reach", OK, f"{o.serial} on the adb server 127.0.0.1:{o.adb_port} "
                    f"(version {server})" + (", connected by doctor" if connected else ""))
        try:
            version = app.version()
            _, power = app.sh("dumpsys power", "read the screen's state")
        except AppError as e:
            yield Check(dev, "app", FAIL, str(e), "check the phone's connection; then run "
                        "doctor again")
            return
        if version is None:
            yield Check(dev, "app", FAIL, f"{PACKAGE} is not installed (no versionName "
                        "in `dumpsys package`)", f"install DJI GO 4 ({PACKAGE})")
            yield Check(dev, "recipe", SKIP, "no app version to look up")
        else:
            yield Check(dev, "app", OK, f"{PACKAGE} {version} installed")
            try:
                found = app.recipes.select(PACKAGE, version, o.locale)
                if found is None:
                    yield Check(dev, "recipe", FAIL, f"no UI recipe for {PACKAGE} "
                                f"{version} (locale {o.locale}); recipes: "
                                f"{app.recipes.describe(PACKAGE)}",
                                f"record one with `hil phone dump {p.name} --bench "
                                f"{bench_path}` into "
                                f"{o.recipes or 'the bench folder recipes/'}; until then the "
                                "claims that need the app's UI skip")
                else:
                    todo = found.unverified()
                    yield Check(dev, "recipe", OK, f"{found.path} for {version} (locale "
                                f"{o.locale}); {len(todo)} entries not verified on a real "
                                "phone" + (" (hil check lists them)" if todo else ""))
            except RecipeError as e:
                yield Check(dev, "recipe", FAIL, str(e), "correct that recipe file")
        awake = wakefulness(power)
        if awake == "Awake":
            yield Check(dev, "screen", OK, "on (mWakefulness=Awake)")
        else:
            yield Check(dev, "screen", FAIL, f"mWakefulness={awake or '?'}: the screen is "
                        "off", "wake and unlock the phone, with no screen lock, and turn on "
                        "Developer options > Stay awake (charging) for the night")
    finally:
        if connected:
            try:
                app.client.disconnect(o.serial)
            except adbutils.AdbError:
                pass
