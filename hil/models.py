"""The aircraft model registry.

A model id is the same word everywhere: in bench files (`model = "spark"`), as a pytest
marker (`pytest -m spark`) and in reports. Each model says how long it takes to boot,
how its aircraft and remote controller are powered, and what kind of link reports its
readiness. Figures are for a real bench; the simulated bench scales them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ButtonTiming:
    """A DJI power button pattern: a short press, a pause, then a long press.

    The same pattern powers the device on and off. Times in seconds.
    """

    short: float = 0.3
    gap: float = 0.3
    long: float = 2.2


@dataclass(frozen=True)
class Model:
    """One aircraft model the harness knows how to power, wait for and judge."""

    id: str
    name: str
    boot_time: float  # seconds from power-on until the aircraft link is up, typical
    aircraft_sequence: str  # "button" | "switch"
    controller_sequence: str
    link_kind: str  # "mavlink" today; "duml" or "app" on a real DJI bench later
    button: ButtonTiming = ButtonTiming()


MODELS: dict[str, Model] = {
    m.id: m
    for m in (
        Model("spark", "DJI Spark", 25.0, "button", "button", "mavlink"),
        Model("mavic", "DJI Mavic Pro", 30.0, "button", "button", "mavlink"),
        Model("phantom4pro", "DJI Phantom 4 Pro", 35.0, "button", "button", "mavlink"),
        Model("inspire2", "DJI Inspire 2", 45.0, "button", "button", "mavlink"),
    )
}


class UnknownModel(KeyError):
    """A model id that the registry does not have."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0])


def get(model_id: str) -> Model:
    """The model with this id, or UnknownModel naming the ids that exist."""
    try:
        return MODELS[model_id]
    except KeyError:
        known = ", ".join(MODELS)
        raise UnknownModel(f"unknown model {model_id!r}; known models: {known}") from None
