"""A simulated phone: the app's state, its control agent, and the packets it sends.

The control agent answers, over the simulated bench's SSH server, the commands of the
`agent` phone backend (`hil-app version | settings | set NAME on|off | launch | close |
status | linked | records | sync | share N`); `version` is the app model's.
`tick()` asks the app behaviour model what to send now and turns each request into the
frames a phone would put on the gateway's Wi-Fi: a DNS lookup, then (if the lookup is
answered) a TLS session with SNI carrying the request's volumes; a request of purpose
"control" (fault control_traffic) is a plain TCP session to the bench host's address
instead, no lookup, through the gateway. Frames are handed to an `Air` that delivers each
to the gateway at its own timestamp.

On a dual-stack LAN (the bench's lan_subnet has an IPv6 prefix) the phone also has a
global IPv6 address in that prefix, and the requests the model marks `ipv6` go over it.
With fault private_dns it resolves over DNS over TLS: a TLS flow to the resolver's port
853 instead of a readable lookup.
"""

from __future__ import annotations

import hashlib
import heapq
import ipaddress
import itertools
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hil.sim import traffic
from hil.sim.app import AppBehaviour, AppInputs
from hil.sim.gateway import SimGateway
from hil.sim.onboard import Onboard

RESOLVER_IP = "203.0.113.53"  # TEST-NET-3: only ever bytes in a simulated capture
CLOUD_NET = ipaddress.IPv4Network("198.51.100.0/24")  # TEST-NET-2, stand-in servers
# IPv6 (documentation prefix 2001:db8::/32): the resolver, and the cloud's stand-ins, on
# prefixes of their own (a bench's LAN prefix must be another one)
RESOLVER_IP6 = "2001:db8:53::53"
CLOUD_NET6 = ipaddress.IPv6Network("2001:db8:5100::/64")
DOT_PORT = 853  # DNS over TLS (fault private_dns)
GATEWAY_MAC = "02:00:00:00:00:01"
AGENT_PORT = 22  # the bench host's sshd: the phone's agent reports back over SSH
CLOUD_RTT = 0.010  # seconds, real: a lab's uplink to the cloud


def server_ip(name: str) -> str:
    """A stable stand-in address for a cloud name."""
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big")
    return str(CLOUD_NET[2 + h % 250])


def server_ip6(name: str) -> str:
    """A stable stand-in IPv6 address for a cloud name."""
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big")
    return str(CLOUD_NET6[2 + h % 250])


def phone_mac(ip: str) -> str:
    return "02:00:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)


def phone_ip6(prefix, mac: str) -> str:
    """The global address a phone forms in the LAN's IPv6 `prefix` (a /64): a stable
    interface id from its MAC, as a privacy address would be (not EUI-64)."""
    net = ipaddress.IPv6Network(prefix)
    iid = int.from_bytes(hashlib.sha256(f"hil-sim {mac}".encode()).digest()[:8], "big")
    return str(net[iid % (1 << (128 - net.prefixlen))])


class Air:
    """Delivers frames to the gateway at their timestamps, in time order."""

    def __init__(self, gateway: SimGateway):
        self.gateway = gateway
        self._heap: list = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def send(self, frames: list[tuple[float, bytes]], src: str, dst: str) -> None:
        with self._lock:
            for ts, frame in frames:
                heapq.heappush(self._heap, (ts, next(self._seq), frame, src, dst))

    def deliver_due(self, now: float) -> float | None:
        """Deliver what is due; return the time of the next frame, if any."""
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > now:
                    return self._heap[0][0] if self._heap else None
                ts, _, frame, src, dst = heapq.heappop(self._heap)
            self.gateway.deliver(ts, frame, src, dst)


