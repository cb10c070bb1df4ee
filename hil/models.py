"""The aircraft model registry.

A model id is the same word everywhere: in bench files (`model = "spark"`), as a pytest
marker (`pytest -m spark`) and in reports. Each model says how long it takes to boot,
how its aircraft and remote controller are powered, which aircraft link a bench has for it
unless its bench file says otherwise, and the nominal size of one of its photos. Figures
are for a real bench; the simulated bench scales them.
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
    photo: NominalPhoto
    # the aircraft link when the bench file names none: DJI aircraft speak DUML, not
    # MAVLink, so a DJI lab sees them through the app (hil.link)
    default_link: str = "app"
    button: ButtonTiming = ButtonTiming()


@dataclass(frozen=True)
class NominalPhoto:
    """The size that stands in for a photo whose size nobody could measure.

    A lower bound on purpose: a JPEG at 1 bit per pixel (heavy compression; DJI's own
    JPEGs are larger). K1 counts an upload over a fraction of the smallest photo as media,
    and its control wants an upload of at least the shared photo's size: a size that is too
    small errs on the strict side of the first and the lenient side of neither.
    """

    width: int
    height: int
    source: str

    @property
    def size(self) -> int:
        return self.width * self.height // 8

    def describe(self) -> str:
        return (f"nominal {self.size} B: a {self.width}x{self.height} JPEG at 1 bit per pixel "
                f"({self.source})")


MODELS: dict[str, Model] = {
    m.id: m
    for m in (
        Model("spark", "DJI Spark", 25.0, "button", "button",
              NominalPhoto(3968, 2976, "12 MP stills, DJI Spark specifications")),
        Model("mavic", "DJI Mavic Pro", 30.0, "button", "button",
              NominalPhoto(4000, 3000, "12.35 MP stills, DJI Mavic Pro specifications")),
        Model("phantom4pro", "DJI Phantom 4 Pro", 35.0, "button", "button",
              NominalPhoto(5472, 3648, "20 MP stills, DJI Phantom 4 Pro specifications")),
        Model("inspire2", "DJI Inspire 2", 45.0, "button", "button",
              NominalPhoto(5472, 3648, "20 MP stills, Zenmuse X4S on the Inspire 2, DJI "
                                       "specifications")),
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
