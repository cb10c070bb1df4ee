"""`hil doctor --bench B`: a live check of every device a bench file names, before a run.

Each check is a small function that returns `Check(device, name, status, detail, fix)`,
status "ok", "FAIL" or "skip"; `run()` calls them in order, says before each one that
waits what it waits for, and hands every result to `say` as it comes. The checks:

- the bench lock (`hil.lock`): free, or held by whom since when. Doctor holds it while it
  runs (a job that starts meanwhile waits, or is told doctor has it) and then puts the
  lock file back as it found it, a dead holder's line included. On a bench that is a
  labgrid place (`hil.place`) the place is the lock: its coordinator, tags and holder
  (acquired by doctor while it runs where it is free, then released; held by another
  job: who, since when, and the command that frees it), its resources and what they fill
  in the bench file (the relay's rfc2217:// URL among them);
- the relay board: its port opens, the board answers, every channel is read back (a
  driver that cannot read its board back, an LCUS without the status query, is a skip),
  who owns each channel and which are closed now. Read only: nothing is switched;
- the gateway, over SSH with the bench's known_hosts: the login; free space in the
  capture folder (`df -Pk`); a one-second `tcpdump` on the LAN interface, its file then
  removed (and the capture folder too, where doctor had to make it); an nft table of
  doctor's own (`inet hil_doctor`) added and deleted; the clock offset to this host;
- each phone through its backend: `agent`: `hil-app version`; `adb`: the adb server
  answers, the phone is on it (a host:port phone it does not list is connected, as a run
  does, and disconnected again after), the app's version, the UI recipe for that version
  (with its entries not verified on a real phone), and the screen awake;
- each aircraft's link: MAVLink: a heartbeat within the bench's listen window. Doctor
  powers nothing on, so silence is a skip (the aircraft is off), not a FAIL; a link that
  cannot be opened is a FAIL. `app` and `none` links: what they can and cannot tell, as
  skips;
- free space for artifacts on this host.

Thresholds (where a check turns to FAIL) are the constants below. The exit status is 0
only when no check FAILed.
"""

from __future__ import annotations

import fcntl
import json
import os
import posixpath
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

from hil.bench import Bench, PhoneConfig

# wakefulness: part of doctor's pure core, re-exported (the adb phone's check uses it)
from hil.checks import FAIL, OK, SKIP, SSH_TIMEOUT, Check, wakefulness  # noqa: F401

MIN_FREE_GATEWAY = 256 << 20  # bytes free in the gateway's capture folder: a floor, not
# a measured need (the netns bench's gateway has a 512 MiB tmpfs there)
MIN_FREE_LOCAL = 1 << 30  # bytes free for artifacts on this host
CLOCK_LIMIT = 1.0  # seconds the gateway's clock may differ from this host's
CLOCK_UNCERTAINTY = 0.25  # seconds: half the fastest round trip to the gateway
CAPTURE_SECONDS = 1
NFT_TABLE = "hil_doctor"


def _gib(n: float) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"


# -- pure parts: a reading in, a Check out --------------------------------------------------
def relay_check(driver: str, url: str, channels: int, states: list[bool] | None,
                owners: dict[int, str], reads_back: bool = True) -> Check:
    """The board's line from its channel states (None: it could not be read)."""
    def owner(c: int) -> str:
        return f"ch{c} ({owners[c]})" if c in owners else f"ch{c} (free)"

    owned = ", ".join(f"ch{c} {who}" for c, who in sorted(owners.items())) or "none"
    if not reads_back or states is None:
        return Check("relay", "board", SKIP, f"{driver} at {url}, {channels} channels: the "
                     "board answers but cannot read back its relays (no status query): "
                     f"their state is not known; channels owned: {owned}")
    closed = [owner(c) for c, s in enumerate(states) if s]
    return Check("relay", "board", OK, f"{driver} at {url}, {channels} channels read back; "
                 f"closed now: {', '.join(closed) or 'none'}; owned: {owned}")


