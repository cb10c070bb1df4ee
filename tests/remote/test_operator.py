"""The operator backend without a bench: its prompts on a pseudo-terminal, answered by a
thread playing the person, served by the main thread as the session pool does."""

import os
import pty
import threading
import time

import pytest
import tomli_w

from hil import bench as benchmod
from hil.remote import backends
from hil.remote.operator import NO_TERMINAL, ByHandApp, Desk, OperatorApp, Person
from hil.remote.phone import AppCannot, AppError


class Terminal:
    """A pty whose slave side is the desk's terminal; `person(answers)` types answers
    to the prompts in the order they appear, and keeps what it saw."""

    def __init__(self):
        self.master, self.slave = pty.openpty()
        self.desk = Desk(os.ttyname(self.slave))
        self.seen = ""
        self._stop = threading.Event()

    def person(self, answers: list[str | None]):
        def run():
            left = list(answers)
            while left and not self._stop.is_set():
                try:
                    chunk = os.read(self.master, 4096).decode()
                except OSError:
                    return
                self.seen += chunk
                while left and self.seen.count("] > ") > len(answers) - len(left):
                    a = left.pop(0)
                    if a is not None:
                        os.write(self.master, a.encode() + b"\n")
        th = threading.Thread(target=run, daemon=True)
        th.start()
        return th

    def close(self):
        self._stop.set()
        self.desk.close()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def term():
    t = Terminal()
    yield t
    t.close()


def serve_until(desk, *threads, limit=10.0):
    end = time.monotonic() + limit
    while any(t.is_alive() for t in threads) and time.monotonic() < end:
        desk.serve(0.05)


def in_worker(fn):
    out = {}

    def run():
        try:
            out["value"] = fn()
        except Exception as e:
            out["error"] = e
    th = threading.Thread(target=run)
    th.start()
    return th, out


def test_a_worker_asks_the_main_thread_serves_and_every_answer_is_kept_with_who_and_when(term):
    app = OperatorApp("iphone8", Person("alice", 5), desk=term.desk)
    heard = []
    app.on_answer(heard.append)
    term.person(["maybe", "yes"])  # a bad answer is asked again
    th, out = in_worker(app.linked)
    serve_until(term.desk, th)
    assert out == {"value": True}
    assert "On iphone8: Does DJI GO 4 show the aircraft connected? [yes/no; s skips this " \
           "claim; 5 s] > " in term.seen
    assert "'maybe': answer yes or no" in term.seen
    assert [(a.who, a.answer) for a in heard] == [("alice", "yes")]
    assert heard[0].line().startswith(
        "operator alice answered 'yes' to 'Does DJI GO 4 show the aircraft connected?' at ")
    assert abs(heard[0].t - time.time()) < 5


def test_prompts_of_two_stations_are_asked_one_at_a_time_in_order(term):
    a = OperatorApp("iphone-a", Person("bob", 5), desk=term.desk)
    b = OperatorApp("iphone-b", Person("bob", 5), desk=term.desk)
    term.person(["3", "7"])
    ta, oa = in_worker(a.records)
    time.sleep(0.05)
    tb, ob = in_worker(b.records)
    time.sleep(0.05)
    serve_until(term.desk, ta, tb)
    assert len(oa["value"]) == 3 and len(ob["value"]) == 7
    assert oa["value"][0] == {"id": 1, "time": None, "size": None, "synced": None}
    assert term.seen.index("On iphone-a") < term.seen.index("On iphone-b")


def test_s_skips_the_step_and_an_unanswered_prompt_is_an_error_naming_it(term):
    app = OperatorApp("iphone8", Person("carol", 0.3), desk=term.desk)
    term.person(["s"])
    th, out = in_worker(lambda: app.set("diagnostics", False))
    serve_until(term.desk, th)
    assert isinstance(out["error"], AppCannot)
    assert "the operator skipped: set diagnostics off" in str(out["error"])
    assert app.answers[-1].answer == "s"
    th, out = in_worker(app.sync)  # nobody answers
    start = time.monotonic()
    serve_until(term.desk, th)
    assert isinstance(out["error"], AppError) and not isinstance(out["error"], AppCannot)
    assert "nobody answered 'In DJI GO 4, open Flight Record and press Sync. Press Enter " \
           "when it has finished.' within 0.3 s" in str(out["error"])
    assert 0.25 < time.monotonic() - start < 3


