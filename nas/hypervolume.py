"""Normalised hypervolume of (accuracy, FLOPs, params) fronts, for the report and the benchmarks.

Objectives are mapped to [0, 1], all minimised: 1 - accuracy; log10(FLOPs) and log10(params)
scaled between fixed bounds (the search spaces' range, with margin; values beyond are clipped).
The reference point is (1, 1, 1): the worst corner. A figure in these units reads the same on
every study, unlike raw FLOPs x params volumes. Optuna computes the hypervolume.
"""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial

from nas.front import is_feasible
from nas.optuna_compat import quiet_experimental

LOG_FLOPS = (3.0, 8.0)  # 1K .. 100M MACs
LOG_PARAMS = (2.0, 6.0)  # 100 .. 1M params
REFERENCE_POINT = [1.0, 1.0, 1.0]


def _scale(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return min(1.0, max(0.0, (math.log10(max(value, 1.0)) - low) / (high - low)))


def normalised(trial: FrozenTrial) -> list[float]:
    acc, flops, params = trial.values
    return [1.0 - acc, _scale(flops, LOG_FLOPS), _scale(params, LOG_PARAMS)]


def hypervolume(trials: list[FrozenTrial]) -> float:
    """Of the feasible complete trials, as one set (e.g. a front)."""
    history = hypervolume_history(trials)
    return history[-1] if history else 0.0


def hypervolume_history(trials: list[FrozenTrial]) -> list[float]:
    """Hypervolume after each trial (feasible complete trials count)."""
    study = optuna.create_study(directions=["minimize"] * 3)
    for t in trials:
        if t.state == TrialState.COMPLETE and is_feasible(t):
            study.add_trial(create_trial(values=normalised(t), params={}, distributions={}))
        else:
            study.add_trial(create_trial(state=TrialState.FAIL, params={}, distributions={}))
    if not study.trials:
        return []
    with quiet_experimental():
        fig = optuna.visualization.plot_hypervolume_history(study, REFERENCE_POINT)
    return list(fig.data[0].y)
