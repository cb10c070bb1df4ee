"""A private, real adb server for tests and the simulated bench.

`AdbServer` runs the adb binary's server in the foreground as a child process (`adb -P
PORT nodaemon server`) on its own loopback port with its own HOME (adb writes
~/.android/adbkey there), so it neither meets a user's server on 5037 nor outlives the
process that started it (Linux: PR_SET_PDEATHSIG). Simulated phones (`hil.sim.adbd`) join
it by `connect`.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import adbutils

PR_SET_PDEATHSIG = 1


class AdbServerError(RuntimeError):
    """The adb server did not start, or a device did not come online."""


def adb_binary() -> str | None:
    """The adb to run: $ADBUTILS_ADB_PATH, else the one in the adbutils wheel, else PATH's."""
    env = os.environ.get("ADBUTILS_ADB_PATH")
    if env and os.path.isfile(env) and os.access(env, os.X_OK):
        return env
    bundled = Path(adbutils.__file__).parent / "binaries" / "adb"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which("adb")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now (someone may take it before it is used)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _die_with_parent(parent: int):
    """preexec_fn: SIGKILL this child when the parent (the thread that forked) exits."""
    def setup() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return setup


class AdbServer:
    """A real adb server on 127.0.0.1:`port` (a free one when None), HOME `home` (a temp
    dir when None, removed at stop).

    `start()` returns once `host:version` answers (AdbServerError with the server's stderr
    otherwise). The child is killed when the thread that started it exits (Linux), so a
    killed test run leaves no server behind: start it from a long-lived thread.
    """

    def __init__(self, port: int | None = None, home: str | os.PathLike | None = None,
                 adb: str | None = None):
        self.port = port or 0
        self._home_arg = home
        self.home: Path | None = Path(home) if home else None
        self.adb = adb
        self.proc: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._stderr = None

    # -- what users need

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point an `adb` CLI at this server."""
        if self.home is None:
            raise AdbServerError("the adb server is not started")
        return {"ANDROID_ADB_SERVER_PORT": str(self.port), "HOME": str(self.home),
                "ANDROID_USER_HOME": str(self.home / ".android")}

    @property
    def client(self) -> adbutils.AdbClient:
        """An adbutils client of this server.

        Use it only while the server runs: adbutils answers a refused connection by running
        `adb start-server`, which starts a server on the default port 5037.
        """
        if self.proc is None or self.proc.poll() is not None:
            raise AdbServerError("the adb server is not running")
        return adbutils.AdbClient(host="127.0.0.1", port=self.port)

    def cli(self, *args: str) -> list[str]:
        """argv of an adb CLI command against this server (run it with `env`)."""
        return [self.adb or "adb", "-P", str(self.port), *args]

    # -- life cycle

    def start(self, deadline: float = 10.0) -> AdbServer:
        adb = self.adb or adb_binary()
        if adb is None:
            raise AdbServerError("no adb binary (install adbutils, or set ADBUTILS_ADB_PATH)")
        self.adb = adb
        if self.home is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hil-adb-")
            self.home = Path(self._tmp.name)
        (self.home / ".android").mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        env = dict(os.environ)
        env.update(self.env)
        # A private server: no USB devices, no emulator port scan, no mDNS on 0.0.0.0:5353.
        env.update({"ADB_USB": "0", "ADB_EMU": "0", "ADB_MDNS": "0"})
        self._stderr = open(self.home / "adb-server.log", "w+b")  # noqa: SIM115
        preexec = _die_with_parent(os.getpid()) if sys.platform == "linux" else None
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [adb, "-P", str(self.port), "nodaemon", "server"], env=env,
            stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=subprocess.STDOUT,
            preexec_fn=preexec)
        while True:
            if self.proc.poll() is not None:
                log = self.log()
                self.stop()
                raise AdbServerError(f"adb server exited with {self.proc.returncode}: {log}")
            # Probe the port before adbutils touches it: an adbutils connection that fails
            # runs `adb start-server`, i.e. a default server on 5037 with the user's HOME.
            if _listening(self.port):
                try:
                    self.client.server_version()
                    break
                except (adbutils.AdbError, OSError):
                    pass
            if time.monotonic() - t0 > deadline:
                log = self.log()
                self.stop()
                raise AdbServerError(f"adb server on port {self.port} did not answer "
                                     f"host:version within {deadline} s: {log}")
            time.sleep(0.02)
        self.start_seconds = time.monotonic() - t0
        return self

    def log(self) -> str:
        """What the server wrote to stdout/stderr so far."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()

    def stop(self) -> None:
        """kill-server, then terminate the child and reap it; remove a temp HOME."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None and _listening(self.port):
                try:
                    adbutils.AdbClient(host="127.0.0.1", port=self.port,
                                       socket_timeout=2).server_kill()
                except (adbutils.AdbError, OSError):
                    pass
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    proc.terminate()
                    try:
                        proc.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp, self.home = None, None

    def __enter__(self) -> AdbServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- devices

    def state(self, serial: str) -> str | None:
        """The device's state as the server lists it (`device`, `offline`...), or None."""
        for line in self._devices():
            fields = line.split("\t")
            if fields[0] == serial:
                return fields[1] if len(fields) > 1 else None
        return None

    def _devices(self) -> list[str]:
        with self.client.make_connection(timeout=5) as c:
            c.send_command("host:devices")
            c.check_okay()
            return [line for line in c.read_string_block().splitlines() if line]

    def connect(self, serial: str, timeout: float = 10) -> str:
        """`adb connect serial`, then wait until its state is `device`; the server's words.

        AdbServerError when the server cannot connect or the device stays in another state.
        """
        t0 = time.monotonic()
        try:
            said = self.client.connect(serial, timeout=timeout)
        except adbutils.AdbError as e:  # AdbTimeout when the device never completes CNXN
            raise AdbServerError(f"adb connect {serial}: {e} (state now "
                                 f"{self.state(serial) or 'not listed'})") from e
        if not said.startswith(("connected to", "already connected to")):
            raise AdbServerError(f"adb connect {serial}: {said}")
        state = None
        while time.monotonic() - t0 < timeout:
            state = self.state(serial)
            if state == "device":
                return said
            time.sleep(0.01)
        raise AdbServerError(f"{serial} is {state or 'not listed'} {timeout} s after connect")

    def disconnect(self, serial: str) -> str:
        """`adb disconnect serial`; the server's words (an error text when it was not there)."""
        try:
            return self.client.disconnect(serial, raise_error=True)
        except adbutils.AdbError as e:
            return str(e)
