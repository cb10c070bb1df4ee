"""The Kivu claims as pure judges: the evidence of a claim test in, a verdict out.

Each judge takes the phases of one claim test (`PhaseView`: its window on the gateway's
clock, the harness's actions, the flows and DNS lookups that started in it) and returns a
`Verdict`:

- `pass`: the claim held and its positive control worked;
- `fail`: the claim was violated; the reasons name the flows that violate it;
- `error`: the positive control failed (nothing heard from the phone, no NFZ check, the
  uplink never came back), so the run cannot say anything about the claim. A deaf sniffer
  is an error, never a pass.

Judges never do I/O.

Name resolution (a flow of category `dns`: DNS on port 53, DNS over TLS on 853; see
`hil.capture.catalog`) is judged by what it resolves, not as a destination: G1 never
counts it as unknown nor as a catalogued endpoint answering, and the app's traffic
returning (K7, K8) is never shown by a lookup. Where lookups are plaintext (port 53) the
judges read their names (K5, K7, K8), so a lookup of a diagnostics or app name is a
violation whatever the resolver's flow is called; an encrypted lookup (DNS over TLS on
853, DNS over HTTPS to a resolver the catalog lists as `dns`) hides its name: when the
phone resolved that way in the session, the verdicts of the claims relying on lookups
(K5, K7, K8) say the lookups were not visible, and a pass rests on the flows alone
(`seen_as`). K1 (volume) and K6 (anything answered while cut) look at every flow, name
resolution included.

The phone is its IPv4 address and, with its MAC in the bench file, every address that MAC
used in the session (IPv6 ones: `identify`). "Internet" is any unicast address outside
the LAN's prefixes (IPv4 and IPv6; global and ULA alike); link-local and multicast never
are. Without a MAC, IPv6 traffic is not attributed and every verdict says so; a capture
showing IPv6 from the phone's MAC then makes every claim judged on it an ERROR.

Control traffic is the bench host's own (`Context.bench_hosts`: adb over Wi-Fi, SSH to an
agent on the phone, and on K8's whole-LAN capture anything else the host does): a flow
with a bench host address at either end, and a lookup the bench host asks. No judge counts
it, as a violation or as a control: every judge sees its phases through `phone_side()`.
The evidence lists it per phase, apart (`Context.control` is the one test of it).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hil.capture.flows import DNS_PORT

PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass(frozen=True)
class Verdict:
    claim: str
    status: str
    reasons: tuple[str, ...]
    decisive: tuple[Any, ...] = ()  # the flows that decided it

    def to_dict(self) -> dict:
        return {"claim": self.claim, "status": self.status, "reasons": list(self.reasons),
                "decisive": [_flow_label(f) for f in self.decisive]}


@dataclass
class PhaseView:
    """What a judge sees of one phase."""

    name: str
    start: float
    end: float
    actions: list = field(default_factory=list)
    flows: list = field(default_factory=list)
    dns: list = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """What a judge knows of the bench beyond the phases.

    The phone is `phone_ip` and every address in `phone_addresses` (the addresses its MAC
    used in the session: IPv6 ones, privacy addresses included; see `identify()`).
    `lan_subnet` is the LAN's network or a sequence of its prefixes, IPv4 and IPv6.
    `unseen` says what the session's capture could not show (each verdict repeats it);
    `unattributed` lists IPv6 addresses the phone's MAC used that the harness could not
    attribute (the bench gives no MAC): every verdict on such a capture is an ERROR naming
    them. `encrypted_dns` labels the phone's encrypted name resolution in the session
    (DNS over TLS, DNS over HTTPS): a verdict relying on lookups says they were not
    visible."""

    phone_ip: str
    lan_subnet: Any
    # how far an action's time (harness clock mapped onto the gateway's) may be off from
    # the capture's clock: "after the action" means after the action minus this slack
    clock_slack: float = 0.0
    # the bench's other phones (other stations, possibly mid-session while this one is
    # judged): on a whole-LAN capture their traffic is judged by their own sessions; every
    # address each used (IPv4 and IPv6)
    other_phones: frozenset[str] = frozenset()
    # the bench host's own addresses (bench.host_addresses): its traffic is control traffic
    bench_hosts: frozenset[str] = frozenset()
    phone_addresses: frozenset[str] = frozenset()
    phone_mac: str | None = None
    unseen: tuple[str, ...] = ()
    unattributed: tuple[str, ...] = ()
    encrypted_dns: tuple[str, ...] = ()

    @property
    def prefixes(self) -> tuple:
        """The LAN's networks, IPv4 and IPv6."""
        nets = self.lan_subnet
        if isinstance(nets, (ipaddress.IPv4Network, ipaddress.IPv6Network, str)):
            nets = (nets,)
        return tuple(ipaddress.ip_network(n) for n in nets)

    @property
    def phone(self) -> frozenset[str]:
        """Every address of the phone: its IPv4 address and those its MAC used."""
        return self.phone_addresses | {self.phone_ip}

    def is_phone(self, address: str) -> bool:
        return address == self.phone_ip or address in self.phone_addresses

    def control(self, flow) -> bool:
        """The flow is control traffic: a bench host address is at one of its ends. Such a
        flow is the harness talking to a device (or the host's own business), never the
        phone's: no judge counts it."""
        return flow.src in self.bench_hosts or flow.dst in self.bench_hosts

    def internet(self, ip: str) -> bool:
        """Beyond the LAN: any unicast address outside the LAN's prefixes, IPv4 or IPv6
        (global and ULA alike); never link-local, multicast, loopback or unspecified. An
        IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is judged as the IPv4 address it
        carries."""
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if a.version == 6 and a.ipv4_mapped is not None:
            a = a.ipv4_mapped
        if any(a.version == n.version and a in n for n in self.prefixes):
            return False
        return not (a.is_multicast or a.is_link_local or a.is_loopback or a.is_unspecified
                    or (a.version == 4 and a == ipaddress.IPv4Address("255.255.255.255")))


