"""Multi-fidelity for a multi-objective study: rungs of proxy epochs, asynchronous successive
halving by non-dominated sorting (MO-ASHA), re-scoring the front with more seeds, and each
network's best evidence.

Optuna cannot prune a multi-objective trial, so every evaluation is a trial of its own: a new
network is sampled and trained at rung 0 (the fewest epochs); a network in the top 1/eta of its
rung, by non-dominated sorting of (accuracy, the study's costs) with crowding distance to break ties,
is promoted by enqueuing a trial with the same parameters at the next rung, trained from scratch
with the next rung's epochs. When the budget of new networks is met, the top-rung front (and the
networks within ``BAND`` accuracy of it) is trained again with further seeds. A network's best
evidence is the mean of its runs at the highest rung it reached, with an interval that combines
the spread between seeds and the validation split's size.

Trial user attrs: ``rung`` (index), ``replicate`` (0: the first run at that rung; 1.. re-scoring
runs), ``promoted_from`` (the trial number it was copied from), ``epochs``. A trial without
``rung`` is rung 0, replicate 0 (single-fidelity studies, and studies made before this module).
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

RUNG_ATTR = "rung"
REPLICATE_ATTR = "replicate"
PROMOTED_FROM_ATTR = "promoted_from"
LIVE = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)  # a promotion that is done or will be
BAND = 0.01  # re-score networks that would be on the top-rung front with this much more accuracy
Z = 1.96  # two-sided 95% intervals


def is_feasible(trial: FrozenTrial) -> bool:
    """A trial with Optuna constraints is feasible when every constraint value is <= 0."""
    return all(c <= 0 for c in trial.constraints.values())


def rung_epochs(top: int, min_epochs: int, eta: int) -> tuple[int, ...]:
    """Epochs of each rung, fewest first: ``top``, ``top / eta``, ... down to ``min_epochs``.
    ``min_epochs == top`` is a single rung: today's single-fidelity search."""
    if not 1 <= min_epochs <= top:
        raise ValueError(f"--min-epochs must be between 1 and --epochs ({top}), got {min_epochs}")
    if eta < 2:
        raise ValueError(f"--eta must be at least 2, got {eta}")
    rungs = [top]
    while (below := round(rungs[0] / eta)) >= min_epochs and below < rungs[0]:
        rungs.insert(0, below)
    return tuple(rungs)


def rung_of(trial: FrozenTrial) -> int:
    return int(trial.user_attrs.get(RUNG_ATTR, 0))


def replicate_of(trial: FrozenTrial) -> int:
    return int(trial.user_attrs.get(REPLICATE_ATTR, 0))


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """A new network's first evaluation: what ``--budget`` counts (not promotions, not re-scoring)."""
    return rung_of(trial) == 0 and replicate_of(trial) == 0


def _key(trial: FrozenTrial) -> tuple[str | None, int, int]:
    return trial.user_attrs.get("digest"), rung_of(trial), replicate_of(trial)


