"""A pytest plugin for a claim-suite run on the netns bench: every time the harness cuts a
phone's uplink, the IPv6 rules of its real nft table (what the phone's MAC sends over
IPv6, what comes back to its IPv6 addresses) are deleted on the gateway right after
(`nft -a list table`, then `nft delete rule ... handle N`), as a gateway whose table
forgot IPv6 would be. Used by tests/netns/test_netns_ipv6.py to show that K6 then fails:
the cut holds only as far as the table reaches."""

from hil.remote.gateway import NFT_FAMILY, Gateway, nft_table

_cut = Gateway.cut_uplink


def _cut_then_forget_ipv6(self, phone_ip, mac=None):
    _cut(self, phone_ip, mac)
    table = nft_table(phone_ip)
    listing = self.ssh.run(["nft", "-a", "list", "table", NFT_FAMILY, table]).text
    handles = [line.rsplit("# handle", 1)[1].strip() for line in listing.splitlines()
               if "uplink cut (IPv6)" in line and "# handle" in line]
    assert handles, listing
    for h in handles:
        self.ssh.run(["nft", "delete", "rule", NFT_FAMILY, table, "forward", "handle", h])


Gateway.cut_uplink = _cut_then_forget_ipv6
