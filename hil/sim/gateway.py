"""The simulated lab gateway: what a Linux AP running tcpdump and nftables does.

It answers the command lines a real gateway gets over SSH (`date`, `printenv`, `mkdir -p`,
`tee`, `nohup tcpdump ... & echo $!`, `kill`, `cat` (also `/proc/PID/cmdline`), `tail -c`,
`sha256sum`, `nft`, `ip neigh show dev IF`, `rm -f`; and for `hil doctor`: `df -Pk`,
`stat -c %s`, `rmdir`,
`timeout N tcpdump ...` (a capture of N real seconds in the foreground, as coreutils'
`timeout` runs it: exit status 124, tcpdump's own report on stderr), `nft add table` of a
table of any name), serves its files over SFTP (`SimGatewaySftp`, for an SSH
server that offers the handler's `ssh_subsystems()`), and holds the two things the rest of
the simulated bench asks it: which phones' uplinks are cut (the harness's per-phone nft
tables `inet hil_<ip>` with their cut rules) and where to write the packets phones send (the
running captures, as pcap files in its own folder). Anything else is answered like a shell
that does not know the command (status 127), so a driver that sends something new fails
loudly.

The simulated phones put frames on the gateway's LAN with `deliver()`; each running
capture whose `host` filter matches writes them, flushed per packet as `tcpdump -U` does.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shlex
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import paramiko

from hil.capture.pcap import PcapWriter

OK = (0, b"", b"")


def _err(status: int, msg: str) -> tuple[int, bytes, bytes]:
    return status, b"", (msg.rstrip("\n") + "\n").encode()


@dataclass
class _Capture:
    pid: int
    iface: str
    path: Path
    log: Path | None  # None: a foreground capture (`timeout N tcpdump`), stats on stderr
    host: str | None
    argv: list[str]
    file: BinaryIO
    writer: PcapWriter
    ipv6: bool = False  # `( host IP or ip6 )`: also every IPv6 frame
    packets: int = 0


class SimGateway:
    """State and command interpreter of one simulated gateway; thread-safe."""

    def __init__(self, root: Path, lan_interface: str, cut_effective: bool = True,
                 ipv6_bypass: bool = False):
        self.root = root  # the gateway's filesystem: remote paths are mapped below it
        self.lan_interface = lan_interface
        self.lock = threading.RLock()
        # phone ip -> the families its table (inet hil_<ip>) cuts: {4}, {4, 6}, or empty
        self.tables: dict[str, set[int]] = {}
        self.table_text: dict[str, str] = {}  # phone ip -> its table's rules, as written
        self.neigh: dict[str, str] = {}  # address -> MAC, learned from the LAN's frames
        self._neigh_raw: set[bytes] = set()
        self._macs: dict[bytes, str] = {}
        # fault knob (ipv6_bypass): the phones' IPv6 is routed by another router on the LAN,
        # so no table of this gateway ever sees it: an IPv6 cut drops nothing
        self.ipv6_bypass = ipv6_bypass
        self.mac = "02:00:00:00:00:01"  # its LAN side (hil.sim.phone.GATEWAY_MAC)
        self.other_tables: set[str] = set()  # empty tables of other names (`nft add table`)
        self.captures: dict[int, _Capture] = {}
        self.cut_effective = cut_effective  # fault knob (cut_ineffective): cuts drop nothing
        self.deaf = False  # fault knob (deaf_sniffer): captures record nothing
        self._next_pid = 4100

    # -- what the rest of the sim asks ------------------------------------------------
    def is_cut(self, ip: str, family: int = 4) -> bool:
        """Whether the table of the phone at IPv4 address `ip` drops its traffic of
        `family` (4 or 6) now."""
        with self.lock:
            if family == 6 and self.ipv6_bypass:
                return False
            return self.cut_effective and family in self.tables.get(ip, set())

    def ssh_subsystems(self) -> dict:
        """SSH subsystems this host serves, for `paramiko.Transport.set_subsystem_handler`."""
        return {"sftp": (paramiko.SFTPServer, SimGatewaySftp, self)}

    def deliver(self, ts: float, frame: bytes, src: str, dst: str) -> None:
        with self.lock:
            self._learn(frame)
            if self.deaf:
                return
            macs = (self._mac(frame[0:6]), self._mac(frame[6:12]))
            for cap in self.captures.values():
                if (cap.host is None or cap.host in (src, dst) or cap.host in macs
                        or (cap.ipv6 and frame[12:14] == b"\x86\xdd")):
                    cap.writer.write(ts, frame)
                    cap.writer.flush()
                    cap.packets += 1

    def _learn(self, frame: bytes) -> None:
        """The frame's sender, as the kernel's neighbour table learns it (in short: every
        station's source address and MAC; the gateway's own frames teach nothing)."""
        mac = self._mac(frame[6:12])
        if frame[6] & 1 or mac == self.mac:
            return
        kind = frame[12:14]
        if kind == b"\x08\x00" and len(frame) >= 34:
            src = frame[26:30]
        elif kind == b"\x86\xdd" and len(frame) >= 54:
            src = frame[22:38]
        else:
            return
        if src not in self._neigh_raw:  # the phones send thousands of frames a second
            self._neigh_raw.add(src)
            family = socket.AF_INET if len(src) == 4 else socket.AF_INET6
            self.neigh[socket.inet_ntop(family, src)] = mac

    def _mac(self, raw: bytes) -> str:
        text = self._macs.get(raw)
        if text is None:
            text = self._macs[raw] = ":".join(f"{b:02x}" for b in raw)
        return text

    def stop(self) -> None:
        with self.lock:
            for pid in list(self.captures):
                self._end_capture(pid)

    # -- the shell --------------------------------------------------------------------
    def handle(self, line: str, stdin: bytes) -> tuple[int, bytes, bytes]:
        try:
            argv = shlex.split(line)
        except ValueError as e:
            return _err(2, f"sh: syntax error: {e}")
        if not argv:
            return OK
        if argv[0] == "nohup" and argv[-3:] == ["&", "echo", "$!"]:
            return self._background(argv[1:-3])
        if argv[0] == "timeout":  # sleeps without the lock: other sessions go on meanwhile
            return self._timeout(argv[1:])
        cmd = getattr(self, "_cmd_" + argv[0].replace("-", "_"), None)
        if cmd is None:
            return _err(127, f"sh: 1: {argv[0]}: not found")
        with self.lock:
            return cmd(argv[1:], stdin)

    def _path(self, remote: str) -> Path:
        if not remote.startswith("/"):
            raise ValueError(f"relative path {remote!r}")
        return self.root / remote.lstrip("/")

    def _cmd_date(self, args, stdin):
        if args != ["+%s.%N"]:
            return _err(1, f"date: unsupported format {args}")
        return 0, f"{time.time():.9f}\n".encode(), b""

    def _cmd_mkdir(self, args, stdin):
        for a in args:
            if a != "-p":
                self._path(a).mkdir(parents=True, exist_ok=True)
        return OK

    def _cmd_printenv(self, args, stdin):
        env = {"SSH_CONNECTION": "127.0.0.1 50022 127.0.0.1 22"}  # sshd on 22, as the gateway
        if len(args) != 1 or args[0] not in env:
            return 1, b"", b""
        return 0, (env[args[0]] + "\n").encode(), b""

    def _cmd_tee(self, args, stdin):
        for a in args:
            p = self._path(a)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(stdin)
        return 0, stdin, b""

    def _cmd_tail(self, args, stdin):
        if len(args) != 3 or args[0] != "-c" or not args[1].startswith("+"):
            return _err(1, f"tail: sim supports tail -c +N FILE, got {args}")
        p = self._path(args[2])
        if not p.is_file():
            return _err(1, f"tail: cannot open '{args[2]}' for reading: No such file or "
                           "directory")
        return 0, p.read_bytes()[int(args[1][1:]) - 1:], b""

    def _cmd_cat(self, args, stdin):
        out = b""
        for a in args:
            m = re.fullmatch(r"/proc/(\d+)/cmdline", a)
            if m:
                cap = self.captures.get(int(m.group(1)))
                if cap is None:
                    return _err(1, f"cat: {a}: No such file or directory")
                out += b"".join(x.encode() + b"\0" for x in cap.argv)
                continue
            p = self._path(a)
            if not p.is_file():
                return _err(1, f"cat: {a}: No such file or directory")
            out += p.read_bytes()
        return 0, out, b""

    def _cmd_sha256sum(self, args, stdin):
        out = b""
        for a in args:
            p = self._path(a)
            if not p.is_file():
                return _err(1, f"sha256sum: {a}: No such file or directory")
            out += f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {a}\n".encode()
        return 0, out, b""

    def _cmd_df(self, args, stdin):
        if len(args) != 2 or args[0] != "-Pk":
            return _err(1, f"df: sim supports df -Pk PATH, got {args}")
        p = self._path(args[1])
        if not p.exists():
            return _err(1, f"df: {args[1]}: No such file or directory")
        st = os.statvfs(p)
        total, avail = st.f_blocks * st.f_frsize // 1024, st.f_bavail * st.f_frsize // 1024
        used = total - st.f_bfree * st.f_frsize // 1024
        cap = f"{-(-used * 100 // max(used + avail, 1))}%"
        return 0, (f"Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
                   f"/dev/sim       {total:>11} {used:>9} {avail:>9} {cap:>8} /\n").encode(), b""

    def _cmd_stat(self, args, stdin):
        if len(args) != 3 or args[:2] != ["-c", "%s"]:
            return _err(1, f"stat: sim supports stat -c %s PATH, got {args}")
        p = self._path(args[2])
        if not p.exists():
            return _err(1, f"stat: cannot statx '{args[2]}': No such file or directory")
        return 0, f"{p.stat().st_size}\n".encode(), b""

    def _cmd_rmdir(self, args, stdin):
        for a in args:
            p = self._path(a)
            try:
                p.rmdir()
            except FileNotFoundError:
                return _err(1, f"rmdir: failed to remove '{a}': No such file or directory")
            except OSError:
                return _err(1, f"rmdir: failed to remove '{a}': Directory not empty")
        return OK

    def _cmd_rm(self, args, stdin):
        for a in args:
            if a != "-f":
                self._path(a).unlink(missing_ok=True)
        return OK

    def _cmd_kill(self, args, stdin):
        sig, pids = "TERM", args
        if args and args[0].startswith("-"):
            sig, pids = args[0][1:], args[1:]
        status = 0
        for p in pids:
            pid = int(p)
            if pid not in self.captures:
                return _err(1, "sh: 1: kill: No such process")
            if sig != "0":
                self._end_capture(pid)
        return status, b"", b""

    # -- tcpdump ----------------------------------------------------------------------
    def _background(self, argv: list[str]) -> tuple[int, bytes, bytes]:
        # argv: tcpdump ARGS... > LOG 2>&1 < /dev/null
        try:
            gt = argv.index(">")
        except ValueError:
            return _err(2, "sim gateway: background command without a log redirect")
        cmd, redir = argv[:gt], argv[gt:]
        if redir[2:] != ["2>&1", "<", "/dev/null"] or cmd[:1] != ["tcpdump"]:
            return _err(127, f"sim gateway: cannot run {' '.join(argv)!r} in the background")
        with self.lock:
            return self._tcpdump(cmd[1:], self._path(redir[1]))

    def _timeout(self, argv: list[str]) -> tuple[int, bytes, bytes]:
        """`timeout N tcpdump ARGS`: capture for N seconds, then stop it as SIGTERM does."""
        try:
            seconds = float(argv[0])
        except (IndexError, ValueError):
            return _err(125, f"timeout: invalid time interval {argv[:1]}")
        if argv[1:2] != ["tcpdump"]:
            return _err(127, f"sim gateway: cannot run {' '.join(argv[1:])!r} under timeout")
        with self.lock:
            started = self._open_capture(argv[2:], None)
        if not isinstance(started, _Capture):
            return started
        time.sleep(seconds)
        with self.lock:
            stats = self._end_capture(started.pid)
        return 124, b"", (self._listening(started.iface) + stats).encode()

    @staticmethod
    def _listening(iface: str) -> str:
        return (f"tcpdump: listening on {iface}, link-type EN10MB (Ethernet), snapshot "
                "length 262144 bytes\n")

    def _tcpdump(self, args: list[str], log: Path) -> tuple[int, bytes, bytes]:
        """`nohup tcpdump ARGS > LOG 2>&1 &`: the shell prints the pid at once."""
        log.parent.mkdir(parents=True, exist_ok=True)
        started = self._open_capture(args, log)
        if isinstance(started, _Capture):
            log.write_text(self._listening(started.iface))
            return 0, f"{started.pid}\n".encode(), b""
        if isinstance(started, int):  # tcpdump starts, then dies: its error is in the log
            return 0, f"{started}\n".encode(), b""
        return started

    def _open_capture(self, args: list[str], log: Path | None):
        """A running capture; an error reply for arguments the sim does not take; or, for
        an interface the gateway does not have, the pid of a tcpdump that died at once
        (its error written to `log`, or returned as the reply without one)."""
        iface = path = None
        i = 0
        flags = {"-U", "-n", "--immediate-mode"}
        while i < len(args) and args[i].startswith("-"):
            if args[i] in flags:
                i += 1
            elif args[i] in ("-Z", "-B"):  # the user it runs as, its buffer: not simulated
                i += 2
            elif args[i] in ("-i", "-w"):
                if args[i] == "-i":
                    iface = args[i + 1]
                else:
                    path = args[i + 1]
                i += 2
            else:
                return _err(1, f"tcpdump: unsupported option {args[i]}")
        expr = " ".join(args[i:])
        m = re.fullmatch(r"(?:(?:(?:ether )?host (\S+)|\( host (\S+) or ip6 \)) and )?"
                         r"not (?:tcp )?port \d+|(?:ether )?host (\S+)", expr)
        if iface is None or path is None or (expr and not m):
            return _err(1, f"tcpdump: sim supports -i IF -w FILE [[ether] host IP|MAC and | "
                           f"( host IP or ip6 ) and] not tcp port N, got {args}")
        pid = self._next_pid
        self._next_pid += 1
        if iface != self.lan_interface:
            msg = f"tcpdump: {iface}: No such device exists\n"
            if log is None:
                return _err(1, msg)
            log.write_text(msg)
            return pid
        p = self._path(path)
        if not p.parent.is_dir():  # tcpdump does not make folders
            msg = f"tcpdump: {path}: No such file or directory\n"
            if log is None:
                return _err(1, msg)
            log.write_text(msg)
            return pid
        f = open(p, "wb")
        host = (m.group(1) or m.group(2) or m.group(3)) if m else None
        cap = _Capture(pid, iface, p, log, host, ["tcpdump", *args], f, PcapWriter(f),
                       ipv6=bool(m and m.group(2)))
        cap.writer.flush()
        self.captures[pid] = cap
        return cap

    def _end_capture(self, pid: int) -> str:
        """Stop a capture; tcpdump's closing report (also appended to its log)."""
        cap = self.captures.pop(pid)
        cap.writer.flush()
        cap.file.close()
        stats = (f"{cap.packets} packets captured\n{cap.packets} packets received by "
                 "filter\n0 packets dropped by kernel\n")
        if cap.log is not None:
            with open(cap.log, "a") as f:
                f.write(stats)
        return stats

    # -- nftables ---------------------------------------------------------------------
    # The harness's per-phone tables: `nft -f -` with its atomic (re)definition script,
    # `list tables`, `list table inet hil_<ip>`, `delete table inet hil_<ip>`.
    def _cmd_nft(self, args, stdin):
        if args == ["-f", "-"]:
            text = stdin.decode(errors="replace")
            defs = re.findall(r"^table inet (hil_[0-9_]+) \{(.*?)^\}", text, re.M | re.S)
            if len(defs) != 1:
                return _err(1, "sim gateway: nft -f - accepts one harness table definition")
            ip = _table_ip(defs[0][0])
            if ip is None:
                return _err(1, f"sim gateway: {defs[0][0]} is not a harness table name")
            body = defs[0][1]
            mac = re.search(r"ether saddr ([0-9a-f:]{17}) udp dport 443 drop", body)
            if f"ip saddr {ip} udp dport 443 drop" not in body and not mac:
                return _err(1, "sim gateway: a harness table must drop the phone's UDP 443")
            cut = set()
            if f"ip saddr {ip} drop" in body and f"ip daddr {ip} drop" in body:
                cut.add(4)
            if mac:
                for family in (4, 6):
                    if f"ether saddr {mac.group(1)} meta nfproto ipv{family} drop" in body:
                        cut.add(family)
            self.tables[ip] = cut
            self.table_text[ip] = "".join(f"\t\t{line.strip()}\n" for line in body.splitlines()
                                          if "drop" in line)
            return OK
        if args == ["list", "tables"]:
            names = sorted([*map(_table_name, self.tables), *self.other_tables])
            return 0, "".join(f"table inet {n}\n" for n in names).encode(), b""
        if len(args) == 4 and args[:3] == ["add", "table", "inet"]:
            if _table_ip(args[3]) is not None:
                return _err(1, "sim gateway: a harness table is defined with nft -f -")
            self.other_tables.add(args[3])  # adding a table that exists is no error
            return OK
        if len(args) == 4 and args[3] in self.other_tables and args[:3] in (
                ["list", "table", "inet"], ["delete", "table", "inet"]):
            if args[0] == "delete":
                self.other_tables.discard(args[3])
                return OK
            return 0, f"table inet {args[3]} {{\n}}\n".encode(), b""
        if len(args) == 4 and args[:3] in (["list", "table", "inet"],
                                            ["delete", "table", "inet"]):
            ip = _table_ip(args[3])
            if ip not in self.tables:
                return _err(1, f"Error: No such file or directory\n{' '.join(args)}")
            if args[0] == "delete":
                del self.tables[ip]
                self.table_text.pop(ip, None)
                return OK
            return 0, self._listing(ip).encode(), b""
        return _err(1, f"sim gateway: unsupported nft command {args}")

    def _listing(self, ip: str) -> str:
        return (f"table inet {_table_name(ip)} {{\n\tchain forward {{\n\t\ttype filter hook "
                "forward priority filter - 10; policy accept;\n"
                + self.table_text.get(ip, "") + "\t}\n}\n")

    # -- neighbours -------------------------------------------------------------------
    def _cmd_ip(self, args, stdin):
        """`ip neigh show dev IF`: the addresses seen on the LAN with their MAC."""
        if args[:2] != ["neigh", "show"] or args[2:] != ["dev", self.lan_interface]:
            return _err(1, f"sim gateway: ip supports only 'neigh show dev "
                           f"{self.lan_interface}', got {args}")
        return 0, "".join(f"{a} lladdr {m} REACHABLE\n"
                          for a, m in sorted(self.neigh.items())).encode(), b""


