"""nas.racing: the re-scoring budget, which networks are contested, and each round's runs."""

from __future__ import annotations

import threading

import optuna
from optuna.trial import TrialState

from nas.evidence import Evidence
from nas.racing import contested, due_rescoring, rescoring_cost, search_cost
from nas.schedule import QUEUE_LIMIT, Schedule

from .helpers import run


def test_the_budget_is_a_share_of_the_search_s_own_training_time() -> None:
    single = [run(i, 0.9, 100) for i in range(8)]
    for i, t in enumerate(single):
        t.user_attrs["train_seconds"] = 1.0 + i  # 36 s in all
    assert search_cost(single) == 36.0
    dup = run(8, 0.9, 100, digest="net0")
    dup.user_attrs |= {"duplicate_of": 0, "train_seconds": 9.0}  # reused, trained nothing: not counted
    assert search_cost([*single, dup]) == 36.0
    # promotions count; runs recorded without their seconds count their epochs (2, 6, 18 by rung)
    multi = [run(i, 0.9, 100) for i in range(9)] + [run(9 + i, 0.9, 100, rung=1) for i in range(3)]
    assert search_cost(multi) == 9 * 2 + 3 * 6
    queued = run(13, 0.0, 0, digest="net9", rung=1, replicate=1, state=TrialState.WAITING)
    queued.user_attrs["promoted_from"] = 9
    failed = run(14, 0.0, 0, digest="net10", rung=1, replicate=2, state=TrialState.FAIL)
    assert rescoring_cost([*multi, queued, failed]) == 6  # at its copy's cost; a failed one is done again


def _evidence(number: int, low: float, high: float, flops: float, params: float) -> Evidence:
    acc = (low + high) / 2
    return Evidence(run(number, acc, flops, params), (acc,), 2, low, high)


def test_only_networks_whose_place_on_the_front_is_undecided_are_contested() -> None:
    evidence = [
        _evidence(0, 0.88, 0.92, 100, 1000),  # a front member ...
        _evidence(1, 0.87, 0.91, 50, 500),  # ... that this cheaper one, overlapping it, may displace
        _evidence(2, 0.985, 0.995, 400, 4000),  # the most accurate, challenged by 5
        _evidence(3, 0.79, 0.81, 120, 1200),  # dearer than 0 and surely less accurate: out of the race
        _evidence(4, 0.50, 0.70, 10, 100),  # the cheapest, separated from everything dearer
        _evidence(5, 0.965, 0.99, 500, 5000),  # off the front (2 is cheaper), its interval reaches 2's
        _evidence(6, 0.94, 0.96, 300, 3000),  # on the front, separated from its cheaper and dearer neighbours
    ]
    close = contested(evidence)
    assert sorted(close) == [0, 1, 2, 5]
    assert close[0] == close[1] == 0.01 / 0.04  # gap of the means over the two half-widths
    assert contested(evidence[:1]) == {}


def _pair(acc0: float = 0.90, acc1: float = 0.89) -> list:
    """Two overlapping networks (1 is cheaper), one far cheaper and separated, one beaten."""
    return [run(0, acc0, 100, 1000), run(1, acc1, 50, 500), run(2, 0.5, 10, 100), run(3, 0.3, 200, 2000)]


def test_a_round_seeds_the_contested_fewest_seeds_first_within_the_budget() -> None:
    trials = _pair()
    assert sorted((t.number, k) for t, k in due_rescoring(trials, (2,), 2, 0.5, 100)) == [(0, 1), (1, 1)]
    (only,) = due_rescoring(trials, (2,), 2, 0.25, 100)  # a budget of one run: the first of the closest pair
    assert (only[0].number, only[1]) == (0, 1)
    trials.append(run(4, 0.91, 100, 1000, digest="net0", replicate=1))
    # net0 has 2 seeds now: net1 (1 seed) goes first; the budget (0.25 of 4 runs) is spent
    assert due_rescoring(trials, (2,), 2, 0.25, 100) == []
    assert [(t.number, k) for t, k in due_rescoring(trials, (2,), 2, 1.0, 100)] == [(1, 1), (0, 2)]
    assert [(t.number, k) for t, k in due_rescoring(trials, (2,), 1, 1.0, 100)] == [(1, 1)]  # net0 is at 1 + 1
    assert due_rescoring(trials, (2,), 0, 1.0, 100) == due_rescoring(trials, (2,), 2, 0.0, 100) == []


def test_a_failed_run_is_due_again_under_its_own_index() -> None:
    trials = [*_pair(), run(4, 0.0, 0, digest="net1", replicate=1, state=TrialState.FAIL)]
    trials.append(run(5, 0.0, 0, digest="net1", replicate=2, state=TrialState.RUNNING))
    assert [(t.number, k) for t, k in due_rescoring(trials, (2,), 2, 1.0, 100)] == [(0, 1), (1, 1)]