def encrypted_resolution(flows: Iterable, ctx: Context) -> list:
    """The phone's flows that resolve names over an encrypted channel: category `dns` on
    any port but plaintext DNS's (DNS over TLS on 853, a DNS-over-HTTPS endpoint the
    catalog lists as `dns`), with at least one packet up."""
    return [f for f in flows if f.category == "dns" and f.dport != DNS_PORT
            and ctx.is_phone(f.src) and f.packets_up > 0]


def identify(ctx: Context, stations, phone_name: str = "the phone",
             flows: Iterable = (), neighbours: Iterable[str] = (),
             others: Iterable[tuple[str, str | None]] = ()) -> Context:
    """The context of one session's capture, given who sent what on the LAN.

    `stations` (hil.capture.hosts.Stations) maps each MAC to the addresses it sent from.
    With the phone's MAC (`ctx.phone_mac`), the phone is every address that MAC used and
    every address in `neighbours` (the gateway's neighbour table for that MAC). Without
    one, it is its IPv4 address only, and every verdict says IPv6 traffic was not
    attributed; if the MAC its IPv4 frames came from also sent from IPv6 addresses (global
    or ULA: link-local ones cannot leave the LAN), those are `unattributed` and the claims
    judged on that capture are ERRORs naming them. `others` are the bench's other phones
    as (IPv4 address, MAC or None): each becomes every address it used too. `flows` (the
    session's) give `encrypted_dns`."""
    mac = ctx.phone_mac
    changes: dict[str, Any] = {}
    if mac:
        changes["phone_addresses"] = frozenset(
            stations.addresses_of(mac) | set(neighbours) | set(ctx.phone_addresses))
    else:
        learned = sorted(stations.macs_of(ctx.phone_ip))
        v6 = sorted({a for m in learned for a in stations.ipv6_of(m)})
        changes["unseen"] = (*ctx.unseen, (
            f"IPv6 traffic was not attributed: the bench file gives no mac for {phone_name}, "
            f"so only its IPv4 address {ctx.phone_ip} is the phone's"),)
        if v6:
            changes["unattributed"] = (*ctx.unattributed, *(
                f"{a} (from MAC {', '.join(m for m in learned if a in stations.ipv6_of(m))})"
                for a in v6))
    other = set(ctx.other_phones)
    for ip, m in others:
        other.add(ip)
        other |= stations.addresses_of(m or next(iter(sorted(stations.macs_of(ip))), None))
    changes["other_phones"] = frozenset(other)
    ctx = dataclasses.replace(ctx, **changes)
    dot = [_flow_label(f) for f in encrypted_resolution(flows, ctx)]
    return dataclasses.replace(ctx, encrypted_dns=tuple(dot)) if dot else ctx


