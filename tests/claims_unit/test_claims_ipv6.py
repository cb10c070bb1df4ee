"""The judges on a dual-stack LAN: a flow from the phone's IPv6 address, and one from an
address only its MAC says is the phone's, count as the phone's in every judge; a capture
with IPv6 from a phone whose bench entry has no MAC makes every claim an ERROR naming the
addresses. Captures are built from frames (hil.sim.traffic), read by hil.capture.hosts."""

import io
import ipaddress

import pytest

from hil import claims
from hil.capture.analyze import analyze
from hil.capture.catalog import Catalog
from hil.capture.hosts import stations
from hil.capture.pcap import PcapWriter
from hil.claims import Context, PhaseView
from hil.sim import traffic

PHONE, MAC, GW_MAC = "10.20.0.31", "02:1a:2b:3c:4d:5e", "02:00:00:00:00:01"
LAN = (ipaddress.ip_network("10.20.0.0/24"), ipaddress.ip_network("2001:db8:20::/64"))
PHONE6 = "2001:db8:20::31"  # its address in the LAN's prefix
PRIVACY6 = "2001:db8:20::a5e1:77"  # a privacy address only its MAC tells
NFZ6, DIAG6, SHARE6, LOG6 = "2001:db8:5100::7", "2001:db8:5100::8", "2001:db8:5100::9", \
    "2001:db8:5100::a"
CATALOG = Catalog.load()
T0 = 1_700_000_000.0


class Capture:
    def __init__(self):
        self.frames, self.t, self.port = [], T0, 40000

    def tls(self, src, server, sni, up, down, reachable=True, mac=MAC):
        self.t += 0.05
        self.port += 1
        self.frames += traffic.tls_session(self.t, src, mac, self.port, server, GW_MAC, sni,
                                           up, down, reachable)

    def pcap(self) -> bytes:
        buf = io.BytesIO()
        w = PcapWriter(buf)
        for ts, frame in sorted(self.frames, key=lambda f: f[0]):
            w.write(ts, frame)
        return buf.getvalue()

    def phase(self, name="p") -> PhaseView:
        a = analyze(self.pcap(), CATALOG)
        return PhaseView(name, T0, self.t + 1, [], a.flows, a.dns)


def ctx_for(*captures: Capture, mac=MAC) -> Context:
    """The context as a session builds it: the bench's MAC and what the capture shows."""
    both = Capture()
    both.frames = [f for c in captures for f in c.frames]
    base = Context(PHONE, LAN, phone_mac=mac)
    return claims.identify(base, stations(both.pcap()), "pixel4")


@pytest.fixture(params=["own-ipv6", "mac-only"])
def src(request):
    """The phone's address on the flows: its stable IPv6 address in the LAN's prefix, or a
    privacy address it used once; either is the phone's only because the capture shows
    its MAC sending from it (no IPv4 address, no bench key names it)."""
    return PHONE6 if request.param == "own-ipv6" else PRIVACY6


def context(src, *caps):
    ctx = ctx_for(*caps)
    assert src in ctx.phone and PHONE in ctx.phone
    return ctx


def test_internet_covers_ipv6_outside_the_lan_prefixes():
    ctx = Context(PHONE, LAN)
    assert ctx.internet(NFZ6) and ctx.internet("fd00:99::1")  # global and ULA outside
    assert not ctx.internet(PHONE6) and not ctx.internet("fe80::1")
    assert not ctx.internet("ff02::fb") and not ctx.internet("10.20.0.1")
    # an IPv4-mapped address is the IPv4 address it carries: a LAN host, multicast,
    # link-local or loopback in one is none of the internet's; a public one is
    for lan in ("::ffff:10.20.0.1", "::ffff:224.0.0.251", "::ffff:169.254.1.1",
                "::ffff:127.0.0.1", "::ffff:255.255.255.255"):
        assert not ctx.internet(lan), lan
    assert ctx.internet("::ffff:198.51.100.7")


def test_k4_k5(src):
    c = Capture()
    c.tls(src, NFZ6, "flysafe-api.dji.com", 1500, 30000)
    c.tls(src, DIAG6, "statistical-report.djiservice.org", 12000, 600)
    ctx = context(src, c)
    assert claims.k4_diagnostics_at_power_on(c.phase(), ctx).status == "pass"
    v = claims.k5_diagnostics_setting_off(c.phase(), ctx, CATALOG.category)
    assert v.status == "fail" and src in v.reasons[0]
    # the same capture judged by IPv4 only: not one packet from the phone
    assert claims.k4_diagnostics_at_power_on(c.phase(), Context(PHONE, LAN)).status == "error"


