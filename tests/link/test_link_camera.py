"""Camera, storage and onboard logs over MAVLink, against the simulated aircraft on UDP."""

import socket

import pytest

from hil.link.mavlink import LinkError, MavlinkLink
from hil.sim.aircraft import SimAircraft
from hil.sim.onboard import Onboard


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rig():
    port = free_port()
    onboard = Onboard(photo_size=1_500_000, video_bytes_per_s=4_000_000)
    sim = SimAircraft(port, "01.00.0900", lambda: True, lambda: True, onboard=onboard,
                      time_scale=0.01)
    sim.start()
    link = MavlinkLink(f"udpin:127.0.0.1:{port}", name="spark")
    link.wait_ready(3)
    yield link, onboard, sim
    link.close()
    sim.stop()


def test_photo_and_its_size_from_storage(rig):
    link, onboard, _ = rig
    before = link.storage_used()
    index, path = link.take_photo()
    after = link.storage_used()
    assert (index, path) == (1, "/DCIM/100MEDIA/DJI_0001.JPG")
    assert abs((after - before) - 1_500_000) < 1024  # float MiB resolution
    assert link.take_photo()[0] == 2


def test_video_size_follows_its_scaled_duration(rig):
    link, onboard, _ = rig
    import time
    link.video(True)
    time.sleep(0.05)  # 5 real seconds at scale 0.01
    link.video(False)
    video = onboard.media[-1]
    assert video.kind == "video" and 18_000_000 < video.size < 30_000_000  # 4 MB/s
    with pytest.raises(LinkError, match="refused video stop with MAV_RESULT_DENIED"):
        link.video(False)  # not recording


def test_log_list_empty_then_one_per_power_session(rig):
    link, onboard, _ = rig
    assert link.log_list() == []
    onboard.power_session(1_800_000_000)
    onboard.power_session(1_800_000_100)
    assert link.log_list() == [{"id": 1, "time_utc": 1_800_000_000, "size": 150_000},
                               {"id": 2, "time_utc": 1_800_000_100, "size": 150_000}]


def test_no_onboard_store_means_unsupported(rig):
    link, _, sim = rig
    sim.onboard = None
    with pytest.raises(LinkError, match="refused MAV_CMD_IMAGE_START_CAPTURE with "
                                        "MAV_RESULT_UNSUPPORTED"):
        link.take_photo(timeout=1)
