"""Final training's records: which learning rate the selection chooses, which runs are due, the summary."""

from __future__ import annotations

import pytest

from nas.final_store import NETWORK_PREFIX, SELECT, TEST, Job, Setup, chosen_lr, jobs_for, summary

SETUP = Setup(epochs=8, seeds=2, lrs=(0.2, 0.05, 0.0125), select_epochs=2)
NET = {"name": "trial 3", "kind": "searched", "arch": "-", "costs": {"flops": 1e5, "params": 1e4}, "trial": 3,
       "proxy_accuracy": 0.5, "num_classes": 10}  # fmt: skip


def attrs_with(select: dict[float, tuple[float, float | None]], test: dict[int, float] | None = None) -> dict:
    attrs = {NETWORK_PREFIX + "d": NET}
    for lr, (accuracy, loss) in select.items():
        attrs[Job("d", SELECT, 2, lr, 0).key] = {"accuracy": accuracy, "loss": loss}
    for seed, accuracy in (test or {}).items():
        attrs[Job("d", TEST, 8, 0.05, seed).key] = {"accuracy": accuracy, "loss": 0.4}
    return attrs


def test_the_best_validation_accuracy_chooses_and_ties_go_to_the_lower_loss() -> None:
    assert chosen_lr(attrs_with({0.2: (0.9, 0.5), 0.05: (0.95, 0.6), 0.0125: (0.7, 0.9)}), "d", SETUP) == 0.05
    assert chosen_lr(attrs_with({0.2: (0.9, 0.5), 0.05: (0.9, 0.4), 0.0125: (0.7, 0.9)}), "d", SETUP) == 0.05
    assert chosen_lr(attrs_with({0.2: (0.0, None), 0.05: (0.3, 2.0), 0.0125: (0.2, 2.1)}), "d", SETUP) == 0.05


def test_a_network_that_learns_at_no_rate_gets_the_lowest() -> None:
    stalled = {0.2: (0.10, 2.30), 0.05: (0.11, 2.29), 0.0125: (0.10, 2.301)}  # all at chance
    assert chosen_lr(attrs_with(stalled), "d", SETUP) == 0.0125


def test_final_runs_are_due_once_the_rate_is_chosen_and_summarised_as_they_finish() -> None:
    partial = attrs_with({0.2: (0.9, 0.5), 0.05: (0.95, 0.6)})
    assert chosen_lr(partial, "d", SETUP) is None
    assert [j.stage for j in jobs_for(partial, "d", SETUP)] == [SELECT] * 3
    done = attrs_with({0.2: (0.9, 0.5), 0.05: (0.95, 0.6), 0.0125: (0.7, 0.9)})
    assert [(j.stage, j.lr, j.seed) for j in jobs_for(done, "d", SETUP)][3:] == [(TEST, 0.05, 0), (TEST, 0.05, 1)]
    assert summary(done, "d", SETUP) is None  # no test run yet
    final = summary(attrs_with({0.2: (0.9, 0.5), 0.05: (0.95, 0.6), 0.0125: (0.7, 0.9)}, {0: 0.96, 1: 0.98}), "d",
                    SETUP)  # fmt: skip
    assert final.accuracies == (0.96, 0.98) and final.mean == pytest.approx(0.97) and final.lr == 0.05
    assert (final.trial, final.epochs, final.proxy_accuracy) == (3, 8, 0.5)
