"""nas.trials: what a run is, read the same way by every module."""

from __future__ import annotations

from optuna.trial import TrialState

from nas.trials import budget_runs, counts_toward_budget, is_feasible, is_trained_run, run_key

from .helpers import run


def test_a_trained_run_is_complete_feasible_and_not_a_reused_result() -> None:
    assert is_trained_run(run(0, 0.9, 10))
    assert not is_trained_run(run(1, 0.9, 10, over_limit=3.0)) and not is_feasible(run(1, 0.9, 10, over_limit=3.0))
    assert not is_trained_run(run(2, 0.0, 0, state=TrialState.RUNNING))
    dup = run(3, 0.9, 10, digest="net0")
    dup.user_attrs["duplicate_of"] = 0
    assert not is_trained_run(dup)


def test_the_budget_counts_new_networks_duplicates_included_not_promotions() -> None:
    dup = run(3, 0.9, 10, digest="net0")
    dup.user_attrs["duplicate_of"] = 0
    trials = [run(0, 0.9, 10), run(1, 0.9, 10, digest="net0", rung=1), run(2, 0.9, 10, replicate=1), dup,
              run(4, 0.9, 10, over_limit=1.0), run(5, 0.0, 0, state=TrialState.FAIL)]  # fmt: skip
    assert [t.number for t in budget_runs(trials)] == [0, 3]
    assert not counts_toward_budget(trials[1]) and not counts_toward_budget(trials[2])


def test_a_run_key_names_network_rung_and_replicate() -> None:
    assert run_key(run(7, 0.9, 10, digest="abc", rung=2, replicate=1)) == ("abc", 2, 1)
    assert run_key(run(8, 0.9, 10)) == ("net8", 0, 0)  # a trial without fidelity attrs: rung 0, replicate 0