class NetHost:
    """A device on the gateway's Wi-Fi that makes requests: resolve a name, then TLS."""

    def __init__(self, ip: str, air: Air, gateway: SimGateway, rtt: float = 0.002,
                 mac: str | None = None, ip6: str | None = None, dot: bool = False):
        self.ip, self.mac, self.air, self.gateway = ip, mac or phone_mac(ip), air, gateway
        self.ip6 = ip6  # its global IPv6 address on a dual-stack LAN (None: IPv4 only)
        self.dot = dot  # it resolves over DNS over TLS (Private DNS), not plain DNS
        self.rtt = rtt  # round trip to the cloud, already scaled
        self._ports = itertools.cycle(range(40000, 60000))
        self._txids = itertools.cycle(range(1, 65536))
        self.sent: list[tuple[float, str, bool]] = []  # (time, name, reached), for debugging
        self._kept: dict[str, traffic.KeptConnection] = {}

    def request(self, t: float, name: str, up: int, down: int, keep: str | None = None,
                via: str | None = None, ipv6: bool = False) -> None:  # fmt: skip
        """One request at `t`; with the uplink cut only the unanswered lookup goes out.

        `keep`, `via` (see hil.sim.app.Request): open a connection and keep it open under
        a label; send over the connection kept under a label. `ipv6`: over the phone's
        IPv6 address when it has one (an AAAA lookup over IPv6, then TLS to the name's
        IPv6 stand-in), as a dual-stack phone prefers; whether it is cut is the gateway's
        word for that family.
        """
        v6 = bool(ipv6 and self.ip6)
        me = self.ip6 if v6 else self.ip
        reached = not self.gateway.is_cut(self.ip, 6 if v6 else 4)
        kept = self._kept.get(via) if via else None
        if kept is not None:
            if reached:  # (over a cut uplink the model sends nothing on it: not modelled)
                dst = server_ip6(name) if kept.v6 else server_ip(name)
                self.air.send(kept.send(t, up, down), me, dst)
            self.sent.append((t, name, reached))
            return
        keep = keep or via
        ip = server_ip6(name) if v6 else server_ip(name)
        resolver = RESOLVER_IP6 if v6 else RESOLVER_IP
        if self.dot:  # the lookup goes inside TLS: the capture shows a flow to port 853
            frames = traffic.tls_session(t, me, self.mac, next(self._ports), resolver,
                                         GATEWAY_MAC, None, 120, 160, reachable=reached,
                                         rtt=self.rtt, port=DOT_PORT)
        else:
            frames = traffic.dns_lookup(t, me, self.mac, resolver, GATEWAY_MAC, name, ip,
                                        answered=reached, sport=next(self._ports),
                                        txid=next(self._txids), rtt=self.rtt)
        self.air.send(frames, me, resolver)
        self.sent.append((t, name, reached))
        if not reached:
            return
        start = frames[-1][0] + 0.0005
        if keep:
            frames, self._kept[keep] = traffic.tls_open(
                start, me, self.mac, next(self._ports), ip, GATEWAY_MAC, name, up, down,
                rtt=self.rtt)
        else:
            frames = traffic.tls_session(start, me, self.mac, next(self._ports), ip,
                                         GATEWAY_MAC, name, up, down, reachable=True,
                                         rtt=self.rtt)
        self.air.send(frames, me, ip)


    def exchange(self, t: float, address: str, port: int, up: int, down: int) -> None:
        """A plain TCP session at `t` to `address:port` (no lookup, no server name) through
        the gateway; with the uplink cut nothing goes (as a cut drops it)."""
        if self.gateway.is_cut(self.ip):
            self.sent.append((t, address, False))
            return
        frames = traffic.tcp_session(t, (self.ip, self.mac, next(self._ports)),
                                     (address, GATEWAY_MAC, port), up, down, rtt=self.rtt)
        self.air.send(frames, self.ip, address)
        self.sent.append((t, address, True))


@dataclass(frozen=True)
class Camera:
    """Its aircraft's camera and firmware, as the simulated app reaches them."""

    onboard: Onboard
    firmware: str
    time_scale: float

    def act(self, args: list[str]):
        if args == ["photo"]:
            return self.onboard.take_photo()
        if args[1] == "start":
            self.onboard.start_video(time.monotonic())
            return None
        return self.onboard.stop_video(time.monotonic(), self.time_scale)


class NotLinked(Exception):
    """The app does not show its aircraft connected (camera actions need it)."""


