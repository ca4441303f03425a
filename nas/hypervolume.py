"""Normalised hypervolume of (accuracy, costs...) fronts, for the report and the benchmarks.

Objectives are mapped to [0, 1], all minimised: 1 - accuracy; the log10 of each cost (FLOPs,
params, latency in ms) scaled between fixed bounds (the search spaces' range, with margin; values
beyond are clipped). The reference point is (1, ..., 1): the worst corner. A figure in these units reads the same on
every study, unlike raw FLOPs x params volumes. Optuna computes the hypervolume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, create_trial

from nas.objectives import DEFAULT
from nas.optuna_compat import quiet_experimental
from nas.pareto import HasValues, minimised
from nas.trials import is_trained_run

LOG_BOUNDS = {
    "flops": (3.0, 8.0),  # 1K .. 100M MACs
    "params": (2.0, 6.0),  # 100 .. 1M params
    "latency": (-2.0, 3.0),  # 0.01 ms .. 1 s
}
REFERENCE_POINT = [1.0, 1.0, 1.0]  # of the default three objectives


def _scale(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return min(1.0, max(0.0, (math.log10(max(value, 1e-9)) - low) / (high - low)))


def normalised(values: Sequence[float], objectives: tuple[str, ...] = DEFAULT) -> list[float]:
    error, *costs = minimised(values)
    return [1.0 + error, *(_scale(v, LOG_BOUNDS[name]) for name, v in zip(objectives[1:], costs, strict=True))]


def axes_text(objectives: tuple[str, ...] = DEFAULT) -> str:
    """'1 - accuracy, log FLOPs (3.0, 8.0), ...': how the axes are normalised, for figure titles."""
    return ", ".join(["1 - accuracy", *(f"log {n} {LOG_BOUNDS[n]}" for n in objectives[1:])])


def hypervolume(points: Sequence[HasValues], objectives: tuple[str, ...] = DEFAULT) -> float:
    """Of a set of points, e.g. a front's evidence."""
    history = _history([p.values for p in points], objectives)
    return history[-1] if history else 0.0


def hypervolume_history(trials: Sequence[FrozenTrial], objectives: tuple[str, ...] = DEFAULT) -> list[float]:
    """Hypervolume after each trial, one value per trial (one that is not a trained run holds it)."""
    trained = iter(_history([t.values for t in trials if is_trained_run(t)], objectives))
    history, current = [], 0.0
    for t in trials:
        current = next(trained) if is_trained_run(t) else current
        history.append(current)
    return history


def _history(points: Sequence[Sequence[float]], objectives: tuple[str, ...]) -> list[float]:
    """Hypervolume after each point (Optuna computes it)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" in the output
    try:
        study = optuna.create_study(directions=["minimize"] * len(objectives))
    finally:
        optuna.logging.set_verbosity(verbosity)
    for values in points:
        study.add_trial(create_trial(values=normalised(values, objectives), params={}, distributions={}))
    if not study.trials:
        return []
    with quiet_experimental():
        fig = optuna.visualization.plot_hypervolume_history(study, [1.0] * len(objectives))
    return list(fig.data[0].y)
