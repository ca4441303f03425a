"""The feasible Pareto front of a study, by each network's best evidence (``nas.fidelity``): the
front itself, its table, and rules to pick a network from it."""

from __future__ import annotations

import math
from collections.abc import Iterable

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.cost import human
from nas.fidelity import best_evidence, is_feasible, tied_with, top_rung_only
from nas.settings import StudySettings

RULES = ("max-accuracy", "knee", "min-flops")


__all__ = [
    "RULES",
    "accuracy_text",
    "feasible_front",
    "front_table",
    "is_feasible",
    "knee",
    "pareto_front",
    "pick",
    "study_evidence",
]


def study_evidence(study: optuna.Study) -> list[FrozenTrial]:
    """One trial per feasible network measured at the top rung, standing for its best evidence:
    accuracy the mean over its seeds there, with its interval (see ``nas.fidelity.best_evidence``)."""
    settings = StudySettings.of(study)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if settings is None:  # not made by nas.search: single-fidelity trials, epochs unknown
        return top_rung_only(best_evidence(trials, default_epochs=0, val_size=None))
    return top_rung_only(best_evidence(trials, default_epochs=settings.epochs, val_size=settings.val_size))


def feasible_front(study: optuna.Study) -> list[FrozenTrial]:
    """Pareto-optimal feasible networks of ``study`` by their best evidence (see ``pareto_front``)."""
    return pareto_front(study_evidence(study))


def pareto_front(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """Pareto-optimal trials among the complete feasible ones (accuracy up, FLOPs and params
    down), cheapest first; each network once (trials that reused an earlier result are left out).

    Sorted best-accuracy-first, a trial can only be dominated by one listed before it, and
    then by one already on the front: O(n x front) rather than O(n^2), as it runs every trial.
    """
    candidates = sorted(
        (t for t in trials if t.state == TrialState.COMPLETE and is_feasible(t) and "duplicate_of" not in t.user_attrs),
        key=lambda t: (-t.values[0], t.values[1], t.values[2], t.number),
    )
    front: list[FrozenTrial] = []
    for t in candidates:
        if not any(_dominates(f, t) for f in front):
            front.append(t)
    return sorted(front, key=lambda t: (t.values[1], t.values[2], -t.values[0], t.number))


def _dominates(a: FrozenTrial, b: FrozenTrial) -> bool:
    (acc_a, fl_a, pa_a), (acc_b, fl_b, pa_b) = a.values, b.values
    return acc_a >= acc_b and fl_a <= fl_b and pa_a <= pa_b and (acc_a, fl_a, pa_a) != (acc_b, fl_b, pa_b)


def accuracy_text(trial: FrozenTrial) -> str:
    """'0.9521 (0.9410..0.9632, 10 ep x 3 seeds)': the accuracy and the evidence behind it."""
    attrs = trial.user_attrs
    if "accuracy_low" not in attrs:
        return f"{trial.values[0]:.4f}"
    return (
        f"{trial.values[0]:.4f} ({attrs['accuracy_low']:.4f}..{attrs['accuracy_high']:.4f}, "
        f"{attrs['epochs']} ep x {attrs['seeds']} seed{'s' if attrs['seeds'] > 1 else ''})"
    )


def front_table(trials: list[FrozenTrial]) -> str:
    """A plain-text table of front members: number, accuracy with its 95% interval and evidence,
    FLOPs, params, the members it is tied with (overlapping intervals), arch."""
    ties = tied_with(trials)
    rows = [(str(t.number), accuracy_text(t), human(t.values[1]), human(t.values[2]),
             ",".join(map(str, ties[t.number])) or "-", t.user_attrs["arch"]) for t in trials]  # fmt: skip
    header = ("trial", "accuracy (95% interval, evidence)", "FLOPs", "params", "tied with", "arch")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    return "\n".join(
        "  ".join([*(cell.rjust(w) for cell, w in zip(r[:5], widths, strict=True)), r[5]]) for r in [header, *rows]
    )


def knee(trials: list[FrozenTrial]) -> FrozenTrial:
    """The knee of the accuracy-vs-FLOPs front: on the 2-D front, normalised (accuracy, log FLOPs),
    the point farthest above the chord joining the cheapest and the most accurate ends."""
    points: dict[tuple[float, float], FrozenTrial] = {}
    for t in trials:
        points.setdefault((t.values[1], t.values[0]), t)
    front2d = [
        t
        for (flops, acc), t in sorted(points.items())
        if not any(f <= flops and a >= acc and (f, a) != (flops, acc) for f, a in points)
    ]
    if len(front2d) <= 2:
        return max(front2d, key=lambda t: t.values[0])
    xs = [math.log10(max(t.values[1], 1)) for t in front2d]
    ys = [t.values[0] for t in front2d]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)

    def norm(x: float, y: float) -> tuple[float, float]:
        return (x - x0) / ((x1 - x0) or 1), (y - y0) / ((y1 - y0) or 1)

    (ax, ay), (bx, by) = norm(xs[0], ys[0]), norm(xs[-1], ys[-1])

    def above_chord(i: int) -> float:
        px, py = norm(xs[i], ys[i])
        return (bx - ax) * (py - ay) - (by - ay) * (px - ax)  # cross product: > 0 above the chord

    return front2d[max(range(len(front2d)), key=above_chord)]


def pick(
    study: optuna.Study,
    rule: str,
    *,
    max_flops: int | None = None,
    max_params: int | None = None,
    min_accuracy: float | None = None,
) -> FrozenTrial:
    """Apply a rule to the feasible Pareto trials that meet the limits; ValueError if none does."""
    if rule not in RULES:
        raise ValueError(f"unknown pick rule {rule!r}; choose one of {list(RULES)}")
    limits = {
        "flops <=": max_flops,
        "params <=": max_params,
        "accuracy >=": min_accuracy,
    }
    candidates = [
        t
        for t in feasible_front(study)
        if (max_flops is None or t.values[1] <= max_flops)
        and (max_params is None or t.values[2] <= max_params)
        and (min_accuracy is None or t.values[0] >= min_accuracy)
    ]
    if not candidates:
        said = ", ".join(f"{k} {v}" for k, v in limits.items() if v is not None) or "no limits"
        raise ValueError(f"no feasible Pareto trial of study {study.study_name!r} meets {said}")
    if rule == "max-accuracy":
        return max(candidates, key=lambda t: (t.values[0], -t.values[1], -t.values[2]))
    if rule == "min-flops":
        return min(candidates, key=lambda t: (t.values[1], -t.values[0], t.values[2]))
    return knee(candidates)
