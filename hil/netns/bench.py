"""The netns bench from the harness's side: start it, command it, check it is gone.

- `unavailable(mode)` says why this machine cannot run the netns bench (a tool missing,
  no root and no unprivileged user namespaces), or None.
- `NetnsWorld`: the boxes of `hil.netns.world` (gateway, internet, phones), started in a
  child process as root, or rootless inside a user namespace (`unshare --user
  --map-current-user --keep-caps`) when not root. It writes the client key and the
  known_hosts file, gives `SshHost`s for the boxes, runs the fault commands (drop the SSH
  connections, restart sshd, change its host key), and `stop()` checks that nothing it
  made is left: no box process, no namespace.
- `NetnsBench(template).start()` -> resolved `Bench`: the simulator's relay board and
  aircraft (`hil.sim.bench.SimBench`, whose own simulated gateway and phones are left
  unused) plus a `NetnsWorld` whose phones run the app model on real sockets; what each
  phone sees of its aircraft (link up, media, log size) is relayed to it.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import paramiko
import tomli_w

from hil import bench as benchmod
from hil import kinds
from hil.bench import Bench
from hil.netns.kind import MODES, NetnsConfig, fault_refused
from hil.netns.linux import die_with_parent, find_tool
from hil.remote.ssh import SshHost
from hil.sim.phone import phone_ip6, phone_mac

log = logging.getLogger("hil.netns")

TOOLS = ("unshare", "nsenter", "ip", "sshd", "ssh-keygen", "tcpdump", "nft")
START_TIMEOUT = 30.0


class NetnsUnavailable(kinds.Unavailable):
    """This machine cannot make the netns bench; the message says why."""


class NetnsError(Exception):
    """The netns bench failed while starting or running."""


def missing_tools() -> list[str]:
    return [t for t in TOOLS if find_tool(t) is None]


def unavailable(mode: str = "auto") -> str | None:
    """Why the netns bench cannot run here, or None when it can."""
    missing = missing_tools()
    if missing:
        return f"the netns bench needs {', '.join(missing)}, not installed here"
    if mode not in MODES:
        return f"netns mode {mode!r} is not one of {', '.join(MODES)}"
    if mode == "root" or (mode == "auto" and os.geteuid() == 0):
        if os.geteuid() != 0:
            return "netns mode 'root' needs root"
        argv = [find_tool("unshare"), "--net", "--pid", "--mount", "--fork", "true"]
    else:
        argv = [find_tool("unshare"), "--user", "--map-current-user", "--keep-caps", "--",
                find_tool("unshare"), "--net", "--pid", "--mount", "--uts", "--fork",
                "--mount-proc", "true"]
    try:
        res = subprocess.run(argv, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot make namespaces: {e}"
    if res.returncode != 0:
        how = "as root" if argv[1] == "--net" else "without root (user namespaces)"
        err = res.stderr.decode(errors="replace").strip() or f"exit {res.returncode}"
        for symptom, hint in _HINTS:
            if symptom in err:
                err += f" ({hint})"
                break
        return f"cannot make network namespaces {how}: {err}"
    return None


_HINTS = (
    ("No space left on device", "the user namespace limit is reached or 0: sysctl "
                                "user.max_user_namespaces"),
    ("Operation not permitted", "unprivileged user namespaces are off (sysctl "
                                "kernel.unprivileged_userns_clone, an AppArmor or SELinux "
                                "policy) or a container forbids namespaces; run as root"),
)


@dataclass(frozen=True)
class PhoneSpec:
    name: str
    ip: str
    platform: str = "android"
    mac: str | None = None  # its wlan0's MAC (None: the kernel's random one)
    ip6: str | None = None  # its address in the LAN's IPv6 prefix (a dual-stack bench)


class NetnsWorld:
    """The boxes of a netns bench, run by a `hil.netns.world` child process."""

    def __init__(self, phones: list[PhoneSpec], lan_interface: str = "wlan0",
                 lan_subnet: str = "10.20.0.0/24", time_scale: float = 0.02,
                 faults: tuple[str, ...] = (), mode: str = "auto",
                 workdir: Path | None = None, lan_prefix6: str | None = None):
        self.phone_specs = list(phones)
        self.lan_prefix6 = lan_prefix6  # a dual-stack LAN's IPv6 prefix, or None
        self.lan_interface, self.lan_subnet = lan_interface, lan_subnet
        self.time_scale, self.faults, self.mode = time_scale, tuple(faults), mode
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="hil-netns-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.key_path = self.dir / "client_key"
        self.known_hosts = self.dir / "known_hosts"
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}
        self._lock = threading.Lock()
        self._log = None

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> NetnsWorld:
        why = unavailable(self.mode)
        if why:
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)  # nothing was made in it
            raise NetnsUnavailable(why)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        key = paramiko.ECDSAKey.generate()
        key.write_private_key_file(str(self.key_path))
        python = [sys.executable, "-m", "hil.netns.world"]
        root = self.mode == "root" or (self.mode == "auto" and os.geteuid() == 0)
        argv = python if root else [find_tool("unshare"), "--user", "--map-current-user",
                                    "--keep-caps", "--", *python]
        self._log = open(self.dir / "world.log", "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log, preexec_fn=die_with_parent,
                                     close_fds=True, cwd=self.dir)
        spec = {"dir": str(self.dir), "client_key": f"{key.get_name()} {key.get_base64()}",
                "lan_interface": self.lan_interface, "lan_subnet": self.lan_subnet,
                "time_scale": self.time_scale, "faults": list(self.faults),
                "lan_prefix6": self.lan_prefix6,
                "phones": [{"name": p.name, "ip": p.ip, "platform": p.platform,
                            "mac": p.mac, "ip6": p.ip6} for p in self.phone_specs]}
        answer = self._exchange(spec, START_TIMEOUT)
        if "ready" not in answer:
            raise NetnsError(f"the netns bench did not start: {answer.get('error')}\n"
                             f"{self.log_tail()}")
        self.info = answer["ready"]
        self.write_known_hosts()
        log.info("netns bench up (%s): gateway ssh on 127.0.0.1:%d, phones %s, in %s",
                 self.info["mode"], self.gateway_port,
                 ", ".join(f"{n} :{p['port']}" for n, p in self.info["phones"].items()),
                 self.dir)

    def _exchange(self, msg: dict, timeout: float = 30.0) -> dict:
        with self._lock:
            if self.proc is None or self.proc.poll() is not None:
                raise NetnsError(f"the netns world is not running\n{self.log_tail()}")
            self.proc.stdin.write(json.dumps(msg).encode() + b"\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            line = self.proc.stdout.readline() if ready else b""
        if not line:
            raise NetnsError(f"the netns world did not answer {msg.get('cmd', 'spec')!r} "
                             f"within {timeout} s\n{self.log_tail()}")
        return json.loads(line)

    def call(self, cmd: str, timeout: float = 30.0, **kw) -> dict:
        """Send one command to the world and return its answer (NetnsError on an error)."""
        answer = self._exchange({"cmd": cmd, **kw}, timeout)
        if "error" in answer:
            raise NetnsError(f"netns world: {cmd}: {answer['error']}")
        return answer

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.dir / "world.log").read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> list[str]:
        """Take the bench down; return what was left behind (nothing, if all is well)."""
        boxes = self.info.get("boxes", {})
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.stdin.write(b'{"cmd": "stop"}\n')
                    self.proc.stdin.flush()
                    self.proc.stdin.close()
                except OSError:
                    pass
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    log.error("the netns world did not stop in 15 s; killing pid %d",
                              self.proc.pid)
                    self.proc.kill()  # its boxes die with it (death signals)
                    self.proc.wait(5)
            for f in (self.proc.stdin, self.proc.stdout):
                if f and not f.closed:
                    f.close()
            self.proc = None
        if self._log:
            self._log.close()
            self._log = None
        left = leftovers(boxes)
        if left:
            log.error("the netns bench left: %s (work folder %s kept)", "; ".join(left),
                      self.dir)
        elif self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return left

    def __enter__(self) -> NetnsWorld:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the harness uses --------------------------------------------------------
    @property
    def user(self) -> str:
        return self.info["user"]

    @property
    def gateway_port(self) -> int:
        return self.info["gateway"]["port"]

    def phone_port(self, name: str) -> int:
        return self.info["phones"][name]["port"]

    def write_known_hosts(self) -> None:
        lines = [f"[127.0.0.1]:{self.gateway_port} {self.info['gateway']['host_key']}"]
        lines += [f"[127.0.0.1]:{p['port']} {p['host_key']}"
                  for p in self.info["phones"].values()]
        self.known_hosts.write_text("".join(line + "\n" for line in lines))

    def gateway_ssh(self, **kw) -> SshHost:
        return SshHost("127.0.0.1", self.gateway_port, self.user, self.key_path,
                       self.known_hosts, role="gateway", **kw)

    def phone_ssh(self, name: str, **kw) -> SshHost:
        return SshHost("127.0.0.1", self.phone_port(name), self.user, self.key_path,
                       self.known_hosts, role=f"phone {name}", **kw)

    def phone_state(self, name: str, linked: bool, media=(), log_size: int | None = None
                    ) -> None:
        """Tell a phone what it sees of its aircraft (its link, its media, its log)."""
        self.send_state(name, {"linked": linked, "media": [list(m) for m in media],
                               "log_size": log_size})

    def send_state(self, name: str, state: dict) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.dir / f"phone-{name}.sock"))
            s.sendall(json.dumps({"state": state}).encode() + b"\n")
            if not s.recv(64).startswith(b'{"ok"'):
                raise NetnsError(f"phone {name} did not take its state")

    def exec(self, box: str, argv: list[str], stdin: str = "", timeout: float = 20.0
             ) -> dict:
        """Run a program inside a box: {"status", "stdout", "stderr"} (text)."""
        return self.call("exec", timeout=timeout + 5, box=box, argv=argv, stdin=stdin,
                         run_timeout=timeout)

    def drop_ssh(self, box: str = "gateway") -> int:
        """Cut every SSH connection to the box, as a network glitch would."""
        return self.call("drop", box=box)["dropped"]

    def restart_sshd(self, box: str = "gateway", delay: float = 0.0, rekey: bool = False
                     ) -> str:
        """Restart the box's sshd (its sessions end); return its host key (new with rekey)."""
        return self.call("restart_sshd", box=box, delay=delay, rekey=rekey)["host_key"]

    def status(self) -> dict:
        return self.call("status")

    def processes(self, box: str) -> list[str]:
        """The names of the processes running in a box (its init first)."""
        return [name for _, name in self.status()["processes"][box]]

    def cloud_seen(self) -> list[dict]:
        """What reached the cloud stand-ins: DNS lookups and TLS sessions, in order."""
        try:
            text = (self.dir / "cloud-seen.jsonl").read_text()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def leftovers(boxes: dict) -> list[str]:
    """Processes or namespaces of these boxes still alive (readable /proc entries only)."""
    out = []
    inodes = {b["netns_inode"]: name for name, b in boxes.items() if b.get("netns_inode")}
    for name, b in boxes.items():
        if b.get("pid") and Path(f"/proc/{b['pid']}").exists():
            try:
                same = os.stat(f"/proc/{b['pid']}/ns/net").st_ino == b["netns_inode"]
            except OSError:
                same = False
            if same:
                out.append(f"box {name}: its init (pid {b['pid']}) still runs")
    if not inodes:
        return out
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ino = os.stat(f"/proc/{entry.name}/ns/net").st_ino
        except OSError:
            continue
        if ino in inodes:
            try:
                comm = Path(f"/proc/{entry.name}/comm").read_text().strip()
            except OSError:
                comm = "?"
            out.append(f"box {inodes[ino]}: process {entry.name} ({comm}) still in its "
                       "network namespace")
    return out


