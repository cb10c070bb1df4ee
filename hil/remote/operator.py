"""The `operator` phone backend: a person at the bench does each step and answers.

For phones no driver reaches (an iPhone without a Mac), and for single steps of any other
backend (a phone's `by_hand` key). Each step is one prompt, in the app's words, on the
bench's terminal (the controlling tty, `/dev/tty`, not the test runner's captured output):

    [hil] On iphone-phantom: in DJI GO 4, turn OFF 'Send Diagnostic Data'. What does it
    show now? [on/off; s skips this claim; 600 s] >

- A question that needs a value checks it and asks again on a bad answer.
- `s` skips the step: AppCannot("the operator skipped: ..."), so the claims that need it
  are skipped with that reason.
- A prompt nobody answers within `prompt_timeout` seconds (from when it is shown) is an
  AppError naming the prompt: the claim is an ERROR.
- With no terminal (`/dev/tty` cannot be opened: CI, a nightly job) every step raises
  AppCannot("... needs a person at the bench (operator backend, no terminal)") at once.
- Every answer is an `Answer` (who, when, the question, the answer) handed to the app's
  answer listener (`App.on_answer`): `hil.run.SessionRun` puts each into its session's
  evidence, as an action of the phase and in the observations.

One terminal, one person: prompts are asked one at a time, in the order posted, by the
thread that owns the terminal (the main thread). A worker thread posts its prompt to the
`Desk` and waits; the main thread serves the desk (`Desk.serve()`, from the session pool's
`waiting` hook) between its own work, so a station waiting for a person holds no other.
A prompt asked on the main thread itself is served there and then.

What a person can tell, and what not: the app's version and the aircraft's firmware as
the app shows them (asked once per run and phone), whether the app shows the aircraft
connected, what a setting shows, how many flight records the app lists (never their sizes
or whether each was synced: `records()` returns that many entries with `size` and
`synced` None), a photo's or video's file name (never its size).

Bench file::

    [phone.iphone8]
    backend = "operator"
    ip = "10.20.0.35"
    platform = "ios"
    operator = "alice"          # optional: who answers (default: the login name)
    prompt_timeout = 600        # optional: seconds a prompt waits for its answer

and on a phone of any backend, steps handed to the person (`hil.remote.backends`)::

    by_hand = ["set diagnostics", "share"]
"""

from __future__ import annotations

import getpass
import os
import queue
import re
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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

KEYS = ("operator", "prompt_timeout")
DEFAULT_TIMEOUT = 600.0
APP = "DJI GO 4"
LABELS = {"diagnostics": "Send Diagnostic Data", "local_data_mode": "Local Data Mode"}
NO_TERMINAL = "needs a person at the bench (operator backend, no terminal)"
# the steps a phone's `by_hand` key may hand to the person: App methods, and "set NAME"
STEPS = ("version", "settings", *(f"set {s}" for s in SETTINGS), "launch", "close",
         "running", "linked", "firmware", "records", "sync", "share", "take_photo", "video")


@dataclass(frozen=True)
class Person:
    """Who answers a phone's prompts, and how long a prompt waits."""

    name: str | None = None  # None: the login name of the bench host's user
    prompt_timeout: float = DEFAULT_TIMEOUT

    @property
    def who(self) -> str:
        if self.name:
            return self.name
        try:
            return getpass.getuser()
        except Exception:  # no login name (a container without a passwd entry)
            return "unknown"


def person(section) -> Person:
    """The keys `operator` and `prompt_timeout` of a phone's table."""
    name = section.value("operator", str, None)
    if name is not None and not name.strip():
        raise section.fail("operator", "must name the person (or leave the key out: the "
                                       "login name)")
    timeout = section.value("prompt_timeout", float, DEFAULT_TIMEOUT)
    if not timeout > 0:
        raise section.fail("prompt_timeout", f"must be more than 0 seconds, not {timeout:g}")
    return Person(name.strip() if name else None, timeout)


