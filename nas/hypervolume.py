"""Normalised hypervolume of (accuracy, costs...) fronts, for the report and the benchmarks.

Objectives are mapped to [0, 1], all minimised: 1 - accuracy; the log10 of each cost (FLOPs,
params, latency in ms) scaled between fixed bounds (the search spaces' range, with margin; values
beyond are clipped). The reference point is (1, ..., 1): the worst corner. A figure in these units reads the same on
every study, unlike raw FLOPs x params volumes. Optuna computes the hypervolume.
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial

from nas.front import is_feasible
from nas.objectives import DEFAULT
from nas.optuna_compat import quiet_experimental

LOG_BOUNDS = {
    "flops": (3.0, 8.0),  # 1K .. 100M MACs
    "params": (2.0, 6.0),  # 100 .. 1M params
    "latency": (-2.0, 3.0),  # 0.01 ms .. 1 s
}
REFERENCE_POINT = [1.0, 1.0, 1.0]  # of the default three objectives


def _scale(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return min(1.0, max(0.0, (math.log10(max(value, 1e-9)) - low) / (high - low)))


def normalised(trial: FrozenTrial, objectives: tuple[str, ...] = DEFAULT) -> list[float]:
    acc, *costs = trial.values
    return [1.0 - acc, *(_scale(v, LOG_BOUNDS[name]) for name, v in zip(objectives[1:], costs, strict=True))]


def axes_text(objectives: tuple[str, ...] = DEFAULT) -> str:
    """'1 - accuracy, log FLOPs (3.0, 8.0), ...': how the axes are normalised, for figure titles."""
    return ", ".join(["1 - accuracy", *(f"log {n} {LOG_BOUNDS[n]}" for n in objectives[1:])])


def hypervolume(trials: list[FrozenTrial], objectives: tuple[str, ...] = DEFAULT) -> float:
    """Of the feasible complete trials, as one set (e.g. a front)."""
    history = hypervolume_history(trials, objectives)
    return history[-1] if history else 0.0


def hypervolume_history(trials: list[FrozenTrial], objectives: tuple[str, ...] = DEFAULT) -> list[float]:
    """Hypervolume after each trial (feasible complete trials count)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" in the output
    try:
        study = optuna.create_study(directions=["minimize"] * len(objectives))
    finally:
        optuna.logging.set_verbosity(verbosity)
    for t in trials:
        if t.state == TrialState.COMPLETE and is_feasible(t):
            study.add_trial(create_trial(values=normalised(t, objectives), params={}, distributions={}))
        else:
            study.add_trial(create_trial(state=TrialState.FAIL, params={}, distributions={}))
    if not study.trials:
        return []
    with quiet_experimental():
        fig = optuna.visualization.plot_hypervolume_history(study, [1.0] * len(objectives))
    return list(fig.data[0].y)
