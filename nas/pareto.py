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

from nas.optuna_compat import non_domination_rank


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


def non_dominated_ranks(points: Sequence[Sequence[float]], top: int | None = None) -> list[int]:
    """Rank 0 for the Pareto front, 1 for the front once rank 0 is removed, ... (all minimised), by
    Optuna's own sort (O(n x front) per front). ``top``: exact only until that many points are
    ranked; every point after them gets one rank more than the last exact one."""
    if len(points) == 0:
        return []
    return non_domination_rank(np.asarray(points, dtype=float), n_below=top).tolist()


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


class GrowingRanks:
    """Exact non-dominated ranks of a set of points that grows, keyed by a stable id (a trial's
    number): a point added to n ranked ones costs two O(n) comparisons and the points it dominates
    whose ranks it raises, not a sort of all n. A point's rank is the length of the longest chain of points
    dominating it; adding p lengthens only the chains through p, so a point q that p dominates
    gets max(its rank, rank(p) + 1 + q's rank among the points p dominates), and no other changes.
    A set that is not the last one plus new points is sorted afresh."""

    def __init__(self) -> None:
        self.keys: dict[int, int] = {}  # id -> row
        self.points = np.zeros((0, 0))
        self.ranks = np.zeros(0, dtype=int)

    def of(self, keys: Sequence[int], points: Sequence[Sequence[float]]) -> np.ndarray:
        """The ranks of ``points`` (rows of ``keys``), in their order."""
        if len(keys) == 0:
            return np.zeros(0, dtype=int)
        x = np.asarray(points, dtype=float).reshape(len(keys), -1)
        if not set(self.keys) <= set(keys) or (self.keys and x.shape[1] != self.points.shape[1]) or not self.keys:
            # A first look, or not the last set plus new points: one sort of them all.
            self.keys = {key: row for row, key in enumerate(keys)}
            self.points, self.ranks = x.copy(), np.asarray(non_domination_rank(x), dtype=int)
        for key, point in zip(keys, x, strict=True):
            if key not in self.keys:
                self.add(key, point)
        return self.ranks[[self.keys[k] for k in keys]]

    def drop_from(self, rank: int) -> None:
        """Drop the points of ``rank`` or a later one. The others keep their ranks: a point is
        dominated only by points of earlier ranks."""
        keep = self.ranks < rank
        rows = np.cumsum(keep) - 1
        self.keys = {key: int(rows[row]) for key, row in self.keys.items() if keep[row]}
        self.points, self.ranks = self.points[keep], self.ranks[keep]

    def add(self, key: int, point: np.ndarray) -> None:
        x, ranks = self.points.reshape(-1, len(point)), self.ranks
        above = (x <= point).all(axis=1) & (x < point).any(axis=1)  # the points that dominate it
        rank = int(ranks[above].max()) + 1 if above.any() else 0
        below = np.flatnonzero((point <= x).all(axis=1) & (point < x).any(axis=1))
        # Each point q it dominates gets max(its rank, rank + 1 + q's rank among them). Rather than
        # sorting them all (thousands, when a good run lands on a large rung), raise level by level:
        # a chain among them raises q only if it starts at a point ranked <= rank (else q's rank
        # already counts it), and each point it raises passes one level more to those it dominates.
        level, raised = rank + 1, below[ranks[below] < rank + 1]
        while raised.size:
            ranks[raised] = level
            level += 1
            hit = np.zeros(below.size, dtype=bool)
            for start in range(0, raised.size, 256):  # (raised x below) comparisons, a block at a time
                r = x[raised[start : start + 256], None, :]
                hit |= ((r <= x[below]).all(axis=2) & (r < x[below]).any(axis=2)).any(axis=0)
            raised = below[hit & (ranks[below] < level)]
        self.keys[key] = len(ranks)
        self.points, self.ranks = np.vstack([x, point]), np.append(ranks, rank)


def top_fraction(points: Sequence[Sequence[float]], eta: int, ranks: Sequence[int] | None = None) -> list[int]:
    """Indices of the best ``len(points) // eta`` points: by non-dominated rank, then by crowding
    distance within a rank (spread along the front), then by index (earlier first). Only the ranks
    that hold them are sorted (on a rung of thousands, a few fronts, not all). ``ranks``: the
    points' non-dominated ranks, if the caller has them."""
    k = len(points) // eta
    if k == 0:
        return []
    ranks = np.asarray(non_dominated_ranks(points, top=k) if ranks is None else ranks, dtype=int)
    x = np.asarray(points, dtype=float)
    crowd = np.zeros(len(points))
    for rank in range(int(np.partition(ranks, k - 1)[k - 1]) + 1):  # the ranks that hold the best k
        members = np.flatnonzero(ranks == rank)
        crowd[members] = crowding_distances(x[members])
    order = np.lexsort((np.arange(len(points)), -crowd, ranks))
    return order[:k].tolist()
