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
import time

import pytest
from lg_lab import ROOT, Lab, claims, free_port, need_labgrid, place_bench, relay_export

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


def served_place(lab, served_bench, tmp_path, place, exporter, **tags):
    """A served sim bench, its relay exported as `exporter`, a place `place` of it; the
    labgrid bench file (coordinator only: the place comes from --lg-place) and the
    resolved one."""
    resolved = served_bench()
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


def wait_for(proc, text, timeout=90):
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
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
    outs = [p.communicate(timeout=240)[0] for p in (first, second)]
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


def test_a_held_place_is_waited_for_then_the_holder_is_named(lab, served_bench, tmp_path):
    bench, resolved = served_place(lab, served_bench, tmp_path, "spark-01", "bench1")
    other = {"LG_HOSTNAME": "bench-host-b"}  # another host's job holds it
    lab.client("-p", "spark-01", "acquire", env=other)
    t0 = time.monotonic()
    res = run(lab, bench, "-m", "spark", "--lg-place", "spark-01", "--bench-lock-timeout",
              "3", "--artifacts", str(tmp_path / "a"))
    took = time.monotonic() - t0
    out = res.stdout
    assert res.returncode == 2, out[-4000:]
    user = re.search(r"acquired: bench-host-b/(\S+)", lab.show("spark-01")).group(1)
    assert re.search(rf"place spark-01 is acquired by bench-host-b/{user} \(since .*\); "
                     r"waiting \(\d+ s of 3 s\)", out), out[-3000:]
    assert f"place spark-01 is acquired by bench-host-b/{user} (since " in out
    assert "gave up after 3 s" in out
    assert (f"free it with: labgrid-client -x {lab.address} -p spark-01 release-from "
            f"bench-host-b/{user}") in out
    assert took >= 3
    assert "relay: numato" not in out  # never touched the bench
    lab.client("-p", "spark-01", "release", env=other)


def test_a_place_without_a_relay_is_one_error_and_is_left_free(lab, served_bench, tmp_path):
    resolved = served_bench()
    lab.export("bench1", {"gateway": {"cls": "NetworkService", "address": "127.0.0.1",
                                      "username": "hil"}})
    lab.place("spark-01", "bench1")
    bench = place_bench(resolved, tmp_path, lab.address, place="spark-01")
    res = run(lab, bench, "-m", "spark")
    out = res.stdout
    assert res.returncode == 2, out[-3000:]
    assert (f"bench file {bench}: relay.url: not in the file, and place spark-01 has no relay "
            "resource (a NetworkSerialPort named 'relay'") in out
    assert "its resources: gateway (NetworkService)" in out
    assert "Traceback" not in out
    assert "place spark-01 released" in out and "acquired: None" in lab.show("spark-01")


def test_an_unreachable_coordinator_is_one_error(lab, served_bench, tmp_path):
    resolved = served_bench()
    nobody = f"127.0.0.1:{free_port()}"
    bench = place_bench(resolved, tmp_path, nobody, place="spark-01")
    res = run(lab, bench, "-m", "spark", timeout=60)
    out = res.stdout
    assert res.returncode == 2, out[-3000:]
    assert f"labgrid coordinator {nobody} does not answer" in out, out[-3000:]
    assert "relay: numato" not in out and "Traceback" not in out


def test_an_exporter_gone_mid_run_then_a_sigkill_then_back_to_a_safe_bench(
        lab, served_bench, tmp_path):
    """The exporter vanishes inside a power session: one error naming the relay's URL.
    Once it is back, a job killed with SIGKILL leaves the place acquired; the next run
    says exactly how to free it, and after that command a run opens the channels the
    killed job left closed, through the exporter, and passes."""
    bench, resolved = served_place(lab, served_bench, tmp_path, "spark-01", "bench1")
    import tomllib

    import tomli_w
    raw = tomllib.loads(bench.read_text())
    for key in ("power", "controller"):  # switch channels: closed while the Spark is on
        raw["aircraft"]["spark"][key] = {"relay": raw["aircraft"]["spark"][key]["relay"],
                                         "sequence": "switch", "off_time": 0.01}
    raw["windows"]["observe"] = 30.0
    bench.write_text(tomli_w.dumps(raw))
    args = ("-m", "spark", "-k", "k4", "--lg-place", "spark-01")

    job = popen(lab, bench, *args, "--artifacts", str(tmp_path / "a1"))
    wait_for(job, "aircraft heartbeat on")
    lab.kill_exporter("bench1")
    out = job.communicate(timeout=120)[0]
    assert job.returncode == 1, out[-4000:]
    url = re.search(r"relay.url = (rfc2217://\S+)", out).group(1)
    assert re.search(rf"RelayError: numato board at {re.escape(url)}: ", out), out[-4000:]
    assert "place spark-01 released" in out
    assert channels(resolved)[:2] == [True, True]  # left closed: nothing could reach them

    lab.export("bench1", relay_export(resolved))  # back (ser2net on a new port)
    job = popen(lab, bench, *args, "--artifacts", str(tmp_path / "a2"))
    wait_for(job, "aircraft heartbeat on")
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
    assert re.search(r"relay rfc2217://\S+ channel 0 \(spark aircraft\) was closed at the "
                     r"start of the run", out), out[-4000:]
    assert channels(resolved) == [False] * 8
