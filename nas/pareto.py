"""Pareto maths on (accuracy, costs...) points: the one place that turns the study's directions
(accuracy up, every cost down) into minimised objectives, and that sorts by dominance.

Used by the front, the promotions (non-dominated sorting with crowding, as NSGA-II and MO-ASHA
rank) and the hypervolume.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

import numpy as np


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


def dominance_matrix(points: np.ndarray) -> np.ndarray:
    """``D[i, j]``: point i dominates point j (all minimised), for every pair at once."""
    n = len(points)
    no_worse, better = np.ones((n, n), dtype=bool), np.zeros((n, n), dtype=bool)
    for column in points.T:  # one objective at a time: n x n, never an n x n x objectives temporary
        no_worse &= column[:, None] <= column[None, :]
        better |= column[:, None] < column[None, :]
    return no_worse & better


def non_dominated_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Rank 0 for the Pareto front, 1 for the front once rank 0 is removed, ... (all minimised).
    Vectorised (numpy): each point's count of dominators, peeled front by front."""
    if len(points) == 0:
        return []
    dominates_ = dominance_matrix(np.asarray(points, dtype=float))
    dominated_by = dominates_.sum(axis=0)
    ranks = np.full(len(points), -1)
    rank = 0
    while (front := np.flatnonzero((ranks == -1) & (dominated_by == 0))).size:
        ranks[front] = rank
        dominated_by = dominated_by - dominates_[front].sum(axis=0)
        rank += 1
    return ranks.tolist()


def crowding_distances(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance within one set of points: the ends of each objective are
    infinite. Vectorised over the points, objective after objective (the same sums, in the same
    order, as the textbook loop)."""
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    x = np.asarray(points, dtype=float)
    distance = np.zeros(n)
    for m in range(x.shape[1]):
        order = np.argsort(x[:, m], kind="stable")
        low, high = x[order[0], m], x[order[-1], m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        distance[order[1:-1]] += (x[order[2:], m] - x[order[:-2], m]) / (high - low)
    return distance.tolist()


def top_fraction(points: Sequence[Sequence[float]], eta: int) -> list[int]:
    """Indices of the best ``len(points) // eta`` points: by non-dominated rank, then by crowding
    distance within a rank (spread along the front), then by index (earlier first)."""
    ranks = np.asarray(non_dominated_ranks(points), dtype=int)
    x = np.asarray(points, dtype=float)
    crowd = np.zeros(len(points))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        crowd[members] = crowding_distances(x[members])
    order = np.lexsort((np.arange(len(points)), -crowd, ranks))
    return order[: len(points) // eta].tolist()
