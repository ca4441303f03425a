"""Each network's best evidence: the mean accuracy of its runs at the highest rung it reached,
with a 95% interval that combines the spread between seeds and the validation split's size.

An ``Evidence`` is its own record; it points at the network's first run at that rung (for the
architecture, the costs and the attrs) and never rewrites it. It reads like a trial where the
front, the table and the picks need one: ``number``, ``values`` (the mean accuracy, then the
run's costs) and ``user_attrs``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.settings import StudySettings
from nas.trials import DIGEST_ATTR, is_trained_run, rung_of

Z = 1.96  # two-sided 95% intervals


@dataclass(frozen=True)
class Evidence:
    """A network's accuracy at the highest rung it reached, over that rung's seeds."""

    trial: FrozenTrial  # the first run at that rung
    accuracies: tuple[float, ...]  # one per seed
    epochs: int
    low: float  # 95% interval of the mean
    high: float

    @property
    def accuracy(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def seeds(self) -> int:
        return len(self.accuracies)

    @property
    def rung(self) -> int:
        return rung_of(self.trial)

    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def values(self) -> tuple[float, ...]:
        return (self.accuracy, *self.trial.values[1:])

    @property
    def user_attrs(self) -> dict:
        return self.trial.user_attrs

    @property
    def params(self) -> dict:
        return self.trial.params


def half_width(accuracies: Sequence[float], val_size: int | None, pooled_sd: float | None = None) -> float:
    """95% half-width of the mean: seed spread (its own with 2+ seeds, else the pooled one) over
    sqrt(seeds), combined with the binomial error of a validation split of ``val_size`` images.
    A single run with no pooled spread yet (nothing re-scored at its epochs) assumes a seed spread
    as large as the split's binomial error, rather than none."""
    k = len(accuracies)
    p = statistics.fmean(accuracies)
    binom_var = p * (1 - p) / val_size if val_size else 0.0
    sd = statistics.stdev(accuracies) if k >= 2 else pooled_sd
    seed_var = binom_var if sd is None else sd**2
    return Z * math.sqrt(seed_var / k + binom_var)


def best_evidence(trials: Iterable[FrozenTrial], *, default_epochs: int, val_size: int | None) -> list[Evidence]:
    """One ``Evidence`` per network among the trained runs, in the order networks first appear."""
    groups: dict[str, list[FrozenTrial]] = {}
    for t in sorted((t for t in trials if is_trained_run(t)), key=lambda t: t.number):
        groups.setdefault(t.user_attrs.get(DIGEST_ATTR, f"#{t.number}"), []).append(t)
    tops = []
    for runs in groups.values():
        top = max(rung_of(t) for t in runs)
        at_top = [t for t in runs if rung_of(t) == top]
        tops.append((at_top, int(at_top[0].user_attrs.get("epochs", default_epochs))))
    # Networks with one seed borrow the seed spread pooled over those with several, at their epochs.
    pooled = _pooled_sd([(epochs, [t.values[0] for t in runs]) for runs, epochs in tops])
    out = []
    for runs, epochs in tops:
        accuracies = tuple(t.values[0] for t in runs)
        mean, half = statistics.fmean(accuracies), half_width(accuracies, val_size, pooled.get(epochs))
        out.append(Evidence(runs[0], accuracies, epochs, max(0.0, mean - half), min(1.0, mean + half)))
    return out


def _pooled_sd(groups: Sequence[tuple[int, Sequence[float]]]) -> dict[int, float]:
    """Per epochs, the seed standard deviation pooled over networks run with 2+ seeds."""
    sums: dict[int, list[float]] = {}
    for epochs, accuracies in groups:
        if len(accuracies) >= 2:
            s = sums.setdefault(epochs, [0.0, 0.0])
            s[0] += statistics.variance(accuracies) * (len(accuracies) - 1)
            s[1] += len(accuracies) - 1
    return {epochs: math.sqrt(ss / dof) for epochs, (ss, dof) in sums.items() if dof}


def top_rung_only(evidence: Sequence[Evidence]) -> list[Evidence]:
    """The networks measured at the most epochs any network reached: the front is read off these
    (accuracies at different epochs are not comparable)."""
    if not evidence:
        return []
    top = max(e.epochs for e in evidence)
    return [e for e in evidence if e.epochs == top]


def study_evidence(study: optuna.Study) -> list[Evidence]:
    """The best evidence of every feasible network of a study measured at its top rung."""
    settings = StudySettings.of(study)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if settings is None:  # not made by nas.search: single-fidelity trials, epochs unknown
        return top_rung_only(best_evidence(trials, default_epochs=0, val_size=None))
    return top_rung_only(best_evidence(trials, default_epochs=settings.epochs, val_size=settings.val_size))


def tie_groups(front: Sequence[Evidence]) -> dict[int, tuple[int, int]]:
    """Front members whose accuracy intervals overlap, chained (the data do not order them):
    trial number -> (group, its size), groups numbered from the most accurate, for groups of 2+."""
    groups: list[list[Evidence]] = []
    for e in sorted(front, key=lambda e: -e.high):
        if groups and e.high >= min(g.low for g in groups[-1]):
            groups[-1].append(e)
        else:
            groups.append([e])
    tied = [g for g in groups if len(g) > 1]
    return {e.number: (i, len(g)) for i, g in enumerate(tied, start=1) for e in g}


def tie_text(group: tuple[int, int] | None) -> str:
    """'tied: 4 networks (group 2)', or '-' for a member separated from every other."""
    return f"tied: {group[1]} networks (group {group[0]})" if group else "-"
