"""Pick the flows that belong to a phase of a claim test."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

__all__ = ["flows_in"]


class _Timed(Protocol):
    first: float


F = TypeVar("F", bound=_Timed)


def flows_in(flows: Iterable[F], start: float, end: float) -> list[F]:
    """The flows whose first packet falls in ``[start, end)``, in their given order.

    A flow belongs to the phase it started in, even if it runs on after the phase ends.
    """
    return [f for f in flows if start <= f.first < end]
