"""The feasible Pareto front of a study, by each network's best evidence (``nas.evidence``): the
front itself, its table, and rules to pick a network from it. Values are accuracy (maximised)
then the study's costs (minimised), whichever they are (``nas.objectives``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import optuna
from optuna.trial import FrozenTrial

from nas.evidence import Evidence, study_evidence, tie_groups, tie_text
from nas.objectives import COSTS, DEFAULT, cost_text, metric, study_objectives
from nas.pareto import dominates, minimised, pareto_front

RULES = ("max-accuracy", "knee", "min-flops")


def feasible_front(study: optuna.Study) -> list[Evidence]:
    """Pareto-optimal feasible networks of ``study`` by their best evidence, cheapest first."""
    return pareto_front(study_evidence(study))


def accuracy_text(e: Evidence | FrozenTrial) -> str:
    """'0.9521 (0.9410..0.9632, 10 ep x 3 seeds)': the accuracy and the evidence behind it (a
    single run: its accuracy alone)."""
    if not isinstance(e, Evidence):
        return f"{e.values[0]:.4f}"
    return f"{e.accuracy:.4f} ({e.low:.4f}..{e.high:.4f}, {e.epochs} ep x {e.seeds} seed{'s' * (e.seeds > 1)})"


def shown_costs(trials: Iterable[Evidence], objectives: tuple[str, ...] = DEFAULT) -> tuple[str, ...]:
    """The costs worth a column: FLOPs and params always, latency where it was measured."""
    trials = list(trials)
    return tuple(c for c in COSTS if any(metric(t, c, objectives) is not None for t in trials))


def front_table(trials: list[Evidence], objectives: tuple[str, ...] = DEFAULT) -> str:
    """A plain-text table of front members: number, accuracy with its 95% interval and evidence,
    FLOPs, params (and latency where measured), its tie group (members whose intervals overlap),
    arch."""
    ties = tie_groups(trials)
    costs = shown_costs(trials, objectives) or ("flops", "params")
    rows = [(str(t.number), accuracy_text(t), *(cost_text(c, metric(t, c, objectives)) for c in costs),
             tie_text(ties.get(t.number)), t.user_attrs["arch"]) for t in trials]  # fmt: skip
    names = {"flops": "FLOPs", "params": "params", "latency": "latency"}
    header = ("trial", "accuracy (95% interval, evidence)", *(names[c] for c in costs), "ties", "arch")
    n = len(header) - 1
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(n)]
    return "\n".join(
        "  ".join([*(cell.rjust(w) for cell, w in zip(r[:n], widths, strict=True)), r[n]]) for r in [header, *rows]
    )


def knee(trials: list[Evidence], accuracy: Callable[[Evidence], float] | None = None) -> Evidence:
    """The knee of the accuracy-vs-first-cost front (FLOPs by default): on the 2-D front,
    normalised (accuracy, log cost), the point farthest above the chord joining the cheapest and
    the most accurate ends. ``accuracy``: another evidence than the trial's value (final training)."""
    accuracy = accuracy or (lambda t: t.values[0])
    points: dict[tuple[float, float], Evidence] = {}
    for t in trials:
        points.setdefault((t.values[1], accuracy(t)), t)
    front2d = [
        t
        for (flops, acc), t in sorted(points.items())
        if not any(dominates(minimised((a, f)), minimised((acc, flops))) for f, a in points)
    ]
    if len(front2d) <= 2:
        return max(front2d, key=accuracy)
    xs = [math.log10(max(t.values[1], 1e-9)) for t in front2d]
    ys = [accuracy(t) for t in front2d]
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
    max_latency: float | None = None,
    min_accuracy: float | None = None,
    final: dict[int, float] | None = None,
) -> Evidence:
    """Apply a rule to the feasible Pareto trials that meet the limits (latency in ms); ValueError
    if none does, or if the study never measured latency and a latency limit is asked for.
    ``final`` (trial number -> test accuracy after final training): pick among those members by it."""
    if rule not in RULES:
        raise ValueError(f"unknown pick rule {rule!r}; choose one of {list(RULES)}")
    objectives = study_objectives(study)
    limits = {"flops": max_flops, "params": max_params, "latency": max_latency}
    front = feasible_front(study)
    if final:
        front = [t for t in front if t.number in final]
    accuracy = (lambda t: final[t.number]) if final else (lambda t: t.values[0])
    if max_latency is not None and not any(metric(t, "latency", objectives) is not None for t in front):
        raise ValueError(f"study {study.study_name!r} never measured latency: search with --objectives "
                         "accuracy,...,latency or --max-latency to pick by it")  # fmt: skip

    def meets(t: Evidence) -> bool:
        within = all(metric(t, k, objectives) <= v for k, v in limits.items() if v is not None)
        return within and (min_accuracy is None or accuracy(t) >= min_accuracy)

    candidates = [t for t in front if meets(t)]
    if not candidates:
        said = [f"{k} <= {cost_text(k, v)}" for k, v in limits.items() if v is not None]
        said += [f"accuracy >= {min_accuracy}"] if min_accuracy is not None else []
        raise ValueError(
            f"no feasible Pareto trial of study {study.study_name!r} meets {', '.join(said) or 'no limits'}"
        )
    if rule == "max-accuracy":
        return max(candidates, key=lambda t: (accuracy(t), *(-v for v in t.values[1:])))
    if rule == "min-flops":
        return min(candidates, key=lambda t: (metric(t, "flops", objectives), -accuracy(t), *t.values[1:]))
    return knee(candidates, accuracy)
