"""The analyzer on real-world captures kept beside the checkout in ../shared/pcaps.

The captures are not part of the repository (see their SOURCES.md); every test here skips
when the folder is absent. tshark is the oracle: for every capture, the TLS server names,
DNS query names, DNS answers (answer section), HTTP hosts, TCP and UDP conversations
(ends, packets and payload bytes, and who the client is when tshark saw the SYN) and the
QUIC conversations must be the same, except the differences listed, with their reasons,
in data/tshark_differences.toml. A difference not listed fails, and so does a listed one
that no longer happens: the list stays true.
"""

from __future__ import annotations

import collections
import concurrent.futures
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from fixtures.tools import need_tool
from hil.capture.analyze import Analysis, analyze
from hil.capture.decode import decode
from hil.capture.pcap import read_packets
from hil.capture.tls import HelloStatus, scan_client_hello

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "pcaps"
DIFFERENCES = Path(__file__).with_name("data") / "tshark_differences.toml"
TSHARK = shutil.which("tshark") or "tshark"

pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"public captures not found at {SHARED.resolve()}"
)

ALL = [
    "443-chrome.pcap", "android.pcap", "chrome.pcap", "dns.pcap", "dns_fragmented.pcap",
    "encrypted_sni.pcap", "google_ssl.pcap", "googledns_android10.pcap", "instagram.pcap",
    "no_sni.pcap", "quic.pcap", "tls_2_reasms.pcapng", "tls_2_reasms_b.pcapng",
    "tls_ech.pcapng", "tls_esni_sni_both.pcap", "tls_missing_ch_frag.pcap",
    "tls_with_huge_ch.pcapng", "whatsappfiles.pcap", "youtubeupload.pcap",
]  # fmt: skip


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {SHARED.resolve()}")
    return path


@pytest.mark.parametrize("name", ALL)
def test_every_capture_reads_to_the_end(name):
    result = analyze(shared(name))
    assert result.packets > 0
    assert result.flows
    assert result.packets == result.ignored + sum(f.packets_up + f.packets_down
                                                  for f in result.flows)  # fmt: skip


@pytest.mark.parametrize(
    "name, sni",
    [
        ("tls_2_reasms.pcapng", "i.instagram.com"),  # ClientHello over two segments
        ("tls_2_reasms_b.pcapng", "video.fmct2-3.fna.fbcdn.net"),
        ("tls_ech.pcapng", "performance.radar.cloudflare.com"),  # the outer name of ECH
        # tshark finds no name here (a fragment is missing); the name is in what arrived.
        ("tls_missing_ch_frag.pcap", "r1---sn-5f5nxgvh5o-hjul.googlevideo.com"),
    ],
)
def test_single_flow_sni(name, sni):
    tcp = [f for f in analyze(shared(name)).flows if f.proto == "tcp"]
    assert [(f.sni, f.server_name, f.name_source, f.dport) for f in tcp] == [(sni, sni, "sni", 443)]


def test_chrome_session():
    flows = analyze(shared("chrome.pcap")).flows
    assert len(flows) == 6
    assert {(f.proto, f.dport, f.sni) for f in flows} == {("tcp", 443, "www.iit.cnr.it")}


def test_huge_client_hello_is_reassembled_to_its_end():
    """An 11 KB ClientHello over 12 segments, without server_name: read whole, no SNI."""
    stream, base = bytearray(), None
    for _ts, linktype, frame in read_packets(shared("tls_with_huge_ch.pcapng")):
        seg = decode(linktype, frame)
        if seg and seg.dport == 443 and seg.payload:
            base = seg.seq if base is None else base
            if seg.seq - base == len(stream):
                stream += seg.payload
    assert len(stream) > 11_000
    assert scan_client_hello(bytes(stream)).status is HelloStatus.NO_SNI
    assert scan_client_hello(bytes(stream[:8000])).status is HelloStatus.NEED_MORE
    (flow,) = analyze(shared("tls_with_huge_ch.pcapng")).flows
    assert flow.sni is None


def test_dns_over_pppoe_and_vlan():
    result = analyze(shared("dns.pcap"))
    assert [r.qname for r in result.dns] == [
        "www.l.google.com",
        "www.example.com",
        "e7.whatsapp.net",
    ]
    assert len(result.dns[2].answers) == 8


