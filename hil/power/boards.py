"""Open the relay board a bench file names, with the driver its `relay.driver` says."""

from __future__ import annotations

from hil.bench import RelayConfig
from hil.power.numato import NumatoBoard
from hil.power.relay import RelayBoard

DRIVERS = {"numato": NumatoBoard}


def open_board(cfg: RelayConfig) -> RelayBoard:
    try:
        driver = DRIVERS[cfg.driver]
    except KeyError:
        raise ValueError(f"relay driver {cfg.driver!r} does not exist; known: "
                         f"{', '.join(DRIVERS)}") from None
    return driver(cfg.url, cfg.channels)
