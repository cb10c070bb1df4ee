"""The lab gateway: the Linux access point the phones join, driven over SSH.

It runs what a stock Linux gateway has: `date`, `printenv`, `mkdir`, `tee`, `cat`, `tail`,
`rm`, `kill`, `sha256sum`, `tcpdump`, `nft`, `ip neigh`, and serves SFTP. Every action is per
phone (by its MAC where the bench gives it, else by its IPv4 address), so several models can
share a gateway.

Promises:
- `start_capture` runs `tcpdump -U --immediate-mode` in the background without a pty (it
  survives the SSH connection that started it), writing a pcap on the gateway, and returns
  only once tcpdump says it is listening, so no packet of the phases that follow is missed.
  `--immediate-mode` matters: without it Linux hands packets to tcpdump in blocks, on a
  timeout of about a second, and the packets of the last second before the stop are lost
  with the unfinished block (the netns bench showed it). `-B 16384` (KiB) gives the kernel
  room for a burst while tcpdump writes packet by packet; drops it still reports are
  logged as a warning by `stop_capture` (see `dropped_packets`). `-Z <login user>` keeps tcpdump
  from switching to the `tcpdump` user, who may not write to the capture folder. The
  filter keeps one phone (or the whole LAN) and excludes the port of the harness's own SSH
  session as the gateway sees it. tcpdump's pid is recorded on the gateway
  (`hil-capture-<phone>.pid` in the capture folder; a capture of the whole LAN for a
  phone's session is `hil-capture-lan-<phone>.pid`, so several stations can capture the
  LAN at once), so a capture a crashed run left behind is found and stopped by the next
  capture of that phone.
- `stop_capture` kills that pid explicitly (after checking it is still that tcpdump),
  fetches the file over SFTP (resuming after a dropped connection) and checks it against
  the gateway's own sha256; a mismatch raises and the remote file is kept. A capture file
  that vanished from the gateway is a clear error, not an empty capture. Gateways without
  an SFTP server (e.g. dropbear without sftp-server) are read with `tail -c`, also resumable.
- The uplink of a phone is cut and restored through an nftables table of its own,
  `inet hil_<ip>` (e.g. `hil_10_20_0_31`), hooked on forward, matching that phone only:
  by its MAC (`ether saddr`, one rule per family, IPv4 and IPv6, and back to its IPv4 and
  known IPv6 addresses) when the harness knows it, else by its IPv4 address. While the
  harness works with a phone the table also drops the phone's forwarded UDP 443 (both
  families with a MAC), so apps fall back from QUIC to TLS over TCP and the SNI is
  readable. `neighbours(mac)` reads the addresses the gateway's neighbour table has for
  a MAC (the phone's IPv6 addresses come and go: privacy addresses rotate).
  `restore_uplink` removes the cut; once no capture of the phone runs, it removes the
  whole table. The same call at the start of a run removes a table a crash left behind;
  `reconcile(phones)` does that and stops their (and the LAN's) stale captures at once.
- Times (`now`) are on the gateway's clock, the clock of the capture's timestamps.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import posixpath
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from hil.remote.ssh import SshError, SshHost, quote_argv

log = logging.getLogger("hil.gateway")

NFT_FAMILY = "inet"
NFT_PREFIX = "hil_"
CUT_COMMENT = "hil: uplink cut"
QUIC_COMMENT = "hil: no QUIC, apps fall back to TLS over TCP"
FETCH_ATTEMPTS = 4
BUFFER_KIB = 16384  # tcpdump's kernel buffer: a phone's upload burst fits while it writes
_CHUNK = 1 << 20


class GatewayError(Exception):
    """A gateway action that did not do what it promises."""


@dataclass
class RemoteCapture:
    """A tcpdump running on the gateway for one phone (or, `phone_ip` None, the LAN)."""

    phone_ip: str | None
    path: str
    pid: int
    started: float  # gateway clock
    owner: str | None = None  # a LAN capture: the phone whose session it serves

    @property
    def key(self) -> str:
        """Which capture this is, among those that may run at once on the gateway."""
        return _capture_key(self.phone_ip, self.owner)

    @property
    def log_path(self) -> str:
        return self.path + ".log"


def nft_table(phone_ip: str) -> str:
    """The name of the harness's nft table for one phone: `hil_10_20_0_31`."""
    return NFT_PREFIX + str(ipaddress.IPv4Address(phone_ip)).replace(".", "_")


