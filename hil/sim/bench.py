"""The simulated bench: every device a sim bench file names, live on this machine.

`SimBench(template).start()` starts, for a bench file of kind sim (a `[sim]` table):
- a relay board simulator on a pty, speaking the protocol of the bench's `relay.driver`;
- per aircraft: the aircraft and its controller, powered through their relay channels
  (button or switch, as the bench says), booting for the model's boot time scaled by
  `sim.time_scale`, speaking MAVLink 2 over UDP on loopback;
- an SSH server playing the lab gateway (tcpdump, nft) and, per phone of the `agent` or
  `operator` backend, one playing its control agent, with fresh host keys in a
  known_hosts file and a fresh client key; how to reach each agent is written to
  `agents.json` beside the resolved bench (an operator phone's agent is not in the bench:
  the harness asks a person, and the simulated person, `hil.sim.person`, uses the agent);
- per phone of the `adb` backend: a simulated Android phone running a model of GO 4's
  screens (`hil.sim.android`) behind the device side of adb (`hil.sim.adbd`) on a loopback
  port, joined by `adb connect` to a private real adb server (`hil.sim.adbserver`) that
  the production adb backend then talks to, as to a lab's;
- the phones' app behaviour model, whose packets reach the gateway's captures.

It returns the *resolved* bench: the same bench with every "sim" placeholder replaced by
the live address, written as a plain bench file (`resolved_path`) that the production
code, `hil power` or a second pytest run can use as they would a real bench.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import paramiko
import tomli_w

from hil import bench as benchmod
from hil.bench import SIM as SIM_VALUE
from hil.bench import Bench
from hil.kinds import Unavailable
from hil.lock import lock_path
from hil.power.record import PowerRecord
from hil.sim.adbd import AdbdServer
from hil.sim.adbserver import AdbServer, adb_binary
from hil.sim.aircraft import SimAircraft
from hil.sim.android import SimAndroid
from hil.sim.app import FLIGHTLOG, AppBehaviour, MediaItem
from hil.sim.devantech import DevantechSimulator
from hil.sim.faults import FAULTS
from hil.sim.gateway import SimGateway
from hil.sim.kmtronic import KmtronicSimulator
from hil.sim.lcus import LcusSimulator
from hil.sim.numato import NumatoSimulator
from hil.sim.onboard import Onboard
from hil.sim.phone import CLOUD_RTT, Air, Camera, NetHost, SimPhone, phone_ip6, phone_mac
from hil.sim.power import SimPowerInput
from hil.sim.sshd import SimSshServer

log = logging.getLogger("hil.sim")

# the relay board simulator for each driver a bench file can name
SIMULATORS = {"numato": NumatoSimulator, "lcus": LcusSimulator,
              "kmtronic": KmtronicSimulator, "devantech": DevantechSimulator}
CONTROLLER_BOOT = 5.0  # seconds, real; scaled like the aircraft's
PHOTO_OVER_NOMINAL = 1.25
NOMINAL_VIDEO_RATE = 600_000  # bytes per real second: a 5 s video is over every nominal
SSH_USER = "hil"
AGENT = "agent"  # the phone backend whose agent the simulated phones run
ADB = "adb"  # the phone backend of the simulated Android phones
OPERATOR = "operator"  # a person drives it: through its agent, as a hand would the screen
AGENTS_FILE = "agents.json"  # beside the resolved bench: how to reach each phone's agent


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SimBench:
    def __init__(self, template: Bench, faults: tuple[str, ...] | None = None,
                 workdir: Path | None = None):
        if template.kind != "sim":
            raise ValueError(f"bench file {template.path} has no [sim] table: not a sim bench")
        for p in template.phones.values():
            if p.backend not in (AGENT, ADB, OPERATOR):
                raise ValueError(f"bench file {template.path}: phone.{p.name}.backend: the "
                                 f"simulated bench plays {AGENT!r}, {ADB!r} and {OPERATOR!r} "
                                 f"phones, not {p.backend!r}")
            if p.backend == ADB and p.platform != "android":
                raise ValueError(f"bench file {template.path}: phone.{p.name}: an adb phone "
                                 f"is an Android phone, not {p.platform!r}")
        self.template = template
        self.faults = tuple(template.sim.faults if faults is None else faults)
        for f in self.faults:
            if f not in FAULTS:
                raise ValueError(f"unknown sim fault {f!r}; known: {', '.join(FAULTS)}")
        if "control_traffic" in self.faults and not template.host_addresses:
            raise ValueError(f"sim fault 'control_traffic' needs the bench host's address: "
                             f"bench file {template.path} has no bench.host_addresses")
        self.scale = template.sim.time_scale
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="hil-sim-"))
        self.resolved_path = self.dir / "bench.toml"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.servers: list[SimSshServer] = []
        self.androids: dict[str, SimAndroid] = {}  # adb phones, by name
        self.adbds: dict[str, AdbdServer] = {}
        self.adb_server: AdbServer | None = None
        self.aircraft: dict[str, SimAircraft] = {}
        self.inputs: dict[int, SimPowerInput] = {}
        self.phones: dict[str, SimPhone] = {}
        self.agents: dict[str, dict] = {}  # phone -> how to reach its agent (AGENTS_FILE)
        self.onboard: dict[str, Onboard] = {}
        self.aircraft_net: dict[str, NetHost] = {}
        self._booted: dict[str, bool] = {}
        self._uplink_due: dict[str, float] = {}
        self.resolved: Bench | None = None  # the live bench, once started

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Bench:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Bench:
        t = self.template
        raw = copy.deepcopy(t.raw)
        raw.pop("sim", None)
        client_key = paramiko.ECDSAKey.generate()
        key_path = self.dir / "client_key"
        client_key.write_private_key_file(str(key_path))
        known_hosts = paramiko.HostKeys()
        kh_path = self.dir / "known_hosts"

        # relay board and the devices on its channels
        self.relay = SIMULATORS[t.relay.driver](t.relay.channels)
        self.relay.on_change(self._contact)
        # a name of this bench's own for its pty, as /dev/serial/by-path/... is on a real
        # bench: a pty path is reused by later simulators, and the bench lock and the power
        # record are keyed by the relay's URL (a record must not outlive its devices)
        self.relay_link = self.dir / "relay-tty"
        self.relay_link.symlink_to(self.relay.url)
        raw["relay"]["url"] = str(self.relay_link)
        for name, a in t.aircraft.items():
            boot = a.model.boot_time * self.scale
            self.inputs[a.power.relay] = SimPowerInput(a.power.sequence, a.power.button, boot)
            ctl = SimPowerInput(a.controller.sequence, a.controller.button,
                                CONTROLLER_BOOT * self.scale)
            self.inputs[a.controller.relay] = ctl
            port = _free_udp_port()
            ac_in = self.inputs[a.power.relay]
            # Seen through the app, a photo's size is nobody's to measure: the model's
            # nominal size stands in, a lower bound (a real aircraft's photos are larger), so
            # these aircraft take photos a little over it and videos over it. Elsewhere the
            # link measures them: smaller files, less for the simulated phones to build.
            sized = {} if a.link != "app" else dict(
                photo_size=int(a.model.photo.size * PHOTO_OVER_NOMINAL),
                video_bytes_per_s=NOMINAL_VIDEO_RATE)
            onboard = Onboard(records_logs="no_local_log" not in self.faults, **sized)
            self.onboard[name] = onboard
            self._booted[name] = False
            sim = SimAircraft(port, a.firmware,
                              aircraft_up=lambda i=ac_in: i.booted(time.monotonic()),
                              controller_up=lambda i=ctl: i.booted(time.monotonic()),
                              onboard=onboard, time_scale=self.scale)
            sim.start()
            self.aircraft[name] = sim
            if a.link == SIM_VALUE:  # MAVLink; "app" and "none" stay what the file says
                raw["aircraft"][name]["link"] = f"udpin:127.0.0.1:{port}"
            if a.link != "none":  # read from the devices; `none` reports the declared one
                raw["aircraft"][name].pop("firmware", None)
        raw.setdefault("windows", {})
        if t.windows.boot is None:
            raw["windows"]["boot"] = max(
                t.windows.boot_timeout(a.model, self.scale) for a in t.aircraft.values())

        # gateway
        self.gateway = SimGateway(self.dir / "gateway-fs", t.gateway.lan_interface,
                                  cut_effective="cut_ineffective" not in self.faults,
                                  ipv6_bypass="ipv6_bypass" in self.faults)
        self.gateway.deaf = "deaf_sniffer" in self.faults
        gw_key = paramiko.ECDSAKey.generate()
        srv = SimSshServer("gateway", gw_key, SSH_USER, client_key, self.gateway.handle).start()
        self.servers.append(srv)
        known_hosts.add(f"[127.0.0.1]:{srv.port}", gw_key.get_name(), gw_key)
        raw["gateway"].update(host="127.0.0.1", port=srv.port, user=SSH_USER,
                              key=str(key_path), known_hosts=str(kh_path))

        # phones
        self.air = Air(self.gateway)
        for i, name in enumerate(t.aircraft):  # an aircraft that joins the Wi-Fi (a fault)
            self.aircraft_net[name] = NetHost(str(t.gateway.lan_subnet[200 + i]), self.air,
                                              self.gateway, rtt=CLOUD_RTT * self.scale)
        for pname, p in t.phones.items():
            paired = [a for a in t.aircraft.values() if a.phone == pname]
            linked = self._linked_fn(paired)
            behaviour = AppBehaviour(self.scale, p.platform, frozenset(self.faults))
            camera = (Camera(self.onboard[paired[0].name], paired[0].firmware, self.scale)
                      if paired else None)
            # on a dual-stack LAN the phone has a global address in the LAN's IPv6 prefix
            prefix6 = next((n for n in t.gateway.lan_prefixes if n.version == 6), None)
            mac = p.mac or phone_mac(p.ip)
            phone = SimPhone(pname, p.ip, p.platform, behaviour, self.gateway, self.air, linked,
                             onboard=self._onboard_fn(paired[0].name) if paired else
                             (lambda: ((), None)), camera=camera,
                             bench_host=next(iter(t.host_addresses), None), mac=mac,
                             ip6=phone_ip6(prefix6, mac) if prefix6 else None)
            self.phones[pname] = phone
            if p.backend == ADB:
                self._android(pname, p, phone, paired, raw["phone"][pname])
                if not p.by_hand:  # steps by hand: the person's hands need the agent
                    continue
            hk = paramiko.ECDSAKey.generate()
            srv = SimSshServer(f"phone-{pname}", hk, SSH_USER, client_key, phone.handle).start()
            self.servers.append(srv)
            known_hosts.add(f"[127.0.0.1]:{srv.port}", hk.get_name(), hk)
            reach = dict(host="127.0.0.1", port=srv.port, user=SSH_USER, key=str(key_path),
                         known_hosts=str(kh_path))
            self.agents[pname] = reach
            if p.backend == AGENT:  # an operator's or by_hand phone's is the person's
                raw["phone"][pname].update(reach)
        known_hosts.save(str(kh_path))
        # the phones' own control channel, for whoever plays the person at the bench
        (self.dir / AGENTS_FILE).write_text(json.dumps(self.agents, indent=2))

        th = threading.Thread(target=self._world_loop, name="sim-world", daemon=True)
        th.start()
        self._threads.append(th)

        header = (f"# resolved by the hil simulator from {t.path}\n"
                  f"# faults: {', '.join(self.faults) or 'none'}; time scale {self.scale}\n")
        self.resolved_path.write_text(header + tomli_w.dumps(raw))
        resolved = self.resolved = benchmod.load(self.resolved_path)
        log.info("simulated bench %s up: relay %s, gateway port %d, faults: %s", t.name,
                 self.relay.url, self.servers[0].port, ", ".join(self.faults) or "none")
        return resolved

    def _android(self, name, p, phone: SimPhone, paired, raw: dict) -> None:
        """The phone as adb sees it, joined to this bench's own adb server."""
        if self.adb_server is None:
            if adb_binary() is None:
                raise Unavailable(f"bench file {self.template.path}: phone {name} is on adb, "
                                  "and this machine has no adb binary (pip install adbutils "
                                  "brings one; or apt-get install adb)")
            self.adb_server = AdbServer().start()
        adbd = AdbdServer(None)
        android = SimAndroid(phone, phone.behaviour.version, frozenset(self.faults),
                             aircraft_name=paired[0].model.name if paired else "Aircraft",
                             on_offline=adbd.go_offline)
        adbd.device = android
        adbd.start()
        self.androids[name], self.adbds[name] = android, adbd
        self.adb_server.connect(adbd.serial)
        raw.update(serial=adbd.serial, adb_port=self.adb_server.port)
        if p.options.recipes is not None:  # beside the template, not the resolved file
            raw["recipes"] = str(p.options.recipes)
        log.info("simulated Android phone %s: adb serial %s on the adb server at "
                 "127.0.0.1:%d", name, adbd.serial, self.adb_server.port)

    def stop(self) -> list[str]:
        """Take every device down; return what was left behind (nothing: the simulator
        only runs threads, sockets and an adb server child of this process)."""
        self._stop.set()
        for th in self._threads:
            th.join(timeout=2)
        for adbd in self.adbds.values():
            adbd.stop()
        if self.adb_server is not None:
            self.adb_server.stop()
        for s in self.servers:
            s.stop()
        for a in self.aircraft.values():
            a.stop()
        if getattr(self, "gateway", None):
            self.gateway.stop()
        if getattr(self, "relay", None):
            self.relay.stop()
        if getattr(self, "relay_link", None):  # the devices are gone: so is their record
            name = self.template.name
            PowerRecord.for_bench(name, str(self.relay_link)).path.unlink(missing_ok=True)
            lock_path(name, str(self.relay_link)).unlink(missing_ok=True)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return []

    def __enter__(self) -> Bench:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the world --------------------------------------------------------------------
    def _contact(self, channel: int, closed: bool, t: float) -> None:
        inp = self.inputs.get(channel)
        if inp is not None:
            ignored = inp.contact(closed, t)
            if ignored:
                log.warning("sim device on relay channel %d: %s; ignored", channel, ignored)

    def _linked_fn(self, aircraft):
        pairs = [(self.inputs[a.power.relay], self.inputs[a.controller.relay])
                 for a in aircraft]

        def linked() -> bool:
            now = time.monotonic()
            return any(ac.booted(now) and ctl.booted(now) for ac, ctl in pairs)
        return linked

    def _onboard_fn(self, aircraft: str):
        ob = self.onboard[aircraft]

        def seen() -> tuple:
            media, logs = ob.snapshot()
            return (tuple(MediaItem(m.index, m.size) for m in media),
                    logs[-1].size if logs else None)
        return seen

    def _aircraft_tick(self, now: float) -> None:
        """A new power session opens a flight log; with aircraft_direct_uplink the aircraft
        uploads that log itself 2 s (scaled) after booting."""
        mono = time.monotonic()
        for name, a in self.template.aircraft.items():
            booted = self.inputs[a.power.relay].booted(mono)
            if booted and not self._booted[name]:
                self.onboard[name].power_session(now)
                if "aircraft_direct_uplink" in self.faults:
                    self._uplink_due[name] = now + 2.0 * self.scale
            self._booted[name] = booted
            due = self._uplink_due.get(name)
            if due is not None and now >= due:
                del self._uplink_due[name]
                self.aircraft_net[name].request(now, FLIGHTLOG,
                                                self.onboard[name].log_size, 800)

    def _world_loop(self) -> None:
        while not self._stop.is_set():
            self._aircraft_tick(time.time())
            for android in self.androids.values():
                android.poll()  # what the app notices by itself (a crash, a lost link)
            for phone in self.phones.values():
                # each phone reads the clock itself: building another phone's upload
                # takes a while, and a request must never be stamped before its cause
                phone.tick(time.time())
            nxt = self.air.deliver_due(time.time())
            wait = 0.002 if nxt is None else min(0.002, max(0.0, nxt - time.time()))
            self._stop.wait(wait)

    def powered(self) -> dict[str, bool]:
        """Which simulated devices are powered, by bench name ("spark aircraft")."""
        owners = self.template.channel_owners()
        return {owners[ch]: inp.powered for ch, inp in self.inputs.items()}