def test_quic_capture_marks_quic_and_reads_no_name():
    flows = analyze(shared("quic.pcap")).flows
    assert all(f.proto == "udp" and f.sni is None and f.server_name is None for f in flows)
    assert sum(f.quic for f in flows) == 9  # the tenth is seen mid-connection, no version


# --- tshark, the oracle ---------------------------------------------------------------

FIELDS = [
    "tcp.stream", "udp.stream", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport",
    "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.len", "udp.length", "tcp.flags",
    "tls.handshake.extensions_server_name", "dns.qry.name", "dns.flags.response",
    "dns.count.answers", "dns.resp.name", "dns.resp.type", "dns.a", "dns.aaaa", "dns.cname",
    "http.host", "frame.protocols",
]  # fmt: skip


def tshark_lines(path: Path) -> list[dict[str, list[str]]]:
    args = [TSHARK, "-r", str(path), "-n", "-T", "fields", "-E", "occurrence=a",
            "-E", "aggregator=\x1f", "-E", "separator=\t"]  # fmt: skip
    for name in FIELDS:
        args += ["-e", name]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    rows = []
    for line in proc.stdout.splitlines():
        values = line.split("\t")
        rows.append({k: v.split("\x1f") if v else [] for k, v in zip(FIELDS, values, strict=True)})
    return rows