class NetnsBench:
    """A whole netns bench: simulated relay board and aircraft, real network."""

    def __init__(self, template: Bench, faults: tuple[str, ...] | None = None,
                 mode: str | None = None, workdir: Path | None = None):
        cfg = template.sim
        if template.kind != "netns" or not isinstance(cfg, NetnsConfig):
            raise ValueError(f"bench file {template.path} has no [netns] table: not a netns "
                             "bench")
        self.template = template
        self.scale = cfg.time_scale
        self.faults = tuple(cfg.faults if faults is None else faults)
        self.mode = mode or os.environ.get("HIL_NETNS_MODE") or cfg.mode
        for f in self.faults:
            why = fault_refused(f)
            if why:
                raise ValueError(f"sim fault {why}")
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="hil-netns-bench-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.resolved_path = self.dir / "bench.toml"
        self.sim = None
        self.world: NetnsWorld | None = None
        self.resolved: Bench | None = None
        self._stop = threading.Event()
        self._pusher: threading.Thread | None = None
        self.left: list[str] = []

    def start(self) -> Bench:
        why = unavailable(self.mode)
        if why:
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)  # nothing was made in it
            raise NetnsUnavailable(why)
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Bench:
        from hil.sim.bench import SimBench

        t = self.template
        raw = copy.deepcopy(t.raw)
        raw.pop("netns", None)
        raw["sim"] = {"time_scale": self.scale, "faults": list(self.faults)}
        sim_template = benchmod.parse(raw, t.path)
        (self.dir / "sim").mkdir()
        self.sim = SimBench(sim_template, faults=self.faults, workdir=self.dir / "sim")
        sim_bench = self.sim.start()

        # the world in a folder of its own, with a short path (its phones' unix sockets)
        prefix6 = next((n for n in t.gateway.lan_prefixes if n.version == 6), None)
        phones = [PhoneSpec(p.name, p.ip, p.platform, p.mac,
                            phone_ip6(prefix6, p.mac or phone_mac(p.ip)) if prefix6 else None)
                  for p in t.phones.values()]
        self.world = NetnsWorld(phones, lan_interface=t.gateway.lan_interface,
                                lan_subnet=str(t.gateway.lan_subnet), time_scale=self.scale,
                                faults=self.faults, mode=self.mode,
                                lan_prefix6=str(prefix6) if prefix6 else None)
        w = self.world.start()
        out = copy.deepcopy(sim_bench.raw)
        common = {"host": "127.0.0.1", "user": w.user, "key": str(w.key_path),
                  "known_hosts": str(w.known_hosts)}
        out["gateway"].update(common, port=w.gateway_port)
        for name in t.phones:
            out["phone"][name].update(common, port=w.phone_port(name))
        header = (f"# resolved by the hil netns bench from {t.path} ({w.info['mode']})\n"
                  f"# faults: {', '.join(self.faults) or 'none'}; time scale {self.scale}\n"
                  f"# work folders {self.dir} (relay, aircraft), {w.dir} (namespaces)\n")
        self.resolved_path.write_text(header + tomli_w.dumps(out))
        self.resolved = benchmod.load(self.resolved_path)
        self._pusher = threading.Thread(target=self._push_loop, name="netns-phones",
                                        daemon=True)
        self._pusher.start()
        return self.resolved

    def _phone_state(self, name: str) -> dict:
        phone = self.sim.phones[name]
        media, log_size = phone.onboard()
        return {"linked": bool(phone.linked()),
                "media": [[m.index, m.size] for m in media], "log_size": log_size}

    def _push_loop(self) -> None:
        last: dict[str, dict] = {}
        while not self._stop.is_set():
            for name in self.template.phones:
                try:
                    state = self._phone_state(name)
                    if state != last.get(name):
                        self.world.send_state(name, state)
                        last[name] = state
                except Exception as e:  # the world went away: the bench is stopping
                    if not self._stop.is_set():
                        log.error("netns bench: cannot update phone %s: %s", name, e)
                    return
            self._stop.wait(0.005)

    def stop(self) -> list[str]:
        self._stop.set()
        if self._pusher is not None:
            self._pusher.join(timeout=2)
        left = []
        try:
            if self.world is not None:
                left = self.world.stop()
        finally:
            if self.sim is not None:
                self.sim.stop()
        self.left = left
        if self._own_dir and not left:
            shutil.rmtree(self.dir, ignore_errors=True)
        return left

    def __enter__(self) -> Bench:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
