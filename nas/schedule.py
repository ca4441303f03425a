"""The multi-fidelity schedule of a multi-objective study: rungs of proxy epochs, asynchronous
successive halving by non-dominated sorting (MO-ASHA), and re-scoring the front with more seeds.

Optuna cannot prune a multi-objective trial, so every evaluation is a trial of its own: a new
network is sampled and trained at rung 0 (the fewest epochs); a network in the top 1/eta of its
rung, by non-dominated sorting of (accuracy, the study's costs) with crowding distance to break
ties, is promoted by enqueuing a trial with the same parameters at the next rung, trained from
scratch with the next rung's epochs. When the budget of new networks is met, the top-rung front
is re-scored with further seeds where they can change it (``nas.racing``).

Everything is decided from the study's trials alone, so any worker (or a resumed run) decides
the same; a run decided twice by racing workers is trained once (``done_by_another``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.optuna_compat import quiet_experimental
from nas.pareto import GrowingRanks, minimised, top_fraction
from nas.racing import DEFAULT_SHARE, due_rescoring
from nas.storage import study_lock
from nas.trials import (
    DIGEST_ATTR,
    LIVE,
    PROMOTED_FROM_ATTR,
    REPLICATE_ATTR,
    RUNG_ATTR,
    TRAIN_SECONDS_ATTR,
    RunKey,
    is_trained_run,
    replicate_of,
    run_key,
    rung_of,
)

DEFAULT_ETA = 3
# Re-scoring runs are queued this many at a time: Optuna re-reads every unfinished trial on every
# read of the study, so a round of hundreds queued at once made each trial's reads cost 0.3 s
# (bench/scale.py). The next ones are decided when these are done: same order, fresher evidence.
QUEUE_LIMIT = 32


def rung_epochs(top: int, min_epochs: int, eta: int) -> tuple[int, ...]:
    """Epochs of each rung, fewest first: ``top``, ``top / eta``, ... down to ``min_epochs``.
    ``min_epochs == top`` is a single rung: today's single-fidelity search."""
    if not 1 <= min_epochs <= top:
        raise ValueError(f"--min-epochs must be between 1 and --epochs ({top}), got {min_epochs}")
    if eta < 2:
        raise ValueError(f"--eta must be at least 2, got {eta}")
    rungs = [top]
    while (below := round(rungs[0] / eta)) >= min_epochs and below < rungs[0]:
        rungs.insert(0, below)
    return tuple(rungs)


@dataclass
class _Rung:
    """One rung's first trained run (replicate 0) of each network, and their non-dominated ranks
    grown run by run (rows in the order the runs were read)."""

    first: dict[str, FrozenTrial] = field(default_factory=dict)  # by digest
    runs: list[FrozenTrial] = field(default_factory=list)  # the ranked ones, a row each
    numbers: list[int] = field(default_factory=list)  # their trial numbers
    ranks: GrowingRanks = field(default_factory=GrowingRanks)
    replaced: bool = False  # a network's first run turned out to be an earlier trial: rank afresh

    def read(self, run: FrozenTrial) -> None:
        earlier = self.first.get(digest := run.user_attrs[DIGEST_ATTR])
        if earlier is None or run.number < earlier.number:
            self.first[digest] = run
            self.replaced |= earlier is not None

    def top(self, eta: int) -> list[FrozenTrial]:
        """The first runs in the top 1/eta (``nas.pareto.top_fraction``), earliest first on ties."""
        if self.replaced:  # a point leaves: ranks can fall, which growing cannot follow
            self.runs, self.numbers, self.ranks, self.replaced = [], [], GrowingRanks(), False
        for run in list(self.first.values())[len(self.runs) :]:  # insertion order: the new ones last
            self.ranks.add(run.number, np.asarray(minimised(run.values, log_costs=True)))
            self.runs.append(run)
            self.numbers.append(run.number)
        order = np.argsort(self.numbers)
        picked = top_fraction(self.ranks.points[order], eta, self.ranks.ranks[order])
        return [self.runs[i] for i in order[picked]]