def nft_table_phone(table: str) -> str | None:
    """The phone address a harness table is for, or None for any other table."""
    if not table.startswith(NFT_PREFIX):
        return None
    try:
        return str(ipaddress.IPv4Address(table[len(NFT_PREFIX):].replace("_", ".")))
    except ValueError:
        return None


def nft_script(phone_ip: str, cut: bool, mac: str | None = None,
               ipv6: tuple[str, ...] = ()) -> str:
    """An `nft -f` script that (re)defines a phone's table atomically.

    With the phone's MAC, the phone is matched by it (`ether saddr`: the source of the
    frame it sent, which the forward hook of a routed gateway still sees for a packet that
    came in on the LAN interface), so its UDP 443 and, when `cut`, everything it sends are
    dropped for IPv4 and IPv6 alike (one rule per family, so a listing shows both), and
    what comes back to its IPv4 address and to its known IPv6 addresses (`ipv6`: the
    gateway's neighbour table) is dropped too. Without a MAC, by its IPv4 address only.

    The first line creates the table if it is missing, so that the delete that follows
    cannot fail; the whole file is one transaction.
    """
    ip = str(ipaddress.IPv4Address(phone_ip))
    t = nft_table(ip)
    if mac:
        rules = [f'ether saddr {mac} udp dport 443 drop comment "{QUIC_COMMENT}"']
    else:
        rules = [f'ip saddr {ip} udp dport 443 drop comment "{QUIC_COMMENT}"']
    if cut and mac:
        rules += [f'ether saddr {mac} meta nfproto ipv4 drop comment "{CUT_COMMENT} (IPv4)"',
                  f'ether saddr {mac} meta nfproto ipv6 drop comment "{CUT_COMMENT} (IPv6)"',
                  f'ip daddr {ip} drop comment "{CUT_COMMENT} (IPv4)"']
        v6 = sorted({str(ipaddress.IPv6Address(a)) for a in ipv6})
        if v6:
            rules.append(f'ip6 daddr {{ {", ".join(v6)} }} drop comment "{CUT_COMMENT} (IPv6)"')
    elif cut:
        rules += [f'ip saddr {ip} drop comment "{CUT_COMMENT}"',
                  f'ip daddr {ip} drop comment "{CUT_COMMENT}"']
    body = "".join(f"\t\t{r}\n" for r in rules)
    return (f"table {NFT_FAMILY} {t}\n"
            f"delete table {NFT_FAMILY} {t}\n"
            f"table {NFT_FAMILY} {t} {{\n"
            "\tchain forward {\n"
            "\t\ttype filter hook forward priority filter - 10; policy accept;\n"
            f"{body}"
            "\t}\n"
            "}\n")


def neighbours(listing: str, mac: str) -> set[str]:
    """The addresses an `ip neigh show` listing maps to `mac` (reachable, stale, delayed
    or probing entries: not failed or incomplete ones)."""
    out = set()
    for line in listing.splitlines():
        words = line.split()
        if "lladdr" not in words or words[-1] in ("FAILED", "INCOMPLETE"):
            continue
        i = words.index("lladdr")
        if i + 1 < len(words) and words[i + 1].lower() == mac.lower():
            try:
                out.add(str(ipaddress.ip_address(words[0])))
            except ValueError:
                continue
    return out


def check_mac(mac: str | None) -> str | None:
    """A MAC as nft and tcpdump take it (lower case, colons), or GatewayError."""
    if mac is None:
        return None
    parts = mac.replace("-", ":").lower().split(":")
    if len(parts) != 6 or not all(len(p) == 2 and set(p) <= set("0123456789abcdef")
                                  for p in parts):
        raise GatewayError(f"{mac!r} is not a phone's MAC address")
    return ":".join(parts)


