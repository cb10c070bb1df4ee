"""Bench files: load and validate the TOML file that describes one lab bench.

A bench file names the relay board, the lab gateway, the phones and the aircraft wired
to the bench, and the time windows of a claim test. `load()` returns a `Bench` or raises
`BenchError` whose message names the file, the key and the fix, e.g.::

    bench file benches/lab2.toml: aircraft.spark.power.relay: channel 9 does not exist
    on an 8-channel numato board (channels 0-7)

Paths inside the file (SSH keys, known_hosts) are relative to the bench file's folder;
`~` is expanded. On a simulated bench (kind sim or netns) address values may be the word
"sim": the simulator fills them in when it starts (see `hil.sim.bench`).

Two registries take part, each by module name, so this module imports none of them:
- the bench's kind (`hil.kinds`: real, sim, netns) is decided here, once, by the kind
  table the file has (`[sim]`, `[netns]`, none: real); the kind's module validates its
  table;
- each phone's backend (`hil.remote.backends`) validates the keys of its own, beyond the
  keys every phone has (backend, ip, platform).
They validate through `Section`, which names the file and the full key in every error.

The full format, annotated, is in `benches/example-lab.toml`.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil import kinds, models
from hil import link as links
from hil import place as places
from hil.models import ButtonTiming, Model
from hil.power import boards
from hil.power.relay import RelayError
from hil.remote import backends, operator

SIM = "sim"  # placeholder value the simulator replaces with a live address
# keys a bench that is a labgrid place may leave out: its place's resources fill them
# (hil.place), and until then they hold the placeholder hil.place.FILLED
PLACE_FILLS = ("relay.url", "gateway.host", "gateway.user", "phone.*.serial")
# every phone's; its backend's keys come after. by_hand: steps a person does (a list of
# hil.remote.operator.STEPS); a phone with by_hand also takes that person's keys
# (hil.remote.operator.KEYS: operator, prompt_timeout)
PHONE_KEYS = ("backend", "ip", "mac", "platform", "by_hand")
PLATFORMS = ("android", "ios")
SEQUENCES = ("button", "switch")
#: The shortest prefix gateway.lan_subnet takes, per IP version: 10.0.0.0/8, a site's /48.
_WIDEST_LAN = {4: 8, 6: 48}


class BenchError(Exception):
    """A bench file that cannot be used, with the file, the key and the fix."""


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int
    user: str
    key: Path | str  # str only while it is still the "sim" placeholder
    known_hosts: Path | str


@dataclass(frozen=True)
class RelayConfig:
    driver: str
    url: str
    channels: int


@dataclass(frozen=True)
class GatewayConfig:
    ssh: SshTarget
    lan_interface: str
    lan_subnet: ipaddress.IPv4Network  # the LAN's IPv4 network (the phones' `ip` are in it)
    capture_dir: str
    # every prefix of the LAN, IPv4 and IPv6 (lan_subnet first): addresses in them are the
    # LAN's own, never "internet"
    lan_prefixes: tuple = ()


@dataclass(frozen=True)
class PhoneConfig:
    name: str
    backend: str  # a name of hil.remote.backends.BACKENDS
    ip: str
    platform: str
    options: Any = None  # what the backend's parse() made of its own keys
    # its Wi-Fi MAC (lower case, colons): the phone is known by it and every address it
    # uses; None: by its IPv4 address only, and its IPv6 traffic is not attributed
    mac: str | None = None
    by_hand: tuple[str, ...] = ()  # steps a person does on it (hil.remote.operator)
    person: Any = None  # who answers those steps (hil.remote.operator.Person)


@dataclass(frozen=True)
class PowerConfig:
    """How one relay channel powers a device: `switch` or DJI `button` presses."""

    relay: int
    sequence: str
    button: ButtonTiming
    off_time: float  # switch: seconds open before a re-close


@dataclass(frozen=True)
class AircraftConfig:
    name: str
    model: Model
    phone: str
    power: PowerConfig
    controller: PowerConfig
    link: str
    # the simulated aircraft's firmware (sim benches), or the one a person declares for an
    # aircraft whose link cannot read it (`link = "none"`)
    firmware: str | None


@dataclass(frozen=True)
class Windows:
    boot: float | None  # readiness timeout; None: twice the model's boot time
    observe: float  # observation window of a claim phase
    video: float = 5.0  # length of the video the media claim records
    # how long a link is listened to when a device's power state is read: two heartbeats
    # at the 1 Hz a real aircraft sends, and some
    listen: float = 2.5

    def boot_timeout(self, model: Model, time_scale: float = 1.0) -> float:
        if self.boot is not None:
            return self.boot
        return 2.0 * model.boot_time * time_scale


@dataclass(frozen=True)
class ClaimsConfig:
    """How strictly claims are judged on this bench (the [claims] table)."""

    media_fraction: float = 0.5  # K1: an upload over this share of a new file counts
    unknown_budget: int = 16_384  # G1: bytes an unknown destination may receive
    deferred_burst: str = "fail"  # K6: "fail" | "report"


@dataclass(frozen=True)
class SimConfig:
    """What a simulated bench (kind sim or netns) adds: its time scale and fault profiles.
    A kind with more settings subclasses it (`hil.netns.kind.NetnsConfig`)."""

    time_scale: float
    faults: tuple[str, ...]


@dataclass(frozen=True)
class Bench:
    path: Path
    name: str
    relay: RelayConfig
    gateway: GatewayConfig
    phones: dict[str, PhoneConfig]
    aircraft: dict[str, AircraftConfig]
    windows: Windows
    sim: SimConfig | None  # None on a real bench
    raw: dict[str, Any] = field(repr=False, compare=False)
    claims: ClaimsConfig = ClaimsConfig()
    kind: str = "real"  # a name of hil.kinds.KINDS: real | sim | netns
    # bench.host_addresses: the bench host's own addresses, as a capture writes them; its
    # traffic (adb over Wi-Fi, SSH to an agent) is control traffic, never the phone's
    host_addresses: tuple[str, ...] = ()
    place: places.PlaceConfig | None = None  # the [labgrid] table: the bench is a place

    @property
    def identity(self) -> str:
        """What names this bench's devices for its lock and power record: the relay's URL,
        or on a labgrid place the place (its relay's URL changes with every acquire)."""
        if self.place is not None and self.place.place:
            return f"labgrid://{self.place.coordinator}/{self.place.place}"
        return self.relay.url

    def with_place(self, state: places.PlaceState) -> tuple[Bench, list[str]]:
        """This bench on the acquired place `state`: what the file leaves out filled from
        the place's resources (PlaceError names a key none fills), and what was filled,
        one line each."""
        raw, said = places.fill(self.raw, state, str(self.path))
        raw["labgrid"] = {k: v for k, v in raw["labgrid"].items() if k != "tags"}
        raw["labgrid"]["place"] = state.name
        if self.place is not None and self.place.coordinator:
            raw["labgrid"]["coordinator"] = self.place.coordinator
        return parse(raw, self.path), said

    @property
    def time_scale(self) -> float:
        return self.sim.time_scale if self.sim else 1.0

    def phone_of(self, aircraft: str) -> PhoneConfig:
        return self.phones[self.aircraft[aircraft].phone]

    def channel_owners(self) -> dict[int, str]:
        """Relay channel -> "spark aircraft" / "spark controller"."""
        owners = {}
        for a in self.aircraft.values():
            owners[a.power.relay] = f"{a.name} aircraft"
            owners[a.controller.relay] = f"{a.name} controller"
        return owners


def load(path: str | Path) -> Bench:
    """Read and validate a bench file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BenchError(f"bench file {path}: not found") from None
    except OSError as e:
        raise BenchError(f"bench file {path}: cannot read: {e.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BenchError(f"bench file {path}: not valid TOML: {e}") from None
    return parse(raw, path)


def parse(raw: dict[str, Any], path: Path) -> Bench:
    """Validate an already-read bench table; `path` names it in errors and anchors paths."""
    return _Parser(raw, path).bench()


class Section:
    """One table of a bench file, for a module that validates its own keys (a bench kind,
    a phone backend). Every accessor names the file and the full key in its BenchError."""

    def __init__(self, parser: _Parser, table: dict, where: str):
        self._parser, self.table, self.where = parser, table, where

    def fail(self, key: str, msg: str) -> BenchError:
        return self._parser.fail(_join(self.where, key), msg)

    @property
    def folder(self) -> Path:
        """The bench file's folder (relative paths in it start here)."""
        return self._parser.path.parent

    def only(self, allowed: tuple[str, ...]) -> None:
        """Every key of the table is one of `allowed`."""
        self._parser.only(self.table, self.where, allowed)

    def value(self, key: str, kind: type, default=..., choices=None):
        """The key's value, of type `kind` (a float takes an int); `default` when it is
        missing (none given: it is required); one of `choices` when given."""
        return self._parser.value(self.table, key, self.where, kind, default, choices)

    def address(self, key: str, default=...) -> str:
        """A string that a simulated bench may leave as "sim" (filled in when it starts)."""
        return self._parser.address(self.table, key, self.where, default)

    def path(self, key: str, default=...):
        """A path, relative to the bench file's folder, `~` expanded (or "sim")."""
        return self._parser.path_value(self.table, key, self.where, default)

    def ssh(self) -> SshTarget:
        """The SSH target of keys host, port, user, key, known_hosts (hosts may be "sim")."""
        return self._parser.ssh(self.table, self.where)


class _Parser:
    def __init__(self, raw: dict[str, Any], path: Path):
        self.raw = raw
        self.path = path
        self.kind = self.decide_kind()
        self.is_sim = self.kind != "real"  # "sim" placeholders allowed
        self.is_place = "labgrid" in raw  # keys PLACE_FILLS may be left out

    # -- small typed accessors that name the key in every error ---------------------
    def fail(self, key: str, msg: str) -> BenchError:
        return BenchError(f"bench file {self.path}: {key}: {msg}")

    def table(self, d: dict, key: str, where: str, required: bool = True) -> dict:
        v = d.get(key)
        if v is None:
            if required:
                raise self.fail(_join(where, key), "missing table; see benches/example-lab.toml")
            return {}
        if not isinstance(v, dict):
            raise self.fail(_join(where, key), f"must be a table, not {_tname(v)}")
        return v

    def only(self, d: dict, where: str, allowed: tuple[str, ...]) -> None:
        for k in d:
            if k not in allowed:
                raise self.fail(
                    _join(where, k), f"unknown key; known keys here: {', '.join(allowed)}"
                )

    def value(self, d, key, where, kind, default=..., choices=None):
        full = _join(where, key)
        if key not in d:
            if default is ...:
                raise self.fail(full, f"missing (expected {kind.__name__})")
            return default
        v = d[key]
        ok = isinstance(v, kind) and not (kind in (int, float) and isinstance(v, bool))
        if kind is float and isinstance(v, int) and not isinstance(v, bool):
            v, ok = float(v), True
        if not ok:
            raise self.fail(full, f"must be {kind.__name__}, not {_tname(v)} {v!r}")
        if choices is not None and v not in choices:
            raise self.fail(full, f"{v!r} is not one of: {', '.join(map(str, choices))}")
        return v

    def fillable(self, where: str, key: str) -> bool:
        """A key the bench's labgrid place fills when the file leaves it out."""
        full = _join(where, key)
        return self.is_place and any(
            full == k or (k.startswith("phone.*.") and full.startswith("phone.")
                          and full.endswith(k[len("phone.*"):])) for k in PLACE_FILLS)

    def address(self, d, key, where, default=...):
        if key not in d and default is ... and self.fillable(where, key):
            default = places.FILLED
        v = self.value(d, key, where, str, default)
        if v == SIM and not self.is_sim:
            raise self.fail(
                _join(where, key),
                '"sim" is only allowed in a simulated bench (one with a [sim] table)',
            )
        return v

    def path_value(self, d, key, where, default=...):
        v = self.address(d, key, where, default)
        if v in (SIM, None):
            return v
        p = Path(v).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)

    # -- sections --------------------------------------------------------------------
    def decide_kind(self) -> str:
        """The bench's kind: the one kind table the file has ([sim], [netns]), else real."""
        tables = [k for k in kinds.KINDS if kinds.KINDS[k] is not None and k in self.raw]
        if len(tables) > 1:
            raise self.fail(tables[1], f"a bench is of one kind; this file has "
                                       f"{' and '.join(f'[{t}]' for t in tables)}")
        return tables[0] if tables else "real"

    def bench(self) -> Bench:
        top = ("bench", *kinds.TABLES, "relay", "gateway", "phone", "aircraft", "windows",
               "claims", "labgrid")
        self.only(self.raw, "", top)
        b = self.table(self.raw, "bench", "")
        self.only(b, "bench", ("name", "host_addresses"))
        name = self.value(b, "name", "bench", str)
        hosts = self.host_addresses(b)
        sim = self.kind_table()
        place = self.place()
        relay = self.relay()
        gateway = self.gateway()
        phones = self.phones(gateway)
        aircraft = self.aircraft(relay, phones)
        windows = self.windows()
        for i, h in enumerate(hosts):
            for p in phones.values():
                if h == p.ip:
                    raise self.fail(f"bench.host_addresses[{i}]", f"{h} is phone.{p.name}.ip; "
                                    "a phone's traffic is never control traffic")
        return Bench(self.path, name, relay, gateway, phones, aircraft, windows, sim, self.raw,
                     self.claims(), self.kind, hosts, place)

    def place(self) -> places.PlaceConfig | None:
        """The [labgrid] table (hil.place validates it); None: the bench is no place."""
        if not self.is_place:
            return None
        if self.is_sim:
            raise self.fail("labgrid", f"a {self.kind} bench is started here, not a labgrid "
                                       "place; a place is a real bench")
        return places.parse(Section(self, self.table(self.raw, "labgrid", ""), "labgrid"))

    def host_addresses(self, b: dict) -> tuple[str, ...]:
        """bench.host_addresses: IPv4 or IPv6 addresses, in the form a capture writes them
        (so "FD20::2" matches the flows of fd20::2); optional, none by default."""
        out = []
        for i, v in enumerate(self.value(b, "host_addresses", "bench", list, [])):
            key = f"bench.host_addresses[{i}]"
            if not isinstance(v, str):
                raise self.fail(key, f"must be a string (an IP address), not {_tname(v)} {v!r}")
            try:
                out.append(str(ipaddress.ip_address(v)))
            except ValueError:
                raise self.fail(key, f"{v!r} is not an IP address") from None
        return tuple(dict.fromkeys(out))

    def claims(self) -> ClaimsConfig:
        c = self.table(self.raw, "claims", "", required=False)
        self.only(c, "claims", ("media_fraction", "unknown_budget", "deferred_burst"))
        d = ClaimsConfig()
        fraction = self.value(c, "media_fraction", "claims", float, d.media_fraction)
        if not 0 < fraction <= 1:
            raise self.fail("claims.media_fraction", f"{fraction} must be in (0, 1]")
        budget = self.value(c, "unknown_budget", "claims", int, d.unknown_budget)
        if budget < 0:
            raise self.fail("claims.unknown_budget", f"{budget} must be a number of bytes >= 0")
        burst = self.value(c, "deferred_burst", "claims", str, d.deferred_burst,
                           choices=("fail", "report"))
        return ClaimsConfig(fraction, budget, burst)

    def kind_table(self) -> SimConfig | None:
        """The kind's own table, validated by the kind's module; None on a real bench."""
        module = kinds.module(self.kind)
        if module is None:
            return None
        return module.parse(Section(self, self.table(self.raw, self.kind, ""), self.kind))

    def relay(self) -> RelayConfig:
        r = self.table(self.raw, "relay", "")
        self.only(r, "relay", ("driver", "url", "channels"))
        driver = self.value(r, "driver", "relay", str, choices=tuple(boards.DRIVERS))
        url = self.address(r, "url", "relay")
        channels = self.value(r, "channels", "relay", int)
        try:
            boards.check_channels(driver, channels)
        except RelayError as e:
            raise self.fail("relay.channels", str(e)) from None
        return RelayConfig(driver, url, channels)

    def ssh(self, d: dict, where: str) -> SshTarget:
        host = self.address(d, "host", where)
        port = self.value(d, "port", where, int, 22)
        if host == SIM:
            port = 0
        user = self.address(d, "user", where) if self.fillable(where, "user") else \
            self.value(d, "user", where, str)
        key = self.path_value(d, "key", where)
        known = self.path_value(d, "known_hosts", where)
        return SshTarget(host, port, user, key, known)

    def gateway(self) -> GatewayConfig:
        g = self.table(self.raw, "gateway", "")
        keys = ("host", "port", "user", "key", "known_hosts", "lan_interface", "lan_subnet",
                "capture_dir")
        self.only(g, "gateway", keys)
        ssh = self.ssh(g, "gateway")
        iface = self.value(g, "lan_interface", "gateway", str)
        subnet, prefixes = self.lan_subnet(g)
        capture_dir = self.value(g, "capture_dir", "gateway", str, "/tmp/hil-captures")
        return GatewayConfig(ssh, iface, subnet, capture_dir, prefixes)

    def lan_subnet(self, g: dict) -> tuple[ipaddress.IPv4Network, tuple]:
        """gateway.lan_subnet: one network, or a list of them, IPv4 and IPv6 (a dual-stack
        LAN's prefixes beside its IPv4 network); exactly one IPv4 network (the phones'
        `ip` are in it). The IPv4 network and every prefix, IPv4 first."""
        key = "gateway.lan_subnet"
        raw = g.get("lan_subnet")
        if raw is None:
            raise self.fail(key, 'missing (e.g. "10.20.0.0/24" or ["10.20.0.0/24", '
                                 '"fd20::/64"])')
        values = raw if isinstance(raw, list) else [raw]
        nets = []
        for i, v in enumerate(values):
            where = f"{key}[{i}]" if isinstance(raw, list) else key
            if not isinstance(v, str):
                raise self.fail(where, f"must be a string (a network), not {_tname(v)} {v!r}")
            try:
                net = ipaddress.ip_network(v)
            except ValueError as e:
                raise self.fail(where, f"{v!r} is not an IPv4 or IPv6 network: {e}") from None
            # Addresses in these are the LAN's own, never the internet: a prefix wider than
            # any LAN ("2000::/3", "0.0.0.0/0") would hide every leak behind it.
            widest = _WIDEST_LAN[net.version]
            if net.prefixlen < widest:
                usual = "; a LAN's IPv6 prefix is normally a /64" if net.version == 6 else ""
                raise self.fail(where, f"{v!r} is wider than any LAN (/{widest} at most for "
                                       f"IPv{net.version}{usual}): addresses in it would never "
                                       "count as internet")
            nets.append(net)
        v4 = [n for n in nets if n.version == 4]
        if len(v4) != 1:
            raise self.fail(key, f"needs exactly one IPv4 network (the phones' ip are in it), "
                                 f"has {len(v4)}: {', '.join(map(str, v4)) or 'none'}")
        return v4[0], tuple([v4[0]] + [n for n in nets if n.version == 6])

    def phones(self, gateway: GatewayConfig) -> dict[str, PhoneConfig]:
        out = {}
        for name, p in self.table(self.raw, "phone", "").items():
            where = f"phone.{name}"
            if not isinstance(p, dict):
                raise self.fail(where, f"must be a table, not {_tname(p)}")
            backend = self.phone_backend(p, where)
            self.only_phone_keys(p, where, backend)
            ip = self.value(p, "ip", where, str)
            try:
                addr = ipaddress.IPv4Address(ip)
            except ValueError:
                raise self.fail(f"{where}.ip", f"{ip!r} is not an IPv4 address") from None
            if addr not in gateway.lan_subnet:
                raise self.fail(
                    f"{where}.ip", f"{ip} is outside gateway.lan_subnet {gateway.lan_subnet}"
                )
            platform = self.value(p, "platform", where, str, choices=PLATFORMS)
            mac = self.mac(p, where)
            section = Section(self, p, where)
            options = backends.module(backend).parse(section)
            hand = operator.by_hand(section)
            who = operator.person(section) if hand or backend == "operator" else None
            out[name] = PhoneConfig(name, backend, ip, platform, options, mac=mac, by_hand=hand,
                                    person=who)
        macs: dict[str, str] = {}
        for p in out.values():
            if p.mac and p.mac in macs:
                raise self.fail(f"phone.{p.name}.mac", f"{p.mac} is phone.{macs[p.mac]}.mac too; "
                                                       "each phone has its own")
            if p.mac:
                macs[p.mac] = p.name
        if not out:
            raise self.fail("phone", "the bench has no phone; add a [phone.NAME] table")
        return out

    def mac(self, p: dict, where: str) -> str | None:
        """phone.NAME.mac: the MAC the phone uses on the gateway's Wi-Fi, six hex octets
        (":" or "-"), a unicast address; None when not given. Android (10 and later) and
        iOS (14 and later) use a randomized MAC per network by default: give the one the
        phone shows for the lab's Wi-Fi (Android: Wi-Fi > the network > Privacy/"MAC
        address"; iOS: Wi-Fi > (i) > "Private Wi-Fi Address"), not the hardware MAC."""
        v = self.value(p, "mac", where, str, None)
        if v is None:
            return None
        parts = v.replace("-", ":").split(":")
        ok = len(parts) == 6 and all(len(x) == 2 and all(c in "0123456789abcdefABCDEF"
                                                         for c in x) for x in parts)
        if not ok:
            raise self.fail(f"{where}.mac", f"{v!r} is not a MAC address (six hex octets, e.g. "
                                            '"02:1a:2b:3c:4d:5e"); give the per-network MAC the '
                                            "phone uses on the lab's Wi-Fi")
        if int(parts[0], 16) & 1:
            raise self.fail(f"{where}.mac", f"{v} is a multicast address, not a phone's")
        return ":".join(parts).lower()

    def phone_backend(self, p: dict, where: str) -> str:
        backend = self.value(p, "backend", where, str)
        if backend in backends.RENAMED:
            raise self.fail(f"{where}.backend", f"backend {backend!r} is now called "
                                                f"{backends.RENAMED[backend]!r}: write "
                                                f'backend = "{backends.RENAMED[backend]}"')
        if backend not in backends.BACKENDS:
            raise self.fail(f"{where}.backend", f"{backend!r} is not a phone backend; known: "
                                                f"{', '.join(backends.BACKENDS)}")
        return backend

    def only_phone_keys(self, p: dict, where: str, backend: str) -> None:
        """Every key of a phone is a phone's or its backend's."""
        own = backends.module(backend).KEYS
        if "by_hand" in p:
            own = (*own, *(k for k in operator.KEYS if k not in own))
        for k in p:
            if k not in PHONE_KEYS and k not in own:
                if k in operator.KEYS:
                    raise self.fail(_join(where, k),
                                    f"{k!r} is the person's who answers by hand: a key of a "
                                    "phone on the operator backend or with a by_hand list")
                raise self.fail(_join(where, k),
                                f"the {backend} backend takes no key {k!r}; its keys: "
                                f"{', '.join(own) or 'none'} (and every phone's: "
                                f"{', '.join(PHONE_KEYS)})")

    def power(self, d: dict, where: str, relay: RelayConfig, model: Model, default_seq: str):
        self.only(d, where, ("relay", "sequence", "short", "gap", "long", "off_time"))
        ch = self.value(d, "relay", where, int)
        if not 0 <= ch < relay.channels:
            raise self.fail(
                f"{where}.relay",
                f"channel {ch} does not exist on {_a(relay.channels)} {relay.channels}-channel "
                f"{relay.driver} board (channels 0-{relay.channels - 1})",
            )
        seq = self.value(d, "sequence", where, str, default_seq, choices=SEQUENCES)
        b = model.button
        timing = ButtonTiming(
            short=self.value(d, "short", where, float, b.short),
            gap=self.value(d, "gap", where, float, b.gap),
            long=self.value(d, "long", where, float, b.long),
        )
        if not 0 < timing.short < timing.long:
            raise self.fail(where, f"a button's short press ({timing.short} s) must be "
                                   f"shorter than its long press ({timing.long} s)")
        off_time = self.value(d, "off_time", where, float, 2.0)
        return PowerConfig(ch, seq, timing, off_time)

    def aircraft(self, relay: RelayConfig, phones: dict) -> dict[str, AircraftConfig]:
        out: dict[str, AircraftConfig] = {}
        used: dict[int, str] = {}
        for name, a in self.table(self.raw, "aircraft", "").items():
            where = f"aircraft.{name}"
            if not isinstance(a, dict):
                raise self.fail(where, f"must be a table, not {_tname(a)}")
            self.only(a, where, ("model", "phone", "power", "controller", "link", "firmware"))
            model_id = self.value(a, "model", where, str)
            try:
                model = models.get(model_id)
            except models.UnknownModel as e:
                raise self.fail(f"{where}.model", str(e)) from None
            phone = self.value(a, "phone", where, str)
            if phone not in phones:
                raise self.fail(
                    f"{where}.phone", f"no [phone.{phone}] in this bench; phones: "
                    f"{', '.join(phones)}"
                )
            power = self.power(self.table(a, "power", where), f"{where}.power", relay, model,
                               model.aircraft_sequence)
            ctrl = self.power(self.table(a, "controller", where), f"{where}.controller", relay,
                              model, model.controller_sequence)
            for key, cfg in (("power", power), ("controller", ctrl)):
                if cfg.relay in used:
                    raise self.fail(f"{where}.{key}.relay",
                                    f"channel {cfg.relay} is already used by {used[cfg.relay]}")
                used[cfg.relay] = f"{where}.{key}"
            link = self.address(a, "link", where, model.default_link)
            if link != SIM and (problem := links.check(link)):
                raise self.fail(f"{where}.link", problem)
            firmware = self.value(a, "firmware", where, str, None)
            if self.is_sim and firmware is None:
                raise self.fail(f"{where}.firmware", "a simulated aircraft needs a firmware "
                                                     'version, e.g. "01.00.0900"')
            out[name] = AircraftConfig(name, model, phone, power, ctrl, link, firmware)
        if not out:
            raise self.fail("aircraft", "the bench has no aircraft; add an [aircraft.NAME] table")
        return out

    def windows(self) -> Windows:
        w = self.table(self.raw, "windows", "")
        self.only(w, "windows", ("boot", "observe", "video", "listen"))
        boot = self.value(w, "boot", "windows", float, None)
        observe = self.value(w, "observe", "windows", float)
        video = self.value(w, "video", "windows", float, 5.0)
        listen = self.value(w, "listen", "windows", float, 2.5)
        for k, v in (("boot", boot), ("observe", observe), ("video", video),
                     ("listen", listen)):
            if v is not None and v <= 0:
                raise self.fail(f"windows.{k}", f"{v} must be a positive number of seconds")
        return Windows(boot, observe, video, listen)


def _a(n: int) -> str:
    return "an" if str(n).startswith("8") or n in (11, 18) else "a"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _tname(v: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(v), type(v).__name__)
