"""Benches that are labgrid places, on a real coordinator, exporter and ser2net (lg_lab.py).

The simulated bench (`hil sim`, the served bench) plays the devices; its relay pty is
exported by a labgrid-exporter, so the claim suite reaches the relay board only through
the place: rfc2217:// to the exporter's ser2net.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest
from lg_lab import ROOT, Lab, claims, free_port, need_labgrid, place_bench, relay_export
from sim_runs import sim_template

from hil import lgclient
from hil.place import PlaceConfig, PlaceError
from hil.power.numato import NumatoBoard

pytestmark = pytest.mark.slow


@pytest.fixture
def lab(tmp_path, monkeypatch):
    need_labgrid()
    monkeypatch.setenv("HIL_LOCK_DIR", str(tmp_path / "locks"))
    lab = Lab(tmp_path)
    lab.env["HIL_LOCK_DIR"] = str(tmp_path / "locks")
    try:
        yield lab
    finally:
        lab.stop()


def served_place(lab, served_bench, tmp_path, place, exporter, template=None, **tags):
    """A served sim bench (of `template`, default benches/sim.toml), its relay exported as
    `exporter`, a place `place` of it; the labgrid bench file (coordinator only: the
    place comes from --lg-place) and the resolved one."""
    resolved = served_bench(template)
    lab.export(exporter, relay_export(resolved))
    lab.place(place, exporter, **tags)
    return place_bench(resolved, tmp_path, lab.address, name=f"{place}.toml"), resolved


def channels(resolved) -> list[bool]:
    """The simulated board's channels, read on its own pty (not through labgrid)."""
    import tomllib

    url = tomllib.loads(resolved.read_text())["relay"]["url"]
    with NumatoBoard(url, 8) as board:
        return board.states()


def run(lab, bench, *args, timeout=240):
    return subprocess.run(claims(bench, *args), cwd=ROOT, env=lab.env, capture_output=True,
                          text=True, timeout=timeout)