def test_k6(src):
    cut, restored = Capture(), Capture()
    cut.tls(src, DIAG6, "statistical-report.djiservice.org", 12000, 600)  # answered: a leak
    restored.tls(src, NFZ6, "flysafe-api.dji.com", 1500, 30000)
    ctx = context(src, cut, restored)
    v = claims.k6_uplink_cut(cut.phase("cut"), restored.phase("restored"), ctx)
    assert v.status == "fail" and src in v.reasons[0]
    held = Capture()
    held.tls(src, DIAG6, "statistical-report.djiservice.org", 12000, 600, reachable=False)
    v = claims.k6_uplink_cut(held.phase("cut"), restored.phase("restored"),
                             context(src, held, restored))
    assert v.status == "pass" and src in v.reasons[1]


def test_k1_k3(src):
    observe, share = Capture(), Capture()
    observe.tls(src, SHARE6, "upload.skypixel.com", 3_000_000, 4000)
    share.tls(src, SHARE6, "upload.skypixel.com", 3_000_000, 4000)
    ctx = context(src, observe, share)
    media = [{"index": 1, "size": 3_000_000}]
    v = claims.k1_no_automatic_media_upload(observe.phase(), share.phase(), ctx, media,
                                            media[0], 0.5)
    assert v.status == "fail" and src in v.reasons[0]
    early, sync = Capture(), Capture()
    early.tls(src, LOG6, "mydjiflight.dji.com", 150_000, 1000)
    sync.tls(src, LOG6, "mydjiflight.dji.com", 150_000, 1000)
    v = claims.k3_logs_only_on_sync([early.phase("before")], sync.phase("sync"),
                                    context(src, early, sync), 150_000)
    assert v.status == "fail" and src in v.reasons[0]


def test_k7_k8_g1(src):
    on, off = Capture(), Capture()
    on.tls(src, DIAG6, "statistical-report.djiservice.org", 12000, 600)
    off.tls(src, NFZ6, "flysafe-api.dji.com", 1500, 30000)
    ctx = context(src, on, off)
    v = claims.k7_local_data_mode(on.phase(), off.phase(), ctx, CATALOG.category)
    assert v.status == "fail" and src in v.reasons[0]
    v = claims.k8_nothing_without_app(on.phase(), off.phase(), ctx, CATALOG.category)
    assert v.status == "fail" and src in v.reasons[0]
    quiet = Capture()
    quiet.tls(src, "2001:db8:5100::99", "telemetry.sdk-unlisted.example", 40_000, 100)
    v = claims.g1_catalog([quiet.phase(), off.phase()], context(src, quiet, off), 16_384)
    assert v.status == "fail" and "telemetry.sdk-unlisted.example" in v.reasons[0]
    # the control counts IPv6 too: LDM on quiet, the app back over IPv6 after
    v = claims.k7_local_data_mode(PhaseView("on", T0, T0 + 1), off.phase(), ctx,
                                  CATALOG.category)
    assert v.status == "pass" and src in v.reasons[1]


def test_a_phone_without_a_mac_is_judged_by_ipv4_and_every_verdict_says_so():
    c = Capture()
    c.tls(PHONE, "198.51.100.7", "flysafe-api.dji.com", 1500, 30000)
    c.tls(PHONE, "198.51.100.8", "statistical-report.djiservice.org", 12000, 600)
    ctx = ctx_for(c, mac=None)
    v = claims.k4_diagnostics_at_power_on(c.phase(), ctx)
    assert v.status == "pass"
    assert v.reasons[-1].startswith("IPv6 traffic was not attributed: the bench file gives "
                                    "no mac for pixel4")


def test_ipv6_from_the_mac_of_a_phone_without_one_in_the_bench_errors_every_claim():
    c = Capture()
    c.tls(PHONE, "198.51.100.7", "flysafe-api.dji.com", 1500, 30000)  # its IPv4 frames
    c.tls(PRIVACY6, DIAG6, "statistical-report.djiservice.org", 12000, 600)  # same MAC
    c.tls(PHONE6, NFZ6, "flysafe-api.dji.com", 1500, 30000)
    ctx = ctx_for(c, mac=None)
    p = c.phase()
    verdicts = [claims.k4_diagnostics_at_power_on(p, ctx),
                claims.k5_diagnostics_setting_off(p, ctx, CATALOG.category),
                claims.k6_uplink_cut(p, p, ctx),
                claims.k7_local_data_mode(p, p, ctx, CATALOG.category),
                claims.k8_nothing_without_app(p, p, ctx, CATALOG.category),
                claims.g1_catalog([p], ctx, 16_384),
                claims.k3_logs_only_on_sync([p], p, ctx, None),
                claims.k1_no_automatic_media_upload(p, p, ctx, [{"size": 10}],
                                                    {"index": 1, "size": 10}, 0.5)]
    for v in verdicts:
        assert v.status == "error", (v.claim, v.reasons)
        assert f"{PHONE6} (from MAC {MAC})" in v.reasons[0], v.reasons
        assert f"{PRIVACY6} (from MAC {MAC})" in v.reasons[0]
