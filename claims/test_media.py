"""K1: the aircraft and the app do not upload media on their own; only the user does."""

import pytest

from hil import claims

pytestmark = pytest.mark.media


@pytest.mark.claim("K1")
def test_k1_no_automatic_media_upload(defaults_session, judge):
    """After two photos and a video, nothing media-sized leaves until the user shares."""
    if defaults_session.observations["media"] is None:
        pytest.skip(f"K1 needs photos: {defaults_session.observations['cannot']['media']}")
    judge(defaults_session, lambda s: claims.k1_no_automatic_media_upload(
        s.view("media"), s.view("share"), s.context, s.observations["media"],
        s.observations["shared"], s.settings.media_fraction))
