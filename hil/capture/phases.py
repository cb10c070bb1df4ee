"""Pick the flows, and the part of each flow, that belong to a phase of a claim test."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable

from hil.capture.analyze import Analysis, Flow, FlowSlice

__all__ = ["bounds_of", "flows_between", "windows"]


def bounds_of(spans: Iterable[tuple[float, float]]) -> list[float]:
    """Every edge of the windows ``spans``, sorted: the ``bounds`` to analyze with."""
    return sorted({t for span in spans for t in span})


def flows_between(analysis: Analysis, lo: float, hi: float) -> list[Flow]:
    """What the flows carried in ``[lo, hi)``, in the analysis's flow order.

    A flow whose packets all fall in the window is given whole. A flow with packets on
    both sides of one of the window's ends is given as a :class:`FlowSlice`: only its
    packets and bytes inside the window, with ``opened`` the time the whole flow began; it
    is left out when none of its packets is inside. ``lo`` and ``hi`` must be among the
    bounds the capture was analyzed with (:func:`bounds_of`), else the slices could not
    be exact: ValueError.
    """
    bounds = analysis.bounds
    for t in (lo, hi):
        i = bisect.bisect_left(bounds, t)
        if i == len(bounds) or bounds[i] != t:
            raise ValueError(f"window edge {t!r} is not one of the bounds the capture was "
                             f"analyzed with ({len(bounds)} bounds)")
    # interval i is [bounds[i-1], bounds[i]): the window is intervals first..last
    first, last = bisect.bisect_right(bounds, lo), bisect.bisect_right(bounds, hi) - 1
    out: list[Flow] = []
    for index, flow in enumerate(analysis.flows):
        per = analysis.spans.get(index)
        if per is None:
            if lo <= flow.first < hi:
                out.append(flow)
            continue
        parts = [s for i, s in per.items() if first <= i <= last]
        if not parts:
            continue
        fields = {f.name: getattr(flow, f.name) for f in dataclasses.fields(Flow)}
        fields.update(
            first=min(s.first for s in parts), last=max(s.last for s in parts),
            packets_up=sum(s.packets_up for s in parts),
            packets_down=sum(s.packets_down for s in parts),
            bytes_up=sum(s.bytes_up for s in parts),
            bytes_down=sum(s.bytes_down for s in parts))
        out.append(FlowSlice(**fields, opened=flow.first))
    return out


def windows(phases: Iterable[tuple[float, float]], slack: float) -> list[tuple[float, float]]:
    """The capture-clock windows ``[lo, hi)`` of consecutive phases ``(start, end)``.

    A phase's times are the harness's clock mapped onto the capture's, known to within
    ``slack`` seconds, so traffic an action at the start of a phase causes can look up to
    ``slack`` older than the phase. Every window is therefore moved ``slack`` earlier:
    traffic belongs to the phase whose first action may have caused it, and a phase loses
    at most its last ``slack`` seconds to the next. The last window keeps its end.
    """
    spans = list(phases)
    out = []
    for i, (start, end) in enumerate(spans):
        last = i + 1 == len(spans)
        out.append((start - slack, end if last else end - slack))
    return out
