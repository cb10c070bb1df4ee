"""UI recipes: how to drive one app version on an Android phone, as data.

A recipe is a TOML file for one app package, a list of exact app versions and a locale.
It names screens by what is on them (signatures), says how to reach each from another
(one tap per step, read back by the next screen's signature), which dialogs may cover a
screen and how each is dismissed, where each setting's switch is, what to read for the
app's view of the aircraft, the steps of each action, and where the app keeps its files.
Selectors only (resource-id, text, content-desc, class, package); never coordinates.

Every entry carries `verified` (default: the file's `[recipe] verified`, else false):
true only once confirmed on a real phone. An entry with `placeholder = true` is not known
yet: the driver treats it as missing, and says so. The format, annotated, is the shipped
`hil/data/recipes/dji.go.v4/public-en.toml`.

`load(path)` validates a file and raises `RecipeError` naming the file and the key;
`Recipes(folders)` finds every recipe in these folders (later folders win for the same
file name) and `select(package, version, locale)` picks the one for a version, or None.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from hil.remote.uitree import Selector

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "recipes"
TOP = ("recipe", "files", "screens", "dialogs", "settings", "reads", "actions")
KINDS = ("screens", "dialogs", "settings", "reads", "actions")
LAUNCH = "launch"  # a screen's `from`: the screen the app opens on


class RecipeError(Exception):
    """A recipe file that cannot be used: its path, the key and what is wrong."""


@dataclass(frozen=True)
class Step:
    """Tap `tap` (if any), then read the screen until `expect` shows, `gone` is gone,
    `changes` shows a text other than the one it had before the tap (a "last photo" label:
    a stale one must not pass), and `screen` is the screen."""

    tap: Selector | None = None
    expect: Selector | None = None
    gone: Selector | None = None
    screen: str | None = None  # expect this screen's signature
    changes: Selector | None = None


@dataclass(frozen=True)
class Entry:
    kind: str  # screens | dialogs | settings | reads | actions | files
    name: str
    verified: bool
    placeholder: bool
    data: dict  # the entry's own keys, selectors parsed

    @property
    def key(self) -> str:
        return self.kind if self.kind == "files" else f"{self.kind}.{self.name}"


@dataclass
class Recipe:
    path: Path
    package: str
    versions: tuple[str, ...]
    locale: str
    launch: str  # the launcher activity
    entries: dict[str, Entry] = field(default_factory=dict)  # "screens.home" -> Entry

    @property
    def name(self) -> str:
        return self.path.name

    def get(self, kind: str, name: str) -> Entry | None:
        """The entry, or None when the recipe lacks it or only holds a placeholder."""
        e = self.entries.get(f"{kind}.{name}")
        return None if e is None or e.placeholder else e

    def of(self, kind: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.kind == kind and not e.placeholder]

    def unverified(self) -> list[Entry]:
        return [e for e in self.entries.values() if not e.verified]

    def why_missing(self, kind: str, name: str) -> str:
        e = self.entries.get(f"{kind}.{name}")
        if e is not None and e.placeholder:
            return (f"recipe {self.name} holds only a placeholder for {kind}.{name} (not yet "
                    "recorded in the lab: `hil phone dump` saves a screen to record it from)")
        return f"recipe {self.name} has no {kind}.{name}"


class _Reader:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, msg: str) -> RecipeError:
        return RecipeError(f"recipe file {self.path}: {key}: {msg}")

    def only(self, d: dict, where: str, allowed) -> None:
        for k in d:
            if k not in allowed:
                raise self.fail(f"{where}.{k}" if where else k,
                                f"unknown key; known keys here: {', '.join(allowed)}")

    def str_(self, d: dict, key: str, where: str, default=...) -> str:
        v = d.get(key, default)
        if v is ...:
            raise self.fail(f"{where}.{key}", "missing (expected a string)")
        if v is not None and (not isinstance(v, str) or not v):
            raise self.fail(f"{where}.{key}", "must be a non-empty string")
        return v

    def bool_(self, d: dict, key: str, where: str, default: bool) -> bool:
        v = d.get(key, default)
        if not isinstance(v, bool):
            raise self.fail(f"{where}.{key}", "must be true or false")
        return v

    def selector(self, v, where: str) -> Selector:
        if not isinstance(v, dict):
            raise self.fail(where, "must be a selector table, e.g. { id = \"pkg:id/name\" }")
        try:
            return Selector.of(v)
        except ValueError as e:
            raise self.fail(where, str(e)) from None

    def selectors(self, v, where: str) -> tuple[Selector, ...]:
        if not isinstance(v, list) or not v:
            raise self.fail(where, "must be a non-empty list of selector tables")
        return tuple(self.selector(s, f"{where}[{i}]") for i, s in enumerate(v))

    def pattern(self, d: dict, where: str) -> re.Pattern | None:
        p = self.str_(d, "pattern", where, None)
        if p is None:
            return None
        try:
            rx = re.compile(p)
        except re.error as e:
            raise self.fail(f"{where}.pattern", f"not a regular expression: {e}") from None
        if rx.groups != 1:
            raise self.fail(f"{where}.pattern", "must have exactly one group (the value)")
        return rx

    def step(self, v, where: str) -> Step:
        if not isinstance(v, dict):
            raise self.fail(where, "must be a table: { tap = SEL, expect = SEL } etc.")
        self.only(v, where, ("tap", "expect", "gone", "changes", "screen"))
        sel = {k: self.selector(v[k], f"{where}.{k}") if k in v else None
               for k in ("tap", "expect", "gone", "changes")}
        s = Step(screen=self.str_(v, "screen", where, None), **sel)
        if s.expect is None and s.gone is None and s.screen is None and s.changes is None:
            raise self.fail(where, "a step needs a read-back: expect, gone, changes or "
                                   "screen (a tap is never left unchecked)")
        return s


# the keys of each kind of entry, beyond verified / placeholder / note
_KEYS = {
    "screens": ("signature", "from", "tap", "activity"),
    "dialogs": ("signature", "dismiss", "error"),
    "settings": ("screen", "switch", "confirm_on", "confirm_off"),
    "reads": ("screen", "present", "node", "pattern"),
    "actions": ("screen", "steps", "result"),
    "files": ("flight_records", "dat_records", "media"),
}
_COMMON = ("verified", "placeholder", "note")


def _entry(r: _Reader, kind: str, name: str, raw, default_verified: bool) -> Entry:
    where = f"{kind}.{name}" if kind != "files" else "files"
    if not isinstance(raw, dict):
        raise r.fail(where, "must be a table")
    r.only(raw, where, _KEYS[kind] + _COMMON)
    verified = r.bool_(raw, "verified", where, default_verified)
    placeholder = r.bool_(raw, "placeholder", where, False)
    if placeholder and verified:
        raise r.fail(f"{where}.verified", "a placeholder cannot be verified")
    d: dict = {}
    if not placeholder:
        d = _parse_entry(r, kind, where, raw)
    return Entry(kind, name, verified, placeholder, d)


def _parse_entry(r: _Reader, kind: str, where: str, raw: dict) -> dict:
    d: dict = {}
    if kind == "screens":
        d["signature"] = r.selectors(raw.get("signature"), f"{where}.signature")
        d["from"] = r.str_(raw, "from", where)
        if d["from"] != LAUNCH:
            if "tap" not in raw:
                raise r.fail(f"{where}.tap", f"missing: how to get here from {d['from']}")
            d["tap"] = r.selector(raw["tap"], f"{where}.tap")
        d["activity"] = r.str_(raw, "activity", where, None)
    elif kind == "dialogs":
        d["signature"] = r.selectors(raw.get("signature"), f"{where}.signature")
        d["dismiss"] = r.selector(raw.get("dismiss"), f"{where}.dismiss")
        d["error"] = r.str_(raw, "error", where, None)
    elif kind == "settings":
        d["screen"] = r.str_(raw, "screen", where)
        d["switch"] = r.selector(raw.get("switch"), f"{where}.switch")
        for k in ("confirm_on", "confirm_off"):
            d[k] = r.selector(raw[k], f"{where}.{k}") if k in raw else None
    elif kind == "reads":
        d["screen"] = r.str_(raw, "screen", where)
        d["present"] = r.selector(raw["present"], f"{where}.present") if "present" in raw \
            else None
        d["node"] = r.selector(raw["node"], f"{where}.node") if "node" in raw else None
        d["pattern"] = r.pattern(raw, where)
        if (d["present"] is None) == (d["node"] is None):
            raise r.fail(where, "needs exactly one of present (a yes/no read) or node (a "
                                "value read from the node's text)")
    elif kind == "actions":
        d["screen"] = r.str_(raw, "screen", where)
        steps = raw.get("steps")
        if not isinstance(steps, list) or not steps:
            raise r.fail(f"{where}.steps", "must be a non-empty list of steps")
        d["steps"] = tuple(r.step(s, f"{where}.steps[{i}]") for i, s in enumerate(steps))
        res = raw.get("result")
        if res is not None:
            if not isinstance(res, dict):
                raise r.fail(f"{where}.result", "must be a table { node = SEL, pattern = RE }")
            r.only(res, f"{where}.result", ("node", "pattern"))
            d["result"] = (r.selector(res.get("node"), f"{where}.result.node"),
                           r.pattern(res, f"{where}.result"))
    elif kind == "files":
        for k in ("flight_records", "dat_records"):
            d[k] = _glob(r, r.str_(raw, k, where, None), f"{where}.{k}")
        media = raw.get("media", [])
        if not isinstance(media, list):
            raise r.fail(f"{where}.media", "must be a list of path globs")
        d["media"] = tuple(_glob(r, m, f"{where}.media[{i}]") for i, m in enumerate(media))
    return d


def _glob(r: _Reader, value, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/") or "*" in value.rsplit("/", 1)[0]:
        raise r.fail(where, "must be an absolute path whose last part may hold a * "
                            "(e.g. /sdcard/DJI/dji.go.v4/FlightRecord/DJIFlightRecord_*.txt)")
    return value


def load(path: Path) -> Recipe:
    """The recipe in this file, every key checked (RecipeError names file and key)."""
    r = _Reader(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise RecipeError(f"recipe file {path}: cannot read it: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"recipe file {path}: not valid TOML: {e}") from None
    r.only(raw, "", TOP)
    head = raw.get("recipe")
    if not isinstance(head, dict):
        raise r.fail("recipe", "missing table (package, versions, locale, launch)")
    r.only(head, "recipe", ("package", "versions", "locale", "launch", "verified", "note"))
    versions = head.get("versions")
    if not isinstance(versions, list) or not all(isinstance(v, str) and v for v in versions):
        raise r.fail("recipe.versions", "must be a list of app versions (exact versionName "
                                        "values, e.g. [\"4.3.36\"]; may be empty)")
    default_verified = r.bool_(head, "verified", "recipe", False)
    recipe = Recipe(path, r.str_(head, "package", "recipe"), tuple(versions),
                    r.str_(head, "locale", "recipe", "en"), r.str_(head, "launch", "recipe"))
    for kind in KINDS:
        table = raw.get(kind, {})
        if not isinstance(table, dict):
            raise r.fail(kind, "must be a table of named entries")
        for name, entry in table.items():
            recipe.entries[f"{kind}.{name}"] = _entry(r, kind, name, entry, default_verified)
    if "files" in raw:
        recipe.entries["files.files"] = _entry(r, "files", "files", raw["files"],
                                               default_verified)
    _check_references(r, recipe)
    return recipe


def _check_references(r: _Reader, recipe: Recipe) -> None:
    screens = {e.name for e in recipe.entries.values() if e.kind == "screens"}
    for e in recipe.entries.values():
        if e.placeholder:
            continue
        refs = [("from", e.data.get("from"))] if e.kind == "screens" else \
            [("screen", e.data.get("screen"))]
        refs += [(f"steps[{i}].screen", s.screen) for i, s in enumerate(e.data.get("steps", ()))]
        for key, target in refs:
            if target and target != LAUNCH and target not in screens:
                raise r.fail(f"{e.key}.{key}", f"no screen {target!r} in this recipe; "
                                              f"screens: {', '.join(sorted(screens))}")
    for name in screens:  # every screen's chain ends at the launch screen, without a loop
        seen, at = set(), name
        while at != LAUNCH:
            if at in seen:
                raise r.fail(f"screens.{name}.from", "the chain of `from` screens loops")
            seen.add(at)
            e = recipe.entries[f"screens.{at}"]
            if e.placeholder:
                break
            at = e.data["from"]


class Recipes:
    """Every recipe in these folders (each `PACKAGE/*.toml`); a later folder's file of the
    same name replaces an earlier one (a bench's own recipes over the shipped ones)."""

    def __init__(self, folders: list[Path]):
        self.folders = [f for f in folders if f is not None]
        found: dict[str, Path] = {}
        for folder in self.folders:
            for p in sorted(folder.glob("*/*.toml")) if folder.is_dir() else ():
                found[f"{p.parent.name}/{p.name}"] = p
        self.files = found
        self._loaded: dict[str, Recipe] = {}

    def all(self) -> list[Recipe]:
        """Every recipe, loaded and checked (RecipeError for the first bad one)."""
        for key, path in self.files.items():
            if key not in self._loaded:
                self._loaded[key] = load(path)
        return list(self._loaded.values())

    def select(self, package: str, version: str, locale: str = "en") -> Recipe | None:
        """The recipe for this exact app version (and locale); None: there is none. A
        later folder's recipe wins (a bench's own over a shipped one)."""
        for recipe in reversed(self.all()):
            if recipe.package == package and version in recipe.versions \
                    and recipe.locale == locale:
                return recipe
        return None

    def describe(self, package: str) -> str:
        """The recipes that exist for a package, for a skip reason."""
        have = [f"{r.name} ({', '.join(r.versions) or 'no versions: a template'})"
                for r in self.all() if r.package == package]
        return "; ".join(have) or "none"
