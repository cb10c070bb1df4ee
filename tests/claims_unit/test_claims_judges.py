"""The pure judges: every verdict path of K4-K6, on hand-made flows."""

import dataclasses
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
    first: float = 0.0


@dataclass
class D:
    ts: float
    qname: str
    client: str = PHONE


DIAG = F(category="diagnostics", bytes_up=12000, packets_down=5, bytes_down=600,
         server_name="statistical-report.djiservice.org")
NFZ = F(category="nfz", bytes_up=1500, packets_down=9, bytes_down=30000,
        server_name="flysafe-api.dji.com")
DNS_ATTEMPT = F(dst="203.0.113.53", category="dns", proto="udp", dport=53, bytes_up=40)


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


MEDIA = [{"index": 1, "kind": "photo", "size": 2_000_000},
         {"index": 2, "kind": "video", "size": 5_000_000}]
SHARED = MEDIA[0]


@dataclass
class A:
    t: float
    what: str


def test_k1_named_and_volume_uploads_fail_control_backs_a_pass():
    share_up = F(category="media", bytes_up=2_000_600, packets_down=50, bytes_down=4000)
    share_up.first = 0.6
    share = PhaseView("share", 0.5, 1.0, [A(0.55, "share photo 1")], [share_up], [])
    ok = claims.k1_no_automatic_media_upload(phase("media", NFZ), share, CTX, MEDIA, SHARED,
                                             0.5)
    assert ok.status == "pass"
    named = F(category="media", bytes_up=10_000, packets_down=3)
    v = claims.k1_no_automatic_media_upload(phase("media", named), share, CTX, MEDIA, SHARED,
                                            0.5)
    assert v.status == "fail" and "media upload without a share" in v.reasons[0]
    # a photo-sized upload is media whatever its name: two flows to one place add up
    big = [F(server_name="cdn.example", bytes_up=600_000) for _ in range(2)]
    v = claims.k1_no_automatic_media_upload(phase("media", *big), share, CTX, MEDIA, SHARED,
                                            0.5)
    assert v.status == "fail" and "1200000 B uploaded to cdn.example" in v.reasons[0]
    # a share that never shows is an error, and an upload before the share does not count
    early = F(category="media", bytes_up=2_000_600, packets_down=5)
    early.first = 0.52
    share_early = PhaseView("share", 0.5, 1.0, [A(0.55, "share photo 1")], [early], [])
    assert claims.k1_no_automatic_media_upload(phase("media", NFZ), share_early, CTX, MEDIA,
                                               SHARED, 0.5).status == "error"


def test_k2_needs_a_new_log_and_a_new_record():
    before = {"aircraft_logs": [{"id": 1}], "app_records": [{"id": 1}]}
    after = {"aircraft_logs": [{"id": 1}, {"id": 2}], "app_records": [{"id": 1}, {"id": 2}]}
    assert claims.k2_logs_recorded(before, after).status == "pass"
    assert claims.k2_logs_recorded(before, {**after, "aircraft_logs": [{"id": 1}]}).status \
        == "fail"
    assert claims.k2_logs_recorded(before, {**after, "app_records": [{"id": 1}]}).status \
        == "fail"


def test_k3_early_upload_fails_sync_control_backs_a_pass():
    log_up = F(category="flightlog", bytes_up=300_500, packets_down=4)
    log_up.first = 0.7
    sync = PhaseView("sync", 0.5, 1.0, [A(0.6, "sync")], [log_up], [])
    assert claims.k3_logs_only_on_sync([phase("power-on", NFZ)], sync, CTX, 300_000).status \
        == "pass"
    early = F(category="flightlog", bytes_up=150_000, packets_down=4)
    assert claims.k3_logs_only_on_sync([phase("power-on", NFZ, early)], sync, CTX,
                                       300_000).status == "fail"
    assert claims.k3_logs_only_on_sync([phase("power-on", NFZ)], phase("sync"), CTX,
                                       300_000).status == "error"


def os_or(name):
    return "os" if "gstatic" in name else category_of(name)