@dataclass
class RunIndex:
    """What promotions are decided from, each finished trial read once: the runs done, and each
    rung's first runs with their ranks. Reading every trial's attrs at every decision cost 0.1 s
    per trial at 7,000 trials (bench/scale.py). Built from the trials alone: a fresh index (another
    worker, a resume) decides the same."""

    done: set[RunKey] = field(default_factory=set)  # run keys of the COMPLETE trials
    rungs: dict[int, _Rung] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)  # numbers of the finished trials read
    settled: int = 0  # trials 0 .. settled - 1 are finished and read: not looked at again

    def live(self, trials: Sequence[FrozenTrial]) -> set[RunKey]:
        """Read the newly finished trials; the run keys of every run done, running or queued.
        ``trials``: the study's, in order of number (as Optuna gives them)."""
        if not (0 < self.settled <= len(trials) and trials[self.settled - 1].number == self.settled - 1):
            self.settled = 0  # not the trials last read, in order: look at them all
        pending = set()
        for t in trials[self.settled :]:
            if not t.state.is_finished():
                pending.add(run_key(t))  # RUNNING or WAITING
                continue
            self.settled += t.number == self.settled
            if t.number not in self.seen:
                self.seen.add(t.number)
                if t.state == TrialState.COMPLETE:
                    self.done.add(run_key(t))
                if replicate_of(t) == 0 and is_trained_run(t):
                    self.rungs.setdefault(rung_of(t), _Rung()).read(t)
        return self.done | pending

    def top(self, rung: int, eta: int) -> list[FrozenTrial]:
        return self.rungs[rung].top(eta) if rung in self.rungs else []


def due_promotions(
    trials: Sequence[FrozenTrial],
    n_rungs: int,
    eta: int,
    rungs: Iterable[int] | None = None,
    index: RunIndex | None = None,
) -> list[FrozenTrial]:
    """Runs to promote now, one rung up: each network in the top 1/eta of a rung that has no live
    trial at the next rung (a promotion whose trial failed, e.g. a killed worker's, is due again).
    ``rungs``: only the promotions from these rungs (default: every rung below the top).
    ``index``: the trials read by the last call, updated with the newly finished ones only."""
    index = RunIndex() if index is None else index
    live = index.live(trials)
    due = []
    for rung in range(n_rungs - 1) if rungs is None else sorted(set(rungs) & set(range(n_rungs - 1))):
        due += [run for run in index.top(rung, eta) if (run.user_attrs[DIGEST_ATTR], rung + 1, 0) not in live]
    return due


def promotion_attrs(run: FrozenTrial, rung: int, replicate: int = 0) -> dict:
    # The digest from the start: a queued or just-started copy is then seen by a racing worker
    # before the copy writes its own attrs (see done_by_another).
    return {
        RUNG_ATTR: rung, REPLICATE_ATTR: replicate, PROMOTED_FROM_ATTR: run.number,
        DIGEST_ATTR: run.user_attrs.get(DIGEST_ATTR),
    }  # fmt: skip


def done_by_another(trials: Iterable[FrozenTrial], trial_number: int, key: RunKey) -> FrozenTrial | None:
    """Another trial that ran this very run, or one queued before this one that is running or
    will run: this one then trains nothing, so a run decided twice by racing workers (two trials,
    the earlier one created first) is trained once."""
    for t in trials:
        ran = t.state == TrialState.COMPLETE or (
            t.state in (TrialState.RUNNING, TrialState.WAITING) and t.number < trial_number
        )
        if ran and t.number != trial_number and run_key(t) == key:
            return t
    return None


def enqueue_once(study: optuna.Study, runs: Sequence[tuple[FrozenTrial, int, int]], worker: int = 0) -> int:
    """Queue a copy of each run at (rung, replicate) that is not queued, running or done yet; how
    many. Workers that read the study at the same moment decide the same runs, so the look and the
    queuing happen under the study's lock (``nas.storage.study_lock``): each run is queued once.
    Without a lock (the gRPC proxy) worker k starts at the k-th run, so that workers do not walk the
    same list in step, and a copy that slips through is pruned untrained (``done_by_another``)."""
    if not runs:
        return 0
    queued, start = 0, worker % len(runs)
    with study_lock(study):
        live = {run_key(t) for t in study.get_trials(deepcopy=False, states=LIVE)}
        for run, rung, replicate in [*runs[start:], *runs[:start]]:
            if (key := (run.user_attrs.get(DIGEST_ATTR), rung, replicate)) not in live:
                study.enqueue_trial(run.params, user_attrs=promotion_attrs(run, rung, replicate))
                live.add(key)
                queued += 1
    return queued


