"""The evidence block a reviewer reads in the HTML report."""

import json

from hil.evidence import Action, Evidence, Phase

T0 = 1_700_000_000.0


def flow(first, last, up, **extra):
    return {"proto": "tcp", "src": "10.20.0.31", "sport": 40001, "dst": "198.51.100.7",
            "dport": 443, "first": first, "last": last, "packets_up": 9, "packets_down": 4,
            "bytes_up": up, "bytes_down": 900, "sni": "flysafe-api.dji.com",
            "dns_name": None, "http_host": None, "server_name": "flysafe-api.dji.com",
            "name_source": "sni", "category": "nfz", "quic": False, **extra}


def test_verdict_phases_actions_and_flows_are_shown():
    ev = Evidence(test="t", claim="K1", aircraft="spark", model="spark", bench="sim",
                  phone="pixel-spark", firmware="01.00.0900", session="defaults",
                  served=["K1"], verdict={"status": "fail", "reasons": ["2 MB to nfz"]})
    ev.phases = [
        Phase("power-on", T0, T0 + 1, [Action(T0 + 0.1, "power on spark")],
              [flow(T0 + 0.5, T0 + 0.6, 1_500)]),
        Phase("media", T0 + 1, T0 + 2, [Action(T0 + 1.1, "take photo")],
              [flow(T0 + 1.5, T0 + 1.7, 2_000_000, opened=T0 + 0.5)]),
    ]
    page = ev.html()
    assert "FAIL</b> K1 on <b>spark</b>" in page and "<li>2 MB to nfz</li>" in page
    assert "phase media: +1.000 s to +2.000 s" in page and "+1.100 s take photo" in page
    # the slice of the connection opened at power-on says so
    assert "<td>+1.500 (open since +0.500)</td>" in page
    assert "<td>+0.500</td>" in page and "<td>2000000</td>" in page


def test_the_app_version_is_what_the_phone_reported_or_unknown():
    import json

    ev = Evidence(test="t", claim="K4", aircraft="spark", model="spark", bench="sim",
                  phone="pixel-spark", app_version="4.3.36+sim",
                  verdict={"status": "pass", "reasons": ["ok"]})
    assert json.loads(ev.to_json())["app_version"] == "4.3.36+sim"
    assert "phone pixel-spark, app 4.3.36+sim</p>" in ev.html()
    ev.app_version = None  # the backend cannot tell
    assert json.loads(ev.to_json())["app_version"] is None
    assert "app unknown</p>" in ev.html()


def test_control_traffic_is_listed_apart_and_labelled():
    pull = flow(T0 + 1.2, T0 + 1.4, 2_100_000, dst="192.0.2.2", dport=22, sni=None,
                server_name=None, name_source=None, category="unknown")
    ev = Evidence(test="t", claim="K1", aircraft="spark", model="spark", bench="sim",
                  phone="pixel-spark", verdict={"status": "pass", "reasons": ["ok"]},
                  bench_hosts=["192.0.2.2"])
    ev.phases = [Phase("media", T0, T0 + 2, [], [flow(T0 + 0.5, T0 + 0.6, 1_500)],
                       control=[pull])]
    record = json.loads(ev.to_json())
    assert record["bench_hosts"] == ["192.0.2.2"]
    [media] = record["phases"]
    assert [f["dst"] for f in media["control"]] == ["192.0.2.2"]
    assert [f["dst"] for f in media["flows"]] == ["198.51.100.7"]
    page = ev.html()
    assert ("control traffic with the bench host (192.0.2.2): 1 flow(s), 2100000 B up"
            in page)
    phase_flows, control_table = page.split("<h4>phase media")[1].split(
        "control traffic (the bench host's, not judged):")
    assert "<td>1500</td>" in phase_flows and "192.0.2.2" not in phase_flows
    assert "<th>client</th>" in control_table and "<td>192.0.2.2:22</td>" in control_table
    assert "<title>control traffic: 10.20.0.31 -&gt; 192.0.2.2:22 up 2100000 B</title>" in page
    # no control traffic: no such line
    ev.phases[0].control = []
    assert "control traffic" not in ev.html()
