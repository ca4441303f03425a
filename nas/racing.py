"""Re-scoring the top-rung front by racing, under a budget.

Once the budget of new networks is met, the front is read off one seed per network; more seeds go
only where they can change it, as racing methods (Hoeffding races, F-race) spend evaluations on
the candidates the data do not separate yet:

- a network's place is **open** while no network that costs no more in every cost is more
  accurate beyond doubt (its interval entirely above);
- a pair is **undecided** when one network costs no more than the other in every cost (so it would
  dominate the other if it were as accurate) and their accuracy intervals overlap;
- both networks of an undecided pair whose dearer member's place is open are **contested**:
  front members a cheaper neighbour may displace, and off-front networks whose interval reaches
  the front. Front members with no such neighbour, or separated from it, get no more seeds.

Each round gives one more seed to every contested network, fewest seeds first and the closest
pairs first, until the re-scoring budget is spent, every contested network has ``1 + refine``
seeds, or nothing is contested. The budget is a share of the search's own training time (its
first runs and promotions, as measured and stored with each run), so it grows with the study and
with ``--budget``, and re-scoring the front's larger networks costs what it costs.
Everything is decided from the study's trials, so every worker (and a resumed run) decides the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from optuna.trial import FrozenTrial

from nas.evidence import Evidence, best_evidence
from nas.trials import (
    DIGEST_ATTR,
    DUPLICATE_ATTR,
    LIVE,
    PROMOTED_FROM_ATTR,
    TRAIN_SECONDS_ATTR,
    is_trained_run,
    replicate_of,
    rung_of,
)

DEFAULT_SHARE = 0.25  # re-scoring training time per second of the search's own (bench/RESULTS.md, section 5)


def run_cost(trial: FrozenTrial) -> float:
    """A run's training cost: its measured training seconds (its epochs, if it was recorded without)."""
    return float(trial.user_attrs.get(TRAIN_SECONDS_ATTR) or trial.user_attrs.get("epochs", 1))


def search_cost(trials: Sequence[FrozenTrial]) -> float:
    """Training cost of the search's own runs: new networks' first runs and promotions."""
    return sum(run_cost(t) for t in trials if is_trained_run(t) and replicate_of(t) == 0)


def rescoring_cost(trials: Sequence[FrozenTrial]) -> float:
    """Cost of the re-scoring runs done, running or queued, each counted at the cost of the run it
    copies: what the budget was planned with."""
    by_number = {t.number: t for t in trials}
    return sum(
        run_cost(by_number.get(t.user_attrs.get(PROMOTED_FROM_ATTR), t))
        for t in trials
        if t.state in LIVE and replicate_of(t) >= 1
    )


def contested(evidence: Sequence[Evidence]) -> dict[int, float]:
    """Index into ``evidence`` -> closeness of its closest undecided pair (the gap between the two
    means over the sum of their interval half-widths: 0 is a coin toss, 1 barely overlapping),
    for every contested network (see the module's docstring)."""
    n = len(evidence)
    if n < 2:
        return {}
    acc = np.array([e.accuracy for e in evidence])
    low, high = np.array([e.low for e in evidence]), np.array([e.high for e in evidence])
    costs = np.array([e.values[1:] for e in evidence], dtype=float)
    # cheaper[i, j]: network j costs no more than i in every cost (j would dominate i at equal accuracy)
    cheaper = np.ones((n, n), dtype=bool)
    for c in range(costs.shape[1]):
        cheaper &= costs[None, :, c] <= costs[:, None, c]
    np.fill_diagonal(cheaper, False)
    beaten = (cheaper & (low[None, :] > high[:, None])).any(axis=1)  # some cheaper one is surely more accurate
    overlap = (low[:, None] <= high[None, :]) & (low[None, :] <= high[:, None])
    i, j = np.nonzero(cheaper & overlap & ~beaten[:, None])  # j may displace i, whose place is open
    half = (high - low) / 2
    gap = np.abs(acc[i] - acc[j]) / np.maximum(half[i] + half[j], 1e-12)
    closest = np.full(n, np.inf)
    np.minimum.at(closest, i, gap)  # both networks of a pair race
    np.minimum.at(closest, j, gap)
    return {k: float(closest[k]) for k in np.flatnonzero(np.isfinite(closest))}


def due_rescoring(
    trials: Sequence[FrozenTrial], rungs: Sequence[int], refine: int, share: float, val_size: int | None
) -> list[tuple[FrozenTrial, int]]:
    """(run to copy, replicate index) for this round's re-scoring runs at the top rung: one more
    seed for each contested network below ``1 + refine`` seeds, fewest seeds and closest pairs
    first, as many as fit in what the budget has left (``share`` of the search's own training time)."""
    if refine < 1 or share <= 0:
        return []
    left = share * search_cost(trials) - rescoring_cost(trials)
    if left <= 0:
        return []
    top = len(rungs) - 1
    at_top = [e for e in best_evidence(trials, default_epochs=rungs[-1], val_size=val_size) if e.rung == top]
    seeds: dict[str | None, set[int]] = {}  # per network, its replicates done, running or queued
    for t in trials:
        if t.state in LIVE and rung_of(t) == top and DUPLICATE_ATTR not in t.user_attrs:
            seeds.setdefault(t.user_attrs.get(DIGEST_ATTR), set()).add(replicate_of(t))
    race = []
    for i, closeness in contested(at_top).items():
        taken = seeds[at_top[i].user_attrs[DIGEST_ATTR]]
        if len(taken) < 1 + refine:
            free = min(k for k in range(1, refine + 1) if k not in taken)
            race.append((len(taken), closeness, at_top[i].number, at_top[i].trial, free))
    due = []
    for *_, trial, free in sorted(race):
        if run_cost(trial) <= left:  # never over the budget: a network too dear for what is left waits
            due.append((trial, free))
            left -= run_cost(trial)
    return due