def test_separated_networks_get_no_more_seeds() -> None:
    trials = _pair(acc0=0.95, acc1=0.80)
    trials += [run(4, 0.951, 100, 1000, digest="net0", replicate=1), run(5, 0.801, 50, 500, digest="net1", replicate=1)]
    assert due_rescoring(trials, (2,), 2, 1.0, 10_000) == []  # 2 seeds each, far apart: the race is decided
    close = [*_pair(acc0=0.95, acc1=0.94), run(4, 0.96, 100, 1000, digest="net0", replicate=1),
             run(5, 0.93, 50, 500, digest="net1", replicate=1)]  # fmt: skip
    assert sorted((t.number, k) for t, k in due_rescoring(close, (2,), 2, 1.0, 10_000)) == [(0, 2), (1, 2)]


def test_only_the_top_rung_is_re_scored() -> None:
    trials = [run(0, 0.90, 100, 1000), run(1, 0.89, 50, 500)]  # rung 0 of a 2-rung study
    assert due_rescoring(trials, (2, 6), 2, 1.0, 100) == []
    trials += [run(2, 0.91, 100, 1000, digest="net0", rung=1), run(3, 0.905, 50, 500, digest="net1", rung=1)]
    assert sorted(t.number for t, _ in due_rescoring(trials, (2, 6), 2, 1.0, 100)) == [2, 3]


def test_the_schedule_queues_a_round_once() -> None:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for t in _pair():
        study.add_trial(t)
    schedule = Schedule(rungs=(2,), eta=2, refine=2, refine_share=0.5, val_size=100)
    assert schedule.enqueue_refinements(study) == 2
    assert schedule.enqueue_refinements(study) == 0  # queued: the budget is spent
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert sorted(t.user_attrs["digest"] for t in waiting) == ["net0", "net1"]
    assert all(t.user_attrs["replicate"] == 1 for t in waiting)


def test_every_cost_of_the_study_counts_latency_too() -> None:
    """With latency as a third cost, a network with fewer FLOPs and params but slower is not one
    that could take a faster network's place: the pair is not raced."""

    def measured(number: int, low: float, high: float, latency_ms: float) -> Evidence:
        acc = (low + high) / 2
        trial = run(number, acc, 100 - number, 1000 - number)
        trial.values = [acc, 100 - number, 1000 - number, latency_ms]
        return Evidence(trial, (acc,), 2, low, high)

    assert sorted(contested([measured(0, 0.88, 0.92, 1.0), measured(1, 0.87, 0.91, 2.0)])) == []
    assert sorted(contested([measured(0, 0.88, 0.92, 2.0), measured(1, 0.87, 0.91, 1.0)])) == [0, 1]


def test_a_network_too_dear_for_what_is_left_waits_and_cheaper_ones_go() -> None:
    trials = _pair()
    trials[0].user_attrs["train_seconds"] = 10.0  # net0, contested, costs 10 s a run; net1 1 s
    for t in trials[1:]:
        t.user_attrs["train_seconds"] = 1.0
    # the search trained 13 s: a quarter is 3.25 s, too little for net0, enough for net1
    assert [(t.number, k) for t, k in due_rescoring(trials, (2,), 2, 0.25, 100)] == [(1, 1)]
    assert sorted(t.number for t, _ in due_rescoring(trials, (2,), 2, 1.0, 100)) == [0, 1]


def test_a_large_round_is_queued_at_most_queue_limit_at_a_time() -> None:
    """Optuna re-reads every unfinished trial on every read of the study: a round of hundreds queued
    at once made each read slow, so the schedule queues at most QUEUE_LIMIT, the rest as they run."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    n = QUEUE_LIMIT + 8  # equally accurate, each a little dearer than the last: every pair is undecided
    for i in range(n):
        study.add_trial(run(i, 0.9, 100 + i, 1000 + i))
    schedule = Schedule(rungs=(2,), eta=2, refine=1, refine_share=1.0, val_size=100)
    assert schedule.enqueue_refinements(study) == QUEUE_LIMIT
    assert schedule.enqueue_refinements(study) == 8  # the queued ones count as taken: the rest of the round
    assert schedule.enqueue_refinements(study) == 0
    assert len({t.user_attrs["digest"] for t in study.get_trials(states=(TrialState.WAITING,))}) == n


def test_a_settling_worker_waits_for_another_s_run_then_re_scores() -> None:
    """Workers that found another's run in flight used to leave, so the last one re-scored alone.
    A settling worker now waits for it (no re-scoring while a search run is in flight: it may
    change the top rung), then runs the rounds itself, and leaves once nothing is due."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for t in _pair():
        study.add_trial(t)
    other = study.ask()  # another worker's new network, still training
    threading.Timer(0.5, lambda: study.tell(other, [0.1, 300, 3000])).start()

    def run_one() -> optuna.trial.FrozenTrial:
        assert study.get_trials(deepcopy=False)[other.number].state == TrialState.COMPLETE
        study.optimize(lambda trial: (0.9, 100 - 50 * trial.suggest_int("x", 0, 10_000), 1000), n_trials=1)
        return study.get_trials(deepcopy=False)[-1]

    Schedule(rungs=(2,), eta=2, refine=1, refine_share=1.0, val_size=100).settle(study, run_one, poll=0.05)
    rescored = {t.user_attrs["digest"] for t in study.get_trials() if t.user_attrs.get("replicate", 0) == 1}
    assert rescored == {"net0", "net1"}  # the contested pair, once the other run had finished
    assert all(t.state == TrialState.COMPLETE for t in study.get_trials())
