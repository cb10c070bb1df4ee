"""The relay board drivers, by the name a bench file's `relay.driver` gives."""

from __future__ import annotations

from types import ModuleType

from hil.power import devantech, kmtronic, lcus, numato
from hil.power.relay import RelayBoard

MODULES: dict[str, ModuleType] = {"numato": numato, "lcus": lcus, "kmtronic": kmtronic,
                                  "devantech": devantech}
DRIVERS: dict[str, type[RelayBoard]] = {
    "numato": numato.NumatoBoard,
    "lcus": lcus.LcusBoard,
    "kmtronic": kmtronic.KmtronicBoard,
    "devantech": devantech.DevantechBoard,
}


def check_channels(driver: str, channels: int) -> None:
    """Raise RelayError if a board of this kind cannot have that many channels."""
    MODULES[driver].check_channel_count(f"a {driver} board", channels)


def open_board(cfg) -> RelayBoard:
    """Open the board a bench file's [relay] table describes (a `RelayConfig`)."""
    try:
        driver = DRIVERS[cfg.driver]
    except KeyError:
        raise ValueError(f"relay driver {cfg.driver!r} does not exist; known: "
                         f"{', '.join(DRIVERS)}") from None
    return driver(cfg.url, cfg.channels)