# what each judge's verdict rests on: "traffic" (flows), "lookups" (the DNS records too)
RELIES_ON: dict[str, tuple[str, ...]] = {
    "K1": ("traffic",), "K3": ("traffic",), "K4": ("traffic",), "K6": ("traffic",),
    "K5": ("traffic", "lookups"), "K7": ("traffic", "lookups"),
    "K8": ("traffic", "lookups"), "G1": ("traffic",),
}


def seen_as(verdict: Verdict, ctx: Context) -> Verdict:
    """A judge's verdict, saying what the capture could not show.

    - IPv6 addresses of the phone's MAC that the harness could not attribute
      (`ctx.unattributed`): an ERROR naming them, whatever the judge said: a pass or a
      fail on traffic the harness could not see as the phone's proves nothing;
    - a claim relying on lookups, with the phone resolving over an encrypted channel in
      the session: its reasons say the lookups were not visible (a pass then rests on
      flows alone);
    - `ctx.unseen` (e.g. IPv6 not attributed without a MAC) on every verdict.
    """
    relies = RELIES_ON.get(verdict.claim, ("traffic",))
    if ctx.unattributed:
        return Verdict(verdict.claim, ERROR, (
            "the capture shows IPv6 traffic from the phone's MAC that the harness could not "
            "attribute to it (the bench file gives no mac for the phone): "
            + ", ".join(ctx.unattributed)
            + "; give phone.NAME.mac (the phone's per-network MAC) so that every address it "
            "uses is the phone's",
            *(f"the judge alone said {verdict.status.upper()}: {r}" for r in verdict.reasons[:1])),
            verdict.decisive)
    extra = []
    if "lookups" in relies and ctx.encrypted_dns:
        extra.append(
            f"lookups were not visible: the phone resolved names over an encrypted channel "
            f"({len(ctx.encrypted_dns)} flow(s), e.g. {ctx.encrypted_dns[0]}); no name it "
            "looked up there could be read"
            + (", so this pass rests on flows alone" if verdict.status == PASS else ""))
    extra += list(ctx.unseen)
    if not extra:
        return verdict
    return dataclasses.replace(verdict, reasons=(*verdict.reasons, *extra))


def _sees(fn):
    """A judge whose verdict goes through `seen_as` with the Context it was given; the
    phone's encrypted resolution in the phases it was given counts as the session's."""
    @functools.wraps(fn)
    def judge(*args, **kwargs):
        verdict = fn(*args, **kwargs)
        given = (*args, *kwargs.values())
        ctx = next((a for a in given if isinstance(a, Context)), None)
        if ctx is None:
            return verdict
        phases = [p for a in given for p in (a if isinstance(a, list) else [a])
                  if isinstance(p, PhaseView)]
        seen = [_flow_label(f) for p in phases for f in encrypted_resolution(p.flows, ctx)]
        if seen:
            ctx = dataclasses.replace(ctx, encrypted_dns=tuple(
                dict.fromkeys((*ctx.encrypted_dns, *seen))))
        return seen_as(verdict, ctx)
    return judge


