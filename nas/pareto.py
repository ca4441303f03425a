"""Pareto maths on (accuracy, costs...) points: the one place that turns the study's directions
(accuracy up, every cost down) into minimised objectives, and that sorts by dominance.

Used by the front, the promotions (non-dominated sorting with crowding, as NSGA-II and MO-ASHA
rank) and the hypervolume.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar


class HasValues(Protocol):
    number: int

    @property
    def values(self) -> Sequence[float]: ...


Point = TypeVar("Point", bound=HasValues)


def minimised(values: Sequence[float], log_costs: bool = False) -> tuple[float, ...]:
    """(accuracy, costs...) as objectives to minimise: accuracy negated; ``log_costs``: the costs'
    log10, so that spacing along a cost axis reads as ratios (crowding, normalised volumes)."""
    acc, *costs = values
    return (-acc, *(math.log10(max(c, 1e-9)) if log_costs else c for c in costs))


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` dominates ``b``, all objectives minimised."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and tuple(a) != tuple(b)


def pareto_front(points: Iterable[Point]) -> list[Point]:
    """The non-dominated points (accuracy up, costs down), cheapest first (by the first cost).

    Sorted best-accuracy-first, a point can only be dominated by one listed before it, and then by
    one already on the front: O(n x front) rather than O(n^2).
    """
    candidates = sorted(points, key=lambda p: (-p.values[0], *p.values[1:], p.number))
    front: list[Point] = []
    for p in candidates:
        if not any(dominates(minimised(f.values), minimised(p.values)) for f in front):
            front.append(p)
    return sorted(front, key=lambda p: (*p.values[1:], -p.values[0], p.number))


def non_dominated_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Rank 0 for the Pareto front, 1 for the front once rank 0 is removed, ... (all minimised)."""
    ranks = [-1] * len(points)
    left = set(range(len(points)))
    rank = 0
    while left:
        front = {i for i in left if not any(dominates(points[j], points[i]) for j in left if j != i)}
        for i in front:
            ranks[i] = rank
        left -= front
        rank += 1
    return ranks


def crowding_distances(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance within one set of points: the ends of each objective are infinite."""
    n = len(points)
    distance = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for before, i, after in zip(order, order[1:], order[2:], strict=False):
            distance[i] += (points[after][m] - points[before][m]) / (high - low)
    return distance


def top_fraction(points: Sequence[Sequence[float]], eta: int) -> list[int]:
    """Indices of the best ``len(points) // eta`` points: by non-dominated rank, then by crowding
    distance within a rank (spread along the front), then by index (earlier first)."""
    ranks = non_dominated_ranks(points)
    crowd = [0.0] * len(points)
    for rank in set(ranks):
        members = [i for i, r in enumerate(ranks) if r == rank]
        for i, d in zip(members, crowding_distances([points[i] for i in members]), strict=True):
            crowd[i] = d
    order = sorted(range(len(points)), key=lambda i: (ranks[i], -crowd[i], i))
    return order[: len(points) // eta]
