"""K4-K6: diagnostics and no-fly-zone checks at power-on, and the two ways to stop them.

Each test runs once per aircraft of the bench (`pytest -m spark`), captures the phone's
traffic at the gateway around its phases and is judged by a pure function of
`hil.claims` on what was captured.
"""

import pytest

from hil import claims

pytestmark = pytest.mark.diagnostics


def prepare(claim, station, diagnostics: bool):
    with claim.phase("prepare"):
        claim.act(f"app setting diagnostics {'on' if diagnostics else 'off'}",
                  lambda: station.app.set("diagnostics", diagnostics))
        claim.act("launch app", station.app.launch)


def power_on_and_observe(claim, station, phase="power-on"):
    with claim.phase(phase):
        station.power_on(claim.act)
        claim.observe()


@pytest.mark.claim("K4")
def test_k4_diagnostics_sent_at_power_on(station, claim):
    """With the app's defaults, diagnostics and NFZ checks go out after power-on."""
    prepare(claim, station, diagnostics=True)
    power_on_and_observe(claim, station)
    claim.judge(lambda ph, ctx: claims.k4_diagnostics_at_power_on(ph["power-on"], ctx))


@pytest.mark.claim("K5")
def test_k5_diagnostics_setting_off(station, claim):
    """With diagnostics off in the app, none go out; the NFZ check is the control."""
    prepare(claim, station, diagnostics=False)
    power_on_and_observe(claim, station)
    claim.judge(lambda ph, ctx: claims.k5_diagnostics_setting_off(
        ph["power-on"], ctx, claim.category_of))


@pytest.mark.claim("K6")
def test_k6_uplink_cut(station, claim):
    """With the phone's uplink cut, nothing leaves; after the restore, traffic flows."""
    prepare(claim, station, diagnostics=True)
    with claim.phase("cutting"):  # its flows began before the cut took effect: not judged
        claim.act(f"cut uplink of {station.phone.ip}",
                  lambda: station.gateway.cut_uplink(station.phone.ip))
    power_on_and_observe(claim, station, phase="cut")
    with claim.phase("restored"):
        claim.act(f"restore uplink of {station.phone.ip}",
                  lambda: station.gateway.restore_uplink(station.phone.ip))
        claim.observe()
    claim.judge(lambda ph, ctx: claims.k6_uplink_cut(ph["cut"], ph["restored"], ctx))