def phone_side(ctx: Context, *phases: PhaseView) -> list[PhaseView]:
    """The phases as the judges see them: without control traffic (`Context.control`) and
    without the bench host's own lookups. A phone's lookup stays, whatever resolver it
    asks: lookups are judged by the names they ask for."""
    if not ctx.bench_hosts:
        return list(phases)
    return [dataclasses.replace(p, flows=[f for f in p.flows if not ctx.control(f)],
                                dns=[d for d in p.dns if d.client not in ctx.bench_hosts])
            for p in phases]


def _flow_label(f) -> str:
    name = f.server_name or "?"
    label = (f"{f.proto} {f.src}:{f.sport} -> {f.dst}:{f.dport} {name} [{f.category}] "
             f"up {f.bytes_up} B / down {f.bytes_down} B")
    opened = getattr(f, "opened", None)  # a slice of a flow begun before this phase
    if opened is not None and opened < f.first:
        label += f" in this phase, on a connection open {f.first - opened:.3f} s before"
    return label


def _of(flows: Iterable, category: str) -> list:
    return [f for f in flows if f.category == category and f.bytes_up > 0]


def _from_phone(phase: PhaseView, ctx: Context) -> list:
    return [f for f in phase.flows if ctx.is_phone(f.src) and f.packets_up > 0]


def _heard(phase: PhaseView, ctx: Context, claim: str) -> Verdict | None:
    if not _from_phone(phase, ctx):
        return Verdict(claim, ERROR, (
            f"control failed: not one packet from the phone {ctx.phone_ip} in phase "
            f"'{phase.name}'; the capture is deaf or the phone is not on the gateway, so "
            "nothing can be concluded",))
    return None


def _lookups(phase: PhaseView, category_of) -> list:
    return [d for d in phase.dns if category_of(d.qname) == "diagnostics"]


@_sees
def k4_diagnostics_at_power_on(power_on: PhaseView, ctx: Context) -> Verdict:
    """K4: with the app's defaults, diagnostics and a no-fly-zone check are sent after
    power-on, within the observation window."""
    claim = "K4"
    [power_on] = phone_side(ctx, power_on)
    err = _heard(power_on, ctx, claim)
    if err:
        return err
    diag = _of(power_on.flows, "diagnostics")
    nfz = _of(power_on.flows, "nfz")
    reasons = []
    if diag:
        reasons.append(f"{len(diag)} diagnostics upload(s), {sum(f.bytes_up for f in diag)} B "
                       f"up, e.g. {_flow_label(diag[0])}")
    else:
        reasons.append("no diagnostics flow in the window after power-on")
    if nfz:
        reasons.append(f"{len(nfz)} no-fly-zone check(s), e.g. {_flow_label(nfz[0])}")
    else:
        reasons.append("no no-fly-zone check in the window after power-on")
    status = PASS if diag and nfz else FAIL
    return Verdict(claim, status, tuple(reasons), tuple(diag + nfz))


@_sees
def k5_diagnostics_setting_off(power_on: PhaseView, ctx: Context, category_of) -> Verdict:
    """K5: with "diagnostics" off in the app, no diagnostics after power-on.

    Control: a no-fly-zone check in the same window shows that the app ran, was linked to
    the aircraft, was heard, and could reach the internet.
    """
    claim = "K5"
    [power_on] = phone_side(ctx, power_on)
    err = _heard(power_on, ctx, claim)
    if err:
        return err
    nfz = _of(power_on.flows, "nfz")
    if not nfz:
        return Verdict(claim, ERROR, (
            "control failed: no no-fly-zone check after power-on, so the app was not seen "
            "working; the absence of diagnostics proves nothing",))
    diag = _of(power_on.flows, "diagnostics")
    lookups = _lookups(power_on, category_of)
    if diag or lookups:
        reasons = [f"diagnostics sent with the setting off: {_flow_label(f)}" for f in diag]
        reasons += [f"lookup of diagnostics endpoint {d.qname} at {d.ts:.3f}" for d in lookups
                    if not diag]
        return Verdict(claim, FAIL, tuple(reasons), tuple(diag))
    return Verdict(claim, PASS, (
        "no diagnostics flow and no lookup of a diagnostics endpoint with the setting off",
        f"control: {len(nfz)} no-fly-zone check(s), e.g. {_flow_label(nfz[0])}"), tuple(nfz))