def df_check(folder: str, df_output: str, minimum: int = MIN_FREE_GATEWAY) -> Check:
    """Free space from `df -Pk FOLDER` (POSIX format: the 4th field is KiB available)."""
    lines = [x for x in df_output.splitlines() if x.strip()]
    try:
        fields = lines[-1].split()
        free, mount = int(fields[3]) * 1024, fields[5]
    except (IndexError, ValueError):
        return Check("gateway", "disk", FAIL, f"`df -Pk {folder}` answered "
                     f"{df_output.strip()[:120]!r}, not a POSIX df table",
                     "check that the gateway has a POSIX df (coreutils or busybox)")
    if free < minimum:
        return Check("gateway", "disk", FAIL, f"{_gib(free)} free in {folder} (on {mount}), "
                     f"under the {_gib(minimum)} a night's captures need",
                     f"free space on the gateway's {mount}, or point gateway.capture_dir "
                     "at a larger disk")
    return Check("gateway", "disk", OK, f"{_gib(free)} free in {folder} (on {mount})")


def clock_check(offset: float, uncertainty: float) -> Check:
    detail = (f"gateway clock {offset:+.3f} s from this host's (+/- {uncertainty:.3f} s, "
              "half the fastest of 5 round trips)")
    if uncertainty > CLOCK_UNCERTAINTY:
        return Check("gateway", "clock", FAIL, detail + f": the round trip is too slow to "
                     f"place phase boundaries within {CLOCK_UNCERTAINTY} s",
                     "check the network between the bench host and the gateway")
    if abs(offset) > CLOCK_LIMIT:
        return Check("gateway", "clock", FAIL, detail + f": over {CLOCK_LIMIT} s; a run "
                     "corrects an offset measured once, not a clock that drifts",
                     "run NTP on both (chrony or systemd-timesyncd) against one server")
    return Check("gateway", "clock", OK, detail)


def heard_check(name: str, url: str, heard: set[str], seconds: float) -> Check:
    dev = f"aircraft {name}"
    if "aircraft" in heard:
        return Check(dev, "link", OK, f"MAVLink {url}: aircraft heartbeat within {seconds:g} s "
                     "(aircraft and controller on)")
    if "controller" in heard:
        return Check(dev, "link", OK, f"MAVLink {url}: controller heartbeat within "
                     f"{seconds:g} s; the aircraft is off or not linked yet")
    return Check(dev, "link", SKIP, f"MAVLink {url}: no heartbeat within {seconds:g} s: the "
                 "aircraft and controller are off (not powered by doctor), or the link "
                 "does not reach them; a run finds out when it powers them on")


# -- the I/O checks ------------------------------------------------------------------------
Say = Callable[[str], None]


class _BorrowedLock:
    """The bench lock, held while doctor runs, then put back as it was (file and text)."""

    def __init__(self, bench: Bench):
        from hil.lock import lock_path

        self.path = lock_path(bench.name, bench.relay.url)
        self.fd: int | None = None
        self.before: bytes | None = None
        self.made_dir = False

    def take(self) -> Check:
        from hil.lock import describe

        existed = self.path.exists()
        self.made_dir = not self.path.parent.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        text = os.read(fd, 65536)
        try:
            holder = json.loads(text) if text.strip() else {}
        except ValueError:
            holder = {"command": f"(garbled lock file: {text[:80]!r})"}
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return Check("bench", "lock", FAIL, f"in use by {describe(holder)} (lock "
                         f"{self.path}); doctor leaves the relay and the aircraft links to it",
                         "wait for that job to end, or stop it (its pid is above); then run "
                         "doctor again")
        self.fd, self.before = fd, text if existed else None
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
              "command": "hil doctor (restores this file when it ends)"}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(me).encode() + b"\n")
        last = (f"; the last job, {describe(holder)}, ended without releasing it (kept "
                "on record)" if holder else "")
        return Check("bench", "lock", OK, f"free (lock {self.path}); held by doctor while "
                     f"it runs{last}")

    def put_back(self) -> None:
        if self.fd is None:
            return
        if self.before is None:
            self.path.unlink(missing_ok=True)
            if self.made_dir:
                try:
                    self.path.parent.rmdir()
                except OSError:
                    pass
        else:
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            os.write(self.fd, self.before)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


