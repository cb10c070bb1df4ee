"""G1 (release gate): nothing new calls home."""

import pytest

from hil import claims

pytestmark = pytest.mark.catalog


@pytest.mark.claim("G1")
def test_g1_every_destination_is_catalogued(defaults_session, judge):
    """Every destination of every phase is in the endpoint catalog, or under the budget."""
    judge(defaults_session, lambda s: claims.g1_catalog(
        list(s.views().values()), s.context, s.settings.unknown_budget))