def nft_tables(listing: str) -> set[str]:
    """The harness's tables in an `nft list tables` listing."""
    out = set()
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table" and parts[1] == NFT_FAMILY \
                and nft_table_phone(parts[2]):
            out.add(parts[2])
    return out


def dropped_packets(stats: str) -> int:
    """Packets tcpdump says it lost ("N packets dropped by kernel"/"by interface")."""
    n = 0
    for line in stats.splitlines():
        words = line.split()
        if len(words) >= 5 and words[0].isdigit() and words[1:4] == ["packets", "dropped",
                                                                       "by"]:
            n += int(words[0])
    return n


def _check_ip(phone_ip: str | None) -> str | None:
    if phone_ip is None:
        return None
    try:
        return str(ipaddress.IPv4Address(phone_ip))
    except ValueError:
        raise GatewayError(f"{phone_ip!r} is not a phone's IPv4 address") from None


class Gateway:
    def __init__(self, ssh: SshHost, lan_interface: str, capture_dir: str):
        self.ssh = ssh
        self.lan_interface = lan_interface
        self.capture_dir = capture_dir.rstrip("/") or "/"
        self._offset: float | None = None
        self.clock_uncertainty = 0.0  # seconds; known once clock_offset() has run
        self._ssh_port: int | None = None
        self._running: dict[str, RemoteCapture] = {}  # by RemoteCapture.key
        self._made: set[str] = set()  # the phones whose table this driver wrote
        self._macs: dict[str, str] = {}  # phone IPv4 -> its MAC, as the harness gave it

    # -- clock -----------------------------------------------------------------------
    def now(self) -> float:
        """The gateway's wall clock, in seconds since the epoch."""
        res = self.ssh.run(["date", "+%s.%N"], idempotent=True)
        try:
            return float(res.text.strip())
        except ValueError:
            raise GatewayError(f"{self.ssh.where}: 'date +%s.%N' answered {res.text!r}, "
                               "not a time") from None

    def clock_offset(self) -> float:
        """Gateway clock minus this host's clock, measured once, NTP style: the middle of
        the fastest of a few round trips. `clock_uncertainty` bounds its error."""
        if self._offset is None:
            best = None
            for _ in range(5):
                t0 = time.time()
                remote = self.now()
                t1 = time.time()
                if best is None or t1 - t0 < best[0]:
                    best = (t1 - t0, remote - (t0 + t1) / 2)
            self.clock_uncertainty = best[0] / 2
            self._offset = best[1]
            log.debug("gateway clock offset %.4f s (+/- %.4f s)", self._offset,
                      self.clock_uncertainty)
        return self._offset

    def local_to_gateway(self, t: float) -> float:
        return t + self.clock_offset()

    # -- capture ---------------------------------------------------------------------
    def _state_path(self, key: str) -> str:
        return posixpath.join(self.capture_dir, f"hil-capture-{key}.pid")

    def ssh_port(self) -> int:
        """The port of the harness's SSH session as the gateway sees it (to exclude it)."""
        if self._ssh_port is None:
            text = self.ssh.run(["printenv", "SSH_CONNECTION"], check=False,
                                idempotent=True).text.split()
            try:
                self._ssh_port = int(text[3])
            except (IndexError, ValueError):
                log.warning("%s: SSH_CONNECTION is %r; excluding port 22 from captures",
                            self.ssh.where, " ".join(text))
                self._ssh_port = 22
        return self._ssh_port

    def start_capture(self, phone_ip: str | None, name: str, ready_timeout: float = 10.0,
                      owner: str | None = None, mac: str | None = None) -> RemoteCapture:
        """Start tcpdump for one phone (`None`: every device on the LAN, for the session
        of phone `owner` if given). With the phone's `mac` the capture takes its frames by
        MAC (`ether host`: IPv4, IPv6, ARP and neighbour discovery alike). Without a MAC it
        takes the phone's IPv4 address and every IPv6 frame on the LAN: IPv6 the phone sends
        is then in the capture, where the MAC its IPv4 frames carry shows it (and the claims
        judged on it are ERRORs naming the addresses) instead of leaving it unseen."""
        phone_ip = _check_ip(phone_ip)
        mac = check_mac(mac)
        if mac and phone_ip:
            self._macs[phone_ip] = mac
        owner = _check_ip(owner) if phone_ip is None else None
        key = _capture_key(phone_ip, owner)
        if "/" in name or not name.strip(". "):
            raise GatewayError(f"capture name {name!r} must be a plain file name")
        self._stop_stale(key)
        if phone_ip is not None:
            self._ensure_table(phone_ip)
        path = posixpath.join(self.capture_dir, f"{name}.pcap")
        self.ssh.run(["mkdir", "-p", self.capture_dir])
        if phone_ip is None:
            who = []
        elif mac:
            who = ["ether", "host", mac]
        else:
            who = ["(", "host", phone_ip, "or", "ip6", ")"]
        expr = (who + ["and"] if who else []) + ["not", "tcp", "port", str(self.ssh_port())]
        tcpdump = ["tcpdump", "-U", "--immediate-mode", "-B", str(BUFFER_KIB), "-n",
                   "-Z", self.ssh.user, "-i", self.lan_interface, "-w", path, *expr]
        line = (f"nohup {quote_argv(tcpdump)} > {quote_argv([path + '.log'])} 2>&1 "
                "< /dev/null & echo $!")
        res = self.ssh.run_line(line, tuple(tcpdump))
        try:
            pid = int(res.text.strip())
        except ValueError:
            raise GatewayError(f"{self.ssh.where}: starting tcpdump printed {res.text!r}, "
                               "not a pid") from None
        cap = RemoteCapture(phone_ip, path, pid, started=0.0, owner=owner)
        self.ssh.run(["tee", self._state_path(key)], stdin=f"{pid} {path}\n".encode())
        self._running[key] = cap
        deadline = time.monotonic() + ready_timeout
        while True:
            text = self.ssh.run(["cat", cap.log_path], check=False, idempotent=True).text
            if "listening on" in text:
                break
            if not self._is_capture(pid, path):
                self._forget(cap)
                raise GatewayError(f"{self.ssh.where}: tcpdump on {self.lan_interface} exited "
                                   f"at start: {text.strip() or '(no output)'}")
            if time.monotonic() > deadline:
                self._kill(cap)
                self._forget(cap)
                raise GatewayError(f"{self.ssh.where}: tcpdump did not report 'listening' "
                                   f"within {ready_timeout} s")
            time.sleep(0.02)
        cap.started = self.now()
        log.info("capture of %s started on %s (pid %d, %s)", phone_ip or "the LAN",
                 self.lan_interface, pid, path)
        return cap

    def stop_capture(self, cap: RemoteCapture, dest: Path, timeout: float = 10.0) -> Path:
        """Stop tcpdump, fetch the capture to `dest`, verify its sha256; return `dest`."""
        try:
            if self._is_capture(cap.pid, cap.path):
                self._kill(cap, timeout)
            else:
                log.warning("%s: tcpdump pid %d had already exited: %s", self.ssh.where,
                            cap.pid, self.capture_stats(cap).strip() or "(no output)")
        finally:
            self._forget(cap)
        self._check_drops(cap)
        return self.fetch(cap.path, dest)

    def capture_stats(self, cap: RemoteCapture) -> str:
        """What tcpdump said when it stopped (packets captured / dropped by kernel)."""
        return self.ssh.run(["cat", cap.log_path], check=False, idempotent=True).text

    def _check_drops(self, cap: RemoteCapture) -> None:
        dropped = dropped_packets(self.capture_stats(cap))
        if dropped:
            log.warning("%s: tcpdump dropped %d packets of %s: the capture is incomplete",
                        self.ssh.where, dropped, cap.path)

    def fetch(self, path: str, dest: Path) -> Path:
        """Copy a finished file from the gateway to `dest`, checked against its sha256.

        A connection that drops during the copy is reopened and the copy resumes where it
        stopped; `dest` appears only once the checksums agree.
        """
        res = self.ssh.run(["sha256sum", path], check=False, idempotent=True)
        if res.status != 0:
            err = res.stderr.decode(errors="replace").strip()
            if "No such file" in err:
                raise GatewayError(f"{self.ssh.where}: capture {path} is not on the gateway "
                                   "any more (deleted while tcpdump wrote it?); nothing to "
                                   "fetch, the evidence of this run is lost") from None
            raise GatewayError(f"{self.ssh.where}: sha256sum {path} failed: {err}")
        remote_sum = res.text.split()[0] if res.text.split() else ""
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_suffix(dest.suffix + ".part")
        part.unlink(missing_ok=True)
        reader = self._read_sftp
        for attempt in range(1, FETCH_ATTEMPTS + 1):
            try:
                reader(path, part)
                break
            except _NoSftp as e:
                log.warning("%s: %s; fetching %s with tail -c", self.ssh.where, e, path)
                reader = self._read_tail
            except (SshError, OSError, EOFError, paramiko.SSHException) as e:
                if isinstance(e, FileNotFoundError) or attempt == FETCH_ATTEMPTS:
                    raise GatewayError(f"{self.ssh.where}: fetching {path} failed after "
                                       f"{part.stat().st_size if part.exists() else 0} bytes: "
                                       f"{e}") from None
                log.warning("%s: fetch of %s interrupted at %d bytes (%s); resuming",
                            self.ssh.where, path, part.stat().st_size, e)
                self.ssh.drop()
        else:  # only _NoSftp fell through every attempt
            raise GatewayError(f"{self.ssh.where}: could not fetch {path}")
        h = hashlib.sha256()
        with open(part, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        local_sum = h.hexdigest()
        if local_sum != remote_sum:
            raise GatewayError(f"{self.ssh.where}: fetched {path} has sha256 {local_sum}, "
                               f"the gateway says {remote_sum}; the remote file is kept")
        part.replace(dest)
        log.info("capture %s fetched: %d bytes, sha256 %s", path, dest.stat().st_size,
                 local_sum[:12])
        return dest

    def _read_sftp(self, path: str, part: Path) -> None:
        try:
            sftp = self.ssh.sftp()
        except SshError as e:
            if self.ssh.connected:  # the connection is fine: the host has no SFTP server
                raise _NoSftp(str(e)) from None
            raise
        try:
            size = sftp.stat(path).st_size
        except FileNotFoundError:
            raise GatewayError(f"{self.ssh.where}: capture {path} is not on the gateway any "
                               "more (deleted?); nothing to fetch") from None
        with open(part, "ab") as out:
            offset = out.tell()
            if offset >= size:
                return
            with sftp.open(path, "rb") as f:
                f.seek(offset)
                f.prefetch(size - offset)
                while offset < size:
                    chunk = f.read(min(_CHUNK, size - offset))
                    if not chunk:
                        raise EOFError(f"{path} ended at {offset} of {size} bytes")
                    out.write(chunk)
                    offset += len(chunk)

    def _read_tail(self, path: str, part: Path) -> None:
        with open(part, "ab") as out:
            res = self.ssh.run(["tail", "-c", f"+{out.tell() + 1}", path], check=False,
                               idempotent=True)
            if res.status != 0:
                raise GatewayError(f"{self.ssh.where}: reading {path}: "
                                   f"{res.stderr.decode(errors='replace').strip()}")
            out.write(res.stdout)

    def _is_capture(self, pid: int, path: str) -> bool:
        """Whether `pid` is still the tcpdump writing `path` (not exited, not a reused pid)."""
        res = self.ssh.run(["cat", f"/proc/{pid}/cmdline"], check=False, idempotent=True)
        argv = res.stdout.split(b"\0")
        return (res.status == 0 and posixpath.basename(argv[0].decode(errors="replace"))
                == "tcpdump" and path.encode() in argv)

    def _kill(self, cap: RemoteCapture, timeout: float = 10.0) -> None:
        # a second TERM is harmless: run it again if a dropped connection cut it off
        self.ssh.run(["kill", "-TERM", str(cap.pid)], check=False, idempotent=True)
        deadline = time.monotonic() + timeout
        while self._is_capture(cap.pid, cap.path):
            if time.monotonic() > deadline:
                self.ssh.run(["kill", "-KILL", str(cap.pid)], check=False)
                raise GatewayError(f"{self.ssh.where}: tcpdump pid {cap.pid} ignored SIGTERM "
                                   f"for {timeout} s; killed")
            time.sleep(0.02)

    def _forget(self, cap: RemoteCapture) -> None:
        if self._running.get(cap.key) is cap:
            del self._running[cap.key]
        state = self._state_path(cap.key)
        text = self.ssh.run(["cat", state], check=False, idempotent=True).text
        if text.split()[:1] == [str(cap.pid)]:
            self.ssh.run(["rm", "-f", state], check=False)

    def _stop_stale(self, key: str) -> str | None:
        """Stop the capture `key` (a phone, or the LAN) an earlier run left running; say
        what it did."""
        if key in self._running:
            raise GatewayError(f"{self.ssh.where}: a capture of {key} is already running "
                               f"({self._running[key].path})")
        state = self._state_path(key)
        res = self.ssh.run(["cat", state], check=False, idempotent=True)
        if res.status != 0:
            return None
        parts = res.text.split(maxsplit=1)
        done = None
        if len(parts) == 2 and parts[0].isdigit():
            stale = RemoteCapture(None, parts[1].strip(), int(parts[0]), 0.0)
            if self._is_capture(stale.pid, stale.path):
                self._kill(stale)
                done = (f"stopped a capture left running by an earlier run (pid {stale.pid}, "
                        f"{stale.path}; the file is kept on the gateway)")
                log.warning("%s: %s", self.ssh.where, done)
        self.ssh.run(["rm", "-f", state], check=False)
        return done

    # -- uplink ----------------------------------------------------------------------
    def _tables(self) -> set[str]:
        res = self.ssh.run(["nft", "list", "tables"], idempotent=True)
        return nft_tables(res.text)

    def _listing(self, table: str) -> str | None:
        res = self.ssh.run(["nft", "list", "table", NFT_FAMILY, table], check=False,
                           idempotent=True)
        return res.text if res.status == 0 else None

    def _apply(self, phone_ip: str, cut: bool) -> None:
        mac = self._macs.get(phone_ip)
        v6 = tuple(a for a in self.neighbours(mac) if ":" in a) if (cut and mac) else ()
        self.ssh.run(["nft", "-f", "-"], stdin=nft_script(phone_ip, cut, mac, v6).encode())
        self._made.add(phone_ip)

    def neighbours(self, mac: str | None) -> set[str]:
        """The addresses the gateway's neighbour table (`ip neigh show dev LAN`, IPv4 and
        IPv6) maps to `mac` now: the phone's IPv6 addresses as it uses them."""
        if not mac:
            return set()
        res = self.ssh.run(["ip", "neigh", "show", "dev", self.lan_interface], check=False,
                           idempotent=True)
        if res.status != 0:
            log.warning("%s: ip neigh show dev %s failed: %s", self.ssh.where,
                        self.lan_interface, res.stderr.decode(errors="replace").strip())
            return set()
        return neighbours(res.text, check_mac(mac))

    def _ensure_table(self, phone_ip: str) -> None:
        if nft_table(phone_ip) not in self._tables():
            self._apply(phone_ip, cut=False)

    def is_cut(self, phone_ip: str) -> bool:
        listing = self._listing(nft_table(phone_ip))
        return listing is not None and CUT_COMMENT in listing

    def cut_uplink(self, phone_ip: str, mac: str | None = None) -> None:
        """From now on, nothing from or to this phone crosses the gateway: with its `mac`
        (or the one its capture was started with), all it sends, IPv4 and IPv6; without,
        its IPv4 traffic only."""
        phone_ip = _check_ip(phone_ip)
        if check_mac(mac):
            self._macs[phone_ip] = check_mac(mac)
        self._apply(phone_ip, cut=True)
        listing = self._listing(nft_table(phone_ip)) or ""
        wanted = ([f"{CUT_COMMENT} (IPv4)", f"{CUT_COMMENT} (IPv6)"]
                  if phone_ip in self._macs else [CUT_COMMENT])
        missing = [w for w in wanted if w not in listing]
        if missing:
            raise GatewayError(f"{self.ssh.where}: nft table {NFT_FAMILY} "
                               f"{nft_table(phone_ip)} has no rule {', '.join(missing)!r} "
                               "after cutting")
        log.info("uplink of %s cut", phone_ip)

    def restore_uplink(self, phone_ip: str) -> None:
        """This phone's traffic crosses the gateway again (no-op if it was not cut).

        With no capture of the phone running, the phone's table is removed altogether (a
        table found at the start of a run is one a crash left behind).
        """
        phone_ip = _check_ip(phone_ip)
        table = nft_table(phone_ip)
        if table not in self._tables():
            return
        was_cut = self.is_cut(phone_ip)
        if phone_ip not in self._made:
            log.warning("%s: found nft table %s %s left by an earlier run%s; removing it",
                        self.ssh.where, NFT_FAMILY, table,
                        " (its uplink was cut)" if was_cut else "")
        if phone_ip in self._running:
            if was_cut:
                self._apply(phone_ip, cut=False)
        else:
            self.ssh.run(["nft", "delete", "table", NFT_FAMILY, table])
            self._made.discard(phone_ip)
            log.debug("removed nft table %s %s", NFT_FAMILY, table)
        if was_cut:
            log.info("uplink of %s restored", phone_ip)
        if self.is_cut(phone_ip):
            raise GatewayError(f"{self.ssh.where}: {phone_ip} is still cut after restoring")

    def cut_phones(self) -> set[str]:
        """The phones whose uplink a harness table cuts now."""
        return {nft_table_phone(t) for t in self._tables()
                if CUT_COMMENT in (self._listing(t) or "")}

    def reconcile(self, phone_ips) -> list[str]:
        """Start of a run: stop the captures (of these phones and of the whole LAN) and
        remove the nft tables (of these phones) an earlier run left; say what it did."""
        done = []
        what = self._stop_stale(_capture_key(None, None))
        if what:
            done.append(f"LAN: {what}")
        for ip in phone_ips:
            ip = _check_ip(ip)
            for key in (_capture_key(ip, None), _capture_key(None, ip)):
                what = self._stop_stale(key)
                if what:
                    done.append(f"{key}: {what}")
            if ip not in self._running and nft_table(ip) in self._tables():
                cut = self.is_cut(ip)
                self.ssh.run(["nft", "delete", "table", NFT_FAMILY, nft_table(ip)])
                msg = (f"removed nft table {NFT_FAMILY} {nft_table(ip)} left by an earlier "
                       f"run{' (its uplink was cut)' if cut else ''}")
                log.warning("%s: %s", self.ssh.where, msg)
                done.append(f"{ip}: {msg}")
        return done


def _capture_key(phone_ip: str | None, owner: str | None) -> str:
    """`10.20.0.31` (a phone), `lan-10.20.0.31` (the LAN for its session), `lan`."""
    return phone_ip or (f"lan-{owner}" if owner else "lan")


class _NoSftp(Exception):
    """The gateway accepts SSH but serves no SFTP."""


__all__ = ["Gateway", "GatewayError", "RemoteCapture", "SshError", "nft_script", "nft_table"]