class _BorrowedPlace:
    """A bench's labgrid place: acquired while doctor runs where it is free (doctor holds
    the bench lock, as a run would), then released; `bench` is the file filled from the
    place's resources (where the place is held by another job, from what the coordinator
    shows of them; where they cannot fill it, None: nothing else is checked)."""

    def __init__(self, bench: Bench):
        self.bench: Bench | None = bench
        self.lock = None

    def take(self) -> list[Check]:
        from hil import lgclient
        from hil import place as pl

        cfg = self.bench.place
        where = cfg.coordinator or "(no coordinator)"
        try:
            lock = lgclient.PlaceLock(cfg, command="hil doctor (releases the place when it "
                                                   "ends)")
            state = None
            busy = None
            try:
                state = lock.acquire(timeout=0)
                self.lock = lock
            except lgclient.PlaceBusy as e:
                busy = str(e)
                if cfg.place and cfg.place != pl.RESERVED:
                    state = lock.coordinator.places().get(cfg.place)
        except lgclient.PlaceError as e:
            self.bench = None
            return [Check("bench", "place", FAIL, str(e), "see README: many benches, one lab")]
        out = []
        if busy:
            fix = pl.free_command(lock.coordinator.address, state) if state and \
                state.acquired else "wait for that job to end"
            out.append(Check("bench", "place", FAIL, f"{busy}; doctor leaves the relay and "
                             "the aircraft links to it", f"wait for that job to end; if it "
                             f"is gone: {fix}"))
        else:
            tags = pl.tag_text(state.tags) or "none"
            out.append(Check("bench", "place", OK, f"{state.name} at coordinator {where}: "
                             f"free; acquired by doctor while it runs (as {state.acquired}); "
                             f"tags {tags}"))
        if state is None:
            self.bench = None
            return out
        try:
            self.bench, filled = self.bench.with_place(state)
        except pl.PlaceError as e:
            self.bench = None
            out.append(Check("bench", "resources", FAIL, str(e),
                             "add the resource to the exporter's config, or the key to the "
                             "bench file"))
            return out
        have = "; ".join(f"{r.name} ({r.cls}{'' if r.avail else ', unavailable'})"
                         for r in state.resources)
        said = "; ".join(filled) or "nothing"
        out.append(Check("bench", "resources", OK, f"{have}; filled: {said}"))
        return out

    def put_back(self) -> None:
        if self.lock is not None:
            for problem in self.lock.release():
                print(f"doctor: {problem}")
            self.lock = None


def check_relay(bench: Bench, say: Say) -> Check:
    from hil.power.boards import open_board
    from hil.power.relay import RelayError

    r = bench.relay
    say(f"wait relay: opening the {r.driver} board at {r.url} and reading its relays")
    try:
        board = open_board(r)
    except RelayError as e:
        return Check("relay", "board", FAIL, str(e), f"check that relay.url {r.url} is the "
                     f"{r.driver} board (ls -l /dev/serial/by-path/), plugged in and powered, "
                     "and that relay.driver names its protocol")
    try:
        reads_back = getattr(board, "reads_back", True)
        states = board.states() if reads_back else None
    except RelayError as e:
        return Check("relay", "board", FAIL, f"opened, but reading the relays back failed: "
                     f"{e}", "check the board's USB cable and power; then run doctor again")
    finally:
        board.close()
    return relay_check(r.driver, r.url, r.channels, states, bench.channel_owners(), reads_back)


def check_gateway(bench: Bench, say: Say) -> Iterator[Check]:
    from hil.remote.gateway import Gateway, GatewayError
    from hil.remote.ssh import HostKeyRefused, SshError, SshHost, quote_argv

    g = bench.gateway
    s = g.ssh
    where = f"{s.user}@{s.host}:{s.port}"
    ssh = SshHost(s.host, s.port, s.user, s.key, s.known_hosts, role="gateway",
                  timeout=SSH_TIMEOUT, reconnect_timeout=0.0)
    gw = Gateway(ssh, g.lan_interface, g.capture_dir)
    rest = ("disk", "tcpdump", "nft", "clock")
    say(f"wait gateway ssh: connecting to {where} (host key from {s.known_hosts}, up to "
        f"{SSH_TIMEOUT:g} s)")
    try:
        ssh.connect()
    except HostKeyRefused as e:
        yield Check("gateway", "ssh", FAIL, str(e),
                    f"check the gateway's key by hand (ssh-keyscan -p {s.port} {s.host}, "
                    f"compared with the key on its console), then correct its line in "
                    f"{s.known_hosts}; never accept a key unchecked")
        yield from (Check("gateway", n, SKIP, "no SSH session") for n in rest)
        return
    except SshError as e:
        yield Check("gateway", "ssh", FAIL, str(e),
                    f"check that the gateway is up, on the network and runs sshd on port "
                    f"{s.port}, and that gateway.host/port in {bench.path} name it")
        yield from (Check("gateway", n, SKIP, "no SSH session") for n in rest)
        return
    try:
        yield Check("gateway", "ssh", OK, f"{where}, host key as in {s.known_hosts}, "
                    f"logged in with {s.key}")
        folder = gw.capture_dir
        made = ssh.run(["stat", "-c", "%s", folder], check=False).status != 0
        try:
            if made:
                ssh.run(["mkdir", "-p", folder])
            yield _gateway_df(ssh, folder)
            yield _gateway_tcpdump(gw, folder, say, quote_argv)
        except (SshError, GatewayError) as e:
            yield Check("gateway", "capture", FAIL, str(e), "check the capture folder "
                        f"{folder} and that {s.user} may write there")
        finally:
            if made:
                ssh.run(["rmdir", folder], check=False)
        yield _gateway_nft(ssh)
        try:
            offset = gw.clock_offset()
            yield clock_check(offset, gw.clock_uncertainty)
        except (SshError, GatewayError) as e:
            yield Check("gateway", "clock", FAIL, str(e),
                        "check that the gateway has `date` with %N (GNU coreutils)")
    finally:
        ssh.close()


