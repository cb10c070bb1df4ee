"""Who is who on the LAN (`hil.capture.hosts.stations`), on each framing whose header
carries the sender's MAC: Ethernet (with a VLAN tag too), and Linux cooked v1 and v2
(`tcpdump -i any`)."""

import io

import pytest
from capture_frames import FRAMINGS

from hil.capture.hosts import stations
from hil.capture.pcap import PcapWriter
from hil.sim import packets as pk

PHONE_MAC, GW_MAC, OTHER_MAC = "02:1a:2b:3c:4d:5e", "02:00:00:00:00:01", "02:00:0a:14:00:99"


def frames() -> list[bytes]:
    """Ethernet frames: the phone over IPv4 and from two IPv6 addresses (one link-local),
    another station over IPv4, the gateway forwarding a server's answer, a DHCP discover
    from the unspecified address."""
    return [
        pk.udp_frame(PHONE_MAC, GW_MAC, "10.20.0.31", "198.51.100.7", 40001, 443, b"a"),
        pk.udp_frame(PHONE_MAC, GW_MAC, "2001:db8:20::31", "2001:db8:ffff::5", 40002, 443,
                     b"b"),  # fmt: skip
        pk.udp_frame(PHONE_MAC, "33:33:00:00:00:fb", "fe80::31", "ff02::fb", 5353, 5353, b"c"),
        pk.udp_frame(OTHER_MAC, GW_MAC, "10.20.0.99", "198.51.100.7", 40003, 443, b"d"),
        pk.udp_frame(GW_MAC, PHONE_MAC, "198.51.100.7", "10.20.0.31", 443, 40001, b"e"),
        pk.udp_frame(OTHER_MAC, "ff:ff:ff:ff:ff:ff", "0.0.0.0", "255.255.255.255", 68, 67,
                     b"f"),  # fmt: skip
    ]


@pytest.mark.parametrize("framing", ["ethernet", "vlan", "sll", "sll2"])
def test_each_mac_gets_every_address_it_sent_from(framing):
    linktype, reframe = FRAMINGS[framing]
    out = io.BytesIO()
    w = PcapWriter(out, linktype)
    for i, f in enumerate(frames()):
        w.write(1_700_000_000.0 + i, reframe(f))
    s = stations(out.getvalue())
    assert s.addresses_of(PHONE_MAC) == {"10.20.0.31", "2001:db8:20::31", "fe80::31"}
    assert s.ipv6_of(PHONE_MAC) == ["2001:db8:20::31"]
    assert s.ipv6_of(PHONE_MAC.upper(), link_local=True) == ["2001:db8:20::31", "fe80::31"]
    assert s.macs_of("10.20.0.31") == {PHONE_MAC}  # the gateway forwards, it does not send
    assert s.addresses_of(OTHER_MAC) == {"10.20.0.99"}  # 0.0.0.0 is nobody's
    assert s.by_mac[PHONE_MAC]["2001:db8:20::31"] == 1_700_000_001.0  # first seen