# --- non-dominated sorting -------------------------------------------------------------------


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` dominates ``b``, all objectives minimised."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and tuple(a) != tuple(b)


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


def _objectives(trial: FrozenTrial) -> tuple[float, ...]:
    """Accuracy then the costs, all minimised; log costs: crowding along the cost axes."""
    acc, *costs = trial.values
    return (-acc, *(math.log10(max(c, 1e-9)) for c in costs))


# --- what to run next -----------------------------------------------------------------------


def _first_runs(trials: Iterable[FrozenTrial], rung: int) -> dict[str, FrozenTrial]:
    """Per network, its first finished feasible run at ``rung`` (replicate 0, not a reused result)."""
    runs: dict[str, FrozenTrial] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if (
            t.state == TrialState.COMPLETE
            and is_feasible(t)
            and "duplicate_of" not in t.user_attrs
            and rung_of(t) == rung
            and replicate_of(t) == 0
        ):
            runs.setdefault(t.user_attrs["digest"], t)
    return runs


def due_promotions(trials: Sequence[FrozenTrial], n_rungs: int, eta: int) -> list[FrozenTrial]:
    """Runs to promote now, one rung up: each network in the top 1/eta of a rung that has no live
    trial at the next rung (a promotion whose trial failed, e.g. a killed worker's, is due again)."""
    live = {_key(t) for t in trials if t.state in LIVE}
    due = []
    for rung in range(n_rungs - 1):
        runs = list(_first_runs(trials, rung).values())
        for i in top_fraction([_objectives(t) for t in runs], eta):
            if (runs[i].user_attrs["digest"], rung + 1, 0) not in live:
                due.append(runs[i])
    return due


def due_refinements(trials: Sequence[FrozenTrial], top_rung: int, replicates: int) -> list[tuple[FrozenTrial, int]]:
    """(run to copy, replicate index) for the re-scoring runs still missing: ``replicates`` more
    seeds at the top rung for the networks within ``BAND`` of the top-rung front, by their mean
    accuracy so far (as re-scored networks move, others may come within the band: call again)."""
    if replicates < 1:
        return []
    at_top = [t for t in best_evidence(trials, default_epochs=0, val_size=None) if rung_of(t) == top_rung]
    points = {t.user_attrs["digest"]: _objectives(t) for t in at_top}
    near = [
        t
        for t in at_top
        if not any(
            dominates(q, (points[t.user_attrs["digest"]][0] - BAND, *points[t.user_attrs["digest"]][1:]))
            for d, q in points.items()
            if d != t.user_attrs["digest"]
        )
    ]
    live = {_key(t) for t in trials if t.state in LIVE}
    return [(t, k) for t in near for k in range(1, replicates + 1) if (t.user_attrs["digest"], top_rung, k) not in live]


def promotion_attrs(run: FrozenTrial, rung: int, replicate: int = 0) -> dict:
    # The digest from the start: a queued or just-started copy is then seen by a racing worker
    # before the copy writes its own attrs (see done_by_another).
    return {RUNG_ATTR: rung, REPLICATE_ATTR: replicate, PROMOTED_FROM_ATTR: run.number, "digest": run.user_attrs.get("digest")}


def done_by_another(trials: Iterable[FrozenTrial], trial_number: int, key: tuple) -> FrozenTrial | None:
    """Another trial that ran this very promotion, or one queued before this one that is running or
    will run: this one then trains nothing, so a promotion decided twice by racing workers (two
    trials, the earlier one created first) is trained once."""
    for t in trials:
        ran = t.state == TrialState.COMPLETE or (
            t.state in (TrialState.RUNNING, TrialState.WAITING) and t.number < trial_number
        )
        if ran and t.number != trial_number and _key(t) == key:
            return t
    return None


# --- best evidence ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """A network's accuracy at the highest rung it reached."""

    epochs: int
    accuracies: tuple[float, ...]  # one per seed
    val_size: int | None  # validation images (binomial part of the interval); None: unknown

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    def half_width(self, pooled_sd: float | None = None) -> float:
        """95% half-width: seed spread (its own with 2+ seeds, else the pooled one) over sqrt(seeds),
        combined with the binomial error of a validation split of ``val_size`` images."""
        k = len(self.accuracies)
        sd = statistics.stdev(self.accuracies) if k >= 2 else pooled_sd
        seed_var = (sd or 0.0) ** 2 / k
        p = self.mean
        binom_var = p * (1 - p) / self.val_size if self.val_size else 0.0
        return Z * math.sqrt(seed_var + binom_var)


def best_evidence(trials: Iterable[FrozenTrial], *, default_epochs: int, val_size: int | None) -> list[FrozenTrial]:
    """One trial per network, standing for its best evidence: a copy of its first run at the highest
    rung it reached, with ``values[0]`` the mean accuracy over that rung's seeds and user attrs
    ``epochs``, ``seeds``, ``accuracy_low``, ``accuracy_high`` (95% interval)."""
    complete = [
        t for t in trials if t.state == TrialState.COMPLETE and is_feasible(t) and "duplicate_of" not in t.user_attrs
    ]
    groups: dict[str, list[FrozenTrial]] = {}
    for t in sorted(complete, key=lambda t: t.number):
        groups.setdefault(t.user_attrs.get("digest", f"#{t.number}"), []).append(t)
    evidence: list[tuple[FrozenTrial, Evidence]] = []
    for runs in groups.values():
        top = max(rung_of(t) for t in runs)
        at_top = [t for t in runs if rung_of(t) == top]
        epochs = int(at_top[0].user_attrs.get("epochs", default_epochs))
        evidence.append((at_top[0], Evidence(epochs, tuple(t.values[0] for t in at_top), val_size)))
    # Networks with one seed borrow the seed spread pooled over those with several, at their epochs.
    pooled = _pooled_sd([e for _, e in evidence])
    out = []
    for first, e in evidence:
        half = e.half_width(pooled.get(e.epochs))
        t = copy.deepcopy(first)
        t.values = [e.mean, *first.values[1:]]
        t.user_attrs = {
            **first.user_attrs,
            "epochs": e.epochs,
            "seeds": len(e.accuracies),
            "accuracy_low": max(0.0, e.mean - half),
            "accuracy_high": min(1.0, e.mean + half),
        }
        out.append(t)
    return out


def _pooled_sd(evidence: Sequence[Evidence]) -> dict[int, float]:
    """Per epochs, the seed standard deviation pooled over networks run with 2+ seeds."""
    sums: dict[int, list[float]] = {}
    for e in evidence:
        if len(e.accuracies) >= 2:
            s = sums.setdefault(e.epochs, [0.0, 0.0])
            s[0] += statistics.variance(e.accuracies) * (len(e.accuracies) - 1)
            s[1] += len(e.accuracies) - 1
    return {epochs: math.sqrt(ss / dof) for epochs, (ss, dof) in sums.items() if dof}


def top_rung_only(evidence: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The networks measured at the most epochs any network reached: the front is read off these
    (accuracies at different epochs are not comparable)."""
    if not evidence:
        return []
    top = max(t.user_attrs["epochs"] for t in evidence)
    return [t for t in evidence if t.user_attrs["epochs"] == top]


def tied_with(front: Sequence[FrozenTrial]) -> dict[int, list[int]]:
    """For each front member, the other members whose accuracy intervals overlap its own: their
    order by accuracy is not shown by the data (e.g. several networks at 1.0 on digits)."""
    ties: dict[int, list[int]] = {}
    for a in front:
        ties[a.number] = [
            b.number
            for b in front
            if b.number != a.number
            and a.user_attrs.get("accuracy_low", a.values[0]) <= b.user_attrs.get("accuracy_high", b.values[0])
            and b.user_attrs.get("accuracy_low", b.values[0]) <= a.user_attrs.get("accuracy_high", a.values[0])
        ]
    return ties