def _gateway_df(ssh, folder: str) -> Check:
    res = ssh.run(["df", "-Pk", folder], check=False)
    if res.status != 0:
        return Check("gateway", "disk", FAIL, f"`df -Pk {folder}` exited {res.status}: "
                     f"{res.stderr.decode(errors='replace').strip()}",
                     "check that the capture folder can be made on the gateway")
    return df_check(folder, res.text)


def _gateway_tcpdump(gw, folder: str, say: Say, quote_argv) -> Check:
    ssh = gw.ssh
    path = posixpath.join(folder, f"hil-doctor-{os.getpid()}.pcap")
    argv = ["timeout", str(CAPTURE_SECONDS), "tcpdump", "-n", "-Z", ssh.user, "-i",
            gw.lan_interface, "-w", path, "not", "tcp", "port", str(gw.ssh_port())]
    say(f"wait gateway tcpdump: capturing {CAPTURE_SECONDS} s on {gw.lan_interface}")
    try:
        res = ssh.run(argv, check=False, timeout=CAPTURE_SECONDS + SSH_TIMEOUT)
        size = ssh.run(["stat", "-c", "%s", path], check=False).text.strip()
    finally:
        ssh.run(["rm", "-f", path], check=False)
    err = res.stderr.decode(errors="replace")
    said = err.strip().splitlines()
    packets = next((x.split()[0] for x in said if x.endswith("packets captured")), "?")
    fix = (f"check gateway.lan_interface ({gw.lan_interface}: `ip link` on the gateway), that "
           f"{ssh.user} may capture (setcap cap_net_raw,cap_net_admin=eip $(command -v "
           f"tcpdump)) and write to {folder}")
    if res.status not in (0, 124) or "listening on" not in err:
        return Check("gateway", "tcpdump", FAIL, f"`{quote_argv(argv)}` exited {res.status}: "
                     f"{said[-1] if said else '(no output)'}", fix)
    if not size.isdigit() or int(size) < 24:
        return Check("gateway", "tcpdump", FAIL, f"tcpdump ran but wrote no pcap at {path} "
                     f"({size or 'no file'})", fix)
    return Check("gateway", "tcpdump", OK, f"captured {CAPTURE_SECONDS} s on "
                 f"{gw.lan_interface}: {packets} packets, {size} bytes (file removed)")


def _gateway_nft(ssh) -> Check:
    from hil.remote.gateway import NFT_FAMILY

    table = [NFT_FAMILY, NFT_TABLE]
    fix = (f"check that {ssh.user} may run nft (root, or CAP_NET_ADMIN) and that the kernel "
           "has nf_tables")
    add = ssh.run(["nft", "add", "table", *table], check=False)
    if add.status != 0:
        return Check("gateway", "nft", FAIL, f"`nft add table {' '.join(table)}` exited "
                     f"{add.status}: {add.stderr.decode(errors='replace').strip()}", fix)
    listed = f"table {' '.join(table)}" in ssh.run(["nft", "list", "tables"],
                                                     check=False).text
    gone = ssh.run(["nft", "delete", "table", *table], check=False)
    still = f"table {' '.join(table)}" in ssh.run(["nft", "list", "tables"],
                                                    check=False).text
    if not listed or gone.status != 0 or still:
        what = ("was not listed after it was added" if not listed else
                f"could not be deleted: {gone.stderr.decode(errors='replace').strip()}"
                if gone.status != 0 else "is still listed after its delete")
        return Check("gateway", "nft", FAIL, f"table {' '.join(table)} {what}", fix)
    return Check("gateway", "nft", OK, f"added and deleted table {' '.join(table)}")