def test_k7_and_k8_allow_os_noise_only():
    noise = F(category="os", bytes_up=300, packets_down=3,
              server_name="connectivitycheck.gstatic.com")
    noise_dns = D(0.2, "connectivitycheck.gstatic.com")
    noise_dns.client = PHONE
    back = phase("off", NFZ)
    assert claims.k7_local_data_mode(phase("on", noise, dns=[noise_dns]), back, CTX,
                                     os_or).status == "pass"
    leak_dns = D(0.3, "statistical-report.djiservice.org")
    leak_dns.client = PHONE
    v = claims.k7_local_data_mode(phase("on", dns=[leak_dns]), back, CTX, os_or)
    assert v.status == "fail" and "lookup of statistical-report" in v.reasons[0]
    assert claims.k7_local_data_mode(phase("on"), phase("off"), CTX, os_or).status == "error"
    aircraft = F(src="10.20.0.200", category="flightlog", bytes_up=150_000, packets_down=5)
    v = claims.k8_nothing_without_app(phase("closed", noise, aircraft), back, CTX, os_or)
    assert v.status == "fail" and "10.20.0.200" in v.reasons[0]
    assert claims.k8_nothing_without_app(phase("closed", noise), back, CTX, os_or).status \
        == "pass"


def test_k8_leaves_other_stations_phones_to_their_own_sessions():
    other = "10.20.0.32"
    theirs = F(src=other, category="diagnostics", bytes_up=12000, packets_down=5)
    their_dns = D(0.2, "statistical-report.djiservice.org", client=other)
    closed = phase("closed", theirs, dns=[their_dns])
    back = phase("open", NFZ)
    assert claims.k8_nothing_without_app(closed, back, CTX, os_or).status == "fail"
    ctx = dataclasses.replace(CTX, other_phones=frozenset({other}))
    v = claims.k8_nothing_without_app(closed, back, ctx, os_or)
    assert v.status == "pass" and other in v.reasons[0]
    aircraft = F(src="10.20.0.200", category="flightlog", bytes_up=150_000, packets_down=5)
    v = claims.k8_nothing_without_app(phase("closed", theirs, aircraft), back, ctx, os_or)
    assert v.status == "fail" and "10.20.0.200" in v.reasons[0] and len(v.reasons) == 1


def test_g1_budget_and_control():
    unknown = F(category="unknown", server_name="telemetry.example", bytes_up=40_000)
    small = F(category="unknown", server_name="tiny.example", bytes_up=100)
    v = claims.g1_catalog([phase("p", NFZ, unknown)], CTX, 16_384)
    assert v.status == "fail" and "telemetry.example: 40000 B" in v.reasons[0]
    v = claims.g1_catalog([phase("p", NFZ, small)], CTX, 16_384)
    assert v.status == "pass" and "tiny.example" in v.reasons[-1]
    assert claims.g1_catalog([phase("p", small)], CTX, 16_384).status == "error"
    assert claims.g1_catalog([phase("p", DNS_ATTEMPT, NFZ)], CTX, 0).status == "pass"


def test_after_the_action_allows_only_the_measured_clock_slack():
    log_up = F(category="flightlog", bytes_up=300_500, packets_down=4)
    log_up.first = 0.599  # 1 ms "before" the action as the harness's clock maps it
    sync = PhaseView("sync", 0.5, 1.0, [A(0.600, "sync")], [log_up], [])
    strict = Context(PHONE, CTX.lan_subnet, clock_slack=0.0)
    slack = Context(PHONE, CTX.lan_subnet, clock_slack=0.002)
    assert claims.k3_logs_only_on_sync([phase("p", NFZ)], sync, strict, 300_000).status \
        == "error"
    assert claims.k3_logs_only_on_sync([phase("p", NFZ)], sync, slack, 300_000).status \
        == "pass"
    log_up.first = 0.5  # 100 ms before: not caused by the sync, whatever the slack
    assert claims.k3_logs_only_on_sync([phase("p", NFZ)], sync, slack, 300_000).status \
        == "error"


