"""nas.schedule: rungs, the promotion rule on synthetic results, re-scoring, runs decided twice."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from nas.schedule import Schedule, done_by_another, due_promotions, promotion_attrs, rung_epochs

from .helpers import run


def test_rungs_go_down_by_eta_to_the_least_epochs() -> None:
    assert rung_epochs(18, 2, 3) == (2, 6, 18)
    assert rung_epochs(10, 10, 3) == (10,)  # --epochs alone: single fidelity
    assert rung_epochs(10, 3, 3) == (3, 10)
    assert rung_epochs(16, 1, 2) == (1, 2, 4, 8, 16)
    with pytest.raises(ValueError, match="min-epochs"):
        rung_epochs(10, 12, 3)
    with pytest.raises(ValueError, match="eta"):
        rung_epochs(10, 2, 1)


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


def test_a_run_queued_twice_trains_once() -> None:
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


def test_a_queued_copy_carries_its_network_from_the_start() -> None:
    """Two PostgreSQL workers once trained a re-scoring run twice: the queued copy had no digest
    until it wrote its own attrs, so the racing copy could not see it."""
    attrs = promotion_attrs(run(3, 0.9, 10, digest="abc"), rung=1, replicate=2)
    assert attrs == {"rung": 1, "replicate": 2, "promoted_from": 3, "digest": "abc"}


def test_the_schedule_enqueues_what_is_due_into_a_real_study() -> None:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for i in range(4):
        study.add_trial(run(i, 0.5 + 0.1 * i, 1000 + i))
    schedule = Schedule(rungs=(2, 6), eta=2, refine=1)
    assert schedule.enqueue_promotions(study) == 2
    assert schedule.enqueue_promotions(study) == 0  # queued: not due again
    waiting = study.get_trials(states=(TrialState.WAITING,))
    # each copy re-samples its network from the same parameters, one rung up
    assert all(t.system_attrs["fixed_params"] == {"x": int(t.user_attrs["digest"][3:])} for t in waiting)
    assert all(t.user_attrs["rung"] == 1 and t.user_attrs["replicate"] == 0 for t in waiting)
    assert Schedule(rungs=(6,), eta=2, refine=1).enqueue_promotions(study) == 0  # one rung: nothing to promote


def test_after_a_run_only_the_rungs_it_can_change_are_sorted() -> None:
    """A rung-0 run can make promotions from rung 0 due; a failed promotion at rung 1, from rung 0
    again; a finished rung-1 run, from rung 1. The others are left to the next full look."""
    trials = [run(i, 0.5 + 0.05 * i, 1000 + 10 * i) for i in range(6)]
    trials += [run(6 + i, 0.6 + 0.1 * i, 100 + i, digest=f"net{i}", rung=1) for i in range(3)]
    every = {t.number for t in due_promotions(trials, 3, 3)}
    assert {t.number for t in due_promotions(trials, 3, 3, rungs=(0,))} == every - {6, 7, 8}
    assert {t.number for t in due_promotions(trials, 3, 3, rungs=(1, 0))} == every
    assert due_promotions(trials, 3, 3, rungs=(2, 1)) == due_promotions(trials, 3, 3, rungs=(1,))
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for t in trials:
        study.add_trial(t)
    schedule = Schedule(rungs=(2, 6, 18), eta=3, refine=0)
    assert schedule.enqueue_promotions(study, after=trials[0]) == len(every - {6, 7, 8})
    assert schedule.enqueue_promotions(study, after=trials[6]) == len(every & {6, 7, 8})


def test_a_promotion_another_worker_queued_since_the_read_is_not_queued_again() -> None:
    """With 16 workers, two often read the study before either queued the promotion both found
    due: each then queued it (a trial that trains nothing, but costs one). The schedule looks at the
    live trials again just before queuing."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for i in range(4):
        study.add_trial(run(i, 0.5 + 0.1 * i, 1000 + i))
    read_before = study.get_trials(deepcopy=False)
    assert Schedule(rungs=(2, 6), eta=2, refine=0).enqueue_promotions(study) == 2  # the other worker
    assert Schedule(rungs=(2, 6), eta=2, refine=0).enqueue_promotions(study, read_before) == 0
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 2


def test_a_network_first_run_by_an_earlier_trial_that_finishes_later_replaces_the_ranked_one() -> None:
    """Two workers trained one network: the later-numbered trial finished first and was ranked;
    when the earlier one finishes it is the network's first run, in the index a worker keeps too."""
    from nas.schedule import RunIndex

    trials = [run(i, 0.5 + 0.05 * i, 1000 + 10 * i) for i in range(6)]
    trials.append(run(6, 0.0, 0, digest="net7", state=TrialState.RUNNING))
    trials.append(run(7, 0.99, 1000, digest="net7"))  # the same network, finished first: promoted
    kept = RunIndex()
    assert 7 in [t.number for t in due_promotions(trials, 3, 3, index=kept)]
    trials[6] = run(6, 0.2, 5000, digest="net7")  # now its first run: poor, never promoted
    assert [t.number for t in due_promotions(trials, 3, 3, index=kept)] == [
        t.number for t in due_promotions(trials, 3, 3)
    ]
    assert not {6, 7} & {t.number for t in due_promotions(trials, 3, 3, index=kept)}


def test_an_index_kept_across_reads_decides_what_a_fresh_read_decides() -> None:
    """Runs finish out of order, some fail, networks recur, promotions run: after every change the
    promotions due from the index a worker keeps are those of a fresh index, in the same order."""
    import random

    from nas.schedule import RunIndex

    rng, kept, study, seen_due = random.Random(3), RunIndex(), {}, 0
    for step in range(400):
        number = len(study)
        if number and rng.random() < 0.6:  # a running run ends
            running = [t for t in study.values() if t.state == TrialState.RUNNING]
            if running:
                t = rng.choice(running)
                state = TrialState.FAIL if rng.random() < 0.1 else TrialState.COMPLETE
                cost = rng.choice([1e3, 2e3, 4e3])
                study[t.number] = run(t.number, rng.random(), cost, rng.random() * 1e4, digest=t.user_attrs["digest"],
                                      rung=t.user_attrs.get("rung", 0), state=state)  # fmt: skip
        else:  # a new run starts: a new network, one seen before, or a promotion
            rung = rng.choice([0, 0, 0, 1])
            digest = f"net{rng.randrange(max(1, number))}" if rng.random() < 0.3 else None
            study[number] = run(number, 0, 0, digest=digest, rung=rung, state=TrialState.RUNNING)
        trials = sorted(study.values(), key=lambda t: t.number)
        kept_due = [t.number for t in due_promotions(trials, 3, 3, index=kept)]
        assert kept_due == [t.number for t in due_promotions(trials, 3, 3)], f"step {step}"
        seen_due += bool(kept_due)
    assert seen_due > 100
