"""Phases see what flows carried in their window: whole flows, or slices of long ones."""

from __future__ import annotations

import io

import pytest
from capture_frames import _tcp_payload

from hil.capture.analyze import FlowSlice, analyze
from hil.capture.pcap import PcapWriter
from hil.capture.phases import bounds_of, flows_between, windows
from hil.sim import packets as pk
from hil.sim import traffic

PHONE, PHONE_MAC = "10.20.0.34", "02:00:00:00:00:34"
GW_MAC, SERVER = "02:00:00:00:00:01", "198.51.100.7"
T0 = 1_700_000_000.0
NAME = "flysafe-api.dji.com"


def pcap(frames) -> bytes:
    buf = io.BytesIO()
    writer = PcapWriter(buf, nanosecond=True)
    for ts, frame in sorted(frames, key=lambda f: f[0]):
        writer.write(ts, frame)
    return buf.getvalue()


def kept_connection():
    """A connection opened at T0 and used again at T0 + 5 (100 kB up, 500 B down), and a
    short one at T0 + 2: the frames of each."""
    opened, conn = traffic.tls_open(T0, PHONE, PHONE_MAC, 41000, SERVER, GW_MAC, NAME,
                                    1_500, 30_000)
    later = conn.send(T0 + 5, 100_000, 500)
    short = traffic.tls_session(T0 + 2, PHONE, PHONE_MAC, 41001, SERVER, GW_MAC, NAME,
                                600, 600, reachable=True)
    return opened, later, short


def truth(frames, lo, hi):
    """(packets up, packets down, bytes up, bytes down) of the frames in [lo, hi)."""
    inside = [f for t, f in frames if lo <= t < hi]
    up = [f for f in inside if f[6:12] == pk.mac_bytes(PHONE_MAC)]
    down = [f for f in inside if f[6:12] != pk.mac_bytes(PHONE_MAC)]
    return len(up), len(down), sum(map(_tcp_payload, up)), sum(map(_tcp_payload, down))


def test_a_long_flow_is_sliced_exactly_by_the_windows():
    opened, later, short = kept_connection()
    bounds = [T0 - 1, T0 + 1, T0 + 4, T0 + 6]
    result = analyze(pcap(opened + later + short), bounds=bounds)
    long_flow = next(f for f in result.flows if f.sport == 41000)

    first = flows_between(result, T0 - 1, T0 + 1)
    assert [f.sport for f in first] == [41000] and isinstance(first[0], FlowSlice)
    middle = flows_between(result, T0 + 1, T0 + 4)
    assert [f.sport for f in middle] == [41001]  # the long flow sent nothing then
    assert middle[0] is next(f for f in result.flows if f.sport == 41001)  # whole, as is
    last = flows_between(result, T0 + 4, T0 + 6)
    assert [f.sport for f in last] == [41000]

    for (lo, hi), s in (((T0 - 1, T0 + 1), first[0]), ((T0 + 4, T0 + 6), last[0])):
        assert (s.packets_up, s.packets_down, s.bytes_up, s.bytes_down) == \
            truth(opened + later, lo, hi)
        assert s.sni == NAME and s.category == long_flow.category
        assert s.opened == long_flow.first and lo <= s.first <= s.last < hi
    assert last[0].bytes_up >= 100_000 and last[0].first == pytest.approx(T0 + 5, abs=1e-6)
    # the slices add up to the whole flow
    assert first[0].bytes_up + last[0].bytes_up == long_flow.bytes_up
    assert first[0].packets_down + last[0].packets_down == long_flow.packets_down
    # a window of several intervals adds them up
    both = flows_between(result, T0 - 1, T0 + 6)
    assert {f.sport for f in both} == {41000, 41001}
    whole = next(f for f in both if f.sport == 41000)
    assert whole.bytes_up == long_flow.bytes_up and whole.first == long_flow.first


def test_bounds_change_no_flow_total():
    opened, later, short = kept_connection()
    data = pcap(opened + later + short)
    plain = analyze(data)
    windowed = analyze(data, bounds=[T0 + 1, T0 + 4])
    assert windowed.flows == plain.flows and windowed.dns == plain.dns
    assert list(windowed.spans) == [0] and plain.spans == {} and plain.bounds == ()


def test_a_window_edge_must_be_a_bound():
    opened, later, _ = kept_connection()
    result = analyze(pcap(opened + later), bounds=[T0, T0 + 4])
    with pytest.raises(ValueError, match=r"window edge 1700000003\.0 is not one of the "
                                         r"bounds the capture was analyzed with \(2 bounds\)"):
        flows_between(result, T0, T0 + 3)
    with pytest.raises(ValueError, match="not one of the bounds"):
        flows_between(analyze(pcap(opened)), T0, T0 + 4)


def test_bounds_of_the_phase_windows():
    spans = windows([(T0, T0 + 2), (T0 + 2, T0 + 3), (T0 + 3, T0 + 3)], slack=0.5)
    assert bounds_of(spans) == [T0 - 0.5, T0 + 1.5, T0 + 2.5, T0 + 3]
