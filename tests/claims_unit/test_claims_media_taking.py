"""Who takes K1's photos and how their size is known: the link, the app, or the model's
nominal photo, and the media says which (a unit test of claims/conftest.py's `take`)."""

import importlib.util
from types import SimpleNamespace

from sim_runs import ROOT

from hil import link, models
from hil.remote import phone

spec = importlib.util.spec_from_file_location("claim_sessions", ROOT / "claims" / "conftest.py")
sessions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sessions)


class Session:
    """What `take` asks of a session: act and observe (recorded, nothing waited)."""

    def __init__(self):
        self.actions = []

    def act(self, what, fn=None):
        self.actions.append(what)
        return fn() if fn else None

    def observe(self, seconds=None):
        self.actions.append(f"observe {seconds}")


def station(link_caps, app_caps, photo_size):
    shots = iter(range(1, 10))

    class Link:
        capabilities = frozenset(link_caps)
        can = link.AircraftLink.can

        def __str__(self):
            return "the aircraft link `app`"

    class App:
        capabilities = frozenset(app_caps)
        can = phone.App.can

        def take_photo(self):
            i = next(shots)
            return {"index": i, "file": f"/DCIM/DJI_{i:04d}.JPG", "size": photo_size}

        def video(self, start):
            return None if start else self.take_photo()

    return SimpleNamespace(link=Link(), app=App(), phone=SimpleNamespace(name="pixel4"),
                           config=SimpleNamespace(model=models.MODELS["spark"]),
                           bench=SimpleNamespace(windows=SimpleNamespace(video=0.05)))


def test_the_app_takes_the_photo_and_its_reported_size_is_used():
    s = Session()
    m = sessions.take(s, station({link.ON}, {phone.MEDIA}, 4_200_000), "photo")
    assert m["size"] == 4_200_000 and m["size_from"] == "as the app on pixel4 reports them"
    assert s.actions == ["take photo (app)"]


def test_an_unmeasured_photo_is_the_models_nominal_size_and_says_so():
    m = sessions.take(Session(), station({link.ON}, {phone.MEDIA}, None), "photo")
    nominal = models.MODELS["spark"].photo
    assert m["size"] == nominal.size == 1_476_096
    assert m["size_from"] == nominal.describe()
    assert "nominal 1476096 B" in m["size_from"] and "DJI Spark specifications" in m["size_from"]


def test_nobody_can_take_a_photo_is_said_naming_both_devices():
    st = station({link.ON}, set(), None)
    why = sessions.cannot(st)
    assert why["media"] == ("nobody can take a photo: the aircraft link `app` cannot, nor can "
                            "the app backend of pixel4")
    assert why["aircraft_logs"] == "the aircraft link `app` cannot list onboard logs"
    assert why["app_records"] == "the app backend of pixel4 cannot list flight records"