def popen(lab, bench, *args, env=None):
    return subprocess.Popen(claims(bench, *args), cwd=ROOT, env={**lab.env, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(proc, text, timeout=90, times=1):
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        times -= text in line
        if times == 0:
            return "".join(lines)
    raise AssertionError(f"never saw {text!r}:\n{''.join(lines[-40:])}")


def test_two_benches_at_once_the_spark_claims_through_each_place(lab, served_bench, tmp_path):
    """Two places, two relays, two pytest processes at once; the first runs every Spark
    claim, the relay driven over RFC 2217 through ser2net."""
    one, res1 = served_place(lab, served_bench, tmp_path, "spark-01", "bench1", model="spark")
    two, res2 = served_place(lab, served_bench, tmp_path, "spark-02", "bench2", model="spark")
    first = popen(lab, one, "-m", "spark", "--lg-place", "spark-01",
                  "--artifacts", str(tmp_path / "a1"))
    second = popen(lab, two, "-m", "spark", "-k", "k4", "--artifacts", str(tmp_path / "a2"),
                   env={"LG_PLACE": "spark-02"})
    head = wait_for(first, "place spark-01 acquired")
    # meanwhile a job on another host (its own name and lock folder) wants spark-01: it
    # waits, saying who holds it, then gives up naming the holder and the command that
    # frees the place
    t0 = time.monotonic()
    third = subprocess.run(
        claims(one, "-m", "spark", "--lg-place", "spark-01", "--bench-lock-timeout", "3",
               "--artifacts", str(tmp_path / "a3")), cwd=ROOT, capture_output=True,
        text=True, timeout=120, env={**lab.env, "LG_HOSTNAME": "bench-host-b",
                                      "HIL_LOCK_DIR": str(tmp_path / "locks-b")})
    took = time.monotonic() - t0
    outs = [p.communicate(timeout=240)[0] for p in (first, second)]
    outs[0] = head + outs[0]
    out = third.stdout
    assert third.returncode == 2, out[-4000:]
    holder = re.search(r"place spark-01 acquired at coordinator \S+ \(as (\S+)\)",
                       outs[0]).group(1)
    assert re.search(rf"place spark-01 is acquired by {re.escape(holder)} \(since .*\); "
                     r"waiting \(\d+ s of 3 s\)", out), out[-3000:]
    assert "gave up after 3 s" in out and took >= 3
    assert (f"free it with: labgrid-client -x {lab.address} -p spark-01 release-from "
            f"{holder}") in out
    assert "relay: numato" not in out  # never touched the bench
    for proc, out, n in ((first, outs[0], 9), (second, outs[1], 1)):
        assert proc.returncode == 0 and f"{n} passed" in out.splitlines()[-1], out[-4000:]
    urls = []
    for out, place in zip(outs, ("spark-01", "spark-02"), strict=True):
        url = re.search(rf"from place {place}: relay.url = (rfc2217://127\.0\.0\.1:\d+\S*)", out)
        assert url, out[-4000:]
        assert f"relay: numato board at {url.group(1)}" in out
        assert f"place {place} released" in out
        assert "acquired: None" in lab.show(place)  # free again
        urls.append(url.group(1))
    assert urls[0] != urls[1]
    assert channels(res1) == [False] * 8 and channels(res2) == [False] * 8


def example_bench(tmp_path, coordinator, **labgrid):
    """benches/labgrid-example.toml on this coordinator: the runs below stop before any
    device is touched, so no simulated bench is needed."""
    import tomllib

    import tomli_w
    raw = tomllib.loads((ROOT / "benches" / "labgrid-example.toml").read_text())
    raw["labgrid"] = {"coordinator": coordinator, **labgrid}
    path = tmp_path / "example.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def gateway_only_place(lab) -> None:
    """Place spark-01: one exporter's gateway, no relay."""
    lab.export("bench1", {"gateway": {"cls": "NetworkService", "address": "127.0.0.1",
                                      "username": "hil"}})
    lab.place("spark-01", "bench1")


def test_a_place_without_a_relay_is_one_error_and_is_left_free(lab, tmp_path):
    gateway_only_place(lab)
    bench = example_bench(tmp_path, lab.address, place="spark-01")
    res = run(lab, bench, "-m", "spark")
    out = res.stdout
    assert res.returncode == 2, out[-3000:]
    assert (f"bench file {bench}: relay.url: not in the file, and place spark-01 has no relay "
            "resource (a NetworkSerialPort named 'relay'") in out
    assert "its resources: gateway (NetworkService)" in out
    assert "Traceback" not in out
    assert "place spark-01 released" in out and "acquired: None" in lab.show("spark-01")


def test_doctor_on_a_place_without_a_relay_fails_that_line_and_gives_the_place_back(lab,
                                                                                    tmp_path):
    gateway_only_place(lab)
    bench = example_bench(tmp_path, lab.address, place="spark-01")
    doc = subprocess.run([sys.executable, "-m", "hil.cli", "doctor", "--bench", str(bench),
                          "--artifacts", str(tmp_path / "d")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env=lab.env)
    out = doc.stdout + doc.stderr
    assert doc.returncode != 0, out
    assert re.search(r"^FAIL bench resources: bench file \S+: relay.url: not in the file, and "
                     r"place spark-01 has no relay resource", out, re.M), out
    assert "acquired: None" in lab.show("spark-01"), out


def test_an_unreachable_coordinator_is_one_error(lab, tmp_path):
    nobody = f"127.0.0.1:{free_port()}"
    bench = example_bench(tmp_path, nobody, place="spark-01")
    res = run(lab, bench, "-m", "spark", timeout=60)
    out = res.stdout
    assert res.returncode == 2, out[-3000:]
    assert f"labgrid coordinator {nobody} does not answer" in out, out[-3000:]
    assert "relay: numato" not in out and "Traceback" not in out


def test_an_acquire_cut_short_after_the_coordinator_granted_it_is_given_back(lab, monkeypatch):
    """Ctrl-C (or a signal, or no answer in time) while the coordinator grants the place:
    the run never learns it holds it, and gives it back all the same."""
    gateway_only_place(lab)
    lock = lgclient.PlaceLock(PlaceConfig(lab.address, "spark-01"), command="test")
    granted = lock.coordinator.acquire

    def answer_lost(name):
        granted(name)
        raise KeyboardInterrupt  # the answer was on its way

    monkeypatch.setattr(lock.coordinator, "acquire", answer_lost)
    with pytest.raises(KeyboardInterrupt):
        lock.acquire(timeout=5)
    assert "acquired: None" in lab.show("spark-01")


def test_a_free_place_the_coordinator_refuses_says_why_in_its_words(lab):
    """Two places over the same exporter's resources: with one acquired elsewhere, the
    other is free yet refused; the wait and the error say so, not "reserved"."""
    gateway_only_place(lab)
    lab.place("spark-02", "bench1")
    lab.client("-p", "spark-01", "acquire", env={"LG_HOSTNAME": "bench-host-b"})
    lock = lgclient.PlaceLock(PlaceConfig(lab.address, "spark-02"), poll=0.2)
    with pytest.raises(lgclient.PlaceBusy, match=r"place spark-02 is free but refused by the "
                                                 r"coordinator \(AcquirePlace: .+\); gave up "
                                                 r"after 1 s"):
        lock.acquire(timeout=1)
    assert "acquired: None" in lab.show("spark-02")


def test_a_run_that_fails_early_keeps_the_record_of_a_killed_one(lab, monkeypatch):
    """A run killed with SIGKILL holding the place; the next one fails before it can look
    (its coordinator does not answer): the run after that is still told, and how to free
    the place."""
    gateway_only_place(lab)
    code = ("import time; from hil import lgclient; from hil.place import PlaceConfig; "
            f"lgclient.PlaceLock(PlaceConfig({lab.address!r}, 'spark-01')).acquire(5); "
            "print('holding', flush=True); time.sleep(120)")
    killed = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=lab.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(killed, "holding", timeout=60)
    killed.kill()
    killed.communicate(timeout=30)

    early = lgclient.PlaceLock(PlaceConfig(lab.address, "spark-01"))

    def no_answer():
        raise lgclient.Unreachable(f"labgrid coordinator {lab.address}: no answer")

    monkeypatch.setattr(early.coordinator, "places", no_answer)
    with pytest.raises(lgclient.Unreachable):
        early.acquire(timeout=5)
    nxt = lgclient.PlaceLock(PlaceConfig(lab.address, "spark-01"))
    with pytest.raises(PlaceError, match=rf"the hil run pid {killed.pid} on .* was killed "
                                         r"without releasing it \(SIGKILL\?\)\. Check the "
                                         r"bench, then free the place with: labgrid-client "):
        nxt.acquire(timeout=5)
    assert "acquired: None" not in lab.show("spark-01")  # left for a person to free


def test_an_exporter_gone_mid_run_then_a_sigkill_then_back_to_a_safe_bench(
        lab, served_bench, tmp_path):
    """The exporter vanishes inside a power session: one error naming the relay's URL.
    Once it is back, a job killed with SIGKILL leaves the place acquired; the next run
    says exactly how to free it, and after that command a run opens the channels the
    killed job left closed, through the exporter, and passes."""
    def switch(raw):  # switch channels: closed while the Spark is on
        for key in ("power", "controller"):
            raw["aircraft"]["spark"][key] = {"relay": raw["aircraft"]["spark"][key]["relay"],
                                             "sequence": "switch", "off_time": 0.01}

    bench, resolved = served_place(lab, served_bench, tmp_path, "spark-01", "bench1",
                                   template=sim_template(tmp_path, switch))
    args = ("-m", "spark", "-k", "k4", "--lg-place", "spark-01")

    job = popen(lab, bench, *args, "--artifacts", str(tmp_path / "a1"))
    # the controller's channel is closed once the aircraft's power-on starts
    wait_for(job, "spark aircraft: power on (switch")
    lab.kill_exporter("bench1")
    out = job.communicate(timeout=120)[0]
    assert job.returncode == 1, out[-4000:]
    url = re.search(r"relay.url = (rfc2217://\S+)", out).group(1)
    # one error: the bench is not safe, the relay's URL and what failed named
    errors = re.findall(r"^(\w+): .*", out.split("= ERRORS =")[1].split("Captured log")[0],
                        re.M)
    assert [e for e in errors if not e.startswith("___")] == ["BenchNotSafe"], out[-4000:]
    assert re.search(rf"BenchNotSafe: spark: bench not left safe after the defaults session: "
                     rf".*off: numato board at {re.escape(url)}: ", out), out[-4000:]
    assert "place spark-01 released" in out
    assert channels(resolved)[1], out  # left closed: nothing could reach it

    lab.export("bench1", relay_export(resolved))  # back (ser2net on a new port)
    job = popen(lab, bench, *args, "--artifacts", str(tmp_path / "a2"))
    wait_for(job, "spark aircraft: power on (switch")
    job.send_signal(signal.SIGKILL)
    job.communicate(timeout=30)
    assert "acquired: None" not in lab.show("spark-01")  # nothing released it

    res = run(lab, bench, *args, "--artifacts", str(tmp_path / "a3"))
    out = res.stdout
    assert res.returncode == 2, out[-3000:]
    free = re.search(r"free the place with: (labgrid-client .*release-from \S+)", out)
    assert free and f"the hil run pid {job.pid} on " in out, out[-3000:]
    assert "relay: numato" not in out
    cmd = shlex.split(free.group(1))
    subprocess.run(cmd, env=lab.env, check=True, capture_output=True, timeout=30)

    res = run(lab, bench, *args, "--artifacts", str(tmp_path / "a4"))
    out = res.stdout
    assert res.returncode == 0 and "1 passed" in out.splitlines()[-1], out[-4000:]
    assert re.search(r"relay rfc2217://\S+ channel 1 \(spark controller\) was closed at "
                     r"the start of the run", out), out[-4000:]
    assert channels(resolved) == [False] * 8

    # hil doctor on the place: its holder (doctor, while it runs), its resources and what
    # they fill, the relay read back through the exporter; released after
    doc = subprocess.run([sys.executable, "-m", "hil.cli", "doctor", "--bench", str(bench),
                          "--artifacts", str(tmp_path / "d")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**lab.env, "LG_PLACE": "spark-01"})
    out = doc.stdout
    assert re.search(r"^ok   bench place: spark-01 at coordinator \S+: free; acquired by "
                     r"doctor while it runs \(as \S+\)", out, re.M), out
    assert re.search(r"^ok   bench resources: relay \(NetworkSerialPort\); filled: relay.url = "
                     r"rfc2217://127.0.0.1:\d+\?ign_set_control", out, re.M), out
    assert re.search(r"^ok   relay board: numato at rfc2217://\S+, 8 channels read back; "
                     r"closed now: none", out, re.M), out
    assert "acquired: None" in lab.show("spark-01")


def test_tags_reserve_any_free_matching_place_and_plus_is_the_reservations(lab, tmp_path,
                                                                          monkeypatch):
    """The lock itself (no run): tags reserve any free place with them, waiting with
    progress; `+` is the place of $LG_TOKEN's reservation (labgrid's nightly flow)."""
    from hil import lgclient
    from hil.place import PlaceConfig

    ptys = [os.openpty() for _ in range(2)]  # relays nobody opens here
    for n, (_, slave) in enumerate(ptys, 1):
        lab.export(f"bench{n}", {"relay": {"cls": "RawSerialPort", "port": os.ttyname(slave)}})
        lab.place(f"spark-0{n}", f"bench{n}", model="spark")
    lab.client("-p", "spark-01", "acquire", env={"LG_HOSTNAME": "bench-host-b"})
    monkeypatch.setenv("LG_HOSTNAME", "bench-host-a")
    tags = PlaceConfig(lab.address, None, {"model": "spark"})
    first = lgclient.PlaceLock(tags, progress_every=0.5)
    assert first.acquire(timeout=10).name == "spark-02"
    assert "relay (NetworkSerialPort)" in str(
        [f"{r.name} ({r.cls})" for r in first.place.resources]).replace("'", "")
    t0 = time.monotonic()
    with pytest.raises(lgclient.PlaceBusy) as busy:
        lgclient.PlaceLock(tags, progress_every=0.5).acquire(timeout=2)
    assert time.monotonic() - t0 >= 2
    msg = str(busy.value)
    assert "every place tagged model=spark is in use: spark-01 acquired by bench-host-b/" in msg
    assert "spark-02 acquired by bench-host-a/" in msg and "gave up after 2 s" in msg
    assert f"labgrid-client -x {lab.address} -p spark-01 release-from bench-host-b/" in msg
    assert first.release() == []
    assert "acquired: None" in lab.show("spark-02")
    assert "Reservation" not in lab.client("reservations").stdout  # cancelled, both

    token = re.search(r"LG_TOKEN=(\w+)", lab.client(
        "reserve", "--wait", "--shell", "model=spark",
        env={"LG_HOSTNAME": "bench-host-a"}).stdout).group(1)
    monkeypatch.setenv("LG_TOKEN", token)
    plus = lgclient.PlaceLock(PlaceConfig(lab.address, "+"))
    assert plus.acquire(timeout=5).name == "spark-02"
    assert plus.release() == []
    lab.client("cancel-reservation", token)
    for fds in ptys:
        for fd in fds:
            os.close(fd)
