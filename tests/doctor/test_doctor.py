"""`hil doctor --bench B` on served simulated benches: all ok, then each device broken in
turn (a copy of the resolved bench file with one value changed), exactly its line failing.

Network only on loopback. One sim-dji bench serves every break (module scope); the
default sim bench is served once for its all-ok run; the netns bench runs where this
machine can make namespaces.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import paramiko
import pytest
import tomli_w
from sim_runs import ROOT

from hil import doctor
from hil.lock import BenchLock

LINE = re.compile(r"^(ok|FAIL|skip) +(\S+(?: \S+)?) (\S+): ")


def run_doctor(bench: Path, tmp_path: Path, *extra: str) -> tuple[int, list[str], list]:
    """`hil doctor --bench BENCH --json`: exit status, its check lines, the JSON."""
    out = tmp_path / f"doctor-{time.monotonic_ns()}.json"
    proc = subprocess.run([sys.executable, "-m", "hil.cli", "doctor", "--bench", str(bench),
                           "--json", str(out), *extra], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL,
                          start_new_session=True)  # no terminal, even run from one
    lines = [x for x in proc.stdout.splitlines() if LINE.match(x)]
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, lines, json.loads(out.read_text())


def statuses(lines: list[str]) -> dict[str, str]:
    """"gateway ssh" -> "ok" (device and check name -> status)."""
    out = {}
    for x in lines:
        m = LINE.match(x)
        out[f"{m.group(2)} {m.group(3)}"] = m.group(1)
    return out


def only_failing(lines: list[str], key: str) -> str:
    """Exactly the check `key` FAILed; return its line."""
    st = statuses(lines)
    failed = [k for k, v in st.items() if v == "FAIL"]
    assert failed == [key], "\n".join(lines)
    return next(x for x in lines if x.startswith("FAIL") and f" {key}: " in x)


@pytest.fixture(scope="module")
def dji():
    """One served sim-dji bench for the module: its resolved file."""
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "sim",
                             str(ROOT / "benches" / "sim-dji.toml")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 30
        path = None
        while time.monotonic() < deadline and path is None:
            m = re.search(r"pytest --bench (\S+)", proc.stdout.readline())
            path = Path(m.group(1)) if m else None
        assert path is not None, "hil sim did not print its resolved bench"
        yield path
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)


def variant(resolved: Path, tmp_path: Path, edit) -> Path:
    """A copy of a resolved bench file, changed by `edit(raw)`."""
    raw = tomllib.loads(resolved.read_text())
    edit(raw)
    path = tmp_path / "bench.toml"
    path.write_text(tomli_w.dumps(raw))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- whole benches ---------------------------------------------------------------------
def test_sim_bench_all_ok(served_bench, tmp_path):
    bench = served_bench(ROOT / "benches" / "sim.toml")
    rc, lines, checks = run_doctor(bench, tmp_path)
    assert rc == 0, "\n".join(lines)
    assert all(x.startswith(("ok", "skip")) for x in lines), "\n".join(lines)
    assert [doctor.Check(**c).line for c in checks] == lines
    st = statuses(lines)
    for key in ("bench lock", "relay board", "gateway ssh", "gateway tcpdump", "gateway nft",
                "gateway disk", "gateway clock", "phone pixel-spark app", "bench disk"):
        assert st[key] == "ok", key
    assert st["aircraft spark link"] == "skip"  # off: doctor powers nothing on


def test_sim_dji_bench_all_ok(dji, tmp_path):
    rc, lines, checks = run_doctor(dji, tmp_path)
    assert rc == 0, "\n".join(lines)
    assert all(x.startswith(("ok", "skip")) for x in lines), "\n".join(lines)
    assert [doctor.Check(**c).line for c in checks] == lines
    st = statuses(lines)
    for name in ("pixel-spark", "pixel-mavic", "pixel-inspire"):
        for what in ("reach", "app", "recipe", "screen"):
            assert st[f"phone {name} {what}"] == "ok"
    # the iPhone is on the operator backend; this doctor runs with no terminal
    assert st["phone iphone-phantom person"] == "skip"
    assert "needs a person at the bench (operator backend, no terminal): its claims will " \
           "be skipped" in "\n".join(lines)
    assert st["aircraft spark link"] == "skip"  # link app: doctor does not launch the app


def test_template_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hil.cli", "doctor", "--bench",
                           "benches/sim.toml"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "start it with `hil sim benches/sim.toml`" in proc.stderr


# -- one device broken at a time ---------------------------------------------------------
def test_gateway_port_closed(dji, tmp_path):
    port = closed_port()
    bench = variant(dji, tmp_path, lambda raw: raw["gateway"].update(port=port))
    rc, lines, _ = run_doctor(bench, tmp_path)
    assert rc == 1
    line = only_failing(lines, "gateway ssh")
    assert f"127.0.0.1:{port}" in line and "cannot connect" in line and "fix: " in line
    assert statuses(lines)["phone pixel-spark app"] == "ok"


def test_wrong_host_key(dji, tmp_path):
    raw = tomllib.loads(dji.read_text())
    name = f"[127.0.0.1]:{raw['gateway']['port']}"
    other = paramiko.ECDSAKey.generate()
    kh = tmp_path / "known_hosts"
    kept = [x for x in Path(raw["gateway"]["known_hosts"]).read_text().splitlines()
            if not x.startswith(name + " ")]
    kh.write_text("\n".join([*kept, f"{name} {other.get_name()} {other.get_base64()}"]) + "\n")
    bench = variant(dji, tmp_path, lambda r: r["gateway"].update(known_hosts=str(kh)))
    rc, lines, _ = run_doctor(bench, tmp_path)
    assert rc == 1
    line = only_failing(lines, "gateway ssh")
    assert "host key does not match" in line and str(kh) in line
    assert "fix: check the gateway's key by hand" in line


def test_relay_answering_garbage(dji, tmp_path):
    master, slave = os.openpty()
    url = os.ttyname(slave)
    stop = threading.Event()

    def junk():
        while not stop.is_set():
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 1024)
                    os.write(master, b"\x07#?junk!\r\n")
                except OSError:
                    return

    t = threading.Thread(target=junk, daemon=True)
    t.start()
    try:
        bench = variant(dji, tmp_path, lambda raw: raw["relay"].update(url=url))
        rc, lines, _ = run_doctor(bench, tmp_path)
    finally:
        stop.set()
        t.join(2)
        os.close(master)
        os.close(slave)
    assert rc == 1
    line = only_failing(lines, "relay board")
    assert url in line and "junk" in line and "fix: " in line


def test_adb_phone_offline(dji, tmp_path):
    serial = f"127.0.0.1:{closed_port()}"
    bench = variant(dji, tmp_path,
                    lambda raw: raw["phone"]["pixel-spark"].update(serial=serial))
    rc, lines, _ = run_doctor(bench, tmp_path)
    assert rc == 1
    line = only_failing(lines, "phone pixel-spark reach")
    assert serial in line and f"connect {serial}" in line
    st = statuses(lines)
    assert st["phone pixel-spark app"] == "skip" and st["phone pixel-mavic app"] == "ok"


def test_app_version_without_a_recipe(dji, tmp_path):
    empty = tmp_path / "no-recipes"
    empty.mkdir()
    bench = variant(dji, tmp_path,
                    lambda raw: raw["phone"]["pixel-spark"].update(recipes=str(empty)))
    rc, lines, _ = run_doctor(bench, tmp_path)
    assert rc == 1
    line = only_failing(lines, "phone pixel-spark recipe")
    assert "no UI recipe for dji.go.v4 4.3.36+sim" in line
    assert "recipes: public-en.toml (no versions: a template)" in line
    assert f"hil phone dump pixel-spark --bench {bench}" in line


def test_bench_in_use(dji, tmp_path):
    raw = tomllib.loads(dji.read_text())
    lock = BenchLock(raw["bench"]["name"], raw["relay"]["url"], command="a night's run")
    with lock.acquire():
        rc, lines, _ = run_doctor(dji, tmp_path)
        assert lock.path.read_text().strip()  # still the holder's line
    assert rc == 1
    line = only_failing(lines, "bench lock")
    assert f"pid {os.getpid()}" in line and "a night's run" in line
    assert statuses(lines)["relay board"] == "skip"


def test_doctor_restores_the_lock_file(dji, tmp_path):
    raw = tomllib.loads(dji.read_text())
    lock = BenchLock(raw["bench"]["name"], raw["relay"]["url"])
    dead = '{"host": "bench1", "pid": 1, "started": 0, "command": "pytest (killed)"}\n'
    lock.path.parent.mkdir(parents=True, exist_ok=True)
    lock.path.write_text(dead)
    try:
        rc, lines, _ = run_doctor(dji, tmp_path)
        assert rc == 0
        assert "ended without releasing it" in lines[0]
        assert lock.path.read_text() == dead  # the evidence of the dead job is kept
    finally:
        lock.path.unlink()


# -- the pure parts ------------------------------------------------------------------------
def test_df_and_clock_and_wakefulness():
    df = ("Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
          "/dev/sda1        102687672  54729276  131072      99% /var\n")
    c = doctor.df_check("/var/tmp/hil", df)
    assert c.status == "FAIL" and "128 MiB free in /var/tmp/hil (on /var)" in c.detail
    assert doctor.df_check("/x", "garbage").status == "FAIL"
    assert doctor.clock_check(0.01, 0.002).status == "ok"
    assert doctor.clock_check(3.0, 0.002).status == "FAIL"
    assert doctor.wakefulness("  mDirty=0x0\n  mWakefulness=Asleep\n") == "Asleep"
    lcus = doctor.relay_check("lcus", "/dev/x", 4, None, {0: "spark aircraft"}, False)
    assert lcus.status == "skip" and "cannot read back" in lcus.detail


# -- the netns bench: a real gateway (sshd, tcpdump, nft) in namespaces ------------------
def test_netns_bench(tmp_path):
    from hil import bench as benchmod
    from hil import kinds

    try:
        sim = kinds.start(benchmod.load(ROOT / "benches" / "netns.toml"))
    except kinds.Unavailable as e:
        pytest.skip(f"netns bench unavailable here: {e}")
    try:
        lines: list[str] = []
        checks = doctor.run(sim.resolved, say=lines.append, artifacts=tmp_path)
    finally:
        sim.stop()
    failed = [c.line for c in checks if c.status == "FAIL"]
    assert not failed, "\n".join(lines)
    st = {f"{c.device} {c.name}": c.status for c in checks}
    assert st["gateway tcpdump"] == st["gateway nft"] == st["gateway clock"] == "ok"
