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
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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

    def internet(self, ip: str) -> bool:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if a.version == 4 and a in self.lan_subnet:
            return False
        return not (a.is_multicast or a.is_link_local or a.is_loopback or a.is_unspecified
                    or (a.version == 4 and a == ipaddress.IPv4Address("255.255.255.255")))


def _flow_label(f) -> str:
    name = f.server_name or "?"
    return (f"{f.proto} {f.src}:{f.sport} -> {f.dst}:{f.dport} {name} [{f.category}] "
            f"up {f.bytes_up} B / down {f.bytes_down} B")


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


def k6_uplink_cut(cut: PhaseView, restored: PhaseView, ctx: Context) -> Verdict:
    """K6: with the phone's uplink cut at the gateway, nothing leaves.

    Seen from the phone's side of the gateway, a flow that left would get an answer or,
    for TCP, carry payload (which needs a completed handshake). Attempts without answer
    are expected and listed. Controls: the phone is heard during the cut, and, for a pass,
    some flow reaches the internet after the restore (the cut, not the app, made the
    difference). A leak seen during the cut fails the claim whatever happens after.
    Diagnostics sent after the restore are reported as a deferred burst.
    """
    claim = "K6"
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
    if not reached:
        return Verdict(claim, ERROR, (
            f"control failed: after the uplink was restored, no flow from {ctx.phone_ip} got "
            "an answer from the internet; the cut cannot be shown to be the difference",))
    reasons = [f"uplink cut: {len(out)} attempt(s) to the internet, none answered, "
               "no TCP payload",
               f"control: after restore {len(reached)} flow(s) answered, e.g. "
               f"{_flow_label(reached[0])}"]
    burst = _of(restored.flows, "diagnostics")
    if burst:
        reasons.append(f"deferred burst after restore: {len(burst)} diagnostics flow(s), "
                       f"{sum(f.bytes_up for f in burst)} B up (reported, not judged here)")
    return Verdict(claim, PASS, tuple(reasons), tuple(reached))
