"""The lab gateway: the Linux access point the phones join, driven over SSH.

It runs what a stock Linux gateway has: `date`, `tcpdump`, `nft`, `kill`, `cat`,
`sha256sum`. Every action is per phone (by IP), so several models can share a gateway.

Promises:
- `start_capture` returns only once tcpdump says it is listening, so no packet of the
  phases that follow is missed; the capture excludes SSH (the harness's own traffic).
- `stop_capture` stops tcpdump, then fetches the file and checks it against the gateway's
  own sha256; a mismatch raises and the remote file is kept.
- `cut_uplink(ip)` drops forwarded traffic to and from that phone through an nftables table
  owned by the harness (`inet hil`); `restore_uplink(ip)` undoes it and is idempotent.
  The same table drops forwarded UDP 443, so apps fall back from QUIC to TLS over TCP.
- Times (`now`) are on the gateway's clock, the clock of the capture's timestamps.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from hil.remote.ssh import SshError, SshHost, quote_argv

log = logging.getLogger("hil.gateway")

NFT_TABLE = ("inet", "hil")
NFT_SET = "cut"
NFT_RULESET = """\
table inet hil {
    set cut {
        type ipv4_addr
        comment "phones whose uplink the hil harness has cut"
    }
    chain forward {
        type filter hook forward priority filter - 10; policy accept;
        ip saddr @cut drop
        ip daddr @cut drop
        udp dport 443 drop
    }
}
"""


class GatewayError(Exception):
    """A gateway action that did not do what it promises."""


@dataclass
class RemoteCapture:
    """A tcpdump running on the gateway for one phone."""

    phone_ip: str | None  # None: the whole LAN
    path: str
    pid: int
    started: float  # gateway clock

    @property
    def log_path(self) -> str:
        return self.path + ".log"


class Gateway:
    def __init__(self, ssh: SshHost, lan_interface: str, capture_dir: str):
        self.ssh = ssh
        self.lan_interface = lan_interface
        self.capture_dir = capture_dir.rstrip("/")
        self._offset: float | None = None

    # -- clock -----------------------------------------------------------------------
    def now(self) -> float:
        """The gateway's wall clock, in seconds since the epoch."""
        res = self.ssh.run(["date", "+%s.%N"])
        try:
            return float(res.text.strip())
        except ValueError:
            raise GatewayError(f"{self.ssh.where}: 'date +%s.%N' answered {res.text!r}, "
                               "not a time") from None

    def clock_offset(self) -> float:
        """Gateway clock minus this host's clock, measured once at the round trip's middle."""
        if self._offset is None:
            t0 = time.time()
            remote = self.now()
            t1 = time.time()
            self._offset = remote - (t0 + t1) / 2
            log.debug("gateway clock offset %.4f s (round trip %.4f s)", self._offset, t1 - t0)
        return self._offset

    def local_to_gateway(self, t: float) -> float:
        return t + self.clock_offset()

    # -- capture ---------------------------------------------------------------------
    def start_capture(self, phone_ip: str | None, name: str, ready_timeout: float = 10.0
                      ) -> RemoteCapture:
        """Capture one phone's traffic, or (`phone_ip` None) everything on the LAN side."""
        path = f"{self.capture_dir}/{name}.pcap"
        self.ssh.run(["mkdir", "-p", self.capture_dir])
        match = ["host", phone_ip, "and"] if phone_ip else []
        tcpdump = ["tcpdump", "-U", "-n", "-i", self.lan_interface, "-w", path,
                   *match, "not", "port", "22"]
        line = (f"nohup {quote_argv(tcpdump)} > {quote_argv([path + '.log'])} 2>&1 "
                "< /dev/null & echo $!")
        res = self.ssh.run_line(line, tuple(tcpdump))
        try:
            pid = int(res.text.strip())
        except ValueError:
            raise GatewayError(f"{self.ssh.where}: starting tcpdump printed {res.text!r}, "
                               "not a pid") from None
        cap = RemoteCapture(phone_ip, path, pid, started=0.0)
        deadline = time.monotonic() + ready_timeout
        while True:
            text = self.ssh.run(["cat", cap.log_path], check=False).text
            if "listening on" in text:
                break
            if not self._alive(pid):
                raise GatewayError(f"{self.ssh.where}: tcpdump on {self.lan_interface} exited "
                                   f"at start: {text.strip() or '(no output)'}")
            if time.monotonic() > deadline:
                self._kill(pid)
                raise GatewayError(f"{self.ssh.where}: tcpdump did not report 'listening' "
                                   f"within {ready_timeout} s")
            time.sleep(0.02)
        cap.started = self.now()
        log.info("capture of %s started on %s (pid %d, %s)", phone_ip or "the whole LAN",
                 self.lan_interface, pid, path)
        return cap

    def stop_capture(self, cap: RemoteCapture, dest: Path, timeout: float = 10.0) -> Path:
        """Stop tcpdump, fetch the capture to `dest`, verify its sha256; return `dest`."""
        self._kill(cap.pid, timeout)
        res = self.ssh.run(["sha256sum", cap.path])
        remote_sum = res.text.split()[0] if res.text.split() else ""
        data = self.ssh.run(["cat", cap.path]).stdout
        local_sum = hashlib.sha256(data).hexdigest()
        if local_sum != remote_sum:
            raise GatewayError(f"{self.ssh.where}: fetched {cap.path} has sha256 {local_sum}, "
                               f"the gateway says {remote_sum}; the remote file is kept")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        tmp.write_bytes(data)
        tmp.replace(dest)
        log.info("capture %s fetched: %d bytes, sha256 %s", cap.path, len(data), local_sum[:12])
        return dest

    def capture_stats(self, cap: RemoteCapture) -> str:
        """What tcpdump said when it stopped (packets captured / dropped by kernel)."""
        return self.ssh.run(["cat", cap.log_path], check=False).text

    def _alive(self, pid: int) -> bool:
        return self.ssh.run(["kill", "-0", str(pid)], check=False).status == 0

    def _kill(self, pid: int, timeout: float = 10.0) -> None:
        self.ssh.run(["kill", "-INT", str(pid)], check=False)
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() > deadline:
                self.ssh.run(["kill", "-KILL", str(pid)], check=False)
                raise GatewayError(f"{self.ssh.where}: tcpdump pid {pid} ignored SIGINT for "
                                   f"{timeout} s; killed")
            time.sleep(0.02)

    # -- uplink ----------------------------------------------------------------------
    def _ensure_table(self) -> None:
        if self.ssh.run(["nft", "list", "table", *NFT_TABLE], check=False).status != 0:
            self.ssh.run(["nft", "-f", "-"], stdin=NFT_RULESET.encode())

    def cut_uplink(self, phone_ip: str) -> None:
        """From now on, nothing from or to this phone crosses the gateway."""
        self._ensure_table()
        self.ssh.run(["nft", "add", "element", *NFT_TABLE, NFT_SET, f"{{ {phone_ip} }}"])
        if phone_ip not in self.cut_phones():
            raise GatewayError(f"{self.ssh.where}: {phone_ip} is not in nft set "
                               f"{' '.join(NFT_TABLE)} {NFT_SET} after adding it")
        log.info("uplink of %s cut", phone_ip)

    def restore_uplink(self, phone_ip: str) -> None:
        """This phone's traffic crosses the gateway again (no-op if it was not cut)."""
        if phone_ip in self.cut_phones():
            self.ssh.run(["nft", "delete", "element", *NFT_TABLE, NFT_SET, f"{{ {phone_ip} }}"])
            log.info("uplink of %s restored", phone_ip)
        if phone_ip in self.cut_phones():
            raise GatewayError(f"{self.ssh.where}: {phone_ip} is still cut after restoring")

    def cut_phones(self) -> set[str]:
        res = self.ssh.run(["nft", "list", "set", *NFT_TABLE, NFT_SET], check=False)
        if res.status != 0:
            return set()
        return _set_elements(res.text)


def _set_elements(listing: str) -> set[str]:
    """The addresses in an `nft list set` listing (`elements = { a, b }`)."""
    if "elements" not in listing:
        return set()
    body = listing.split("elements", 1)[1]
    body = body[body.index("{") + 1: body.index("}")]
    return {e.strip() for e in body.replace("\n", " ").split(",") if e.strip()}


__all__ = ["Gateway", "GatewayError", "RemoteCapture", "SshError"]
