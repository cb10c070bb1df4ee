"""K7 and K8: Local Data Mode, and the aircraft without the app."""

import pytest

from hil import claims

pytestmark = pytest.mark.localdata


@pytest.mark.claim("K7")
def test_k7_local_data_mode_sends_nothing(local_data_mode_session, judge):
    """With Local Data Mode on (Android), the app sends nothing to the internet."""
    judge(local_data_mode_session, lambda s: claims.k7_local_data_mode(
        s.view("ldm-on"), s.view("ldm-off"), s.context, s.category_of))


@pytest.mark.claim("K8")
def test_k8_nothing_sent_without_the_app(no_app_session, judge):
    """Aircraft and controller powered, app closed: no bench device sends anything."""
    judge(no_app_session, lambda s: claims.k8_nothing_without_app(
        s.view("app-closed"), s.view("app-open"), s.context, s.category_of))