def test_k2_judges_the_store_it_could_read_and_says_which_it_could_not():
    why = {"aircraft_logs": "the aircraft link `app` cannot list onboard logs"}
    before = {"aircraft_logs": None, "app_records": [{"id": 1}]}
    v = claims.k2_logs_recorded(before, {"aircraft_logs": None,
                                         "app_records": [{"id": 1}, {"id": 2}]}, why)
    assert v.status == "pass"
    assert v.reasons[-1] == ("aircraft part not judged: the aircraft link `app` cannot list "
                             "onboard logs")
    v = claims.k2_logs_recorded(before, {"aircraft_logs": None, "app_records": [{"id": 1}]},
                                why)
    assert v.status == "fail" and "no new flight record" in v.reasons[0]


def test_k2_with_no_store_read_is_never_a_pass():
    none = {"aircraft_logs": None, "app_records": None}
    v = claims.k2_logs_recorded(none, none, {"aircraft_logs": "no logs", "app_records": "no"})
    assert v.status == "error" and len(v.reasons) == 2


# -- control traffic: the bench host's own, never the phone's -----------------------------

BENCH_HOST = "192.0.2.2"  # reached through the gateway: outside the LAN, "internet"
LAN_HOST = "10.20.0.2"  # a bench host on the LAN
HOSTS = dataclasses.replace(CTX, bench_hosts=frozenset({BENCH_HOST, LAN_HOST}))


def to_host(up, host=BENCH_HOST, **kw):
    """The phone's agent sending the bench host `up` bytes over SSH, answered."""
    return F(dst=host, dport=22, bytes_up=up, packets_up=40, packets_down=20,
             bytes_down=2000, **kw)


def shared_photo():
    up = F(category="media", bytes_up=2_000_600, packets_down=50, bytes_down=4000,
           server_name="upload.skypixel.com")
    up.first = 0.6
    return PhaseView("share", 0.5, 1.0, [A(0.55, "share photo 1")], [up], [])


def test_context_control_is_a_bench_host_at_either_end():
    assert HOSTS.control(to_host(10)) and HOSTS.control(F(src=LAN_HOST, dst=PHONE))
    assert not HOSTS.control(NFZ) and not CTX.control(to_host(10))


def test_k1_passes_because_the_bench_host_is_excluded_and_fails_without():
    # the same flows: a photo-sized exchange with the bench host in the media phase
    media = phase("media", NFZ, to_host(2_100_000), to_host(5_100_000))
    v = claims.k1_no_automatic_media_upload(media, shared_photo(), HOSTS, MEDIA, SHARED, 0.5)
    assert v.status == "pass", v.reasons
    v = claims.k1_no_automatic_media_upload(media, shared_photo(), CTX, MEDIA, SHARED, 0.5)
    assert v.status == "fail" and f"7200000 B uploaded to {BENCH_HOST}" in v.reasons[0]


def test_k1_control_is_never_met_by_control_traffic():
    # the bench host pulling the shared photo (adb pull) is not the share going up
    pull = to_host(2_100_000)
    pull.first = 0.6
    share = PhaseView("share", 0.5, 1.0, [A(0.55, "share photo 1")], [pull], [])
    media = phase("media", NFZ)
    assert claims.k1_no_automatic_media_upload(media, share, CTX, MEDIA, SHARED,
                                               0.5).status == "pass"
    v = claims.k1_no_automatic_media_upload(media, share, HOSTS, MEDIA, SHARED, 0.5)
    assert v.status == "error" and "control failed" in v.reasons[0]


def test_a_phone_heard_only_with_the_bench_host_is_not_heard():
    only_control = phase("p", to_host(500))
    assert claims.k4_diagnostics_at_power_on(only_control, CTX).status == "fail"
    v = claims.k4_diagnostics_at_power_on(only_control, HOSTS)
    assert v.status == "error" and "deaf" in v.reasons[0]