@_sees
def k6_uplink_cut(cut: PhaseView, restored: PhaseView, ctx: Context,
                  deferred_burst: str = "fail") -> Verdict:
    """K6: with the phone's uplink cut at the gateway, nothing leaves.

    Seen from the phone's side of the gateway, a flow that left would get an answer or,
    for TCP, carry payload (which needs a completed handshake). Attempts without answer
    are expected and listed. Controls: the phone is heard during the cut, and, for a pass,
    some flow reaches the internet after the restore (the cut, not the app, made the
    difference). A leak seen during the cut fails the claim whatever happens after.
    Diagnostics sent after the restore are a deferred burst: reported, and a failure
    unless the bench sets `deferred_burst = "report"`.
    """
    claim = "K6"
    cut, restored = phone_side(ctx, cut, restored)
    err = _heard(cut, ctx, claim)
    if err:
        return err
    out = [f for f in _from_phone(cut, ctx) if ctx.internet(f.dst)]
    leaked = [f for f in out if f.packets_down > 0 or (f.proto == "tcp" and f.bytes_up > 0)]
    reached = [f for f in _from_phone(restored, ctx)
               if ctx.internet(f.dst) and f.packets_down > 0]
    if leaked:  # a proven leak stands on its own; the restore control only backs a pass
        return Verdict(claim, FAIL, tuple(
            f"left the bench while the uplink was cut: {_flow_label(f)}" for f in leaked),
            tuple(leaked))
    burst = _of(restored.flows, "diagnostics")
    if burst and deferred_burst == "fail":
        return Verdict(claim, FAIL, (
            f"deferred burst after restore: {len(burst)} diagnostics flow(s), "
            f"{sum(f.bytes_up for f in burst)} B up, held back while the uplink was cut",
            *(_flow_label(f) for f in burst)), tuple(burst))
    if not reached:
        return Verdict(claim, ERROR, (
            f"control failed: after the uplink was restored, no flow from {ctx.phone_ip} got "
            "an answer from the internet; the cut cannot be shown to be the difference",))
    reasons = [f"uplink cut: {len(out)} attempt(s) to the internet, none answered, "
               "no TCP payload",
               f"control: after restore {len(reached)} flow(s) answered, e.g. "
               f"{_flow_label(reached[0])}"]
    if burst:
        reasons.append(f"deferred burst after restore: {len(burst)} diagnostics flow(s), "
                       f"{sum(f.bytes_up for f in burst)} B up (reported: the bench sets "
                       "deferred_burst = \"report\")")
    return Verdict(claim, PASS, tuple(reasons), tuple(reached))


# -- helpers shared by the claims below ---------------------------------------------------

def _resolves_names(f) -> bool:
    """The flow is name resolution (category `dns`), plaintext or encrypted."""
    return f.category == "dns"


def _internet_flows(phase: PhaseView, ctx: Context) -> list:
    return [f for f in phase.flows if ctx.internet(f.dst) and f.packets_up > 0]


def _answered(phase: PhaseView, ctx: Context, who=None) -> list:
    """Flows to the internet that got an answer, name resolution aside; only from the
    addresses in `who` when given."""
    return [f for f in _internet_flows(phase, ctx) if f.packets_down > 0
            and not _resolves_names(f) and (who is None or f.src in who)]


def _destination(f) -> str:
    return f.server_name or f.dst


def _per_destination(flows) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in flows:
        out[_destination(f)] = out.get(_destination(f), 0) + f.bytes_up
    return out


