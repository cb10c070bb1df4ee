"""The netns bench and the production gateway driver on a real sshd, tcpdump and nft."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from netns_helpers import (  # noqa: F401 - the fixtures are used by name
    CAPTURE_DIR,
    MAVIC_PHONE,
    SPARK_PHONE,
    app,
    gateway_fixture,
    gateway_leftovers,
    need_netns,
    power_session,
    sessions,
    wait_for,
    world_fixture,
)

from fixtures.tools import cannot_run
from hil import bench as benchmod
from hil.capture.analyze import analyze
from hil.capture.catalog import Catalog
from hil.capture.hosts import stations
from hil.netns.bench import NetnsBench, NetnsWorld
from hil.remote.gateway import Gateway, nft_table
from hil.sim.app import DIAGNOSTICS, NFZ

ROOT = Path(__file__).resolve().parents[2]


def categories(pcap: Path, phone_ip: str | None = None,
               phone_mac: str | None = None) -> dict[str, int]:
    """Bytes up per category of the TCP flows in a capture (of one phone: its IPv4
    address, and every address its MAC used when given)."""
    out: dict[str, int] = {}
    mine = {phone_ip} | stations(pcap).addresses_of(phone_mac)
    for f in analyze(pcap, Catalog.load()).flows:
        if f.proto == "tcp" and (phone_ip is None or f.src in mine):
            out[f.category] = out.get(f.category, 0) + f.bytes_up
    return out


def test_app_traffic_crosses_the_namespaces_and_tcpdump_captures_it(world, gateway, tmp_path):
    app(world, SPARK_PHONE).launch()
    cap = gateway.start_capture(SPARK_PHONE.ip, "crossing")
    t0 = power_session(world, SPARK_PHONE)
    pcap = gateway.stop_capture(cap, tmp_path / "c.pcap")

    seen = sessions(world, SPARK_PHONE.ip, t0)  # what reached the internet box
    assert {e["sni"] for e in seen} >= {NFZ, DIAGNOSTICS}
    # the app's requests carried their volumes (Android's connectivity check, 300 B every
    # 60 s of model time, may fall in the window too)
    assert all(e["up"] >= 1_500 for e in seen if e["sni"] in (NFZ, DIAGNOSTICS)), seen
    result = analyze(pcap, Catalog.load())
    names = {f.server_name: f for f in result.flows if f.server_name}
    assert names[NFZ].name_source == "sni" and names[NFZ].category == "nfz"
    assert names[DIAGNOSTICS].category == "diagnostics"
    assert names[DIAGNOSTICS].bytes_up >= 12_000 and names[NFZ].bytes_down >= 30_000
    assert {d.qname for d in result.dns} >= {NFZ, DIAGNOSTICS}
    assert all(SPARK_PHONE.ip in (f.src, f.dst) for f in result.flows)
    assert not [f for f in result.flows if 22 in (f.sport, f.dport)]
    stats = gateway.capture_stats(cap)
    assert f"{result.packets} packets captured" in stats, stats
    assert gateway_leftovers(world) == [f"nft: table inet {nft_table(SPARK_PHONE.ip)}"]


def test_the_harness_ssh_to_the_gateway_is_not_captured(world, gateway, tmp_path):
    """SSH to the gateway over the phones' LAN (as from a bench host on the Wi-Fi) is left
    out of a whole-LAN capture; the rest of the LAN is in it."""
    cap = gateway.start_capture(None, "no-ssh")
    probe = ("import socket; s = socket.create_connection(('10.20.0.1', 22), timeout=3); "
             "print(s.recv(64).decode().strip()); s.close(); "
             "socket.create_connection(('198.51.100.9', 443), timeout=3).close()")
    res = world.exec(f"phone-{MAVIC_PHONE.name}", [sys.executable, "-c", probe])
    assert res["stdout"].startswith("SSH-2.0-OpenSSH"), res
    pcap = gateway.stop_capture(cap, tmp_path / "c.pcap")
    flows = analyze(pcap).flows
    assert [f.dport for f in flows if f.proto == "tcp"] == [443]
    assert flows[0].src == MAVIC_PHONE.ip


def test_forwarded_udp_443_of_the_phone_is_dropped(world, gateway):
    """No QUIC: while the harness works with a phone, its UDP to port 443 never leaves;
    the same datagrams to another port do."""
    cap = gateway.start_capture(SPARK_PHONE.ip, "quic")
    listen = textwrap.dedent("""
        import select, socket, sys, time
        socks = []
        for port in (443, 4433):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("198.51.100.9", port)); socks.append(s)
        print("ready", flush=True)
        got, end = set(), time.monotonic() + 5
        while time.monotonic() < end and len(got) < 2:
            for s in select.select(socks, [], [], 0.05)[0]:
                s.recv(100)
                if not got:  # the first datagram: a little longer for any other
                    end = min(end, time.monotonic() + 0.4)
                got.add(s.getsockname()[1])
        print(sorted(got))
    """)
    send = ("import socket, time\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for _ in range(10):\n"
            "    s.sendto(b'quic?', ('198.51.100.9', 443)); s.sendto(b'x', ('198.51.100.9', 4433))"
            "; time.sleep(0.05)\n")
    out = {}
    th = threading.Thread(target=lambda: out.update(world.exec("internet", [
        sys.executable, "-c", listen])))
    th.start()
    time.sleep(0.3)  # the listener's Python starts
    phone = world.phone_ssh(SPARK_PHONE.name)
    phone.run([sys.executable, "-c", send])
    th.join()
    assert out["stdout"].split("\n")[1] == "[4433]", out
    listing = world.exec("gateway", ["nft", "list", "table", "inet", nft_table(SPARK_PHONE.ip)])
    assert "udp dport 443 drop" in listing["stdout"]
    gateway.stop_capture(cap, Path(world.dir) / "quic.pcap")


def test_cutting_one_phone_leaves_the_other_online(world, gateway, tmp_path):
    for phone in (SPARK_PHONE, MAVIC_PHONE):
        app(world, phone).launch()
    gateway.cut_uplink(SPARK_PHONE.ip)
    assert gateway.cut_phones() == {SPARK_PHONE.ip}
    t0 = time.time()
    power_session(world, MAVIC_PHONE)  # mavic's phone reaches the cloud
    power_session(world, SPARK_PHONE, expect_reach=False)
    assert not sessions(world, SPARK_PHONE.ip, t0, "dns")  # not even its lookups left
    gateway.restore_uplink(SPARK_PHONE.ip)
    assert gateway.cut_phones() == set()
    power_session(world, SPARK_PHONE)
    assert gateway_leftovers(world) == []  # no capture ran: the table went with the cut


def test_a_crashed_runs_capture_and_table_are_found_and_removed(world, tmp_path):
    crashed = Gateway(world.gateway_ssh(), "wlan0", CAPTURE_DIR)
    old = crashed.start_capture(SPARK_PHONE.ip, "crashed")
    crashed.cut_uplink(SPARK_PHONE.ip)
    crashed.ssh.close()  # the run dies here: no stop, no restore

    nxt = Gateway(world.gateway_ssh(), "wlan0", CAPTURE_DIR)
    done = nxt.reconcile([SPARK_PHONE.ip, MAVIC_PHONE.ip])
    assert len(done) == 2 and f"pid {old.pid}" in done[0] and "uplink was cut" in done[1]
    assert gateway_leftovers(world) == []
    kept = world.exec("gateway", ["ls", CAPTURE_DIR])["stdout"].split()
    assert "crashed.pcap" in kept  # evidence is never thrown away

    # the same without reconcile: the session's restore_uplink and the next capture do it
    crashed = Gateway(world.gateway_ssh(), "wlan0", CAPTURE_DIR)
    old = crashed.start_capture(SPARK_PHONE.ip, "crashed-again")
    crashed.cut_uplink(SPARK_PHONE.ip)
    crashed.ssh.close()
    nxt = Gateway(world.gateway_ssh(), "wlan0", CAPTURE_DIR)
    nxt.restore_uplink(SPARK_PHONE.ip)
    assert nxt.cut_phones() == set()
    cap = nxt.start_capture(SPARK_PHONE.ip, "fresh")
    assert world.processes("gateway").count("tcpdump") == 1
    nxt.stop_capture(cap, tmp_path / "fresh.pcap")
    nxt.restore_uplink(SPARK_PHONE.ip)
    assert gateway_leftovers(world) == []


def test_the_bench_is_gone_after_its_world_is_killed(tmp_path):
    """A harness that dies without stopping the bench (SIGKILL) leaves nothing running."""
    need_netns()
    w = NetnsWorld([SPARK_PHONE], time_scale=0.02).start()
    gw = Gateway(w.gateway_ssh(), "wlan0", CAPTURE_DIR)
    gw.start_capture(SPARK_PHONE.ip, "orphan")
    gw.ssh.close()
    boxes = w.info["boxes"]
    w.proc.kill()
    w.proc.wait(5)
    from hil.netns.bench import leftovers

    wait_for(lambda: not leftovers(boxes), what="the boxes to go after the world died")
    assert w.stop() == []


def test_netns_bench_resolves_a_bench_file_and_relays_the_aircraft(tmp_path):
    """NetnsBench: the simulator's relay and aircraft, the netns network, one bench file."""
    need_netns()
    nb = NetnsBench(benchmod.load(ROOT / "benches" / "netns.toml"), workdir=tmp_path / "nb")
    bench = nb.start()
    try:
        assert bench.gateway.ssh.host == "127.0.0.1" and bench.gateway.ssh.user == nb.world.user
        assert os.path.realpath(bench.relay.url).startswith("/dev/pts/")  # the board's pty
        gw = Gateway(nb.world.gateway_ssh(), bench.gateway.lan_interface,
                     bench.gateway.capture_dir)
        assert gw.now() == pytest.approx(time.time(), abs=1.0)
        phone = bench.phones["pixel-spark"]
        assert phone.options.port == nb.world.phone_port("pixel-spark")
    finally:
        assert nb.stop() == []