def test_k8_ignores_the_bench_host_on_the_lan_and_through_the_gateway():
    own = F(src=LAN_HOST, dst="198.51.100.50", category="unknown", bytes_up=9000,
            packets_down=4)  # the host's own business on a whole-LAN capture
    its_lookup = D(0.1, "deb.debian.org", client=LAN_HOST)
    closed = phase("closed", own, to_host(50_000), dns=[its_lookup])
    back = phase("open", NFZ)
    v = claims.k8_nothing_without_app(closed, back, CTX, os_or)
    assert v.status == "fail" and len(v.reasons) == 3, v.reasons
    assert claims.k8_nothing_without_app(closed, back, HOSTS, os_or).status == "pass"
    # the phone's own lookup is judged by its name whatever else is control traffic
    leak = D(0.2, "statistical-report.djiservice.org", client=PHONE)
    v = claims.k8_nothing_without_app(phase("closed", to_host(10), dns=[leak]), back, HOSTS,
                                      os_or)
    assert v.status == "fail" and "statistical-report" in v.reasons[0]


def test_g1_never_counts_the_bench_host_as_an_unknown_destination():
    phases = [phase("p", NFZ, to_host(40_000))]
    v = claims.g1_catalog(phases, CTX, 16_384)
    assert v.status == "fail" and f"unknown destination {BENCH_HOST}" in v.reasons[0]
    assert claims.g1_catalog(phases, HOSTS, 16_384).status == "pass"


def test_k6_k7_an_answered_exchange_with_the_bench_host_is_no_leak():
    cut = phase("cut", DNS_ATTEMPT, to_host(3000))
    assert claims.k6_uplink_cut(cut, phase("restored", NFZ), CTX).status == "fail"
    assert claims.k6_uplink_cut(cut, phase("restored", NFZ), HOSTS).status == "pass"
    on = phase("on", to_host(3000))
    assert claims.k7_local_data_mode(on, phase("off", NFZ), CTX, os_or).status == "fail"
    assert claims.k7_local_data_mode(on, phase("off", NFZ), HOSTS, os_or).status == "pass"


def test_control_traffic_in_every_phase_changes_no_verdict():
    """Every judge on traffic, on a passing run, with a photo-sized exchange with the
    bench host added to each of its phases: still a pass, with the same reasons."""
    def noisy(p):
        return dataclasses.replace(p, flows=[*p.flows, to_host(3_000_000),
                                             F(src=LAN_HOST, dst=PHONE, dport=5555,
                                               bytes_up=100, bytes_down=3_000_000)])

    log_up = F(category="flightlog", bytes_up=300_500, packets_down=4)
    log_up.first = 0.7
    sync = PhaseView("sync", 0.5, 1.0, [A(0.6, "sync")], [log_up], [])
    judges = {
        "K1": lambda c, n: claims.k1_no_automatic_media_upload(
            n(phase("media", NFZ)), n(shared_photo()), c, MEDIA, SHARED, 0.5),
        "K3": lambda c, n: claims.k3_logs_only_on_sync([n(phase("power-on", NFZ))], n(sync),
                                                       c, 300_000),
        "K4": lambda c, n: claims.k4_diagnostics_at_power_on(n(phase("p", DIAG, NFZ)), c),
        "K5": lambda c, n: claims.k5_diagnostics_setting_off(n(phase("p", NFZ)), c,
                                                             category_of),
        "K6": lambda c, n: claims.k6_uplink_cut(n(phase("cut", DNS_ATTEMPT)),
                                                n(phase("restored", NFZ)), c),
        "K7": lambda c, n: claims.k7_local_data_mode(n(phase("on")), n(phase("off", NFZ)), c,
                                                     os_or),
        "K8": lambda c, n: claims.k8_nothing_without_app(n(phase("closed")),
                                                         n(phase("open", NFZ)), c, os_or),
        "G1": lambda c, n: claims.g1_catalog([n(phase("p", NFZ))], c, 16_384),
    }
    for claim, judge in judges.items():
        quiet = judge(CTX, lambda p: p)
        assert quiet.status == "pass", (claim, quiet.reasons)
        assert judge(HOSTS, noisy) == quiet, claim
