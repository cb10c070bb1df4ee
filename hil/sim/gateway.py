"""The simulated lab gateway: what a Linux AP running tcpdump and nftables does.

It answers the command lines a real gateway gets over SSH (`date`, `mkdir -p`, `nohup
tcpdump ... & echo $!`, `kill`, `cat`, `sha256sum`, `nft`, `rm -f`) and holds the two
things the rest of the simulated bench asks it: which phones' uplinks are cut (the
`inet hil` table's `cut` set) and where to write the packets phones send (the running
captures, as pcap files in its own folder). Anything else is answered like a shell that
does not know the command (status 127), so a driver that sends something new fails loudly.

The simulated phones put frames on the gateway's LAN with `deliver()`; each running
capture whose `host` filter matches writes them, flushed per packet as `tcpdump -U` does.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hil.capture.pcap import PcapWriter

OK = (0, b"", b"")


def _err(status: int, msg: str) -> tuple[int, bytes, bytes]:
    return status, b"", (msg.rstrip("\n") + "\n").encode()


@dataclass
class _Capture:
    pid: int
    iface: str
    path: Path
    log: Path
    host: str | None
    file: BinaryIO
    writer: PcapWriter
    packets: int = 0


class SimGateway:
    """State and command interpreter of one simulated gateway; thread-safe."""

    def __init__(self, root: Path, lan_interface: str, cut_effective: bool = True):
        self.root = root  # the gateway's filesystem: remote paths are mapped below it
        self.lan_interface = lan_interface
        self.lock = threading.RLock()
        self.cut: set[str] = set()
        self.table = False
        self.captures: dict[int, _Capture] = {}
        self.cut_effective = cut_effective  # fault knob (cut_ineffective): cuts drop nothing
        self.deaf = False  # fault knob (deaf_sniffer): captures record nothing
        self._next_pid = 4100

    # -- what the rest of the sim asks ------------------------------------------------
    def is_cut(self, ip: str) -> bool:
        with self.lock:
            return self.cut_effective and self.table and ip in self.cut

    def deliver(self, ts: float, frame: bytes, src: str, dst: str) -> None:
        with self.lock:
            if self.deaf:
                return
            for cap in self.captures.values():
                if cap.host is None or cap.host in (src, dst):
                    cap.writer.write(ts, frame)
                    cap.writer.flush()
                    cap.packets += 1

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

    def _cmd_cat(self, args, stdin):
        out = b""
        for a in args:
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

    def _tcpdump(self, args: list[str], log: Path) -> tuple[int, bytes, bytes]:
        iface = path = None
        i = 0
        flags = {"-U", "-n"}
        while i < len(args) and args[i].startswith("-"):
            if args[i] in flags:
                i += 1
            elif args[i] in ("-i", "-w"):
                if args[i] == "-i":
                    iface = args[i + 1]
                else:
                    path = args[i + 1]
                i += 2
            else:
                return _err(1, f"tcpdump: unsupported option {args[i]}")
        expr = " ".join(args[i:])
        m = re.fullmatch(r"(?:host (\S+) and )?not port 22|host (\S+)", expr)
        if iface is None or path is None or (expr and not m):
            return _err(1, f"tcpdump: sim supports -i IF -w FILE [host IP and] not port 22,"
                           f" got {args}")
        pid = self._next_pid
        self._next_pid += 1
        log.parent.mkdir(parents=True, exist_ok=True)
        if iface != self.lan_interface:
            log.write_text(f"tcpdump: {iface}: No such device exists\n")
            return 0, f"{pid}\n".encode(), b""  # the shell prints the pid; tcpdump then dies
        p = self._path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        f = open(p, "wb")
        host = (m.group(1) or m.group(2)) if m else None
        cap = _Capture(pid, iface, p, log, host, f, PcapWriter(f))
        cap.writer.flush()
        self.captures[pid] = cap
        log.write_text(f"tcpdump: listening on {iface}, link-type EN10MB (Ethernet), "
                       "snapshot length 262144 bytes\n")
        return 0, f"{pid}\n".encode(), b""

    def _end_capture(self, pid: int) -> None:
        cap = self.captures.pop(pid)
        cap.writer.flush()
        cap.file.close()
        with open(cap.log, "a") as f:
            f.write(f"{cap.packets} packets captured\n{cap.packets} packets received by "
                    "filter\n0 packets dropped by kernel\n")

    # -- nftables ---------------------------------------------------------------------
    def _cmd_nft(self, args, stdin):
        if args == ["-f", "-"]:
            text = stdin.decode(errors="replace")
            if not re.search(r"table inet hil\s*{", text) or "set cut" not in text:
                return _err(1, "sim gateway: nft -f - accepts only the harness's inet hil table")
            self.table = True
            return OK
        if args == ["list", "table", "inet", "hil"]:
            if not self.table:
                return _err(1, "Error: No such file or directory\nlist table inet hil")
            return 0, self._listing().encode(), b""
        if args == ["list", "set", "inet", "hil", "cut"]:
            if not self.table:
                return _err(1, "Error: No such file or directory\nlist set inet hil cut")
            return 0, self._set_listing().encode(), b""
        if args == ["delete", "table", "inet", "hil"]:
            if not self.table:
                return _err(1, "Error: No such file or directory")
            self.table, self.cut = False, set()
            return OK
        if len(args) == 6 and args[0] in ("add", "delete") and args[1:5] == [
                "element", "inet", "hil", "cut"]:
            if not self.table:
                return _err(1, "Error: No such file or directory")
            elems = {e.strip() for e in args[5].strip("{} ").split(",") if e.strip()}
            if args[0] == "add":
                self.cut |= elems
            else:
                if not elems <= self.cut:
                    return _err(1, "Error: Could not process rule: No such file or directory")
                self.cut -= elems
            return OK
        return _err(1, f"sim gateway: unsupported nft command {args}")

    def _set_listing(self) -> str:
        elems = ""
        if self.cut:
            elems = f"\t\telements = {{ {', '.join(sorted(self.cut))} }}\n"
        return ("table inet hil {\n\tset cut {\n\t\ttype ipv4_addr\n" + elems + "\t}\n}\n")

    def _listing(self) -> str:
        return self._set_listing()
