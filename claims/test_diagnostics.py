"""K4-K6: diagnostics and no-fly-zone checks at power-on, and the two ways to stop them."""

import pytest

from hil import claims

pytestmark = pytest.mark.diagnostics


@pytest.mark.claim("K4")
def test_k4_diagnostics_sent_at_power_on(defaults_session, judge):
    """With the app's defaults, diagnostics and NFZ checks go out after power-on."""
    judge(defaults_session,
          lambda s: claims.k4_diagnostics_at_power_on(s.view("power-on"), s.context))


@pytest.mark.claim("K5")
def test_k5_diagnostics_setting_off(diagnostics_off_session, judge):
    """With diagnostics off in the app, none go out; the NFZ check is the control."""
    judge(diagnostics_off_session, lambda s: claims.k5_diagnostics_setting_off(
        s.view("power-on"), s.context, s.category_of))


@pytest.mark.claim("K6")
def test_k6_uplink_cut(uplink_cut_session, judge):
    """With the phone's uplink cut, nothing leaves; after the restore, traffic flows and
    nothing held back during the cut bursts out."""
    judge(uplink_cut_session, lambda s: claims.k6_uplink_cut(
        s.view("cut"), s.view("restored"), s.context, s.settings.deferred_burst))