class SimPhone:
    def __init__(self, name: str, ip: str, platform: str, behaviour: AppBehaviour,
                 gateway: SimGateway, air: Air, linked: Callable[[], bool],
                 onboard: Callable[[], tuple] = lambda: ((), None),
                 camera: Camera | None = None, bench_host: str | None = None,
                 mac: str | None = None, ip6: str | None = None):
        self.name, self.ip, self.platform = name, ip, platform
        self.bench_host = bench_host  # where control traffic goes (fault control_traffic)
        self.net = NetHost(ip, air, gateway, rtt=CLOUD_RTT * behaviour.time_scale, mac=mac,
                           ip6=ip6, dot="private_dns" in behaviour.faults)
        self.behaviour, self.gateway, self.air, self.linked = behaviour, gateway, air, linked
        self.onboard = onboard  # () -> (media items, newest log size) of its aircraft
        self.camera = camera  # its aircraft's camera and firmware, as the app shows them
        self.actions: list[str] = []
        self.settings = {"diagnostics": True, "local_data_mode": False}
        self.running = False
        self.lock = threading.Lock()

    # -- what the app does, whichever front-end (SSH agent, Android model) asks ---------
    # The caller holds self.lock.
    def shows_linked(self) -> bool:
        """The app shows its aircraft connected: it runs and the link is up."""
        return self.running and self.linked()

    def shown_firmware(self) -> str | None:
        """The aircraft's firmware as the app shows it: only with the aircraft linked."""
        return self.camera.firmware if self.shows_linked() and self.camera else None

    def set_setting(self, name: str, on: bool) -> bool:
        """Set one of the app's settings; False when the app has no such setting."""
        if name not in self.settings:
            return False
        self.settings[name] = bool(on)
        return True

    def capture(self, args: list[str]):
        """Take a photo (["photo"]) or start/stop a video (["video", "start"|"stop"]) on
        the aircraft through the app: the new Media (None for a start, or a stop with no
        video running). Raises NotLinked when the app does not show the aircraft."""
        if not (self.shows_linked() and self.camera is not None):
            raise NotLinked("the app does not show the aircraft connected")
        return self.camera.act(args)

    def user_action(self, action: str) -> bool:
        """The user asks the app to "sync" or "share:N"; the behaviour model acts on it at
        its next tick. False when the app is not running (nothing to ask)."""
        if not self.running:
            return False
        self.actions.append(action)
        return True

    # -- control agent ----------------------------------------------------------------
    def handle(self, line: str, stdin: bytes) -> tuple[int, bytes, bytes]:
        argv = shlex.split(line)
        if argv[:1] != ["hil-app"]:
            return 127, b"", f"sh: 1: {argv[0] if argv else ''}: not found\n".encode()
        args = argv[1:]
        with self.lock:
            if args == ["version"]:
                return 0, f"{self.behaviour.version}\n".encode(), b""
            if args == ["settings"]:
                text = "".join(f"{k}={'on' if v else 'off'}\n" for k, v in self.settings.items())
                return 0, text.encode(), b""
            if len(args) == 3 and args[0] == "set":
                if args[2] not in ("on", "off") or not self.set_setting(args[1],
                                                                        args[2] == "on"):
                    return 2, b"", f"hil-app: cannot set {args[1]!r} to {args[2]!r}\n".encode()
                return 0, b"", b""
            if args == ["launch"]:
                self.running = True
                return 0, b"", b""
            if args == ["close"]:
                self.running = False
                return 0, b"", b""
            if args == ["status"]:
                return 0, b"running\n" if self.running else b"closed\n", b""
            if args == ["linked"]:  # the app shows its aircraft connected
                return 0, b"linked\n" if self.shows_linked() else b"unlinked\n", b""
            if args == ["firmware"]:  # as the app shows it: only with the aircraft linked
                return 0, ((self.shown_firmware() or "") + "\n").encode(), b""
            if args == ["photo"] or (len(args) == 2 and args[0] == "video"
                                     and args[1] in ("start", "stop")):
                try:
                    media = self.capture(args)
                except NotLinked as e:
                    return 1, b"", f"hil-app: {e}\n".encode()
                if media is None:
                    return 0, b"", b""
                return 0, (f"index={media.index} file={media.file_url} "
                           f"size={media.size}\n").encode(), b""
            if args == ["records"]:
                text = "".join(f"id={r.id} time={r.time:.3f} size={r.size} "
                               f"synced={'yes' if r.synced else 'no'}\n"
                               for r in self.behaviour.records)
                return 0, text.encode(), b""
            if args == ["sync"] or (len(args) == 2 and args[0] == "share"
                                    and args[1].isdigit()):
                if not self.user_action(":".join(args)):
                    return 1, b"", b"hil-app: the app is not running\n"
                return 0, b"", b""
        return 2, b"", f"hil-app: unknown command {' '.join(args)!r}\n".encode()

    # -- traffic ----------------------------------------------------------------------
    def tick(self, now: float) -> None:
        media, log_size = self.onboard()
        with self.lock:
            actions, self.actions = tuple(self.actions), []
            inputs = AppInputs(self.running, self.linked(), self.gateway.is_cut(self.ip),
                               dict(self.settings), media, log_size, actions)
        for req in self.behaviour.tick(now, inputs):
            if req.purpose == "control":
                self.net.exchange(now, self.bench_host, AGENT_PORT, req.up, req.down)
            else:
                self.net.request(now, req.name, req.up, req.down, req.keep, req.via,
                                 req.ipv6)
