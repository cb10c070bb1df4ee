"""The phone backends, by the name a bench file's `phone.NAME.backend` gives.

A backend drives the app on one kind of phone. Its module, named here and imported only
when a bench uses it, has:

- `KEYS`: the keys it takes in a `[phone.NAME]` table, beyond every phone's (`backend`,
  `ip`, `platform`, `by_hand`, and with `by_hand` the person's `operator`,
  `prompt_timeout`); any other key is an error naming the file, the key and these;
- `parse(section: hil.bench.Section) -> options`: validate those keys (the section names
  the file and the key in its errors); the result is `PhoneConfig.options`;
- `open_app(phone: hil.bench.PhoneConfig) -> hil.remote.phone.App`: the app, connected on
  first use.

A new backend is one module (its keys and a config example in its docstring), one line
below and its tests.
"""

from __future__ import annotations

import importlib
from types import ModuleType

BACKENDS: dict[str, str] = {
    "agent": "hil.remote.agent",  # the SSH agent the simulated phones run (hil-app)
    "adb": "hil.remote.adb",  # Android: GO 4 through the adb server, by UI recipes
    "operator": "hil.remote.operator",  # a person at the bench answers prompts
}
RENAMED: dict[str, str] = {"sim": "agent"}  # old name -> new name, for a one-line hint


def module(backend: str) -> ModuleType:
    """The module of a backend; KeyError for a backend that is not registered."""
    return importlib.import_module(BACKENDS[backend])


def open_app(phone):
    """The app on this phone (a `hil.bench.PhoneConfig`), through its backend; the steps
    its `by_hand` key names go to a person at the bench (`hil.remote.operator`)."""
    app = module(phone.backend).open_app(phone)
    if phone.by_hand and phone.backend != "operator":
        from hil.remote import operator

        app = operator.ByHandApp(app, phone.by_hand,
                                 operator.OperatorApp(phone.name, phone.person, phone.platform))
    return app
