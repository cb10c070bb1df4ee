"""K2, K3: flight logs are recorded on the aircraft and in the app, and leave only on sync."""

import pytest

from hil import claims

pytestmark = pytest.mark.flightlogs


@pytest.mark.claim("K2")
def test_k2_logs_recorded_on_aircraft_and_app(defaults_session, judge):
    """A power session adds a log to the aircraft's list and a record to the app's store."""
    judge(defaults_session, lambda s: claims.k2_logs_recorded(
        s.observations["before"], s.observations["after"]))


@pytest.mark.claim("K3")
def test_k3_logs_uploaded_only_on_sync(defaults_session, judge):
    """No flight-log upload before the user presses sync; after it, the records go up."""
    judge(defaults_session, lambda s: claims.k3_logs_only_on_sync(
        [s.view(p) for p in ("baseline", "power-on", "media", "share")], s.view("sync"),
        s.context, s.observations["unsynced"]))