def _app_traffic(phase: PhaseView, ctx: Context, category_of, clients=None,
                 exclude=frozenset()) -> list[str]:
    """What left for the internet that is not the phone OS's own noise, in words: every
    flow but `os` ones and name resolution, and every lookup of a name that is not `os`
    (plaintext DNS is judged by the names it asks for; an encrypted lookup, DNS over TLS
    or HTTPS, hides them: its flow shows only that some name was resolved, by the app or
    the OS, so it is no evidence either way, and `seen_as` says the lookups were not
    visible).

    Only from `clients` when given; never from the hosts in `exclude`.
    """
    out = []
    for f in _internet_flows(phase, ctx):
        if (clients is not None and f.src not in clients) or f.src in exclude:
            continue
        if not _resolves_names(f) and f.category != "os":
            out.append(_flow_label(f))
    for d in phase.dns:
        if (clients is not None and d.client not in clients) or d.client in exclude:
            continue
        if d.qname and category_of(d.qname) != "os":
            out.append(f"lookup of {d.qname} by {d.client} at {d.ts:.3f}")
    return out


# -- K1 K2 K3 K7 K8 G1 -------------------------------------------------------------------

@_sees
def k1_no_automatic_media_upload(observe: PhaseView, share: PhaseView, ctx: Context,
                                 media: list[dict], shared: dict, fraction: float) -> Verdict:
    """K1: after photos and video are taken, no media is uploaded unless the user shares.

    In the observation window: no `media` flow, and no single destination receiving more
    than `fraction` of the smallest new file's size (a photo-sized upload counts as media
    whatever its name; the bench host pulling a photo over adb is control traffic, not an
    upload). Control: after "share" of one photo, an upload of at least its size is seen.
    """
    claim = "K1"
    observe, share = phone_side(ctx, observe, share)
    if not _from_phone(observe, ctx) and not _from_phone(share, ctx):
        return _heard(observe, ctx, claim)
    if not media:
        return Verdict(claim, ERROR, ("no media was taken, so nothing can be concluded",))
    limit = fraction * min(m["size"] for m in media)
    named = _of(observe.flows, "media")
    volume = {d: b for d, b in _per_destination(_internet_flows(observe, ctx)).items()
              if b > limit}
    if named or volume:
        reasons = [f"media upload without a share: {_flow_label(f)}" for f in named]
        heavy = [f for f in _internet_flows(observe, ctx)
                 if _destination(f) in volume and f not in named]
        reasons += [f"{b} B uploaded to {d}, more than {fraction:g} of the smallest new file "
                    f"({min(m['size'] for m in media)} B)" for d, b in volume.items()]
        reasons += [f"to {_destination(f)}: {_flow_label(f)}" for f in heavy]
        return Verdict(claim, FAIL, tuple(reasons), tuple(named + heavy))
    t_share = next((a.t for a in share.actions if a.what.startswith("share")), share.start)
    ups = [f for f in _internet_flows(share, ctx) if f.first >= t_share - ctx.clock_slack
           and f.bytes_up >= shared["size"]]
    if not ups:
        return Verdict(claim, ERROR, (
            f"control failed: after sharing photo {shared['index']} ({shared['size']} B) no "
            "upload of at least that size was seen; the capture cannot be trusted to see "
            "one",))
    sizes = sorted({m["size_from"] for m in media if m.get("size_from")})
    return Verdict(claim, PASS, (
        f"{len(media)} new file(s) ({', '.join(str(m['size']) for m in media)} B): no media "
        f"flow and no destination over {int(limit)} B in the window",
        f"control: the shared photo went up, {_flow_label(ups[0])}",
        *(f"sizes: {x}" for x in sizes)), tuple(ups))


