"""Who is who on the LAN: the addresses each MAC used, as a capture shows them.

A phone on a dual-stack LAN has one IPv4 address and IPv6 addresses that come and go
(SLAAC, privacy addresses that rotate): its MAC is what stays. :func:`stations` reads an
Ethernet capture (link types Ethernet and Linux cooked SLL and SLL2, whose headers carry
the sender's link-layer address) and returns :class:`Stations`: for each source MAC, every
IP address it sent from (the IP source of its IPv4/IPv6 frames, and the sender address
of its ARP packets), with the first time it was seen.

Pure: bytes in, data out. It reads the capture once, frame by frame, and keeps only the
(MAC, address) pairs, so a session's capture is read in a fraction of the analysis's time.
The unspecified address (``0.0.0.0``, ``::``: DHCP and duplicate address detection) is no
address of anyone's. Frames without a link-layer source (raw IP captures) say nothing.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from hil.capture.decode import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    network_offset,
)
from hil.capture.pcap import iter_batches

__all__ = ["Stations", "mac_text", "stations"]

_ETH_ARP = 0x0806
_U16 = struct.Struct("!H").unpack_from


def mac_text(raw: bytes) -> str:
    """Six bytes as ``02:1a:2b:3c:4d:5e``."""
    return ":".join(f"{b:02x}" for b in raw)


@dataclass
class Stations:
    """Source MAC -> {address: first time seen}, from one capture."""

    by_mac: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, mac: str, address: str, ts: float) -> None:
        seen = self.by_mac.setdefault(mac, {})
        if address not in seen or ts < seen[address]:
            seen[address] = ts

    def addresses_of(self, mac: str | None) -> set[str]:
        """Every address `mac` sent from (empty for None or a MAC never seen)."""
        return set(self.by_mac.get(mac.lower(), {})) if mac else set()

    def macs_of(self, address: str) -> set[str]:
        """The MACs that sent from `address` (normally one)."""
        return {m for m, a in self.by_mac.items() if address in a}

    def ipv6_of(self, mac: str | None, link_local: bool = False) -> list[str]:
        """The IPv6 addresses `mac` sent from, sorted; link-local ones only if asked."""
        out = []
        for a in self.addresses_of(mac):
            ip = ipaddress.ip_address(a)
            if ip.version == 6 and (link_local or not ip.is_link_local):
                out.append(a)
        return sorted(out)


def stations(source: str | os.PathLike[str] | bytes | BinaryIO) -> Stations:
    """The (MAC, address) pairs of the capture at `source` (a path, bytes or a stream)."""
    out = Stations()
    names: dict[bytes, str] = {}
    for batch in iter_batches(source):
        buf = batch.buf
        for ts, linktype, start, caplen in batch.records():
            end = start + caplen
            if linktype == LINKTYPE_ETHERNET and caplen >= 14:
                raw = bytes(buf[start + 6:start + 12])
                ethertype = _U16(buf, start + 12)[0]
                arp = start + 14
            elif linktype == LINKTYPE_LINUX_SLL and caplen >= 16 \
                    and _U16(buf, start + 4)[0] == 6:  # sender's address is 6 bytes long
                raw = bytes(buf[start + 6:start + 12])
                ethertype = _U16(buf, start + 14)[0]
                arp = start + 16
            elif linktype == LINKTYPE_LINUX_SLL2 and caplen >= 20 and buf[start + 11] == 6:
                # SLL2 (tcpdump -i any): protocol first, the sender's address at byte 12
                raw = bytes(buf[start + 12:start + 18])
                ethertype = _U16(buf, start)[0]
                arp = start + 20
            else:
                continue
            if raw[0] & 1:  # not a station's own address
                continue
            address = None
            if ethertype == _ETH_ARP:
                # Ethernet/IPv4 ARP: sender protocol address at offset 14 of the packet
                if end >= arp + 28 and bytes(buf[arp:arp + 6]) == b"\x00\x01\x08\x00\x06\x04":
                    address = socket.inet_ntop(socket.AF_INET, bytes(buf[arp + 14:arp + 18]))
            else:
                net = network_offset(linktype, buf, start, end)
                if net is not None:
                    version, pos = net
                    if version == 4 and end >= pos + 20:
                        address = socket.inet_ntop(socket.AF_INET, bytes(buf[pos + 12:pos + 16]))
                    elif version == 6 and end >= pos + 40:
                        address = socket.inet_ntop(socket.AF_INET6,
                                                   bytes(buf[pos + 8:pos + 24]))
            if address is None or address in ("0.0.0.0", "::"):
                continue
            mac = names.get(raw) or names.setdefault(raw, mac_text(raw))
            out.add(mac, address, ts)
    return out
