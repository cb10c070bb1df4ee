"""Pick the flows that belong to a phase of a claim test."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

__all__ = ["flows_in", "windows"]


class _Timed(Protocol):
    first: float


F = TypeVar("F", bound=_Timed)


def flows_in(flows: Iterable[F], start: float, end: float) -> list[F]:
    """The flows whose first packet falls in ``[start, end)``, in their given order.

    A flow belongs to the phase it started in, even if it runs on after the phase ends.
    """
    return [f for f in flows if start <= f.first < end]


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