@dataclass(frozen=True)
class Schedule:
    """What the search loop asks of the schedule: enqueue what is due, and settle at the end."""

    rungs: tuple[int, ...]  # proxy epochs per rung, fewest first
    eta: int
    refine: int  # at most this many more seeds per network when re-scoring the top-rung front
    refine_share: float = DEFAULT_SHARE  # re-scoring budget: this share of the search's training time
    val_size: int | None = None  # validation images: the accuracy intervals' binomial part
    worker: int = 0  # this worker's index: where it starts in a list of runs to queue
    # The trials read for promotions, and each rung's non-dominated ranks grown run by run: the
    # decisions a fresh read and a full sort give, at a cost per run that does not grow with the study.
    index: RunIndex = field(default_factory=RunIndex, compare=False, repr=False)

    def enqueue_promotions(
        self, study: optuna.Study, trials: Sequence[FrozenTrial] | None = None, after: FrozenTrial | None = None
    ) -> int:
        """Queue the promotions due now (``trials``: the study as just read, if the caller has it);
        how many. ``after``: a trial that just finished: only the rungs it can change are sorted
        (its own; the one below, for a promotion that failed); default every rung."""
        if len(self.rungs) < 2:
            return 0
        rungs = None if after is None else (rung_of(after), rung_of(after) - 1)
        trials = study.get_trials(deepcopy=False) if trials is None else trials
        due = due_promotions(trials, len(self.rungs), self.eta, rungs, self.index)
        return enqueue_once(study, [(run, rung_of(run) + 1, 0) for run in due], self.worker)

    def enqueue_refinements(self, study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> int:
        """Queue the next re-scoring runs (``nas.racing``), at most ``QUEUE_LIMIT``; how many.
        ``trials``: the study as just read, if the caller has it."""
        top = len(self.rungs) - 1
        trials = study.get_trials(deepcopy=False) if trials is None else trials
        due = due_rescoring(trials, self.rungs, self.refine, self.refine_share, self.val_size)[:QUEUE_LIMIT]
        return enqueue_once(study, [(run, top, replicate) for run, replicate in due], self.worker)

    def settle(self, study: optuna.Study, run_one: Callable[[], FrozenTrial], poll: float = 1.0) -> None:
        """Once the budget of new networks is met: run the promotions still due, then re-score the
        top-rung front, round by round, once no search run or promotion is in flight. ``run_one``
        runs one queued trial and returns it. Every worker stays while another's run may make more
        due, so all of them share the re-scoring (workers that left at once made it serial on the
        last one: bench/scale.py), and a dead worker's run is re-run once its heartbeat is stale.
        A worker leaves when nothing runs and nothing is due, or when nothing has finished for
        ``idle_limit`` (a worker killed behind the gRPC proxy, which has no heartbeat, leaves its
        run RUNNING for good)."""
        seen_failures, seen_finished, idle_since = -1, -1, time.monotonic()
        while True:
            with quiet_experimental():
                optuna.storages.fail_stale_trials(study)  # a dead worker's trial is failed (and re-queued)
            trials = study.get_trials(deepcopy=False)
            failures = sum(t.state == TrialState.FAIL for t in trials)
            # Every rung on the first look and after a failure (a dead worker's promotion is due
            # again); otherwise the loop's callback has queued what the last run made due.
            queued = self.enqueue_promotions(study, trials) if failures != seen_failures else 0
            seen_failures = failures
            running = [t for t in trials if t.state == TrialState.RUNNING]
            if queued or any(t.state == TrialState.WAITING for t in trials):
                last = run_one()
                if last.state == TrialState.PRUNED and PROMOTED_FROM_ATTR not in last.user_attrs:
                    time.sleep(poll)  # another worker took the queued trial first
                continue
            if not any(replicate_of(t) == 0 for t in running) and self.enqueue_refinements(study, trials):
                continue
            if not running:
                # Settled, unless another worker queued what was due since this worker's read (it
                # then queued nothing itself): look again before leaving, or the others' rounds
                # ran on few workers (bench/scale.py, 5,000 networks: 14 of 16 left during the race).
                if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
                    return
                continue
            if (finished := len(trials) - len(running)) != seen_finished:
                seen_finished, idle_since = finished, time.monotonic()
            elif time.monotonic() - idle_since > idle_limit(trials):
                return
            time.sleep(poll)  # another worker's run may make more due


def idle_limit(trials: Sequence[FrozenTrial]) -> float:
    """How long a settling worker waits for others' runs when nothing finishes: 10 minutes, or
    three times the longest run so far."""
    return max(600.0, 3 * max((float(t.user_attrs.get(TRAIN_SECONDS_ATTR, 0)) for t in trials), default=0.0))
