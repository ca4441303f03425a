"""The feasible Pareto front of a study: the front itself, its table, and rules to pick a trial from it."""

from __future__ import annotations

import math
from collections.abc import Iterable

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.cost import human

RULES = ("max-accuracy", "knee", "min-flops")


def is_feasible(trial: FrozenTrial) -> bool:
    """A trial with Optuna constraints is feasible when every constraint value is <= 0."""
    return all(c <= 0 for c in trial.constraints.values())


def feasible_front(study: optuna.Study) -> list[FrozenTrial]:
    """Pareto-optimal feasible trials of ``study`` (see ``pareto_front``)."""
    return pareto_front(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


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


def front_table(trials: list[FrozenTrial]) -> str:
    """A plain-text table of trials: number, accuracy, FLOPs, params, arch."""
    lines = [f"{'trial':>5}  {'accuracy':>8}  {'FLOPs':>7}  {'params':>7}  arch"]
    for t in trials:
        acc, flops, params = t.values
        lines.append(f"{t.number:>5}  {acc:>8.4f}  {human(flops):>7}  {human(params):>7}  {t.user_attrs['arch']}")
    return "\n".join(lines)


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
