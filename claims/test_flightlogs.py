"""K2, K3: flight logs are recorded on the aircraft and in the app, and leave only on sync."""

import pytest

from hil import claims

pytestmark = pytest.mark.flightlogs


@pytest.mark.claim("K2")
def test_k2_logs_recorded_on_aircraft_and_app(defaults_session, judge):
    """A power session adds a log to the aircraft's list and a record to the app's store."""
    cannot = defaults_session.observations["cannot"]
    if "aircraft_logs" in cannot and "app_records" in cannot:
        pytest.skip(f"K2 needs a log list: {cannot['aircraft_logs']}; "
                    f"{cannot['app_records']}")
    judge(defaults_session, lambda s: claims.k2_logs_recorded(
        s.observations["before"], s.observations["after"], s.observations["cannot"]))


@pytest.mark.claim("K3")
def test_k3_logs_uploaded_only_on_sync(defaults_session, judge):
    """No flight-log upload before the user presses sync; after it, the records go up."""
    judge(defaults_session, lambda s: claims.k3_logs_only_on_sync(
        [s.view(p) for p in ("baseline", "power-on", "media", "share")], s.view("sync"),
        s.context, s.observations["unsynced"]))