def k2_logs_recorded(before: dict, after: dict, cannot: dict | None = None) -> Verdict:
    """K2: a power session adds a flight log on the aircraft and a record in the app.

    `before`/`after` hold the aircraft's log list (LOG_ENTRY ids) and the app's
    flight-record store, read in the previous power session and after this one; a store
    that nothing on the bench can list is None, and `cannot[store]` says why. The claim is
    then judged on the store that was read, and the verdict says which part was not; with
    neither, it cannot be judged (ERROR: never a pass on evidence that was not gathered).
    """
    claim = "K2"
    cannot = cannot or {}
    parts = (("aircraft_logs", "aircraft", "logs"), ("app_records", "app", "flight records"))
    reasons, grew, skipped = [], [], []
    for key, who, what in parts:
        if before.get(key) is None or after.get(key) is None:
            skipped.append(f"{who} part not judged: {cannot.get(key, 'it was not read')}")
            continue
        old = {b["id"] for b in before[key]}
        new = [e for e in after[key] if e["id"] not in old]
        grew.append(bool(new))
        reasons.append(f"{who}: {len(before[key])} -> {len(after[key])} {what}"
                       + (f", new: {new[-1]}" if new else f", no new {what[:-1]}"))
    if not grew:
        return Verdict(claim, ERROR, tuple(skipped))
    return Verdict(claim, PASS if all(grew) else FAIL, tuple(reasons + skipped))


@_sees
def k3_logs_only_on_sync(before_sync: list[PhaseView], sync: PhaseView, ctx: Context,
                         unsynced: int | None) -> Verdict:
    """K3: flight logs reach the server only when the user syncs.

    Before "sync": no `flightlog` upload. Control: after "sync", flight-log uploads of at
    least `unsynced` bytes (the records the app had not synced). `unsynced` None: nobody
    could size the app's records (a person counted them): the control is then at least
    one flight-log upload after sync, and the verdict says its size was not checked.
    """
    claim = "K3"
    *before_sync, sync = phone_side(ctx, *before_sync, sync)
    if not any(_from_phone(p, ctx) for p in [*before_sync, sync]):
        return _heard(sync, ctx, claim)
    early = [f for p in before_sync for f in _of(p.flows, "flightlog")]
    if early:
        return Verdict(claim, FAIL, tuple(f"flight log uploaded without a sync (phase "
                                          f"before sync): {_flow_label(f)}" for f in early),
                       tuple(early))
    t_sync = next((a.t for a in sync.actions if a.what.startswith("sync")), sync.start)
    ups = [f for f in _of(sync.flows, "flightlog") if f.first >= t_sync - ctx.clock_slack]
    if unsynced is None:
        sent = sum(f.bytes_up for f in ups)
        if not ups or sent == 0:
            return Verdict(claim, ERROR, (
                "control failed: after sync, no upload to flight-log endpoints (the records' "
                "sizes are unknown: nothing on the bench could read them)",))
        return Verdict(claim, PASS, (
            "no flight-log upload before sync",
            f"control: after sync {sent} B to flight-log endpoints, e.g. "
            f"{_flow_label(ups[0])}; not checked against the records' size: nothing on the "
            "bench could read it (a person counted the records)"), tuple(ups))
    if sum(f.bytes_up for f in ups) < unsynced:
        return Verdict(claim, ERROR, (
            f"control failed: after sync, {sum(f.bytes_up for f in ups)} B went to flight-log "
            f"endpoints, less than the {unsynced} B of unsynced records",))
    return Verdict(claim, PASS, (
        "no flight-log upload before sync",
        f"control: after sync {sum(f.bytes_up for f in ups)} B to flight-log endpoints "
        f"(unsynced records: {unsynced} B), e.g. {_flow_label(ups[0])}"), tuple(ups))


