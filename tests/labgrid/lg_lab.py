"""A labgrid lab on loopback, made by the tests: a real `labgrid-coordinator`, real
`labgrid-exporter`s serving the simulated benches' relay ptys through the real `ser2net`,
places made with the real `labgrid-client`, as benches/labgrid/places.sh makes them.

Only loopback: the coordinator listens on 127.0.0.1; the exporter announces 127.0.0.1 as
its host; and since the exporter starts ser2net listening on every address, the tests put
a `ser2net` first on the exporter's PATH that starts the real one with the same
configuration bound to 127.0.0.1 (`tcp,PORT` -> `tcp,127.0.0.1,PORT`), nothing else
changed. Where labgrid or ser2net is missing the test skips with the reason (fails under
HIL_REQUIRE_TOOLS=1, as CI runs).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import tomli_w
from sim_runs import ROOT

from fixtures.tools import cannot_run, need_tool
from hil import lgclient

BIN = Path(sys.executable).parent
SER2NET_LOOPBACK = """#!/bin/sh
# the real ser2net, its accepter bound to loopback (tests only; see lg_lab.py)
real={real}
for a in "$@"; do
    shift
    set -- "$@" "$(printf '%s' "$a" | sed -E 's/,tcp,([0-9]+)$/,tcp,127.0.0.1,\\1/')"
done
exec "$real" "$@"
"""


def need_labgrid() -> None:
    why = lgclient.available()
    if why:
        cannot_run(why)
    if not (BIN / "labgrid-coordinator").exists():
        cannot_run(f"labgrid's commands are not beside {sys.executable}")
    real = shutil.which("ser2net") or ("/usr/sbin/ser2net" if os.path.exists(
        "/usr/sbin/ser2net") else None)
    if real is None:
        need_tool("ser2net")  # skips (fails in CI) naming it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A coordinator on 127.0.0.1:PORT and what the test adds to it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.address = f"127.0.0.1:{free_port()}"
        self.procs: list[subprocess.Popen] = []
        self.exporters: dict[str, subprocess.Popen] = {}
        real = shutil.which("ser2net") or "/usr/sbin/ser2net"
        wrap = folder / "bin"
        wrap.mkdir()
        (wrap / "ser2net").write_text(SER2NET_LOOPBACK.format(real=real))
        (wrap / "ser2net").chmod(0o755)
        self.env = {**os.environ, "LG_COORDINATOR": self.address,
                    "PATH": f"{wrap}:{BIN}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
        self.env.pop("LG_PLACE", None)
        self.env.pop("LG_TOKEN", None)
        self.coordinator = self._start("coordinator", [str(BIN / "labgrid-coordinator"), "-l",
                                                       self.address])
        self._wait(lambda: self.client("places", check=False).returncode == 0,
                   "the coordinator to answer")

    def _start(self, name, cmd, cwd=None) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")
        p = subprocess.Popen(cmd, cwd=cwd or self.folder, env=self.env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    @staticmethod
    def _wait(ok, what, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def client(self, *args, check=True, env=None) -> subprocess.CompletedProcess:
        res = subprocess.run([str(BIN / "labgrid-client"), *args], env={**self.env, **(env or {})},
                             capture_output=True, text=True, timeout=30)
        if check:
            assert res.returncode == 0, (args, res.stdout, res.stderr)
        return res

    def export(self, name: str, resources: dict) -> subprocess.Popen:
        """A labgrid-exporter named `name` with group `bench` of these resources."""
        cfg = self.folder / f"{name}.yaml"
        import yaml  # labgrid's own dependency

        cfg.write_text(yaml.safe_dump({"bench": resources}))
        p = self._start(f"exporter-{name}", [str(BIN / "labgrid-exporter"), "-c", self.address,
                                             "-n", name, "--hostname", "127.0.0.1", str(cfg)])
        self.exporters[name] = p
        self._wait(lambda: f"{name}/bench/" in self.client("resources").stdout,
                   f"exporter {name}'s resources")
        return p

    def kill_exporter(self, name: str) -> None:
        """The exporter host gone: the exporter and its ser2net killed at once."""
        p = self.exporters.pop(name)
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)

    def place(self, name: str, exporter: str, **tags: str) -> None:
        """Create a place of every resource of `exporter`'s group `bench`, tagged."""
        self.client("-p", name, "create")
        self.client("-p", name, "add-match", f"{exporter}/bench/*")
        if tags:
            self.client("-p", name, "set-tags", *(f"{k}={v}" for k, v in tags.items()))

    def show(self, name: str) -> str:
        return self.client("-p", name, "show").stdout

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()


def relay_export(resolved: Path) -> dict:
    """The served bench's relay pty as a RawSerialPort resource named `relay`."""
    url = tomllib.loads(resolved.read_text())["relay"]["url"]
    return {"relay": {"cls": "RawSerialPort", "port": os.path.realpath(url), "speed": 115200}}


def place_bench(resolved: Path, folder: Path, coordinator: str, name: str = "lg.toml",
                **labgrid) -> Path:
    """The served bench's file as a labgrid bench: relay.url left out, a [labgrid] table
    with only the coordinator (and `place`/`tags` where given)."""
    raw = tomllib.loads(resolved.read_text())
    del raw["relay"]["url"]
    raw["labgrid"] = {"coordinator": coordinator, **labgrid}
    path = folder / name
    path.write_text(tomli_w.dumps(raw))
    return path


def claims(bench: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "claims", "--bench", str(bench), "-p",
            "no:cacheprovider", *args]


__all__ = ["ROOT", "Lab", "claims", "free_port", "need_labgrid", "place_bench", "relay_export"]