def _table_name(ip: str) -> str:
    return "hil_" + ip.replace(".", "_")


def _table_ip(name: str) -> str | None:
    m = re.fullmatch(r"hil_(\d+)_(\d+)_(\d+)_(\d+)", name)
    return ".".join(m.groups()) if m else None


class _SftpFile(paramiko.SFTPHandle):
    pass


class SimGatewaySftp(paramiko.SFTPServerInterface):
    """The gateway's files over SFTP, read-only except `remove` (what the harness uses)."""

    def __init__(self, server, gateway: SimGateway):
        super().__init__(server)
        self.gateway = gateway

    def _local(self, path: str) -> Path:
        return self.gateway._path(posixpath_abs(path))

    def _stat(self, path: str):
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._local(path)))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    stat = lstat = _stat

    def open(self, path, flags, attr):
        if flags & (os.O_WRONLY | os.O_RDWR):
            return paramiko.SFTP_PERMISSION_DENIED
        try:
            f = open(self._local(path), "rb")  # the handle closes it
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        handle = _SftpFile(flags)
        handle.filename = path
        handle.readfile = f
        return handle

    def list_folder(self, path):
        try:
            local = self._local(path)
            return [paramiko.SFTPAttributes.from_stat(os.stat(local / n), n)
                    for n in os.listdir(local)]
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def remove(self, path):
        try:
            os.unlink(self._local(path))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)
        return paramiko.SFTP_OK

    def canonicalize(self, path):
        return posixpath_abs(path)


def posixpath_abs(path: str) -> str:
    """An SFTP path made absolute (relative to /) and normalized, never above /."""
    return posixpath.normpath("/" + path.lstrip("/")) if path else "/"
