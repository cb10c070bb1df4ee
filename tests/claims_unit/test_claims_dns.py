"""Name resolution (`dns`) from synthetic frames, through the analyzer, into the judges:
G1 never spends its budget on lookups, and the claims that judge looked-up names still do.
"""

import dataclasses
import io
import ipaddress

from hil import claims
from hil.bench import ClaimsConfig
from hil.capture.analyze import analyze
from hil.capture.catalog import Catalog
from hil.capture.pcap import PcapWriter
from hil.claims import Context, PhaseView
from hil.sim import traffic

PHONE, PHONE_MAC, GW_MAC = "10.20.0.31", "02:00:00:00:00:31", "02:00:00:00:00:01"
CTX = Context(PHONE, ipaddress.IPv4Network("10.20.0.0/24"))
RESOLVER = "203.0.113.53"  # a public resolver, as a real bench's phones may use
DOT = "192.0.2.85"  # a DNS-over-TLS resolver (TEST-NET-1)
NFZ_IP, OTHER_IP = "198.51.100.7", "198.51.100.200"
BUDGET = ClaimsConfig().unknown_budget  # the bench's default
CATALOG = Catalog.load()
T0 = 1_700_000_000.0


class Session:
    """The frames of one phone's session, as the gateway would capture them."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.t = T0
        self.port = 40000

    def _next(self) -> tuple[float, int]:
        self.t += 0.01
        self.port += 1
        return self.t, self.port

    def lookup(self, name: str, answer: str = OTHER_IP, answered: bool = True) -> None:
        t, port = self._next()
        self.frames += traffic.dns_lookup(t, PHONE, PHONE_MAC, RESOLVER, GW_MAC, name, answer,
                                          answered, port, port & 0xFFFF)

    def tls(self, server: str, sni: str | None, up: int, down: int, port: int = 443) -> None:
        t, cport = self._next()
        self.frames += traffic.tls_session(t, PHONE, PHONE_MAC, cport, server, GW_MAC, sni,
                                           up, down, True, port=port)

    def nfz_check(self) -> None:
        self.lookup("flysafe-api.dji.com", NFZ_IP)
        self.tls(NFZ_IP, "flysafe-api.dji.com", 1_500, 30_000)

    def phase(self, name: str = "p") -> PhaseView:
        """The whole session as one phase, flows and lookups as the analyzer gives them."""
        buf = io.BytesIO()
        writer = PcapWriter(buf)
        for ts, frame in sorted(self.frames, key=lambda f: f[0]):
            writer.write(ts, frame)
        result = analyze(buf.getvalue(), CATALOG)
        return PhaseView(name, T0, self.t + 1, [], result.flows, result.dns)


def resolution(phase: PhaseView) -> list:
    return [f for f in phase.flows if (f.dst, f.dport) in ((RESOLVER, 53), (DOT, 853))]


def test_g1_passes_when_lookups_exceed_the_unknown_budget():
    s = Session()
    s.nfz_check()
    for i in range(450):  # a long session's lookups through a public resolver
        s.lookup(f"host{i}.cdn.example.net")
    for _ in range(2):  # and DNS over TLS to a resolver the catalog does not list
        s.tls(DOT, "dns.example.net", 9_000, 12_000, port=853)
    p = s.phase()
    dns = resolution(p)
    assert len(dns) == 453 and {f.category for f in dns} == {"dns"}
    for port in (53, 853):  # each resolver got more than an unknown destination may
        assert sum(f.bytes_up for f in dns if f.dport == port) > BUDGET
    v = claims.g1_catalog([p], CTX, BUDGET)
    assert v.status == "pass", v.reasons
    assert "name resolution [dns]: 453 flow(s) to 2 resolver(s)" in v.reasons[1]
    assert not [r for r in v.reasons if "unknown destination" in r]
    # the same flows read as unknown destinations fail the gate: the budget is spent
    blind = [dataclasses.replace(f, category="unknown") if f in dns else f for f in p.flows]
    v = claims.g1_catalog([dataclasses.replace(p, flows=blind)], CTX, BUDGET)
    assert v.status == "fail" and len(v.reasons) == 2


def test_g1_lookups_are_no_control():
    s = Session()
    s.lookup("flysafe-api.dji.com", NFZ_IP)  # answered, but only by the resolver
    v = claims.g1_catalog([s.phase()], CTX, BUDGET)
    assert v.status == "error" and "no catalogued endpoint" in v.reasons[0]


def test_k5_fails_on_a_lookup_of_a_diagnostics_name():
    s = Session()
    s.nfz_check()
    s.lookup("statistical-report.djiservice.org")
    p = s.phase("power-on")
    assert [f.category for f in resolution(p)] == ["dns", "dns"]
    v = claims.k5_diagnostics_setting_off(p, CTX, CATALOG.category)
    assert v.status == "fail"
    assert v.reasons[0].startswith("lookup of diagnostics endpoint statistical-report.")


def ldm_off() -> PhaseView:
    s = Session()
    s.nfz_check()
    return s.phase("ldm-off")


def test_k7_fails_on_a_lookup_of_an_app_name_not_on_os_noise():
    s = Session()
    s.lookup("statistical-report.djiservice.org")
    v = claims.k7_local_data_mode(s.phase("ldm-on"), ldm_off(), CTX, CATALOG.category)
    assert v.status == "fail" and len(v.reasons) == 1
    assert "lookup of statistical-report.djiservice.org" in v.reasons[0]
    quiet = Session()  # the OS's own lookup: its resolver's flow is no app traffic
    quiet.lookup("connectivitycheck.gstatic.com")
    v = claims.k7_local_data_mode(quiet.phase("ldm-on"), ldm_off(), CTX, CATALOG.category)
    assert v.status == "pass", v.reasons


def test_k7_k8_say_encrypted_lookups_were_not_visible():
    """DNS over TLS hides the names it asks for: its flow shows only that some name was
    resolved (by the app or the OS), so it is no leak; the verdict says the lookups were
    not visible and the pass rests on the flows alone."""
    s = Session()
    s.tls(DOT, "dns.example.net", 300, 400, port=853)
    on = s.phase("ldm-on")
    for judge in (claims.k7_local_data_mode, claims.k8_nothing_without_app):
        v = judge(on, ldm_off(), CTX, CATALOG.category)
        assert v.status == "pass", v.reasons
        note = next(r for r in v.reasons if r.startswith("lookups were not visible"))
        assert f"{DOT}:853 dns.example.net [dns]" in note and "flows alone" in note
    s.tls(OTHER_IP, "telemetry.sdk-unlisted.example", 900, 100)  # the app's own flow counts
    v = claims.k7_local_data_mode(s.phase("ldm-on"), ldm_off(), CTX, CATALOG.category)
    assert v.status == "fail" and any("lookups were not visible" in r for r in v.reasons)


def test_doh_and_dot_flows_are_dns_and_only_lookup_claims_mention_them():
    s = Session()
    s.tls(OTHER_IP, "dns.google", 400, 600)  # DNS over HTTPS: a catalogued resolver name
    s.tls(DOT, None, 300, 400, port=853)  # Android Private DNS to the network's resolver
    s.nfz_check()
    p = s.phase("power-on")
    doh = [f for f in p.flows if f.server_name == "dns.google"]
    dot = [f for f in resolution(p) if f.dport == 853]
    assert {(f.dport, f.category) for f in doh + dot} == {(443, "dns"), (853, "dns")}
    v = claims.k5_diagnostics_setting_off(p, CTX, CATALOG.category)
    assert v.status == "pass" and "flows alone" in v.reasons[-1], v.reasons
    v = claims.k4_diagnostics_at_power_on(p, CTX)
    assert not any("lookups were not visible" in r for r in v.reasons)


def test_k6_an_answered_lookup_while_cut_is_a_leak():
    cut, restored = Session(), Session()
    cut.lookup("flysafe-api.dji.com", NFZ_IP, answered=False)
    restored.nfz_check()
    assert claims.k6_uplink_cut(cut.phase("cut"), restored.phase(), CTX).status == "pass"
    cut.lookup("statistical-report.djiservice.org")
    v = claims.k6_uplink_cut(cut.phase("cut"), restored.phase(), CTX)
    assert v.status == "fail" and f"{RESOLVER}:53 ? [dns]" in v.reasons[0]