@_sees
def k7_local_data_mode(ldm_on: PhaseView, ldm_off: PhaseView, ctx: Context,
                       category_of) -> Verdict:
    """K7: with Local Data Mode on, the app sends nothing to the internet.

    The phone's OS may (category `os`). Control: once Local Data Mode is off again, the
    app's traffic is seen and answered.
    """
    claim = "K7"
    ldm_on, ldm_off = phone_side(ctx, ldm_on, ldm_off)
    leaks = _app_traffic(ldm_on, ctx, category_of, clients=ctx.phone)
    if leaks:
        return Verdict(claim, FAIL, tuple(f"with Local Data Mode on: {x}" for x in leaks))
    back = _answered(ldm_off, ctx, ctx.phone)
    if not back:
        return Verdict(claim, ERROR, (
            "control failed: with Local Data Mode off again, no app traffic was seen; the "
            "silence before proves nothing",))
    return Verdict(claim, PASS, (
        "with Local Data Mode on: no app flow and no app lookup left for the internet",
        f"control: after turning it off, {_flow_label(back[0])}"), tuple(back))


@_sees
def k8_nothing_without_app(app_closed: PhaseView, app_open: PhaseView, ctx: Context,
                           category_of) -> Verdict:
    """K8: aircraft and controller powered, app closed: no bench device sends anything.

    Judged on everything the gateway saw on its LAN (phones' OS noise aside) except the
    bench's other phones (`ctx.other_phones`): they belong to other stations, whose
    sessions may run at the same time and whose own K8 judges them. Control: once the app
    is launched, its traffic is seen and answered.
    """
    claim = "K8"
    app_closed, app_open = phone_side(ctx, app_closed, app_open)
    leaks = _app_traffic(app_closed, ctx, category_of, exclude=ctx.other_phones)
    if leaks:
        return Verdict(claim, FAIL, tuple(f"with the app closed: {x}" for x in leaks))
    back = _answered(app_open, ctx, ctx.phone)
    if not back:
        return Verdict(claim, ERROR, (
            "control failed: after launching the app no traffic of it was seen; the silence "
            "before proves nothing",))
    return Verdict(claim, PASS, (
        "with the app closed: nothing from the aircraft, the controller or the app"
        + (f" (the bench's other phones, {', '.join(sorted(ctx.other_phones))}, are judged "
           "by their own stations)" if ctx.other_phones else ""),
        f"control: after launching the app, {_flow_label(back[0])}"), tuple(back))


@_sees
def g1_catalog(phases: list[PhaseView], ctx: Context, budget: int) -> Verdict:
    """G1 (release gate): every destination is in the endpoint catalog; unknown
    destinations that received more than `budget` bytes fail and are listed.

    Name resolution (`dns`) is the phone's own noise, as `os` is: never an unknown
    destination, so a long session's lookups cannot spend the budget. Unlike `os`, which
    the catalog names, it is no control either: a resolver answering does not show a
    catalogued endpoint answering. A pass says how much of it there was."""
    claim = "G1"
    phases = phone_side(ctx, *phases)
    seen = [f for p in phases for f in _internet_flows(p, ctx)]
    flows = [f for f in seen if not _resolves_names(f)]
    known = [f for f in flows if f.category != "unknown" and f.packets_down > 0]
    unknown = _per_destination([f for f in flows if f.category == "unknown"])
    over = {d: b for d, b in unknown.items() if b > budget}
    if over:
        return Verdict(claim, FAIL, tuple(
            f"unknown destination {d}: {b} B up (budget {budget} B)" for d, b in over.items()))
    if not known:
        return Verdict(claim, ERROR, (
            "control failed: no catalogued endpoint was seen answering; an empty capture "
            "would pass this gate",))
    reasons = [f"{len({_destination(f) for f in known})} catalogued destination(s): "
               + ", ".join(sorted({f'{_destination(f)} [{f.category}]' for f in known}))]
    resolving = [f for f in seen if _resolves_names(f)]
    if resolving:
        reasons.append(f"name resolution [dns]: {len(resolving)} flow(s) to "
                       f"{len({_destination(f) for f in resolving})} resolver(s), "
                       f"{sum(f.bytes_up for f in resolving)} B up, not judged as destinations")
    reasons += [f"unknown destination {d}: {b} B up (within the budget of {budget} B)"
                for d, b in unknown.items()]
    return Verdict(claim, PASS, tuple(reasons), tuple(known))
