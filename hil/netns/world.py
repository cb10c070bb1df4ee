"""The netns bench's world: its boxes, their network and their services, in one process.

    python -m hil.netns.world            (as root)
    unshare --user --map-current-user --keep-caps -- python -m hil.netns.world  (rootless)

It reads one JSON line on stdin, the spec::

    {"dir": WORKDIR, "client_key": "ecdsa-sha2-nistp256 AAAA...", "lan_interface": "wlan0",
     "lan_subnet": "10.20.0.0/24", "time_scale": 0.02, "faults": [],
     "lan_prefix6": "2001:db8:20::/64",   (optional: a dual-stack LAN)
     "phones": [{"name": "pixel-spark", "ip": "10.20.0.31", "platform": "android",
                 "mac": "02:00:0a:14:00:1f", "ip6": "2001:db8:20::1f"}]}  (mac, ip6: optional)

builds the bench (see `hil.netns`), and answers one JSON line on stdout: {"ready": {...}}
with the loopback ports of the forwarded sshd of the gateway and of each phone, their host
keys, the login user and the boxes, or {"error": "..."}. Then it serves commands, one JSON
line each, answered by one JSON line:

- {"cmd": "phone", "name": N, "state": {...}}: what phone N sees of its aircraft;
- {"cmd": "exec", "box": B, "argv": [...]}: run a program in box B (tests look inside);
- {"cmd": "drop", "box": B}: cut every forwarded SSH connection to box B (a network drop);
- {"cmd": "restart_sshd", "box": B, "delay": S, "rekey": bool}: stop box B's sshd and its
  sessions, optionally with a new host key, and start it again after S seconds;
- {"cmd": "status"}: boxes and processes; {"cmd": "stop"}: take everything down and exit.

Closing its stdin stops it too (the harness died); so does its death, through the boxes'
death signals. Logs go to stderr.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import pwd
import select
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from hil.netns.box import Box, BoxError
from hil.netns.linux import find_tool
from hil.netns.pki import make_ca
from hil.sim.phone import CLOUD_NET6, RESOLVER_IP, RESOLVER_IP6

log = logging.getLogger("hil.netns.world")

WAN_GATEWAY, WAN_INTERNET, WAN_PREFIX = "192.0.2.1", "192.0.2.2", 24  # TEST-NET-1
CLOUD_NET = "198.51.100.1/24"  # TEST-NET-2: every address of it is a stand-in server
WAN_GATEWAY6, WAN_INTERNET6 = "2001:db8:ffff::1", "2001:db8:ffff::2"  # documentation prefix
SSH_PORT = 22
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

HIL_APP = '''\
"""hil-app on a netns phone: hands its arguments to the app's control socket."""
import json
import socket
import sys


def main():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
    except OSError as e:
        print(f"hil-app: the app is not running ({e})", file=sys.stderr)
        return 3
    s.sendall(json.dumps({"argv": ["hil-app", *sys.argv[2:]]}).encode() + b"\\n")
    data = b""
    while not data.endswith(b"\\n"):
        chunk = s.recv(65536)
        if not chunk:
            print("hil-app: the app hung up", file=sys.stderr)
            return 3
        data += chunk
    answer = json.loads(data)
    sys.stdout.buffer.write(answer["stdout"].encode("latin-1"))
    sys.stderr.buffer.write(answer["stderr"].encode("latin-1"))
    return answer["status"]