def _end(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def conversation(proto: str, a: str, b: str, packets: int, size: int) -> str:
    ends = " ".join(sorted([a, b]))
    return f"{proto} {ends} packets={packets} bytes={size}"


def views_of_tshark(rows: list[dict[str, list[str]]],
                    rules: dict) -> dict[str, collections.Counter]:
    """What tshark saw, as the compared views (multisets of strings)."""
    out = {k: collections.Counter() for k in ("sni", "qname", "answer", "http_host", "tcp",
                                               "udp", "client", "quic")}  # fmt: skip
    streams: dict[tuple, dict] = {}
    for row in rows:
        protocols = row["frame.protocols"][0] if row["frame.protocols"] else ""
        quic = ":quic" in protocols or ":gquic" in protocols
        udp_ports = row["udp.srcport"] + row["udp.dstport"]
        mdns = "5353" in udp_ports and "mdns" in rules
        if not (quic and "quic_sni" in rules):
            for name in row["tls.handshake.extensions_server_name"]:
                out["sni"][name.lower()] += 0  # a set: presence, not count
        if row["dns.qry.name"] and not mdns:
            for name in row["dns.qry.name"]:
                out["qname"][name.lower()] += 0
            if row["dns.flags.response"][:1] == ["1"]:
                count = int(row["dns.count.answers"][0])
                values = {"1": iter(row["dns.a"]), "28": iter(row["dns.aaaa"]),
                          "5": iter(row["dns.cname"])}  # fmt: skip
                kinds = {"1": "A", "28": "AAAA", "5": "CNAME"}
                for rname, rtype in list(zip(row["dns.resp.name"], row["dns.resp.type"],
                                             strict=False))[:count]:  # fmt: skip
                    if rtype in values:
                        value = next(values[rtype])
                        out["answer"][f"{rname.lower()} {kinds[rtype]} {value.lower()}"] += 0
        for host in row["http.host"]:
            out["http_host"][host.lower().rsplit(":", 1)[0] if "]" not in host else host] += 0
        src = (row["ip.src"] or row["ipv6.src"])[-1:] or [""]
        dst = (row["ip.dst"] or row["ipv6.dst"])[-1:] or [""]
        for proto in ("tcp", "udp"):
            if not row[f"{proto}.stream"]:
                continue
            if not row[f"{proto}.srcport"]:
                continue
            sport, dport = row[f"{proto}.srcport"][-1], row[f"{proto}.dstport"][-1]
            stream = streams.setdefault((proto, row[f"{proto}.stream"][-1]), {
                "ends": (_end(src[0], int(sport)), _end(dst[0], int(dport))),
                "n": 0, "b": 0, "up": [0, 0, 0, 0], "client": None, "quic": False})  # fmt: skip
            a = _end(src[0], int(sport))
            if proto == "tcp":
                size = int((row["tcp.len"] or ["0"])[-1] or 0)
            else:
                size = int((row["udp.length"] or ["8"])[-1]) - 8
            stream["n"] += 1
            stream["b"] += size
            stream["quic"] |= quic
            syn = proto == "tcp" and int(row["tcp.flags"][-1], 16) & 0x12 == 0x02
            if syn and stream["client"] is None:
                stream["client"] = a
            stream.setdefault("frames", []).append((a, size))
    for (proto, _), s in streams.items():
        a, b = s["ends"]
        out[proto][conversation(proto, a, b, s["n"], s["b"])] += 1
        if s["client"] is not None:
            up = [x for x in s["frames"] if x[0] == s["client"]]
            down = [x for x in s["frames"] if x[0] != s["client"]]
            server = b if a == s["client"] else a
            out["client"][f"{s['client']} > {server} up={len(up)}/{sum(x[1] for x in up)} "
                          f"down={len(down)}/{sum(x[1] for x in down)}"] += 1  # fmt: skip
        if s["quic"]:
            out["quic"][" ".join(sorted([a, b]))] += 1
    return out


def views_of_ours(result: Analysis, tshark_clients: collections.Counter) -> dict:
    out = {k: collections.Counter() for k in ("sni", "qname", "answer", "http_host", "tcp",
                                               "udp", "client", "quic")}  # fmt: skip
    for f in result.flows:
        a, b = _end(f.src, f.sport), _end(f.dst, f.dport)
        if f.sni:
            out["sni"][f.sni] += 0
        if f.http_host:
            out["http_host"][f.http_host] += 0
        out[f.proto][conversation(f.proto, a, b, f.packets_up + f.packets_down,
                                  f.bytes_up + f.bytes_down)] += 1  # fmt: skip
        line = (f"{a} > {b} up={f.packets_up}/{f.bytes_up} "
                f"down={f.packets_down}/{f.bytes_down}")  # fmt: skip
        if f.proto == "tcp" and line in tshark_clients:
            out["client"][line] += 1
        elif f.proto == "tcp" and any(x.startswith(f"{b} > {a} ") for x in tshark_clients):
            out["client"][line] += 1  # tshark saw a SYN the other way: a real difference
        if f.quic:
            out["quic"][" ".join(sorted([a, b]))] += 1
    for d in result.dns:
        if d.qname:
            out["qname"][d.qname] += 0
        for name, rtype, value in d.answers:
            out["answer"][f"{name} {rtype} {value}"] += 0
    return out


def differences(ours: dict, theirs: dict) -> dict[tuple[str, str], list[str]]:
    found = {}
    for view in ours:
        mine, oracle = ours[view], theirs[view]
        if view in ("sni", "qname", "answer", "http_host"):  # sets
            only_ours, only_theirs = set(mine) - set(oracle), set(oracle) - set(mine)
        else:
            only_ours = set((mine - oracle).elements())
            only_theirs = set((oracle - mine).elements())
        if only_ours:
            found[(view, "ours_only")] = sorted(only_ours)
        if only_theirs:
            found[(view, "tshark_only")] = sorted(only_theirs)
    return found


@pytest.fixture(scope="module")
def expected() -> dict:
    return tomllib.loads(DIFFERENCES.read_text())


@pytest.fixture(scope="module")
def oracle() -> dict[str, list]:
    """tshark's fields for every capture, read two at a time."""
    need_tool("tshark")
    paths = [SHARED / n for n in ALL if (SHARED / n).is_file()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip([p.name for p in paths], pool.map(tshark_lines, paths), strict=True))


@pytest.mark.parametrize("name", ALL)
def test_same_as_tshark_but_the_listed_differences(name, oracle, expected):
    shared(name)
    theirs = views_of_tshark(oracle[name], expected["rules"])
    ours = views_of_ours(analyze(SHARED / name), theirs["client"])
    listed = {(d["view"], side): sorted(d[side])
              for d in expected["difference"] if d["capture"] == name
              for side in ("ours_only", "tshark_only") if side in d}  # fmt: skip
    assert differences(ours, theirs) == listed


def test_every_listed_difference_says_why(expected):
    for rule, why in expected["rules"].items():
        assert len(why) > 40, rule
    for d in expected["difference"]:
        assert d["capture"] in ALL
        assert len(d["why"]) > 40, d