def check_phone(p: PhoneConfig, say: Say, bench_path: Path | str = "B") -> Iterator[Check]:
    """The phone's checks, by its backend's own `doctor(phone, say, bench_path)` (a
    backend without one: a skip)."""
    from hil.remote import backends

    check = getattr(backends.module(p.backend), "doctor", None)
    if check is None:
        yield Check(f"phone {p.name}", "reach", SKIP, f"backend {p.backend}: doctor has no "
                    "check for it")
        return
    yield from check(p, say, bench_path)


def check_aircraft(bench: Bench, name: str, say: Say) -> Check:
    from hil.link import LinkError, kind_of, open_link

    a = bench.aircraft[name]
    dev = f"aircraft {name}"
    kind = kind_of(a.link)
    if kind == "app":
        return Check(dev, "link", SKIP, f"link app: seen only through the app on phone "
                     f"{a.phone} (connected, firmware); doctor does not launch the app, so "
                     "it does not read whether the aircraft is on; onboard logs, photos and "
                     "storage are out of this link's reach")
    if kind == "none":
        return Check(dev, "link", SKIP, "link none: nothing tells whether it is on; "
                     "readiness is the boot window, the firmware is the bench file's "
                     f"({a.firmware or 'none declared'})")
    seconds = bench.windows.listen
    say(f"wait {dev} link: listening {seconds:g} s for heartbeats on {a.link}")
    try:
        link = open_link(a.link, name)
    except LinkError as e:
        return Check(dev, "link", FAIL, str(e), "check aircraft link in the bench file; a "
                     "port in use means another process (a run?) has this link open")
    try:
        heard = link.listen(seconds)
    except LinkError as e:
        return Check(dev, "link", FAIL, str(e), "check the link's cable or network")
    finally:
        link.close()
    return heard_check(name, a.link, heard, seconds)


def check_local_disk(folder: Path, minimum: int = MIN_FREE_LOCAL) -> Check:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < minimum:
        return Check("bench", "disk", FAIL, f"{_gib(free)} free for artifacts in {folder}, "
                     f"under {_gib(minimum)}", "free space, or run with --artifacts on a "
                     "larger disk")
    return Check("bench", "disk", OK, f"{_gib(free)} free for artifacts in {folder}")


def run(bench: Bench, say: Say = print, artifacts: Path = Path("artifacts")) -> list[Check]:
    """Every check of the bench, in order; each result is said as it comes."""
    out: list[Check] = []

    def add(c: Check) -> None:
        out.append(c)
        say(c.line)

    lock = _BorrowedPlace(bench) if bench.place is not None else _BorrowedLock(bench)
    try:  # whatever happens once the lock or place is taken, it is put back
        taken = lock.take()
        for c in taken if isinstance(taken, list) else [taken]:
            add(c)
        busy = any(c.status == FAIL for c in (taken if isinstance(taken, list) else [taken]))
        if isinstance(lock, _BorrowedPlace):
            if lock.bench is None:  # the place does not say where the devices are
                add(check_local_disk(artifacts))
                return out
            bench = lock.bench
        if busy:
            add(Check("relay", "board", SKIP, "the bench is in use: not opened"))
        else:
            add(check_relay(bench, say))
        for c in check_gateway(bench, say):
            add(c)
        for p in bench.phones.values():
            for c in check_phone(p, say, bench.path):
                add(c)
        for name in bench.aircraft:
            if busy and kind_of_link(bench, name) == "mavlink":
                add(Check(f"aircraft {name}", "link", SKIP, "the bench is in use: its link "
                          "is not opened"))
            else:
                add(check_aircraft(bench, name, say))
        add(check_local_disk(artifacts))
    finally:
        lock.put_back()
    return out


def kind_of_link(bench: Bench, name: str) -> str | None:
    from hil.link import kind_of

    return kind_of(bench.aircraft[name].link)


def to_json(checks: list[Check]) -> str:
    return json.dumps([asdict(c) for c in checks], indent=2) + "\n"