sys.exit(main())
'''


class Forwarder:
    """127.0.0.1:<port> in the world's network, relayed to an address inside a box."""

    def __init__(self, box: Box, target: tuple[str, int]):
        self.box, self.target = box, target
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self.pairs: set[tuple[socket.socket, socket.socket]] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, name=f"fwd-{box.name}", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        try:
            remote = self.box.connect(self.target)
        except OSError as e:
            log.info("%s: %s:%d refused a forwarded connection: %s", self.box.name,
                     *self.target, e)
            conn.close()
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = (conn, remote)
        with self.lock:
            self.pairs.add(pair)
        try:
            peers = {conn: remote, remote: conn}
            while True:
                ready, _, _ = select.select(list(peers), [], [])
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with self.lock:
                self.pairs.discard(pair)
            for s in pair:
                _close(s)

    def drop(self) -> int:
        with self.lock:
            pairs = list(self.pairs)
        for pair in pairs:
            for s in pair:
                _close(s)
        return len(pairs)

    def close(self) -> None:
        _close(self.listener)
        self.drop()


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


class Sshd:
    """OpenSSH's sshd in a box: temporary host key, key-only login for one user."""

    def __init__(self, box: Box, dir: Path, user: str, listen: list[str], authorized: str):
        self.box, self.dir, self.user = box, dir, user
        self.sshd = find_tool("sshd")
        self.key = dir / "ssh_host_ed25519_key"
        self.config = dir / "sshd_config"
        (dir / "authorized_keys").write_text(authorized.strip() + "\n")
        self.config.write_text("".join(line + "\n" for line in [
            *(f"ListenAddress {a}:{SSH_PORT}" for a in listen),
            f"HostKey {self.key}",
            f"PidFile {dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {dir / 'authorized_keys'}",
            f"AllowUsers {user}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "PrintMotd no",
            "MaxStartups 64",
            "MaxSessions 64",
            f"SetEnv PATH={PATH}",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
        ]))
        self.proc: subprocess.Popen | None = None
        self._log = None

    def keygen(self) -> None:
        for p in (self.key, self.key.with_suffix(".pub")):
            p.unlink(missing_ok=True)
        subprocess.run([find_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C",
                        f"hil-netns-{self.box.name}", "-f", str(self.key)], check=True,
                       capture_output=True)

    @property
    def host_key(self) -> str:
        kind, blob = self.key.with_suffix(".pub").read_text().split()[:2]
        return f"{kind} {blob}"

    def start(self) -> None:
        self._log = open(self.dir / "sshd.log", "ab")
        self.proc = self.box.spawn([self.sshd, "-D", "-e", "-f", str(self.config)],
                                   stdout=self._log, stderr=self._log)
        self.box.wait_listening(("127.0.0.1", SSH_PORT), proc=self.proc, what="sshd")

    def stop(self) -> None:
        """Stop the daemon and every session it runs (tcpdumps started through it live on)."""
        if self.proc is None:
            return
        for pid in _descendants(self.proc.pid):
            if _comm(pid) == "sshd":
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            for pid in _descendants(self.proc.pid):
                if _comm(pid) == "sshd":
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None
        if self._log:
            self._log.close()


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    except OSError:
        pass
    return out


def _descendants(pid: int) -> list[int]:
    out, todo = [], _children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def _members(init: int) -> list[tuple[int, str]]:
    """The processes of the pid namespace whose init is `init` (pid, name), init first."""
    try:
        ns = os.stat(f"/proc/{init}/ns/pid").st_ino
    except OSError:
        return []
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.stat(f"/proc/{entry.name}/ns/pid").st_ino == ns:
                    out.append((int(entry.name), _comm(int(entry.name))))
            except OSError:
                pass
    return sorted(out, key=lambda p: p[0] != init)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class World:
    def __init__(self, spec: dict):
        self.spec = spec
        self.dir = Path(spec["dir"])
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.mode = "root" if os.geteuid() == 0 and not _in_user_namespace() else "rootless"
        subnet = ipaddress.IPv4Network(spec["lan_subnet"])
        self.lan_if, self.subnet = spec["lan_interface"], subnet
        self.gw_ip = str(subnet[1])
        # a dual-stack LAN: the IPv6 prefix (the gateway is its ::1, each phone has a
        # static address in it); None: IPv6 is off in every box, as before
        prefix6 = spec.get("lan_prefix6")
        self.prefix6 = ipaddress.IPv6Network(prefix6) if prefix6 else None
        self.gw_ip6 = str(self.prefix6[1]) if self.prefix6 else None
        self.boxes: dict[str, Box] = {}
        self.sshd: dict[str, Sshd] = {}
        self.forwarders: dict[str, Forwarder] = {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.phones = {p["name"]: p for p in spec["phones"]}

    # -- building ---------------------------------------------------------------------
    def _box_dir(self, name: str) -> Path:
        d = self.dir / name
        d.mkdir(exist_ok=True)
        return d

    def _accounts(self) -> tuple[Path, Path]:
        """The boxes' /etc/passwd and /etc/shadow: the host's, with the login user able to
        log in (a shell, a home in the work folder, no password)."""
        me = pwd.getpwuid(os.getuid())
        lines = [line for line in Path("/etc/passwd").read_text().splitlines()
                 if line.split(":")[0] != me.pw_name]
        lines.append(f"{me.pw_name}:x:{me.pw_uid}:{me.pw_gid}:hil netns bench:{self.dir}:/bin/sh")
        passwd, shadow = self.dir / "passwd", self.dir / "shadow"
        passwd.write_text("\n".join(lines) + "\n")
        shadow.write_text(f"{me.pw_name}:*:19000:0:99999:7:::\n")
        shadow.chmod(0o600)
        return passwd, shadow

    def build(self) -> dict:
        passwd, shadow = self._accounts()
        make_ca(self.dir / "ca.pem", self.dir / "ca.key")
        (self.dir / "hil_app.py").write_text(HIL_APP)
        if self.prefix6 is None:
            quiet6 = {"net/ipv6/conf/all/disable_ipv6": 1,
                      "net/ipv6/conf/default/disable_ipv6": 1}
        else:  # static addresses, no router advertisements, no wait for DAD
            quiet6 = {"net/ipv6/conf/default/accept_ra": 0,
                      "net/ipv6/conf/default/accept_dad": 0}
        forward6 = {"net/ipv6/conf/all/forwarding": 1} if self.prefix6 else {}
        common = [["tmpfs", "hil-run", "/run", "mode=0755,size=16m"],
                  ["bind", str(passwd), "/etc/passwd", None],
                  ["bind", str(shadow), "/etc/shadow", None]]
        specs = {"gateway": {"hostname": "gateway",
                             "sysctl": {**quiet6, **forward6,
                                        "net/ipv4/ip_forward": 1},
                             "mounts": common + [["tmpfs", "hil-var-tmp", "/var/tmp",
                                                  "mode=1777,size=512m"]],
                             "mkdir": [["/run/sshd", 0o755]]},
                 "internet": {"hostname": "internet", "sysctl": quiet6, "mounts": common,
                              "mkdir": [["/run/sshd", 0o755]]}}
        for name in self.phones:
            bindir = self._box_dir(f"phone-{name}") / "bin"
            bindir.mkdir(exist_ok=True)
            app = bindir / "hil-app"
            app.write_text("#!/bin/sh\nexec " + shlex.join(
                [sys.executable, "-I", "-S", str(self.dir / "hil_app.py"),
                 str(self.dir / f"phone-{name}.sock")]) + ' "$@"\n')
            app.chmod(0o755)
            specs[f"phone-{name}"] = {"hostname": f"phone-{name}"[:63], "sysctl": quiet6,
                                      "mounts": common + [["bind", str(bindir),
                                                           "/usr/local/bin", None]],
                                      "mkdir": [["/run/sshd", 0o755]]}
        for name, spec in specs.items():
            self.boxes[name] = Box(name, self._box_dir(name), spec)
            self.boxes[name].start()  # main thread: the boxes die with it
        # host keys while the boxes come up
        self.sshd["gateway"] = Sshd(self.boxes["gateway"], self._box_dir("gateway"), self.user,
                                    ["127.0.0.1", self.gw_ip], self.spec["client_key"])
        for name in self.phones:
            box = f"phone-{name}"
            self.sshd[box] = Sshd(self.boxes[box], self._box_dir(box), self.user,
                                  ["127.0.0.1"], self.spec["client_key"])
        for s in self.sshd.values():
            s.keygen()
        for b in self.boxes.values():
            b.wait_ready()
        self._network()
        self._services()
        return self.describe()

    def _network(self) -> None:
        gw, net = self.boxes["gateway"], self.boxes["internet"]
        prefix = self.subnet.prefixlen
        lines = ["link set lo up", f"link add name {self.lan_if} type bridge",
                 f"link set {self.lan_if} up", f"address add {self.gw_ip}/{prefix} dev "
                 f"{self.lan_if}"]
        for i, name in enumerate(self.phones):
            ph = self.boxes[f"phone-{name}"]
            lines += [f"link add name lan{i} type veth peer name wlan0 netns {ph.netns}",
                      f"link set lan{i} master {self.lan_if}", f"link set lan{i} up"]
        lines += [f"link add name wan0 type veth peer name eth0 netns {net.netns}",
                  f"address add {WAN_GATEWAY}/{WAN_PREFIX} dev wan0", "link set wan0 up"]
        gw.ip(lines)
        net.ip(["link set lo up", f"address add {RESOLVER_IP}/32 dev lo",
                f"address add {CLOUD_NET} dev lo", "link set eth0 up",
                f"address add {WAN_INTERNET}/{WAN_PREFIX} dev eth0",
                f"route add {self.subnet} via {WAN_GATEWAY}"])
        for name, p in self.phones.items():
            self.boxes[f"phone-{name}"].ip([
                "link set lo up",
                *([f"link set wlan0 address {p['mac']}"] if p.get("mac") else []),
                "link set wlan0 up",
                f"address add {p['ip']}/{prefix} dev wlan0",
                f"route add default via {self.gw_ip}"])
        gw.ip([f"route add default via {WAN_INTERNET}"])
        if self.prefix6 is not None:
            self._network6()

    def _network6(self) -> None:
        """IPv6 beside IPv4: the gateway routes the LAN's prefix to the internet box, which
        holds the resolver's and the cloud's IPv6 stand-ins (a whole /64 on its loopback)."""
        gw, net = self.boxes["gateway"], self.boxes["internet"]
        gw.ip([f"address add {self.gw_ip6}/{self.prefix6.prefixlen} dev {self.lan_if} nodad",
               f"address add {WAN_GATEWAY6}/64 dev wan0 nodad",
               f"route add default via {WAN_INTERNET6}"])
        net.ip([f"address add {RESOLVER_IP6}/128 dev lo",
                f"route add local {CLOUD_NET6} dev lo",
                f"address add {WAN_INTERNET6}/64 dev eth0 nodad",
                f"route add {self.prefix6} via {WAN_GATEWAY6}"])
        for name, p in self.phones.items():
            self.boxes[f"phone-{name}"].ip([
                f"address add {p['ip6']}/{self.prefix6.prefixlen} dev wlan0 nodad",
                f"route add default via {self.gw_ip6}"])

    def _services(self) -> None:
        net = self.boxes["internet"]
        cloud_log = open(self.dir / "cloud.log", "ab")
        self.procs["cloud"] = net.spawn([sys.executable, "-m", "hil.netns.cloud", str(self.dir),
                                         RESOLVER_IP], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=cloud_log)
        for name, p in self.phones.items():
            box = self.boxes[f"phone-{name}"]
            cfg = self.dir / f"phone-{name}.json"
            cfg.write_text(json.dumps({
                "name": name, "ip": p["ip"], "platform": p["platform"],
                "ip6": p.get("ip6") if self.prefix6 else None,
                "resolver6": RESOLVER_IP6 if self.prefix6 else None,
                "time_scale": self.spec["time_scale"], "faults": self.spec.get("faults", []),
                "resolver": RESOLVER_IP, "ca": str(self.dir / "ca.pem"),
                "control": str(self.dir / f"phone-{name}.sock")}))
            plog = open(self.dir / f"phone-{name}.log", "ab")
            self.procs[f"phone-{name}"] = box.spawn(
                [sys.executable, "-m", "hil.netns.phone", str(cfg)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=plog)
        for s in self.sshd.values():
            s.start()
        for name, proc in self.procs.items():
            ready, _, _ = select.select([proc.stdout], [], [], 15)
            if not ready or proc.stdout.readline().strip() != b"ready":
                raise BoxError(f"{name} did not start; see {self.dir / (name + '.log')}")
        for name in self.sshd:
            self.forwarders[name] = Forwarder(self.boxes[name], ("127.0.0.1", SSH_PORT))

    def describe(self) -> dict:
        return {
            "mode": self.mode, "user": self.user, "world_pid": os.getpid(),
            "gateway": {"port": self.forwarders["gateway"].port, "lan_ip": self.gw_ip,
                        "host_key": self.sshd["gateway"].host_key},
            "phones": {name: {"port": self.forwarders[f"phone-{name}"].port,
                              "host_key": self.sshd[f"phone-{name}"].host_key}
                       for name in self.phones},
            "boxes": {name: {"pid": b.pid, "netns_inode": b.netns_inode}
                      for name, b in self.boxes.items()},
        }

    # -- commands ---------------------------------------------------------------------
    def command(self, msg: dict) -> dict:
        cmd = msg.get("cmd")
        if cmd == "phone":
            proc = self.procs[f"phone-{msg['name']}"]
            proc.stdin.write(json.dumps(msg["state"]).encode() + b"\n")
            proc.stdin.flush()
            return {"ok": True}
        if cmd == "exec":
            res = self.boxes[msg["box"]].run(msg["argv"], input=(msg.get("stdin") or "").encode(),
                                             timeout=msg.get("run_timeout", 20))
            return {"status": res.returncode, "stdout": res.stdout.decode("latin-1"),
                    "stderr": res.stderr.decode("latin-1")}
        if cmd == "drop":
            return {"dropped": self.forwarders[msg["box"]].drop()}
        if cmd == "restart_sshd":
            box = msg["box"]
            sshd = self.sshd[box]
            dropped = self.forwarders[box].drop()
            sshd.stop()
            if msg.get("rekey"):
                sshd.keygen()
            delay = float(msg.get("delay", 0))
            if delay > 0:
                threading.Timer(delay, self._start_quietly, args=(sshd,)).start()
            else:
                sshd.start()
            return {"dropped": dropped, "host_key": sshd.host_key}
        if cmd == "status":
            return {**self.describe(), "processes": {
                name: _members(b.pid) for name, b in self.boxes.items()}}
        return {"error": f"unknown command {cmd!r}"}

    @staticmethod
    def _start_quietly(sshd: Sshd) -> None:
        try:
            sshd.start()
        except Exception:
            log.exception("sshd of %s did not come back", sshd.box.name)

    def stop(self) -> None:
        for f in self.forwarders.values():
            f.close()
        for proc in self.procs.values():
            try:
                proc.stdin.close()
            except OSError:
                pass
        for b in self.boxes.values():
            try:
                b.close()
            except Exception:
                log.exception("box %s did not stop", b.name)
        procs = list(self.procs.values()) + [s.proc for s in self.sshd.values() if s.proc]
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _in_user_namespace() -> bool:
    try:
        first = Path("/proc/self/uid_map").read_text().split()
    except OSError:
        return False
    return first[:3] != ["0", "0", "4294967295"]


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s world %(levelname)s %(message)s")
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by accident goes to the log, not the protocol
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    world = None
    try:
        spec = json.loads(sys.stdin.readline())
        world = World(spec)
        out.write(json.dumps({"ready": world.build()}) + "\n")
        for line in sys.stdin:
            msg = json.loads(line)
            if msg.get("cmd") == "stop":
                break
            try:
                answer = world.command(msg)
            except Exception as e:
                log.exception("command %s failed", msg)
                answer = {"error": f"{type(e).__name__}: {e}"}
            out.write(json.dumps(answer) + "\n")
    except Exception as e:
        log.exception("the netns world failed")
        out.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
        return 1
    finally:
        if world is not None:
            world.stop()
        t0 = time.monotonic()
        out.write(json.dumps({"stopped": True}) + "\n")
        log.info("stopped in %.2f s", time.monotonic() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