def test_a_setting_the_person_reads_back_wrong_is_an_error(term):
    app = OperatorApp("iphone8", Person("dan", 5), desk=term.desk)
    term.person(["on"])
    th, out = in_worker(lambda: app.set("diagnostics", False))
    serve_until(term.desk, th)
    assert "setting diagnostics did not take off: the operator reads it on" in \
        str(out["error"])


def test_asked_on_the_main_thread_it_is_served_there(term):
    app = OperatorApp("iphone8", Person("erin", 5), desk=term.desk)
    term.person(["DJI_0042.JPG", "4.3.36"])
    assert app.take_photo() == {"index": 42, "file": "DJI_0042.JPG", "size": None}
    assert app.version() == "4.3.36"
    assert app.version() == "4.3.36"  # asked once a run
    assert term.seen.count("app version") == 1


def test_without_a_terminal_every_step_is_skipped_at_once_and_close_asks_nothing(tmp_path):
    app = OperatorApp("iphone8", desk=Desk(str(tmp_path / "no-tty")))
    start = time.monotonic()
    with pytest.raises(AppCannot, match=NO_TERMINAL.replace("(", r"\(").replace(")", r"\)")):
        app.version()
    app.close()  # nothing asked, nothing to do
    assert time.monotonic() - start < 1


SIM = os.path.join(os.path.dirname(__file__), "..", "..", "benches", "sim.toml")


def bench_with(tmp_path, **phone):
    import tomllib
    raw = tomllib.loads(open(SIM).read())
    name = next(iter(raw["phone"]))
    raw["phone"][name].update(phone)
    p = tmp_path / "b.toml"
    p.write_text(tomli_w.dumps(raw))
    return p, name


@pytest.mark.parametrize("keys, error", [
    ({"by_hand": ["share", "fly"]}, "by_hand: 'fly' is not a step of the app; known: "),
    ({"operator": "x"}, "'operator' is the person's who answers by hand"),
    ({"by_hand": ["share"], "prompt_timeout": 0}, "prompt_timeout: must be more than 0"),
    ({"backend": "operator", "host": "sim"}, "the operator backend takes no key 'host'"),
])
def test_bench_keys_are_checked(tmp_path, keys, error):
    p, name = bench_with(tmp_path, **keys)
    if keys.get("backend") == "operator":
        import tomllib
        raw = tomllib.loads(p.read_text())
        for k in ("port", "user", "key", "known_hosts"):
            raw["phone"][name].pop(k, None)
        p.write_text(tomli_w.dumps(raw))
    with pytest.raises(benchmod.BenchError, match=error.replace("(", r"\(")):
        benchmod.load(p)


def test_by_hand_hands_those_steps_to_a_person_and_the_rest_to_the_backend(tmp_path, term,
                                                                            monkeypatch):
    p, name = bench_with(tmp_path, by_hand=["set diagnostics", "share"], operator="fay",
                         prompt_timeout=5)
    phone = benchmod.load(p).phones[name]
    assert phone.by_hand == ("set diagnostics", "share") and phone.person.name == "fay"
    monkeypatch.setattr("hil.remote.operator.DESK", term.desk)
    app = backends.open_app(phone)
    assert isinstance(app, ByHandApp) and app.person.person.name == "fay"
    calls = []
    app.inner = type("Inner", (), {"set": lambda s, *a: calls.append(("set", *a)),
                                   "share": lambda s, *a: calls.append(("share", *a))})()
    term.person(["off", ""])
    app.set("diagnostics", False)  # by hand
    app.set("local_data_mode", True)  # by the backend
    app.share(3)  # by hand
    assert calls == [("set", "local_data_mode", True)]
    assert "turn OFF 'Send Diagnostic Data'" in term.seen
    assert "share the photo number 3 (DJI_0003)" in term.seen