@pytest.mark.slow
def test_claims_k4_to_k6_pass_on_the_netns_bench(tmp_path):
    """The acceptance run: `pytest --bench benches/netns.toml -m spark` on the diagnostics
    claims, with traffic that crossed the namespaces and was captured by tcpdump."""
    need_netns()
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "claims/test_diagnostics.py", "--bench",
         "benches/netns.toml", "-m", "spark", "-p", "no:cacheprovider", "-q",
         "-o", "log_cli=false", "--artifacts", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "3 passed" in res.stdout, res.stdout[-2000:]
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    pcaps = {r["claim"]: Path(r["pcap"]) for r in summary["results"]}
    assert set(pcaps) >= {"K4", "K5", "K6"}
    k4 = categories(pcaps["K4"], SPARK_PHONE.ip, "02:00:0a:14:00:1f")  # benches/netns.toml
    assert k4.get("diagnostics", 0) >= 12_000 and k4.get("nfz", 0) >= 1_500, k4


def test_rootless_as_an_unprivileged_user():
    """Not root: the world runs in a user namespace (`unshare --user`), sshd without
    privilege separation, tcpdump and nft with the namespace's capabilities."""
    need_netns()
    if os.geteuid() != 0:
        pytest.skip("this test plays an unprivileged user from root; run as a user, the "
                    "whole netns bench is rootless already")
    script = textwrap.dedent(f"""
        import json, tempfile, time
        from pathlib import Path
        from hil.netns.bench import NetnsWorld, PhoneSpec
        from hil.remote.gateway import Gateway
        from hil.remote.agent import AgentApp
        from hil.capture.analyze import analyze
        w = NetnsWorld([PhoneSpec("p", "{SPARK_PHONE.ip}")], time_scale=0.02).start()
        out = {{"mode": w.info["mode"], "user": w.user}}
        try:
            gw = Gateway(w.gateway_ssh(), "wlan0", "/var/tmp/hil")
            AgentApp("p", w.phone_ssh("p")).launch()
            cap = gw.start_capture("{SPARK_PHONE.ip}", "rootless")
            w.phone_state("p", True); time.sleep(0.4); w.phone_state("p", False)
            gw.cut_uplink("{SPARK_PHONE.ip}")
            out["cut"] = sorted(gw.cut_phones())
            pcap = gw.stop_capture(cap, Path(tempfile.mkdtemp()) / "c.pcap")
            out["names"] = sorted({{f.server_name for f in analyze(pcap).flows
                                   if f.server_name}})
            gw.restore_uplink("{SPARK_PHONE.ip}")
            out["tables"] = w.exec("gateway", ["nft", "list", "tables"])["stdout"]
        finally:
            out["left"] = w.stop()
        print(json.dumps(out))
    """)
    folder = Path(tempfile.mkdtemp(prefix="hil-rootless-test-"))
    try:
        folder.chmod(0o755)
        (folder / "rootless.py").write_text(script)
        (folder / "rootless.py").chmod(0o644)
        plan = _as_nobody(folder / "rootless.py")
        if plan is None:
            cannot_run("cannot make this Python readable for nobody (nested private folders)")
        res = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                              plan], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["mode"] == "rootless" and out["user"] == "nobody"
    assert out["cut"] == [SPARK_PHONE.ip]
    assert {NFZ, DIAGNOSTICS} <= set(out["names"])
    assert out["tables"] == "" and out["left"] == []


