"""Fixtures and helpers of the netns bench's tests.

Fixtures (import them into a test module; this folder has no conftest.py, whose module
name `conftest` the other test folders import):
- `world`: a fresh netns world (gateway, internet, two phones) per test, so each fault
  starts clean; after the test it checks that nothing the world made is left: no box
  process, no namespace (and with them no sshd, no tcpdump, no nft table);
- `gateway`: the production gateway driver on it, torn down as fixtures/ does it.
Where this machine cannot make namespaces the tests skip with the reason; with
HIL_REQUIRE_TOOLS=1 (CI) they fail instead.
"""

from __future__ import annotations

import time

import pytest

from fixtures.tools import cannot_run, need_tool
from hil.netns.bench import TOOLS, NetnsWorld, PhoneSpec, unavailable
from hil.netns.linux import find_tool
from hil.remote.agent import AgentApp
from hil.remote.gateway import Gateway
from hil.sim.app import DIAGNOSTICS, NFZ

SPARK_PHONE = PhoneSpec("pixel-spark", "10.20.0.31")
MAVIC_PHONE = PhoneSpec("pixel-mavic", "10.20.0.32")
CAPTURE_DIR = "/var/tmp/hil"


def need_netns() -> None:
    """Skip (fail under HIL_REQUIRE_TOOLS=1) where the netns bench cannot run."""
    for tool in TOOLS:
        if find_tool(tool) is None:
            need_tool(tool)
    why = unavailable()
    if why:
        cannot_run(why)


@pytest.fixture(name="world")
def world_fixture():
    need_netns()
    w = NetnsWorld([SPARK_PHONE, MAVIC_PHONE], time_scale=0.02)
    w.start()
    try:
        yield w
    finally:
        left = w.stop()
    assert not left, f"the netns bench left behind: {left}"


@pytest.fixture(name="gateway")
def gateway_fixture(world):
    gw = Gateway(world.gateway_ssh(), "wlan0", CAPTURE_DIR)
    yield gw
    for phone in (SPARK_PHONE, MAVIC_PHONE):
        gw.restore_uplink(phone.ip)
    gw.ssh.close()


def wait_for(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def gateway_leftovers(world) -> list[str]:
    """What of the harness is still on the gateway: tcpdumps, nft tables, capture state."""
    out = []
    tcpdumps = [p for p in world.processes("gateway") if p == "tcpdump"]
    if tcpdumps:
        out.append(f"{len(tcpdumps)} tcpdump running")
    tables = world.exec("gateway", ["nft", "list", "tables"])["stdout"].strip()
    if tables:
        out.append(f"nft: {tables}")
    state = world.exec("gateway", ["sh", "-c", f"ls {CAPTURE_DIR}/*.pid 2>/dev/null"])
    if state["stdout"].strip():
        out.append(f"capture state files: {state['stdout'].split()}")
    return out


def app(world, phone) -> AgentApp:
    return AgentApp(phone.name, world.phone_ssh(phone.name))


def sessions(world, phone_ip: str, since: float, kind: str = "tls") -> list[dict]:
    """What the cloud stand-ins saw from this phone since `since` (kind "tls" or "dns")."""
    return [e for e in world.cloud_seen()
            if e["kind"] == kind and e["client"] == phone_ip and e["t"] >= since]


def power_session(world, phone, expect_reach: bool = True, settle: float = 0.4) -> float:
    """The phone's aircraft comes up, the app makes its power-on requests, the aircraft goes
    down again (for long enough that the phone sees it). With `expect_reach`, waits until
    the NFZ check and the diagnostics reached the cloud; else waits `settle` seconds.
    Returns the start time."""
    t0 = time.time()
    world.phone_state(phone.name, True)
    try:
        if expect_reach:
            wait_for(lambda: {NFZ, DIAGNOSTICS} <= {e["sni"] for e in
                                                    sessions(world, phone.ip, t0)},
                     what=f"{phone.name}'s NFZ check and diagnostics to reach the cloud")
        else:
            time.sleep(settle)
    finally:
        world.phone_state(phone.name, False)
        time.sleep(0.3)  # the phone may be waiting out a DNS timeout: let it see the change
    return t0
