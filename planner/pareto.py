"""Pareto marking over (cost, hours): the offers no other offer beats on both money and time."""

from __future__ import annotations

from typing import Sequence


def pareto_mask(points: Sequence[tuple[float, float]]) -> list[bool]:
    """True where no other point is <= on both coordinates and < on one (lower cost and fewer hours are better)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], points[i][1]))
    mask = [False] * len(points)
    best: tuple[float, float] = (float("inf"), float("inf"))
    for i in order:
        if points[i][1] < best[1] or points[i] == best:  # ties with a Pareto point are Pareto points too
            mask[i] = True
            best = points[i]
    return mask
