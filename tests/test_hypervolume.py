"""nas.hypervolume: normalised volumes that read the same on every study."""

import pytest
from optuna.trial import TrialState, create_trial

from nas.hypervolume import hypervolume, hypervolume_history, normalised


def point(acc: float, flops: float, params: float, state: TrialState = TrialState.COMPLETE):  # noqa: ANN201
    return create_trial(state=state, values=[acc, flops, params] if state == TrialState.COMPLETE else None)


def test_axes_are_error_and_log_costs_between_fixed_bounds() -> None:
    assert normalised((0.9, 1e3, 1e2)) == pytest.approx([0.1, 0.0, 0.0])
    assert normalised((0.9, 1e8, 1e6)) == pytest.approx([0.1, 1.0, 1.0])
    assert normalised((0.9, 1e12, 1e9)) == pytest.approx([0.1, 1.0, 1.0])  # clipped beyond the bounds


def test_one_point_spans_the_box_to_the_worst_corner() -> None:
    # error 0.1, log FLOPs 0.5 of the way, params at the low bound: (1 - 0.1) x (1 - 0.5) x 1
    assert hypervolume([point(0.9, 10**5.5, 100)]) == pytest.approx(0.45)
    assert hypervolume([]) == 0.0


def test_the_history_grows_only_with_trained_runs() -> None:
    trials = [point(0.5, 1e5, 1e3), point(0.0, 0, 0, TrialState.FAIL), point(0.9, 1e5, 1e3), point(0.6, 1e7, 1e5)]
    history = hypervolume_history(trials)
    assert len(history) == 4 and history[0] == history[1] < history[2] == history[3]  # the last is dominated
