"""Multi-fidelity: rungs, the promotion rule on synthetic results, re-scoring, best evidence."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from nas.fidelity import (
    best_evidence,
    crowding_distances,
    done_by_another,
    due_promotions,
    due_refinements,
    non_dominated_ranks,
    rung_epochs,
    tied_with,
    top_fraction,
    top_rung_only,
)


def run(number: int, acc: float, flops: float, params: float = 1000, *, digest: str | None = None, rung: int = 0,
        replicate: int = 0, state=TrialState.COMPLETE, over_limit: float = -1.0):  # fmt: skip
    """A finished trial as the objective records it."""
    attrs = {"digest": digest or f"net{number}", "arch": f"arch{number}", "epochs": (2, 6, 18)[rung]}
    if rung or replicate:
        attrs |= {"rung": rung, "replicate": replicate, "promoted_from": number}
    t = create_trial(
        state=state, values=[acc, flops, params] if state == TrialState.COMPLETE else None,
        params={"x": number}, distributions={"x": IntDistribution(0, 10_000)}, user_attrs=attrs,
        system_attrs={"constraints": [over_limit]},
    )  # fmt: skip
    t.number = number
    return t


def test_rungs_go_down_by_eta_to_the_least_epochs() -> None:
    assert rung_epochs(18, 2, 3) == (2, 6, 18)
    assert rung_epochs(10, 10, 3) == (10,)  # --epochs alone: single fidelity
    assert rung_epochs(10, 3, 3) == (3, 10)
    assert rung_epochs(16, 1, 2) == (1, 2, 4, 8, 16)
    with pytest.raises(ValueError, match="min-epochs"):
        rung_epochs(10, 12, 3)
    with pytest.raises(ValueError, match="eta"):
        rung_epochs(10, 2, 1)


def test_non_dominated_ranks_and_crowding() -> None:
    points = [(0, 0), (1, 1), (0, 2), (2, 0), (3, 3)]  # minimised
    assert non_dominated_ranks(points) == [0, 1, 1, 1, 2]
    d = crowding_distances([(0, 3), (1, 2), (2, 1), (3, 0), (1.1, 1.9)])
    assert d[0] == d[3] == float("inf") and d[4] < d[2]  # the point crowded next to another scores less


def test_top_fraction_keeps_cheap_networks_that_no_one_dominates() -> None:
    # (-accuracy, flops, params): the cheapest network is the least accurate, yet on the front
    points = [(-0.99, 9, 9), (-0.98, 8, 8), (-0.50, 1, 1), (-0.97, 9.5, 9.5), (-0.90, 9, 9), (-0.80, 9.9, 9.9)]
    top = top_fraction(points, 3)
    assert len(top) == 2 and 2 in top and 0 in top


def test_promotions_are_due_for_the_top_third_of_a_rung_once() -> None:
    trials = [run(i, 0.5 + 0.05 * i, 1000 + 10 * i) for i in range(6)]  # accuracy and cost both rise
    # all six are on the front (each more accurate and dearer): crowding keeps the two ends
    due = due_promotions(trials, 3, 3)
    assert sorted(t.number for t in due) == [0, 5]
    # queued, running or done at the next rung: no longer due; a failed promotion is due again
    trials.append(run(6, 0.0, 0, digest="net0", rung=1, state=TrialState.WAITING))
    trials.append(run(7, 0.0, 0, digest="net5", rung=1, state=TrialState.FAIL))
    assert [t.number for t in due_promotions(trials, 3, 3)] == [5]


def test_infeasible_and_reused_results_are_never_promoted() -> None:
    trials = [run(i, 0.9, 1000) for i in range(5)]
    trials.append(run(5, 0.99, 10, over_limit=5.0))  # best of all, but over a limit
    dup = run(6, 0.999, 5, digest="net0")
    dup.user_attrs["duplicate_of"] = 0
    trials.append(dup)
    assert all(t.number not in (5, 6) for t in due_promotions(trials, 2, 2))


def test_refinement_covers_the_top_rung_front_and_its_band() -> None:
    trials = [run(0, 0.95, 100, rung=1), run(1, 0.945, 120, rung=1), run(2, 0.80, 130, rung=1), run(3, 0.7, 50)]
    due = due_refinements(trials, 1, 2)
    # trial 1 is dominated by trial 0 but within BAND (0.01): re-scored too; trial 2 is far off
    assert sorted((t.number, k) for t, k in due) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    trials.append(run(9, 0.96, 100, digest="net0", rung=1, replicate=1))
    assert (0, 1) not in {(t.number, k) for t, k in due_refinements(trials, 1, 2)}
    assert due_refinements(trials, 1, 0) == []


def test_best_evidence_is_the_mean_at_the_highest_rung_with_an_interval() -> None:
    trials = [
        run(0, 0.60, 100),  # rung 0 of net0
        run(1, 0.90, 100, digest="net0", rung=1),
        run(2, 0.92, 100, digest="net0", rung=1, replicate=1),
        run(3, 0.94, 100, digest="net0", rung=1, replicate=2),
        run(4, 0.50, 50),  # net4 never promoted
    ]
    by_digest = {t.user_attrs["digest"]: t for t in best_evidence(trials, default_epochs=2, val_size=300)}
    net0 = by_digest["net0"]
    assert net0.values[0] == pytest.approx(0.92) and net0.user_attrs["seeds"] == 3 and net0.user_attrs["epochs"] == 6
    assert net0.user_attrs["accuracy_low"] < 0.92 < net0.user_attrs["accuracy_high"]
    # without seeds to compare, the binomial error of 300 validation images alone (plus the pooled
    # seed spread, here from net0 at 6 epochs only, so not applied at 2 epochs)
    net4 = by_digest["net4"]
    half = 1.96 * (0.5 * 0.5 / 300) ** 0.5
    assert net4.user_attrs["accuracy_high"] - 0.5 == pytest.approx(half)
    assert [t.user_attrs["digest"] for t in top_rung_only(list(by_digest.values()))] == ["net0"]


def test_saturated_members_are_tied_not_ranked() -> None:
    trials = [run(0, 1.0, 100), run(1, 1.0, 200, 500), run(2, 0.80, 50, 500)]
    front = best_evidence(trials, default_epochs=2, val_size=360)
    ties = tied_with(front)
    assert ties[0] == [1] and ties[1] == [0] and ties[2] == []


def test_a_study_without_fidelity_attrs_reads_as_one_rung() -> None:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.add_trial(create_trial(values=[0.9, 10, 10], user_attrs={"digest": "a", "arch": "a"}))
    (only,) = best_evidence(study.trials, default_epochs=10, val_size=None)
    assert only.values == [0.9, 10, 10] and only.user_attrs["epochs"] == 10 and only.user_attrs["seeds"] == 1


def test_a_promotion_queued_twice_trains_once() -> None:
    """Two workers enqueue the same promotion: trials 5 and 6. Whatever order they are popped in,
    6 yields to 5 (created first), 5 never yields to 6, and a finished run makes any other yield."""
    key = ("net0", 1, 0)
    first = run(5, 0.0, 0, digest="net0", rung=1, state=TrialState.WAITING)
    second = run(6, 0.0, 0, digest="net0", rung=1, state=TrialState.RUNNING)
    assert done_by_another([first, second], 6, key) is first
    assert done_by_another([first, second], 5, key) is None
    done = run(4, 0.9, 10, digest="net0", rung=1)
    assert done_by_another([done, second], 6, key) is done
    failed = run(3, 0.0, 0, digest="net0", rung=1, state=TrialState.FAIL)  # a killed worker's: redo it
    assert done_by_another([failed], 6, key) is None
