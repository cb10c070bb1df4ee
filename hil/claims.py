"""The Kivu claims as pure judges: the evidence of a claim test in, a verdict out.

Each judge takes the phases of one claim test (`PhaseView`: its window on the gateway's
clock, the harness's actions, the flows and DNS lookups that started in it) and returns a
`Verdict`:

- `pass`: the claim held and its positive control worked;
- `fail`: the claim was violated; the reasons name the flows that violate it;
- `error`: the positive control failed (nothing heard from the phone, no NFZ check, the
  uplink never came back), so the run cannot say anything about the claim. A deaf sniffer
  is an error, never a pass.

Judges never do I/O. "Internet" means any address outside the bench's LAN subnet.

Name resolution (a flow of category `dns`: DNS on port 53, DNS over TLS on 853; see
`hil.capture.catalog`) is judged by what it resolves, not as a destination: G1 never
counts it as unknown nor as a catalogued endpoint answering, and the app's traffic
returning (K7, K8) is never shown by a lookup. Where lookups are plaintext (port 53) the
judges read their names (K5, K7, K8), so a lookup of a diagnostics or app name is a
violation whatever the resolver's flow is called; an encrypted lookup (DNS over TLS) hides
its name, so K7 and K8 count its flow as traffic. K1 (volume) and K6 (anything answered
while cut) look at every flow, name resolution included.

Control traffic is the bench host's own (`Context.bench_hosts`: adb over Wi-Fi, SSH to an
agent on the phone, and on K8's whole-LAN capture anything else the host does): a flow
with a bench host address at either end, and a lookup the bench host asks. No judge counts
it, as a violation or as a control: every judge sees its phases through `phone_side()`.
The evidence lists it per phase, apart (`Context.control` is the one test of it).
"""

from __future__ import annotations

import dataclasses
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
    phone_ip: str
    lan_subnet: ipaddress.IPv4Network
    # how far an action's time (harness clock mapped onto the gateway's) may be off from
    # the capture's clock: "after the action" means after the action minus this slack
    clock_slack: float = 0.0
    # the bench's other phones (other stations, possibly mid-session while this one is
    # judged): on a whole-LAN capture their traffic is judged by their own sessions
    other_phones: frozenset[str] = frozenset()
    # the bench host's own addresses (bench.host_addresses): its traffic is control traffic
    bench_hosts: frozenset[str] = frozenset()

    def control(self, flow) -> bool:
        """The flow is control traffic: a bench host address is at one of its ends. Such a
        flow is the harness talking to a device (or the host's own business), never the
        phone's: no judge counts it."""
        return flow.src in self.bench_hosts or flow.dst in self.bench_hosts

    def internet(self, ip: str) -> bool:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if a.version == 4 and a in self.lan_subnet:
            return False
        return not (a.is_multicast or a.is_link_local or a.is_loopback or a.is_unspecified
                    or (a.version == 4 and a == ipaddress.IPv4Address("255.255.255.255")))


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
    return [f for f in phase.flows if f.src == ctx.phone_ip and f.packets_up > 0]


def _heard(phase: PhaseView, ctx: Context, claim: str) -> Verdict | None:
    if not _from_phone(phase, ctx):
        return Verdict(claim, ERROR, (
            f"control failed: not one packet from the phone {ctx.phone_ip} in phase "
            f"'{phase.name}'; the capture is deaf or the phone is not on the gateway, so "
            "nothing can be concluded",))
    return None


def _lookups(phase: PhaseView, category_of) -> list:
    return [d for d in phase.dns if category_of(d.qname) == "diagnostics"]


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


def _lookups_read(f) -> bool:
    """The flow is plaintext DNS: its lookups are in the phase's `dns` records, judged by
    the names they ask for instead of by the flow."""
    return _resolves_names(f) and f.dport == DNS_PORT


def _internet_flows(phase: PhaseView, ctx: Context) -> list:
    return [f for f in phase.flows if ctx.internet(f.dst) and f.packets_up > 0]


def _answered(phase: PhaseView, ctx: Context, who: str | None = None) -> list:
    return [f for f in _internet_flows(phase, ctx) if f.packets_down > 0
            and not _resolves_names(f) and (who is None or f.src == who)]


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
    flow but `os` ones and plaintext DNS, and every lookup of a name that is not `os`
    (plaintext DNS is judged by the names it asks for; an encrypted lookup's flow counts).

    Only from `clients` when given; never from the hosts in `exclude`.
    """
    out = []
    for f in _internet_flows(phase, ctx):
        if (clients is not None and f.src not in clients) or f.src in exclude:
            continue
        if not _lookups_read(f) and f.category != "os":
            out.append(_flow_label(f))
    for d in phase.dns:
        if (clients is not None and d.client not in clients) or d.client in exclude:
            continue
        if d.qname and category_of(d.qname) != "os":
            out.append(f"lookup of {d.qname} by {d.client} at {d.ts:.3f}")
    return out


# -- K1 K2 K3 K7 K8 G1 -------------------------------------------------------------------

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


def k7_local_data_mode(ldm_on: PhaseView, ldm_off: PhaseView, ctx: Context,
                       category_of) -> Verdict:
    """K7: with Local Data Mode on, the app sends nothing to the internet.

    The phone's OS may (category `os`). Control: once Local Data Mode is off again, the
    app's traffic is seen and answered.
    """
    claim = "K7"
    ldm_on, ldm_off = phone_side(ctx, ldm_on, ldm_off)
    leaks = _app_traffic(ldm_on, ctx, category_of, clients={ctx.phone_ip})
    if leaks:
        return Verdict(claim, FAIL, tuple(f"with Local Data Mode on: {x}" for x in leaks))
    back = _answered(ldm_off, ctx, ctx.phone_ip)
    if not back:
        return Verdict(claim, ERROR, (
            "control failed: with Local Data Mode off again, no app traffic was seen; the "
            "silence before proves nothing",))
    return Verdict(claim, PASS, (
        "with Local Data Mode on: no app flow and no app lookup left for the internet",
        f"control: after turning it off, {_flow_label(back[0])}"), tuple(back))


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
    back = _answered(app_open, ctx, ctx.phone_ip)
    if not back:
        return Verdict(claim, ERROR, (
            "control failed: after launching the app no traffic of it was seen; the silence "
            "before proves nothing",))
    return Verdict(claim, PASS, (
        "with the app closed: nothing from the aircraft, the controller or the app"
        + (f" (the bench's other phones, {', '.join(sorted(ctx.other_phones))}, are judged "
           "by their own stations)" if ctx.other_phones else ""),
        f"control: after launching the app, {_flow_label(back[0])}"), tuple(back))


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
