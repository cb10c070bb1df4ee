"""The app on a phone of the netns bench, on real sockets, in the phone's box.

    python -m hil.netns.phone CONFIG.json

CONFIG: {"name", "ip", "platform", "time_scale", "faults", "resolver", "ca", "control"},
and on a dual-stack bench "ip6" and "resolver6": the requests the model marks `ipv6` then
go over IPv6 (an AAAA lookup to the IPv6 resolver, TLS to the name's IPv6 stand-in).

- Its control agent is the simulated phone's (`hil.sim.phone.SimPhone.handle`: `hil-app
  version | settings | set NAME on|off | launch | close | status | ...`). The `hil-app`
  command in the box (a script the world installs on the box's PATH, reached through the
  box's real sshd and shell) sends its arguments to the unix socket `control` and prints
  the answer.
- The bench tells it what the phone sees of its aircraft, {"linked": bool, "media":
  [[index, size], ...], "log_size": bytes or null}, as {"state": {...}} on the control
  socket, or as a line on stdin. It stops when stdin closes.
- Every 5 ms it asks the app behaviour model (`hil.sim.app.AppBehaviour`, the same model
  as the simulated phone's) what to send, and sends it for real: a DNS query to the
  resolver, then, if answered, a TLS connection with the name as SNI (verified against the
  bench's CA) carrying the request's upload, at a Wi-Fi's pace (200 Mbit/s), and asking
  for its download volume.

The model needs to know whether the phone is cut off (to retry a no-fly-zone check, or to
hold diagnostics back). The phone learns it as a real one does, from its own requests:
before the model commits to what is due now, a scratch copy of the model says which
requests are due; the phone looks their names up, and "cut" is whether a lookup went
unanswered. The model then ticks with that answer, and the lookups already made serve
its requests. No traffic is added to what the model sends.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import logging
import os
import random
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

from hil.capture.dns import DnsFormatError, parse_message
from hil.remote.ssh import quote_argv
from hil.sim.app import AppBehaviour, AppInputs, MediaItem
from hil.sim.packets import dns_query
from hil.sim.phone import SimPhone

log = logging.getLogger("hil.netns.phone")
TICK = 0.005
WIFI_RATE = 200e6 / 8  # bytes/s: the phone's uploads go at a Wi-Fi's pace, not a veth's
_MISSING = object()


def paced_send(sock, n: int, rate: float = WIFI_RATE, chunk: int = 65536) -> None:
    """Send `n` zero bytes at about `rate` bytes/s (a burst at veth speed would overrun
    the gateway's tcpdump on a busy machine, as no phone on Wi-Fi can)."""
    start, sent = time.monotonic(), 0
    while sent < n:
        k = min(chunk, n - sent)
        sock.sendall(bytes(k))
        sent += k
        ahead = start + sent / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


class Net:
    """The phone's real network requests."""

    def __init__(self, ip: str, resolver: str, ca: str, time_scale: float,
                 ip6: str | None = None, resolver6: str | None = None):
        self.ip, self.resolver = ip, resolver
        self.ip6, self.resolver6 = ip6, resolver6  # a dual-stack LAN's; None: IPv4 only
        self.dns_timeout = min(2.0, max(0.05, 5.0 * time_scale))
        self.connect_timeout = 3.0
        self.ctx = ssl.create_default_context(cafile=ca)
        self._txids = itertools.cycle(range(random.randrange(1, 65536), 65536))

    def resolve(self, name: str, ipv6: bool = False) -> str | None:
        """The address the resolver gives for `name`, or None without an answer in time.
        `ipv6` (with an IPv6 address): an AAAA query over IPv6 to the IPv6 resolver."""
        txid = next(self._txids) or 1
        v6 = bool(ipv6 and self.ip6)
        with socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((self.ip6 if v6 else self.ip, 0))
            s.sendto(dns_query(txid, name, 28 if v6 else 1),
                     (self.resolver6 if v6 else self.resolver, 53))
            deadline = time.monotonic() + self.dns_timeout
            while (left := deadline - time.monotonic()) > 0:
                s.settimeout(left)
                try:
                    data = s.recv(4096)
                except TimeoutError:
                    break
                try:
                    msg = parse_message(data)
                except DnsFormatError:
                    continue
                if msg.id == txid and msg.is_response:
                    a = [v for _, kind, v in msg.answers if kind == ("AAAA" if v6 else "A")]
                    return a[0] if a else None
        log.info("no DNS answer for %s within %.2f s", name, self.dns_timeout)
        return None

    def session(self, name: str, address: str, up: int, down: int, purpose: str) -> None:
        """One TLS session to `address` with SNI `name`: upload `up` bytes, get `down`."""
        try:
            raw = socket.create_connection((address, 443), timeout=self.connect_timeout,
                                           source_address=(self.ip6 if ":" in address
                                                           else self.ip, 0))
            with self.ctx.wrap_socket(raw, server_hostname=name) as tls:
                tls.sendall(f"POST /{purpose} HTTP/1.1\r\nHost: {name}\r\nContent-Length: "
                            f"{up}\r\nX-Hil-Reply: {down}\r\nConnection: close\r\n\r\n"
                            .encode())
                paced_send(tls, up)
                got = b""
                while b"\r\n\r\n" not in got:
                    chunk = tls.recv(4096)
                    if not chunk:
                        raise ConnectionError("closed before the answer's header")
                    got += chunk
                head, _, body = got.partition(b"\r\n\r\n")
                n = len(body)
                while n < down:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    n += len(chunk)
                try:
                    tls.unwrap()
                except (OSError, ssl.SSLError, ValueError):
                    pass
            log.info("%s %s (%s): up %d B, down %d B", purpose, name, address, up, n)
        except (OSError, ssl.SSLError) as e:
            log.warning("%s %s (%s) failed: %s", purpose, name, address, e)


class RealPhone:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.state = {"linked": False, "media": (), "log_size": None}
        behaviour = AppBehaviour(cfg["time_scale"], cfg["platform"], frozenset(cfg["faults"]))
        # the simulated phone's control agent and app state; its network side is not used
        self.agent = SimPhone(cfg["name"], cfg["ip"], cfg["platform"], behaviour, None, None,
                              lambda: self.state["linked"], onboard=self._onboard)
        self.net = Net(cfg["ip"], cfg["resolver"], cfg["ca"], cfg["time_scale"],
                       cfg.get("ip6"), cfg.get("resolver6"))
        self.cut = False  # what the phone believes: its last lookups went unanswered
        self.stop = threading.Event()

    def _onboard(self):
        return self.state["media"], self.state["log_size"]

    # -- control --------------------------------------------------------------------
    def serve_control(self, path: str) -> None:
        if os.path.exists(path):
            os.unlink(path)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(16)
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            msg = json.loads(data)
            if "state" in msg:
                self.set_state(msg["state"])
                conn.sendall(b'{"ok": true}\n')
                return
            status, out, err = self.agent.handle(quote_argv(msg["argv"]), b"")
            conn.sendall(json.dumps({"status": status, "stdout": out.decode("latin-1"),
                                     "stderr": err.decode("latin-1")}).encode() + b"\n")

    def set_state(self, msg: dict) -> None:
        media = tuple(MediaItem(int(i), int(size)) for i, size in msg.get("media", ()))
        self.state = {"linked": bool(msg.get("linked")), "media": media,
                      "log_size": msg.get("log_size")}

    def read_state(self) -> None:
        for line in sys.stdin:
            self.set_state(json.loads(line))
        self.stop.set()

    # -- traffic --------------------------------------------------------------------
    def inputs(self) -> AppInputs:
        """What `SimPhone.tick` hands the model, with the phone's own idea of "cut"."""
        a = self.agent
        media, log_size = a.onboard()
        with a.lock:
            actions, a.actions = tuple(a.actions), []
            return AppInputs(a.running, a.linked(), self.cut, dict(a.settings), media,
                             log_size, actions)

    def step(self, now: float) -> None:
        inputs = self.inputs()
        due = copy.deepcopy(self.agent.behaviour).tick(now, dataclasses.replace(inputs,
                                                                                cut=False))
        answers: dict[tuple[str, bool], str | None] = {}
        if due:
            for key in dict.fromkeys((r.name, r.ipv6) for r in due):
                answers[key] = self.net.resolve(*key)
            # what it believes of the cut: its IPv4 lookups (an IPv6 one may go elsewhere)
            self.cut = any(a is None for (_, v6), a in answers.items() if not v6) or (
                all(v6 for _, v6 in answers) and any(a is None for a in answers.values()))
        for req in self.agent.behaviour.tick(now, dataclasses.replace(inputs, cut=self.cut)):
            address = answers.pop((req.name, req.ipv6), _MISSING)
            if address is _MISSING:
                address = self.net.resolve(req.name, req.ipv6)
            if address is None:
                log.info("%s %s: not reached (no DNS answer)", req.purpose, req.name)
                continue
            threading.Thread(target=self.net.session,
                             args=(req.name, address, req.up, req.down, req.purpose),
                             daemon=True).start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.step(time.time())
            except Exception:  # keep the phone alive; the log says what went wrong
                log.exception("phone %s: step failed", self.cfg["name"])
            self.stop.wait(TICK)


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s phone %(levelname)s %(message)s")
    cfg = json.loads(Path(sys.argv[1]).read_text())
    phone = RealPhone(cfg)
    phone.serve_control(cfg["control"])
    threading.Thread(target=phone.read_state, daemon=True).start()
    print("ready", flush=True)
    phone.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
