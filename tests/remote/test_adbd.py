"""The simulated adbd (hil.sim.adbd): its pure core, and the real adb server reaching it.

The integration tests run the adb binary (adbutils' bundled one, or PATH's) as a private
server (hil.sim.adbserver) and talk to the simulated phone through the adb CLI and adbutils.
"""

from __future__ import annotations

import os
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time

import adbutils
import pytest

from fixtures.tools import cannot_run
from hil.sim import adbd
from hil.sim.adbd import AdbdServer, AdbProtocolError, SyncSession
from hil.sim.adbserver import AdbServer, AdbServerError, adb_binary

MTIME = 1529419834  # 2018-06-19
DJI = "/sdcard/DJI/dji.go.v4/FlightRecord"
RECORD = f"{DJI}/DJIFlightRecord_2018-06-19_[14-50-34].txt"
FILE, DIR = stat.S_IFREG | 0o660, stat.S_IFDIR | 0o771


class DictDevice:
    """An AdbdDevice over a dict of files, with a toy shell: `;` sequences, `$?`, and a few
    commands (echo, cat, getprop, pidof, mkdir, sleep, false, big)."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.props = {"ro.product.name": "simphone", "ro.product.model": "SimPhone_X",
                      "ro.product.device": "simdev"}
        self.files = {path: (data, FILE, MTIME) for path, data in (files or {}).items()}
        self.commands: list[str] = []

    def shell(self, command: str) -> tuple[int, bytes, bytes]:
        self.commands.append(command)
        code, out, err = 0, b"", b""
        for part in command.split(";"):
            c, o, e = self._one(shlex.split(part.replace("$?", str(code))))
            code, out, err = c, out + o, err + e
        return code, out, err

    def _one(self, argv: list[str]) -> tuple[int, bytes, bytes]:
        if not argv:
            return 0, b"", b""
        name, args = argv[0], argv[1:]
        if name == "echo":
            return 0, (" ".join(args) + "\n").encode(), b""
        if name == "cat":
            data = self.read(args[0])
            if data is None:
                return 1, b"", f"cat: {args[0]}: No such file or directory\n".encode()
            return 0, data, b""
        if name == "pidof":
            return (0, b"4242\n", b"") if args == ["dji.go.v4"] else (1, b"", b"")
        if name == "getprop":
            return 0, (self.props.get(args[0], "") + "\n").encode(), b""
        if name in ("mkdir", "true"):
            return 0, b"", b""
        if name == "false":
            return 1, b"", b""
        if name == "sleep":
            time.sleep(float(args[0]))
            return 0, b"", b""
        if name == "big":
            return 0, bytes(range(256)) * (3_000_000 // 256), b""
        return 127, b"", f"/system/bin/sh: {name}: inaccessible or not found\n".encode()

    def stat(self, path: str) -> tuple[int, int, int] | None:
        path = path.rstrip("/") or "/"
        if path in self.files:
            data, mode, mtime = self.files[path]
            return mode, len(data), mtime
        if any(p.startswith(path.rstrip("/") + "/") for p in self.files):
            return DIR, 4096, MTIME
        return None

    def listdir(self, path: str) -> list[tuple[str, int, int, int]] | None:
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/")[0] for p in self.files if p.startswith(prefix)}
        if not names:
            return None
        return [(name, *self.stat(prefix + name)) for name in sorted(names)]

    def read(self, path: str) -> bytes | None:
        entry = self.files.get(path)
        return entry[0] if entry else None

    def write(self, path: str, data: bytes, mode: int, mtime: int) -> bool:
        self.files[path] = (data, mode, mtime)
        return True


def phone_files() -> dict[str, bytes]:
    return {RECORD: b"flight 1\n" * 20, f"{DJI}/big.txt": os.urandom(200_000),
            "/sdcard/hello.txt": b"hello\n"}


# ---------------------------------------------------------------------------------------------
# The pure core


def test_header_round_trip_and_checksum():
    raw = adbd.pack(adbd.A_WRTE, 7, 9, b"\x01\xff abc")
    h = adbd.unpack_header(raw[:24])
    assert (h.command, h.arg0, h.arg1, h.data_length) == (adbd.A_WRTE, 7, 9, 6)
    assert h.checksum == 1 + 255 + 32 + 97 + 98 + 99 == adbd.checksum(b"\x01\xff abc")
    assert h.magic == adbd.A_WRTE ^ 0xFFFFFFFF
    adbd.verify(h, raw[24:])
    with pytest.raises(AdbProtocolError, match="checksum"):
        adbd.verify(h, b"other!")


def test_bad_magic_and_oversize_payload_are_clear_errors():
    raw = bytearray(adbd.pack(adbd.A_OKAY, 1, 2))
    raw[20] ^= 0x01
    with pytest.raises(AdbProtocolError, match="bad magic"):
        adbd.unpack_header(bytes(raw))
    big = adbd.pack(adbd.A_WRTE, 1, 2, bytes(5000))[:24]
    with pytest.raises(AdbProtocolError, match="5000 bytes exceeds the maximum 4096"):
        adbd.unpack_header(big, max_payload=4096)
    with pytest.raises(AdbProtocolError, match="24 bytes"):
        adbd.unpack_header(b"short")


def test_decoder_reassembles_messages_fed_byte_by_byte():
    stream = adbd.pack(adbd.A_OPEN, 3, 0, b"shell:ls\0") + adbd.pack(adbd.A_OKAY, 1, 3)
    dec = adbd.MessageDecoder()
    got = [m for b in stream for m in dec.feed(bytes([b]))]
    assert got == [adbd.Message(adbd.A_OPEN, 3, 0, b"shell:ls\0"),
                   adbd.Message(adbd.A_OKAY, 1, 3, b"")]


def test_banner_and_services():
    props = {"ro.product.name": "n", "ro.product.model": "m", "ro.product.device": "d"}
    assert adbd.banner(props) == (b"device::ro.product.name=n;ro.product.model=m;"
                                  b"ro.product.device=d;features=shell_v2")
    assert adbd.parse_banner(b"host::features=shell_v2,cmd\0") == (
        "host", {"features": "shell_v2,cmd"})
    assert adbd.parse_service(b"shell:ls -l\0") == ("shell", "ls -l")
    assert adbd.parse_service(b"shell,v2,TERM=xterm,raw:pidof x\0") == ("shell_v2", "pidof x")
    assert adbd.parse_service(b"exec:screencap -p\0") == ("exec", "screencap -p")
    assert adbd.parse_service(b"sync:\0") == ("sync", "")
    assert adbd.parse_service(b"reverse:list-forward\0").kind == "unknown"
    packets = list(adbd.decode_shell_packets(adbd.shell_v2_reply(3, b"out", b"err")))
    assert packets == [(1, b"out"), (2, b"err"), (3, b"\x03")]


def test_sync_encodings():
    assert adbd.sync_dent("a", 0o100644, 5, 7) == (
        b"DENT" + (0o100644).to_bytes(4, "little") + (5).to_bytes(4, "little")
        + (7).to_bytes(4, "little") + (1).to_bytes(4, "little") + b"a")
    assert adbd.sync_stat(1, 2, 3) == b"STAT\x01\0\0\0\x02\0\0\0\x03\0\0\0"
    assert adbd.sync_request(b"STAT", b"/x") == b"STAT\x02\0\0\0/x"
    assert adbd.sync_fail("no") == b"FAIL\x02\0\0\0no"


def test_sync_session_against_a_dict_device():
    dev = DictDevice(phone_files())
    s = SyncSession(dev)
    assert s.feed(adbd.sync_request(b"STAT", b"/nope")) == adbd.sync_stat(0, 0, 0)
    assert s.feed(adbd.sync_request(b"LIST", b"/nope")) == b"DONE" + bytes(16)
    listing = s.feed(adbd.sync_request(b"LIST", DJI.encode()))
    assert listing.startswith(adbd.sync_dent("DJIFlightRecord_2018-06-19_[14-50-34].txt",
                                             FILE, 180, MTIME))
    recv = s.feed(adbd.sync_request(b"RECV", f"{DJI}/big.txt".encode()))
    assert recv.count(b"DATA") >= 4 and recv.endswith(adbd.sync_done())
    # SEND split at awkward places
    send = (adbd.sync_request(b"SEND", b"/sdcard/new.bin,33188") + adbd.sync_data(b"abc")
            + adbd.sync_data(b"de") + adbd.sync_done(MTIME))
    assert b"".join(s.feed(send[i:i + 5]) for i in range(0, len(send), 5)) == adbd.sync_okay()
    assert dev.files["/sdcard/new.bin"] == (b"abcde", 33188, MTIME)
    assert s.feed(adbd.sync_request(b"QUIT")) == b"" and s.finished
    s2 = SyncSession(dev)
    assert s2.feed(adbd.sync_request(b"RECV", b"/nope")).startswith(b"FAIL")
    assert s2.finished


# ---------------------------------------------------------------------------------------------
# Against the real adb server


@pytest.fixture(scope="module")
def server():
    if adb_binary() is None:
        cannot_run("needs an adb binary (adbutils' bundled one, or adb on PATH)")
    with AdbServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def phone(server):
    dev = DictDevice(phone_files())
    with AdbdServer(dev) as sim:
        server.connect(sim.serial)
        yield dev, sim


def adb(server, *args, **kw):
    return subprocess.run(server.cli(*args), env={**os.environ, **server.env},
                          capture_output=True, timeout=15, **kw)


def test_adb_devices_lists_the_simulated_phone(server, phone):
    _, sim = phone
    out = adb(server, "devices", "-l", text=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith(sim.serial))
    assert line.split()[1:4] == ["device", "product:simphone", "model:SimPhone_X"]
    assert "device:simdev" in line


def test_adb_cli_shell_exec_out_pull_push(server, phone, tmp_path):
    dev, sim = phone
    r = adb(server, "-s", sim.serial, "shell", "pidof", "dji.go.v4")
    assert (r.returncode, r.stdout) == (0, b"4242\n")
    r = adb(server, "-s", sim.serial, "shell", "pidof", "x")
    assert (r.returncode, r.stdout) == (1, b"")
    r = adb(server, "-s", sim.serial, "shell", "nosuchcmd")
    assert r.returncode == 127 and b"not found" in r.stderr
    r = adb(server, "-s", sim.serial, "exec-out", "cat", f"{DJI}/big.txt")
    assert r.stdout == dev.read(f"{DJI}/big.txt")
    r = adb(server, "-s", sim.serial, "pull", RECORD, str(tmp_path / "rec.txt"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rec.txt").read_bytes() == dev.read(RECORD)
    (tmp_path / "up.bin").write_bytes(b"\0pushed\xff" * 1000)
    r = adb(server, "-s", sim.serial, "push", str(tmp_path / "up.bin"), "/sdcard/up.bin")
    assert r.returncode == 0, r.stderr
    assert dev.read("/sdcard/up.bin") == b"\0pushed\xff" * 1000
    r = adb(server, "-s", sim.serial, "pull", "/sdcard/missing.txt", str(tmp_path))
    assert r.returncode == 1 and b"does not exist" in r.stderr


def test_unknown_service_is_closed_at_once(server, phone):
    _, sim = phone
    r = adb(server, "-s", sim.serial, "reverse", "--list", text=True)
    assert (r.returncode, r.stderr.strip()) == (1, "error: closed")


def test_adbutils_through_the_server(server, phone):
    dev, sim = phone
    d = server.client.device(sim.serial)
    assert d.shell2("pidof dji.go.v4", timeout=5).returncode == 0
    assert d.shell2("pidof x", timeout=5).returncode == 1
    r = d.shell2("nosuchcmd", timeout=5, v2=True)
    assert r.returncode == 127 and "not found" in r.stderr
    assert d.shell("echo hi there", timeout=5) == "hi there"
    assert d.prop.model == "SimPhone_X"
    entries = {e.path: e for e in d.sync.list(DJI)}
    rec = entries["DJIFlightRecord_2018-06-19_[14-50-34].txt"]
    assert (rec.size, int(rec.mtime.timestamp())) == (180, MTIME)
    assert entries["big.txt"].size == 200_000
    st = d.sync.stat(RECORD)
    assert (st.mode, st.size, int(st.mtime.timestamp())) == (FILE, 180, MTIME)
    assert d.sync.stat("/nope").mtime is None
    assert d.sync.read_bytes(f"{DJI}/big.txt") == dev.read(f"{DJI}/big.txt")
    big = d.shell2("big", timeout=10, encoding=None, v2=True)
    assert big.stdout == bytes(range(256)) * (3_000_000 // 256)
    d.sync.push(b"from adbutils", "/sdcard/a.bin")
    assert dev.read("/sdcard/a.bin") == b"from adbutils"


def test_a_slow_command_does_not_stall_other_streams(server, phone):
    _, sim = phone
    d = server.client.device(sim.serial)
    slow = threading.Thread(target=d.shell, args=("sleep 1.5",), kwargs={"timeout": 5})
    slow.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert d.shell("echo quick", timeout=5) == "quick"
    assert time.monotonic() - t0 < 1.0
    slow.join()


def test_offline_and_recovery(server):
    dev = DictDevice()
    with AdbdServer(dev) as sim:
        server.connect(sim.serial)
        d = server.client.device(sim.serial)
        assert d.shell("echo up", timeout=5) == "up"
        sim.go_offline()
        t0 = time.monotonic()
        with pytest.raises(adbutils.AdbError) as err:
            d.shell2("echo down", timeout=5)
        assert time.monotonic() - t0 < 3
        # adb 36 says "device offline"; were the server slower to see the close, the OPEN
        # would reach the dead transport and fail the same way.
        assert "device offline" in str(err.value) or "not found" in str(err.value)
        state = server.state(sim.serial)
        assert state in (None, "offline")
        sim.back_online()
        server.disconnect(sim.serial)
        server.connect(sim.serial, timeout=5)
        assert d.shell("echo back", timeout=5) == "back"


def test_connect_to_a_refusing_device_is_a_clear_error(server):
    with AdbdServer(DictDevice()) as sim:
        sim.go_offline()
        with pytest.raises(AdbServerError, match=f"adb connect {sim.serial}: .*state now"):
            server.connect(sim.serial, timeout=1)
        server.disconnect(sim.serial)


def test_adbd_listens_on_loopback_only():
    with pytest.raises(ValueError, match="loopback only"):
        AdbdServer(DictDevice(), host="0.0.0.0")


def test_a_stalled_device_delays_but_stays_online(server):
    with AdbdServer(DictDevice()) as sim:
        server.connect(sim.serial)
        d = server.client.device(sim.serial)
        sim.stall(1.0)
        t0 = time.monotonic()
        # adbutils' shell timeout starts after the OPEN is acknowledged, so a device that
        # holds the OPEN delays the call instead of timing it out.
        assert d.shell("echo late", timeout=0.5) == "late"
        assert 0.9 < time.monotonic() - t0 < 3
        assert server.state(sim.serial) == "device"


def test_the_server_dies_with_its_parent(tmp_path):
    if adb_binary() is None:
        cannot_run("needs an adb binary (adbutils' bundled one, or adb on PATH)")
    script = ("from hil.sim.adbserver import AdbServer\n"
              "import sys, time\n"
              "srv = AdbServer().start()\n"
              "print(srv.proc.pid, flush=True)\n"
              "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        os.kill(pid, 0)  # the adb server runs
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[1].startswith("Z"):
                    break  # dead, waiting for init to reap it
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail(f"adb server {pid} outlived its SIGKILLed parent")