def _as_nobody(script: Path) -> str | None:
    """A shell script that, run as root in a private mount namespace, lets `nobody` reach
    this Python, its venv and the project (a folder only root may enter, like /root, is
    covered with a tmpfs showing just the children needed), then runs `script` as nobody.
    None if a needed folder cannot be opened up that way."""
    need = [Path(sys.executable).resolve(), Path(sys.prefix), ROOT, script]
    children: dict[Path, set[Path]] = {}
    for path in need:
        chain = [*reversed(path.parents), path]
        for parent, child in zip(chain, chain[1:], strict=False):
            if parent.is_dir() and not parent.stat().st_mode & 0o001:
                if any(p in children for p in parent.parents):
                    return None  # a private folder inside a private folder
                children.setdefault(parent, set()).add(child)
    lines = ['stash="$(mktemp -d)"']
    n = 0
    for parent, kids in children.items():
        for child in kids:
            lines += [f'mkdir "$stash/{n}"', f'mount --bind "{child}" "$stash/{n}"']
            n += 1
        lines.append(f'mount -t tmpfs -o mode=0755 hil-rootless-test "{parent}"')
        for i, child in enumerate(kids, n - len(kids)):
            make = "mkdir -p" if child.is_dir() else "touch"
            lines += [f'{make} "{child}"', f'mount --bind "$stash/{i}" "{child}"']
    lines.append(f"cd /tmp && exec setpriv --reuid=65534 --regid=65534 --clear-groups "
                 f"env HOME=/tmp {sys.executable} {script}")
    return "\n".join(lines)
