"""`hil analyze` output: the table, the JSON object, exit statuses (hil.capture.report)."""

from __future__ import annotations

import io
import json
import re

from capture_frames import GW_MAC, PHONE, PHONE_MAC, RESOLVER, dns_over_tcp, pcap

from hil.capture import report
from hil.capture.analyze import analyze
from hil.capture.report import DNS_KEYS, FLOW_KEYS
from hil.evidence import Evidence, Phase
from hil.sim import traffic

T0 = 1_700_000_000.0


def capture(tmp_path):
    frames = traffic.dns_lookup(T0, PHONE, PHONE_MAC, RESOLVER, GW_MAC, "upload.skypixel.com",
                                "198.51.100.5", True, 53001, 1)  # fmt: skip
    frames += traffic.tls_session(T0 + 1, PHONE, PHONE_MAC, 41001, "203.0.113.10", GW_MAC,
                                  "mydjiflight.dji.com", 9_000, 2_000, True)  # fmt: skip
    frames += traffic.tls_session(T0 + 2, PHONE, PHONE_MAC, 41002, "198.51.100.5", GW_MAC,
                                  None, 250_000, 300, True)  # fmt: skip
    path = tmp_path / "c.pcap"
    path.write_bytes(pcap(frames))
    return path


def run(*args, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    status = report.run(*args, out=out, err=err, **kwargs)
    return status, out.getvalue(), err.getvalue()


def test_json_is_exactly_the_issue_object(tmp_path):
    status, out, err = run(capture(tmp_path), as_json=True)
    assert (status, err) == (0, "")
    data = json.loads(out)
    assert list(data) == ["packets", "flows", "dns"]
    assert FLOW_KEYS == ("proto", "src", "sport", "dst", "dport", "first", "last",
                         "packets_up", "packets_down", "bytes_up", "bytes_down", "sni",
                         "dns_name", "http_host", "server_name", "category")  # fmt: skip
    assert all(list(f) == list(FLOW_KEYS) for f in data["flows"])
    assert [list(d) for d in data["dns"]] == [list(DNS_KEYS)]
    assert data["dns"][0]["answers"] == [["upload.skypixel.com", "A", "198.51.100.5"]]
    ups = [f["bytes_up"] for f in data["flows"]]
    assert ups == sorted(ups, reverse=True)  # the table's order
    media = data["flows"][0]
    assert (media["dport"], media["server_name"], media["category"]) == (
        443, "upload.skypixel.com", "media",
    )  # fmt: skip


def test_table_by_upload_bytes_with_categories(tmp_path):
    status, out, _ = run(capture(tmp_path))
    lines = out.splitlines()
    assert status == 0
    assert lines[0].endswith(f"packets, 3 flows, 1 DNS lookups: {tmp_path / 'c.pcap'}")
    assert lines[1].split()[:6] == ["proto", "client", "server", "name", "from", "category"]
    rows = [line.split() for line in lines[2:]]
    assert [r[3] for r in rows] == ["upload.skypixel.com", "mydjiflight.dji.com", "-"]
    assert [r[5] for r in rows] == ["media", "flightlog", "dns"]
    assert [r[4] for r in rows] == ["dns", "sni", "-"]
    assert int(rows[0][6]) > int(rows[1][6]) > int(rows[2][6])


PUBLIC_RESOLVER, DOT = "203.0.113.53", "192.0.2.85"


def resolution_capture(tmp_path):
    """Name resolution three ways (DNS over UDP 53 and TCP 53 to a public resolver, DNS
    over TLS on 853 naming its server), and one HTTPS flow."""
    frames = traffic.dns_lookup(T0, PHONE, PHONE_MAC, PUBLIC_RESOLVER, GW_MAC, "a.example",
                                "198.51.100.5", True, 53001, 1)  # fmt: skip
    frames += dns_over_tcp(T0 + 1, PUBLIC_RESOLVER, 41001, "b.example", "198.51.100.6", 2)[0]
    frames += traffic.tls_session(T0 + 2, PHONE, PHONE_MAC, 41002, DOT, GW_MAC,
                                  "dns.example.net", 400, 900, True, port=853)  # fmt: skip
    frames += traffic.tls_session(T0 + 3, PHONE, PHONE_MAC, 41003, "198.51.100.7", GW_MAC,
                                  "flysafe-api.dji.com", 5_000, 2_000, True)  # fmt: skip
    path = tmp_path / "dns.pcap"
    path.write_bytes(pcap(frames))
    return path


def test_name_resolution_reads_dns_in_the_table_and_the_json(tmp_path):
    path = resolution_capture(tmp_path)
    _, out, _ = run(path, as_json=True)
    got = [((f["dst"], f["dport"]), f["proto"], f["category"]) for f in json.loads(out)["flows"]]
    assert sorted(got) == sorted([((PUBLIC_RESOLVER, 53), "udp", "dns"),
                                  ((PUBLIC_RESOLVER, 53), "tcp", "dns"),
                                  ((DOT, 853), "tcp", "dns"),
                                  (("198.51.100.7", 443), "tcp", "nfz")])  # fmt: skip
    _, out, _ = run(path)
    rows = [line.split() for line in out.splitlines()[2:]]
    assert sorted((r[0], r[2], r[5]) for r in rows) == [
        ("tcp", f"{DOT}:853", "dns"), ("tcp", "198.51.100.7:443", "nfz"),
        ("tcp", f"{PUBLIC_RESOLVER}:53", "dns"), ("udp", f"{PUBLIC_RESOLVER}:53", "dns")]


def test_name_resolution_reads_dns_in_the_evidence_flow_table(tmp_path):
    flows = [f.to_dict() for f in analyze(resolution_capture(tmp_path)).flows]
    ev = Evidence(test="t", claim="G1", aircraft="spark", model="spark", bench="sim",
                  phone="pixel-spark", firmware="01.00.0900", session="defaults",
                  served=["G1"], verdict={"status": "pass", "reasons": []})
    ev.phases = [Phase("power-on", T0, T0 + 5, [], flows)]
    page = ev.html()
    # a row: ... <td>phone</td><td>server</td><td>name</td><td>from</td><td>category</td> ...
    rows = re.findall(rf"<td>{PHONE}:\d+</td><td>([\d.]+):(\d+)</td><td>[^<]*</td><td>[^<]*"
                      r"</td><td>([^<]*)</td>", page)
    assert sorted(rows) == sorted([(PUBLIC_RESOLVER, "53", "dns"), (PUBLIC_RESOLVER, "53", "dns"),
                                   (DOT, "853", "dns"), ("198.51.100.7", "443", "nfz")])
    assert page.count("[dns] up") == 3  # the timeline's bars say it too


def test_damaged_capture_prints_what_was_read_then_the_damage(tmp_path):
    path = capture(tmp_path)
    path.write_bytes(path.read_bytes()[:-10])
    status, out, err = run(path, as_json=True)
    assert status == 2
    assert json.loads(out)["packets"] > 0
    assert err.startswith(f"hil: capture {path}: truncated packet record at byte ")
    assert "the report above covers the" in err


def test_missing_file_and_bad_catalog(tmp_path):
    status, out, err = run(tmp_path / "nope.pcap")
    assert (status, out) == (2, "")
    assert "nope.pcap" in err
    bad = tmp_path / "cat.toml"
    bad.write_text("version = 7\n")
    status, out, err = run(capture(tmp_path), catalog=bad)
    assert status == 2
    assert "unsupported catalog version 7" in err


def test_ipv6_ends_and_quic_in_the_table():
    from hil.capture.analyze import Analysis, Flow

    flow = Flow("udp", "2001:db8::1", 5000, "2001:db8::2", 443, 1.0, 2.0, 1, 1, 1200, 300,
                None, None, None, None, None, "unknown", quic=True)  # fmt: skip
    text = report.table(Analysis(2, [flow], [], 0))
    row = text.splitlines()[2]
    assert row.split()[:3] == ["quic", "[2001:db8::1]:5000", "[2001:db8::2]:443"]
    assert "(QUIC, name encrypted)" in row
