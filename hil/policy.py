"""The release gate's policy: a small TOML file (the annotated default is
`hil/data/gate-policy.toml`). `load(path)` returns a validated `Policy`; a file that cannot
be used raises `PolicyError` with one line naming the file and the key."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path

from hil.report import CLAIM_ORDER

PACKAGED = Path(__file__).resolve().parent / "data" / "gate-policy.toml"


class PolicyError(ValueError):
    """The policy file cannot be used: names the file and the key."""


@dataclass(frozen=True)
class Policy:
    path: str = str(PACKAGED)
    required: tuple[str, ...] = CLAIM_ORDER
    not_on_ios: tuple[str, ...] = ("K7",)
    factor: float = 2.0
    floor: int = 65536
    fail_on_new_destination: bool = True
    fail_on_new_category: bool = True
    ignore_categories: tuple[str, ...] = ("dns", "os")
    ignore_destinations: tuple[str, ...] = ()

    def required_of(self, platform: str | None) -> tuple[str, ...]:
        """The claims required of a model whose phone runs `platform`."""
        skip = set(self.not_on_ios) if platform == "ios" else set()
        return tuple(c for c in self.required if c not in skip)

    def ignored(self, destination: str, category: str) -> bool:
        if category in self.ignore_categories:
            return True
        d = destination.lower().rstrip(".")
        return any(d == p or (p.startswith("*.") and fnmatch.fnmatch(d, p))
                   for p in (x.lower() for x in self.ignore_destinations))


# table -> key -> (type check, what it must be)
def _claims(v):
    return isinstance(v, list) and all(c in CLAIM_ORDER for c in v)


def _strings(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


_KEYS = {
    "claims": {"required": (_claims, f"a list of claims ({', '.join(CLAIM_ORDER)})"),
               "not_on_ios": (_claims, "a list of claims")},
    "traffic": {
        "factor": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                   and v >= 1, "a number >= 1"),
        "floor": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                  "a whole number of bytes >= 0"),
        "fail_on_new_destination": (lambda v: isinstance(v, bool), "true or false"),
        "fail_on_new_category": (lambda v: isinstance(v, bool), "true or false"),
        "ignore_categories": (_strings, "a list of category names"),
        "ignore_destinations": (_strings, "a list of names or *.domain patterns"),
    },
}


def load(path: str | Path | None = None) -> Policy:
    p = Path(path) if path else PACKAGED
    try:
        doc = tomllib.loads(p.read_text())
    except OSError as e:
        raise PolicyError(f"policy file {p}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"policy file {p}: not TOML: {e}") from None
    if doc.get("version", 1) != 1:
        raise PolicyError(f"policy file {p}: version: {doc['version']!r}; this gate reads 1")
    values: dict = {"path": str(p)}
    for table, body in doc.items():
        if table == "version":
            continue
        if table not in _KEYS:
            raise PolicyError(f"policy file {p}: unknown key {table!r}; known: version, "
                              f"{', '.join(_KEYS)}")
        if not isinstance(body, dict):
            raise PolicyError(f"policy file {p}: {table} must be a table ([{table}])")
        for key, value in body.items():
            if key not in _KEYS[table]:
                raise PolicyError(f"policy file {p}: unknown key {table}.{key}; known: "
                                  f"{', '.join(_KEYS[table])}")
            ok, what = _KEYS[table][key]
            if not ok(value):
                raise PolicyError(f"policy file {p}: {table}.{key} must be {what}, got "
                                  f"{value!r}")
            values[key] = tuple(value) if isinstance(value, list) else value
    return Policy(**values)
