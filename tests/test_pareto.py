"""nas.pareto: directions, dominance, the front, non-dominated ranks, crowding."""

from __future__ import annotations

import math

import numpy as np
import optuna

from nas.pareto import (
    GrowingRanks,
    crowding_distances,
    dominates,
    minimised,
    non_dominated_ranks,
    pareto_front,
    top_fraction,
)


def test_minimised_negates_accuracy_and_optionally_logs_costs() -> None:
    assert minimised((0.9, 1000.0, 10.0)) == (-0.9, 1000.0, 10.0)
    assert minimised((0.9, 1000.0, 10.0), log_costs=True) == (-0.9, 3.0, 1.0)
    assert minimised((0.5, 0.0), log_costs=True)[1] == -9.0  # a zero cost stays finite


def test_dominance_needs_no_worse_everywhere_and_better_somewhere() -> None:
    assert dominates((0, 0), (0, 1)) and not dominates((0, 1), (0, 0))
    assert not dominates((0, 0), (0, 0)) and not dominates((0, 2), (1, 1))


def test_non_dominated_ranks_and_crowding() -> None:
    points = [(0, 0), (1, 1), (0, 2), (2, 0), (3, 3)]  # minimised
    assert non_dominated_ranks(points) == [0, 1, 1, 1, 2]
    d = crowding_distances([(0, 3), (1, 2), (2, 1), (3, 0), (1.1, 1.9)])
    assert d[0] == d[3] == math.inf and d[4] < d[2]  # the point crowded next to another scores less


def test_top_fraction_keeps_cheap_networks_that_no_one_dominates() -> None:
    # (-accuracy, flops, params): the cheapest network is the least accurate, yet on the front
    points = [(-0.99, 9, 9), (-0.98, 8, 8), (-0.50, 1, 1), (-0.97, 9.5, 9.5), (-0.90, 9, 9), (-0.80, 9.9, 9.9)]
    top = top_fraction(points, 3)
    assert len(top) == 2 and 2 in top and 0 in top


def brute_force_front(trials: list) -> list:
    """The points no other point dominates (accuracy up, FLOPs and params down), by comparing all pairs."""

    def dominated(b) -> bool:  # noqa: ANN001
        return any(a.values[0] >= b.values[0] and a.values[1] <= b.values[1] and a.values[2] <= b.values[2]
                   and tuple(a.values) != tuple(b.values) for a in trials)  # fmt: skip

    return [t for t in trials if not dominated(t)]


def test_pareto_front_equals_the_brute_force_front_cheapest_first() -> None:
    """The O(n x front) cull finds exactly the points no other point dominates (ties included)."""
    rng = np.random.default_rng(0)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for _ in range(20):
        values = rng.integers(0, 6, (60, 3)).astype(float)  # few levels: many ties and equal points
        trials = [optuna.trial.create_trial(params={"x": 0.5}, distributions=dist, values=list(v)) for v in values]
        for number, t in enumerate(trials):
            t.number = number
        front = pareto_front(trials)
        assert {t.number for t in front} == {t.number for t in brute_force_front(trials)}
        assert [t.values[1] for t in front] == sorted(t.values[1] for t in front)


def reference_ranks(points: list) -> list[int]:
    """The textbook peeling, pure Python: the vectorised ranks must equal it exactly."""
    ranks, left, rank = [-1] * len(points), set(range(len(points))), 0
    while left:
        front = {i for i in left if not any(dominates(points[j], points[i]) for j in left if j != i)}
        for i in front:
            ranks[i] = rank
        left -= front
        rank += 1
    return ranks


def reference_crowding(points: list) -> list[float]:
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    distance = [0.0] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high != low:
            for before, i, after in zip(order, order[1:], order[2:], strict=False):
                distance[i] += (points[after][m] - points[before][m]) / (high - low)
    return distance


def reference_top_fraction(points: list, eta: int) -> list[int]:
    ranks, crowd = reference_ranks(points), [0.0] * len(points)
    for rank in set(ranks):
        members = [i for i, r in enumerate(ranks) if r == rank]
        for i, d in zip(members, reference_crowding([points[i] for i in members]), strict=True):
            crowd[i] = d
    return sorted(range(len(points)), key=lambda i: (ranks[i], -crowd[i], i))[: len(points) // eta]


def test_vectorised_sorting_and_crowding_equal_the_pure_python_ones_exactly() -> None:
    rng = np.random.default_rng(1)
    for trial in range(60):
        n, m = int(rng.integers(0, 80)), int(rng.integers(1, 4))
        levels = [4, 50, 10**6][trial % 3]  # few levels: ties and equal points; many: none
        points = [tuple(float(v) for v in row) for row in rng.integers(0, levels, (n, m)) / 7]
        assert non_dominated_ranks(points) == reference_ranks(points)
        assert crowding_distances(points) == reference_crowding(points)
        for eta in (2, 3):
            assert top_fraction(points, eta) == reference_top_fraction(points, eta)


def test_growing_ranks_equal_a_full_sort_as_points_arrive_in_any_order() -> None:
    """The promotions keep each rung's ranks and add the new runs only: after every addition the
    ranks must equal the textbook ranks of the whole set, and top_fraction must pick the same points."""
    rng = np.random.default_rng(2)
    for trial in range(90):
        n, m = int(rng.integers(1, 50)), int(rng.integers(1, 4))
        levels = [3, 20, 10**6][trial % 3]  # ties and equal points, or none
        points = [tuple(float(v) for v in row) for row in rng.integers(0, levels, (n, m))]
        keys = [int(k) for k in rng.permutation(500)[:n]]  # trial numbers, not in order
        growing = GrowingRanks()
        for cut in [*sorted({int(c) for c in rng.integers(1, n + 1, 3)}), n]:
            ranks = growing.of(keys[:cut], points[:cut])
            assert ranks.tolist() == reference_ranks(points[:cut])
            assert top_fraction(points[:cut], 3, ranks) == reference_top_fraction(points[:cut], 3)
        kept = keys[1:]  # a set that is not the last one plus new points is sorted afresh
        assert growing.of(kept, points[1:]).tolist() == reference_ranks(points[1:])


def test_growing_ranks_one_point_at_a_time_even_when_each_dominates_the_rest() -> None:
    """A new point raises the ranks of the points it dominates, chain by chain: added one at a
    time, worst first (each new point dominates every earlier one: the longest cascades), best
    first, or shuffled, the ranks equal a sort of the whole set after every addition."""
    rng = np.random.default_rng(5)
    for case in range(24):
        n, m = int(rng.integers(2, 160)), int(rng.integers(1, 4))
        points = rng.integers(0, [3, 20, 10**6][case % 3], (n, m)).astype(float)
        order = [np.argsort(-points.sum(axis=1)), np.argsort(points.sum(axis=1)), rng.permutation(n)][case % 3]
        points = points[order]
        growing = GrowingRanks()
        for cut in range(1, n + 1):
            ranks = growing.of(list(range(cut)), points[:cut])
            if cut % 41 == 0 or cut == n:
                assert ranks.tolist() == reference_ranks([tuple(p) for p in points[:cut]]), (case, cut)
