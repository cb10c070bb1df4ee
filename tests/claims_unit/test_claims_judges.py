"""The pure judges: every verdict path of K4-K6, on hand-made flows."""

import ipaddress
from dataclasses import dataclass

from hil import claims
from hil.claims import Context, PhaseView

PHONE = "10.20.0.31"
CTX = Context(PHONE, ipaddress.IPv4Network("10.20.0.0/24"))


@dataclass
class F:
    dst: str = "198.51.100.9"
    category: str = "unknown"
    bytes_up: int = 0
    bytes_down: int = 0
    packets_up: int = 1
    packets_down: int = 0
    proto: str = "tcp"
    src: str = PHONE
    sport: int = 40000
    dport: int = 443
    server_name: str | None = None


@dataclass
class D:
    ts: float
    qname: str


DIAG = F(category="diagnostics", bytes_up=12000, packets_down=5, bytes_down=600,
         server_name="statistical-report.djiservice.org")
NFZ = F(category="nfz", bytes_up=1500, packets_down=9, bytes_down=30000,
        server_name="flysafe-api.dji.com")
DNS_ATTEMPT = F(dst="203.0.113.53", proto="udp", dport=53, bytes_up=40)


def phase(name, *flows, dns=()):
    return PhaseView(name, 0.0, 1.0, [], list(flows), list(dns))


def category_of(name):
    return "diagnostics" if name.startswith("statistical-report") else "unknown"


def test_k4_pass_fail_error():
    assert claims.k4_diagnostics_at_power_on(phase("p", DIAG, NFZ), CTX).status == "pass"
    v = claims.k4_diagnostics_at_power_on(phase("p", NFZ), CTX)
    assert v.status == "fail" and "no diagnostics flow" in v.reasons[0]
    v = claims.k4_diagnostics_at_power_on(phase("p", DIAG), CTX)
    assert v.status == "fail" and "no no-fly-zone check" in v.reasons[1]
    v = claims.k4_diagnostics_at_power_on(phase("p"), CTX)
    assert v.status == "error" and "deaf" in v.reasons[0]


def test_k4_ignores_traffic_of_other_hosts():
    other = F(src="10.20.0.99", category="diagnostics", bytes_up=5000)
    assert claims.k4_diagnostics_at_power_on(phase("p", other), CTX).status == "error"


def test_k5_pass_fail_and_control():
    assert claims.k5_diagnostics_setting_off(phase("p", NFZ), CTX, category_of).status == "pass"
    v = claims.k5_diagnostics_setting_off(phase("p", NFZ, DIAG), CTX, category_of)
    assert v.status == "fail" and "statistical-report" in v.reasons[0]
    # a lookup alone is a leak of the diagnostics endpoint too
    v = claims.k5_diagnostics_setting_off(
        phase("p", NFZ, dns=[D(0.5, "statistical-report.djiservice.org")]), CTX, category_of)
    assert v.status == "fail" and "lookup" in v.reasons[0]
    # without the NFZ control the silence proves nothing
    v = claims.k5_diagnostics_setting_off(phase("p", DNS_ATTEMPT), CTX, category_of)
    assert v.status == "error" and "control failed" in v.reasons[0]
    assert claims.k5_diagnostics_setting_off(phase("p"), CTX, category_of).status == "error"


def test_k6_pass_fail_and_controls():
    cut = phase("cut", DNS_ATTEMPT, F(bytes_up=0, packets_up=4))  # SYN retries only
    restored = phase("restored", NFZ)
    v = claims.k6_uplink_cut(cut, restored, CTX)
    assert v.status == "pass" and "2 attempt(s)" in v.reasons[0]
    # an answered flow, or TCP payload, means the cut did not hold
    for leak in (F(dst="203.0.113.53", proto="udp", bytes_up=40, packets_down=1),
                 F(bytes_up=500)):
        v = claims.k6_uplink_cut(phase("cut", DNS_ATTEMPT, leak), restored, CTX)
        assert v.status == "fail" and "left the bench" in v.reasons[0]
    # local traffic (to the gateway) is not the internet
    local = F(dst="10.20.0.1", proto="udp", dport=53, bytes_up=40, packets_down=1)
    assert claims.k6_uplink_cut(phase("cut", local), restored, CTX).status == "pass"
    assert claims.k6_uplink_cut(phase("cut"), restored, CTX).status == "error"
    v = claims.k6_uplink_cut(cut, phase("restored", DNS_ATTEMPT), CTX)
    assert v.status == "error" and "after the uplink was restored" in v.reasons[0]
    # ...but a leak proven during the cut fails, whether or not the restore control worked
    leak = F(bytes_up=500, packets_down=3)
    assert claims.k6_uplink_cut(phase("cut", leak), phase("restored"), CTX).status == "fail"


def test_k6_deferred_burst_fails_by_default_or_is_reported():
    v = claims.k6_uplink_cut(phase("cut", DNS_ATTEMPT), phase("restored", NFZ, DIAG), CTX)
    assert v.status == "fail" and "deferred burst" in v.reasons[0]
    v = claims.k6_uplink_cut(phase("cut", DNS_ATTEMPT), phase("restored", NFZ, DIAG), CTX,
                             deferred_burst="report")
    assert v.status == "pass" and "deferred burst" in v.reasons[-1]
