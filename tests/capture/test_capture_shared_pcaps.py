"""The analyzer on real-world captures kept beside the checkout in ../shared/pcaps.

The captures are not part of the repository (see their SOURCES.md); every test here skips
when the folder is absent. tshark, when installed, is the oracle for SNI and DNS names.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.tools import need_tool
from hil.capture.analyze import analyze
from hil.capture.decode import decode
from hil.capture.pcap import read_packets
from hil.capture.tls import HelloStatus, scan_client_hello

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "pcaps"
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


def tshark_names(path: Path) -> tuple[set[str], set[str]]:
    proc = subprocess.run(
        [TSHARK, "-r", str(path), "-T", "fields", "-e", "tls.handshake.extensions_server_name",
         "-e", "dns.qry.name", "-e", "udp.port"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    snis, qnames = set(), set()
    for line in proc.stdout.splitlines():
        sni, qname, ports = line.split("\t")
        snis.update(s.lower() for s in sni.split(",") if s)
        if "5353" not in ports.split(","):  # mDNS is not unicast DNS
            qnames.update(q.lower() for q in qname.split(",") if q)
    return snis, qnames


@pytest.mark.parametrize(
    "name",
    ["tls_2_reasms.pcapng", "chrome.pcap", "tls_with_huge_ch.pcapng", "instagram.pcap",
     "dns.pcap", "android.pcap"],
)  # fmt: skip
def test_same_names_as_tshark(name):
    need_tool("tshark")
    path = shared(name)
    result = analyze(path)
    assert tshark_names(path) == (
        {f.sni for f in result.flows if f.sni},
        {r.qname for r in result.dns if r.qname},
    )