def by_hand(section) -> tuple[str, ...]:
    """A phone's `by_hand` key: the steps a person does on it, each one of STEPS."""
    steps = section.value("by_hand", list, [])
    for s in steps:
        if s not in STEPS:
            raise section.fail("by_hand", f"{s!r} is not a step of the app; known: "
                                          f"{', '.join(STEPS)}")
    if len(set(steps)) != len(steps):
        raise section.fail("by_hand", "a step is named twice")
    return tuple(steps)


def parse(section) -> Person:
    return person(section)


def open_app(phone) -> OperatorApp:
    return OperatorApp(phone.name, phone.options or Person(), phone.platform)


# -- answers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    phone: str
    who: str
    question: str
    answer: str
    t: float  # time.time() when it was given

    def line(self) -> str:
        return (f"operator {self.who} answered {self.answer!r} to {self.question!r} at "
                f"{time.strftime('%H:%M:%S', time.localtime(self.t))}")

    def to_dict(self) -> dict:
        return {"phone": self.phone, "who": self.who, "question": self.question,
                "answer": self.answer, "t": round(self.t, 3),
                "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.t))}


class Skipped(Exception):
    """The person typed s."""


# -- the terminal ----------------------------------------------------------------------
@dataclass
class Prompt:
    phone: str
    text: str
    hint: str  # what an answer looks like, e.g. "yes/no"
    check: Callable[[str], object]  # the answer -> its value; ValueError: ask again
    timeout: float
    done: threading.Event = field(default_factory=threading.Event)
    value: object = None
    error: BaseException | None = None
    answer: str | None = None
    t: float = 0.0
    deadline: float | None = None  # monotonic, set when shown

    def line(self) -> str:
        return f"\n[hil] On {self.phone}: {self.text} [{self.hint}; s skips this claim; " \
               f"{self.timeout:g} s] > "


class Desk:
    """The bench's terminal: prompts one at a time, in order, served by its owner thread.

    `tty`: the terminal's path (default /dev/tty, the controlling terminal)."""

    def __init__(self, tty: str = "/dev/tty"):
        self.path = tty
        self._fd: int | None = None
        self._missing: str | None = None  # why there is no terminal
        self._queue: queue.Queue[Prompt] = queue.Queue()
        self._current: Prompt | None = None
        self._buffer = b""
        self._stopped: str | None = None
        self._lock = threading.Lock()

    # -- any thread ---------------------------------------------------------------------
    def terminal(self) -> bool:
        """Whether a person can be asked (opens the terminal on first use)."""
        with self._lock:
            if self._fd is None and self._missing is None:
                try:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY)
                except OSError as e:
                    self._missing = f"{self.path}: {e.strerror or e}"
            return self._fd is not None

    def ask(self, prompt: Prompt):
        """The checked answer's value; Skipped on s; AppError when nobody answers in time
        or the run stops; AppCannot with no terminal."""
        if self._stopped:
            raise AppError(f"{prompt.phone}: not asked ({prompt.text!r}): {self._stopped}")
        if not self.terminal():
            raise AppCannot(f"{prompt.phone}: {NO_TERMINAL}")
        if threading.current_thread() is threading.main_thread():
            self._queue.put(prompt)
            while not prompt.done.is_set():
                self.serve(0.2)
        else:
            self._queue.put(prompt)
            while not prompt.done.wait(0.2):
                if self._stopped:
                    self._finish(prompt, error=AppError(
                        f"{prompt.phone}: no answer to {prompt.text!r}: {self._stopped}"))
        if prompt.error is not None:
            raise prompt.error
        return prompt.value

    def stop(self, reason: str = "the run is stopping") -> None:
        """Fail every prompt waiting or shown, and every later one (teardown, Ctrl-C)."""
        self._stopped = reason
        while True:
            try:
                p = self._queue.get_nowait()
            except queue.Empty:
                break
            self._finish(p, error=AppError(f"{p.phone}: not asked ({p.text!r}): {reason}"))
        if self._current is not None:
            self._finish(self._current, error=AppError(
                f"{self._current.phone}: no answer to {self._current.text!r}: {reason}"))
            self._current = None

    def close(self) -> None:
        self.stop()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # -- the owner thread ---------------------------------------------------------------
    def serve(self, budget: float = 0.15) -> bool:
        """Show the next prompt, read its answer, for up to `budget` seconds; True while a
        person is being asked (the caller may call again soon)."""
        if self._fd is None:
            return False
        end = time.monotonic() + budget
        while True:
            left = end - time.monotonic()
            if self._current is None:
                try:
                    p = self._queue.get(timeout=max(left, 0)) if left > 0 else \
                        self._queue.get_nowait()
                except queue.Empty:
                    return False
                if p.done.is_set():
                    continue
                self._current, self._buffer = p, b""
                p.deadline = time.monotonic() + p.timeout
                self._write(p.line())
            p = self._current
            wait = max(0.0, min(end - time.monotonic(), p.deadline - time.monotonic()))
            ready, _, _ = select.select([self._fd], [], [], wait)
            if ready:
                try:
                    chunk = os.read(self._fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:  # the terminal went away: nobody will answer
                    self._finish(p, error=AppError(f"{p.phone}: the terminal closed while "
                                                   f"asking {p.text!r}"))
                    self._current = None
                    continue
                self._buffer += chunk
                while b"\n" in self._buffer and self._current is p:
                    line, self._buffer = self._buffer.split(b"\n", 1)
                    self._answer(p, line.decode(errors="replace").strip())
                if self._current is None:
                    continue
            elif time.monotonic() >= p.deadline:
                self._write(f"\n[hil] no answer within {p.timeout:g} s; going on without it\n")
                self._finish(p, error=AppError(
                    f"{p.phone}: nobody answered {p.text!r} within {p.timeout:g} s "
                    "(prompt_timeout)"))
                self._current = None
                continue
            if time.monotonic() >= end:
                return True

    def _answer(self, p: Prompt, text: str) -> None:
        if text.lower() == "s":
            p.answer, p.t = "s", time.time()
            self._finish(p, error=Skipped())
            self._current = None
            return
        try:
            value = p.check(text)
        except ValueError as e:
            self._write(f"[hil] {text!r}: {e}.{p.line()}")
            return
        p.answer, p.t = text, time.time()
        self._finish(p, value=value)
        self._current = None

    @staticmethod
    def _finish(p: Prompt, value=None, error: BaseException | None = None) -> None:
        if not p.done.is_set():
            p.value, p.error = value, error
            p.done.set()

    def _write(self, text: str) -> None:
        try:
            os.write(self._fd, text.encode())
        except OSError:
            pass


DESK = Desk()  # the bench host's terminal: one per process


# -- answer checks ---------------------------------------------------------------------
def enter(text: str) -> bool:
    if text.lower() not in ("", "y", "yes", "done", "ok"):
        raise ValueError("press Enter when done, or type s to skip")
    return True


def yes_no(text: str) -> bool:
    t = text.lower()
    if t in ("y", "yes"):
        return True
    if t in ("n", "no"):
        return False
    raise ValueError("answer yes or no")


def on_off(text: str) -> bool:
    t = text.lower()
    if t in ("on", "off"):
        return t == "on"
    raise ValueError("answer on or off")


def count(text: str) -> int:
    if not text.isdigit():
        raise ValueError("answer a number (0, 1, 2 ...)")
    return int(text)


def version(text: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)+\S*", text):
        raise ValueError("answer the version as the app shows it, e.g. 4.3.36")
    return text


def firmware(text: str) -> str | None:
    if text == "-":
        return None
    if not re.fullmatch(r"[0-9][0-9A-Za-z._-]*", text):
        raise ValueError("answer the firmware as the app shows it, e.g. 01.05.0600, or - "
                         "when it shows none")
    return text


def media_file(text: str) -> tuple[int, str]:
    m = re.fullmatch(r"(?:.*/)?([A-Za-z]+_(\d+)\.[A-Za-z0-9]+)", text)
    if not m:
        raise ValueError("answer the file name the album shows, e.g. DJI_0042.JPG")
    return int(m.group(2)), m.group(1)


# -- the app, by a person --------------------------------------------------------------
class OperatorApp(App):
    """The app on a phone that a person at the bench drives, one prompt a step."""

    capabilities = frozenset({SHOWS_AIRCRAFT, SHOWS_FIRMWARE, RECORDS, MEDIA})

    def __init__(self, name: str, who: Person | None = None, platform: str = "ios",
                 desk: Desk | None = None):
        self.name, self.person, self.platform = name, who or Person(), platform
        self.desk = desk or DESK
        self.answers: list[Answer] = []
        self._listener: Callable[[Answer], None] | None = None
        self._running: bool | None = None  # what the person last confirmed
        self._version: str | None = None
        self._firmware: str | None = None

    def on_answer(self, fn: Callable[[Answer], None] | None) -> None:
        self._listener = fn

    def _ask(self, text: str, hint: str, check: Callable[[str], object], step: str):
        p = Prompt(self.name, text, hint, check, self.person.prompt_timeout)
        try:
            value = self.desk.ask(p)
        except Skipped:
            self._heard(p)
            raise AppCannot(f"phone {self.name}: the operator skipped: {step} "
                            f"({text!r})") from None
        self._heard(p)
        return value

    def _heard(self, p: Prompt) -> None:
        a = Answer(self.name, self.person.who, p.text, p.answer or "", p.t or time.time())
        self.answers.append(a)
        if self._listener is not None:
            self._listener(a)

    # -- App ---------------------------------------------------------------------------
    def version(self) -> str | None:
        if self._version is None:  # the app is not updated during a run: asked once
            self._version = self._ask(
                f"In {APP}, open Settings > About. Which app version does it show?",
                "e.g. 4.3.36", version, "read the app's version")
        return self._version

    def settings(self) -> dict[str, bool]:
        names = SETTINGS if self.platform == "android" else ("diagnostics",)
        return {s: self._ask(f"In {APP}'s settings, what does {LABELS[s]!r} show?",
                             "on/off", on_off, f"read setting {s}") for s in names}

    def set(self, setting: str, on: bool) -> None:
        if setting not in SETTINGS:
            raise AppError(f"phone {self.name}: unknown setting {setting!r}; "
                           f"known: {', '.join(SETTINGS)}")
        want = "ON" if on else "OFF"
        shown = self._ask(f"In {APP}'s settings, turn {want} {LABELS[setting]!r}. What does "
                          "it show now?", "on/off", on_off, f"set {setting} {want.lower()}")
        if shown is not on:
            raise AppError(f"phone {self.name}: setting {setting} did not take "
                           f"{want.lower()}: the operator reads it {'on' if shown else 'off'}")

    def launch(self) -> None:
        self._ask(f"Open {APP}. Press Enter when it is open.", "Enter", enter, "launch the app")
        self._running = True

    def close(self) -> None:
        if self._running is False:
            return  # the person closed it and has not been asked to open it since
        if self._running is None and not self.desk.terminal():
            return  # nobody was ever asked to open it: nothing of the harness's to close
        self._ask(f"Force-close {APP} (swipe it away in the app switcher). Press Enter when "
                  "done.", "Enter", enter, "close the app")
        self._running = False

    def running(self) -> bool:
        if self._running is None:
            self._running = self._ask(f"Is {APP} open on the phone?", "yes/no", yes_no,
                                      "tell whether the app runs")
        return self._running

    def linked(self) -> bool:
        return self._ask(f"Does {APP} show the aircraft connected?", "yes/no", yes_no,
                         "tell whether the app shows the aircraft")

    def firmware(self) -> str | None:
        if self._firmware is None:  # not updated during a run: asked once
            self._firmware = self._ask(
                f"In {APP}, open Settings > About > Aircraft Firmware. Which version does "
                "it show?", "e.g. 01.05.0600, - if none", firmware,
                "read the aircraft's firmware")
        return self._firmware

    def records(self) -> list[dict]:
        n = self._ask(f"In {APP}, open Flight Record. How many flight records does it list?",
                      "a number", count, "count the flight records")
        # a person can count them, not size them nor tell which are synced
        return [{"id": i, "time": None, "size": None, "synced": None}
                for i in range(1, n + 1)]

    def sync(self) -> None:
        self._ask(f"In {APP}, open Flight Record and press Sync. Press Enter when it has "
                  "finished.", "Enter", enter, "sync the flight records")

    def share(self, media_index: int) -> None:
        self._ask(f"In {APP}'s album, share the photo number {int(media_index)} "
                  f"(DJI_{int(media_index):04d}) to SkyPixel. Press Enter when the app "
                  "reports it shared.", "Enter", enter, f"share media {media_index}")

    def take_photo(self) -> dict:
        index, name = self._ask(f"In {APP}'s camera view, take one photo. Which file name "
                                "does the album give it?", "e.g. DJI_0042.JPG", media_file,
                                "take a photo")
        return {"index": index, "file": name, "size": None}

    def video(self, start: bool) -> dict | None:
        if start:
            self._ask(f"In {APP}'s camera view, start recording a video. Press Enter once "
                      "it records.", "Enter", enter, "start a video")
            return None
        index, name = self._ask(f"In {APP}, stop the video. Which file name does the album "
                                "give it?", "e.g. DJI_0043.MOV", media_file, "stop a video")
        return {"index": index, "file": name, "size": None}


# -- any backend: some steps by hand ---------------------------------------------------
class ByHandApp(App):
    """A backend's app with some steps done by a person (the phone's `by_hand` key)."""

    def __init__(self, inner: App, steps: tuple[str, ...], person_app: OperatorApp):
        self.inner, self.steps, self.person = inner, frozenset(steps), person_app
        self.name = inner.name
        extra = {cap for step, cap in (("records", RECORDS), ("linked", SHOWS_AIRCRAFT),
                                       ("firmware", SHOWS_FIRMWARE), ("take_photo", MEDIA),
                                       ("video", MEDIA))
                 if step in self.steps}
        self.capabilities = frozenset(inner.capabilities | extra)

    def _by(self, step: str) -> App:
        return self.person if step in self.steps else self.inner

    def on_answer(self, fn) -> None:
        self.person.on_answer(fn)
        self.inner.on_answer(fn)

    def version(self):
        return self._by("version").version()

    def settings(self):
        return self._by("settings").settings()

    def set(self, setting, on):
        return self._by(f"set {setting}").set(setting, on)

    def launch(self):
        self._by("launch").launch()
        self.person._running = True

    def close(self):
        self._by("close").close()
        self.person._running = False

    def running(self):
        return self._by("running").running()

    def linked(self):
        return self._by("linked").linked()

    def firmware(self):
        return self._by("firmware").firmware()

    def records(self):
        return self._by("records").records()

    def sync(self):
        return self._by("sync").sync()

    def share(self, media_index):
        return self._by("share").share(media_index)

    def take_photo(self):
        return self._by("take_photo").take_photo()

    def video(self, start):
        return self._by("video").video(start)

    def disconnect(self):
        self.inner.disconnect()


def doctor(p, say, bench_path=None):
    """`hil doctor`'s check of an operator phone: whether a person can be asked here (a
    terminal); without one its claims will be skipped, which doctor says, not a failure."""
    from hil.checks import OK, SKIP, Check

    dev, who = f"phone {p.name}", p.person
    desk = Desk()
    try:
        if desk.terminal():
            yield Check(dev, "person", OK, f"a terminal is here: each step will be asked on "
                        f"it ({who.who} answering; a prompt times out after "
                        f"{who.prompt_timeout:g} s)")
        else:
            yield Check(dev, "person", SKIP, f"{NO_TERMINAL}: its claims will be skipped "
                        "(run from a terminal, with a person at the bench, to judge them)")
    finally:
        desk.close()
