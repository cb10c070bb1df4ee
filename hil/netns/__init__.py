"""The netns bench: the lab gateway for real, in Linux network namespaces on this machine.

`benches/netns.toml` describes it. Its relay board and aircraft are the simulator's (see
`hil.sim`); its network is real:

    phone box(es)            gateway box                          internet box
    wlan0 10.20.0.31 ── lanN ─ wlan0 (bridge) 10.20.0.1  wan0 ── eth0 192.0.2.2
    OpenSSH sshd              OpenSSH sshd, tcpdump, nft            DNS 203.0.113.53
    hil-app agent             forwards 10.20.0.0/24 <-> internet    TLS on 198.51.100.0/24
    the app (real sockets)    192.0.2.1

Each box is a network + pid + mount + uts namespace with its own pid 1 (`hil.netns.init`),
so everything started in it, including a tcpdump a crashed run left, dies with it. The
harness reaches the boxes' sshd through loopback ports forwarded by the world process.

- `hil.netns.bench`: `NetnsWorld` (the boxes, from the harness's side) and `NetnsBench`
  (a whole bench: the simulator's relay and aircraft plus the world), `unavailable()`.
- `hil.netns.world`: the process that makes the boxes (as root, or rootless inside a user
  namespace made with `unshare`) and runs their services; `hil.netns.box`: one box.
- `hil.netns.cloud`: the cloud stand-ins; `hil.netns.phone`: the app on real sockets.
"""
