"""What a trial of a study records, and the questions every module asks of it, answered once.

Each trial is one run of one network. User attrs: ``digest`` (the network), ``rung`` (index of
its proxy epochs; absent: 0), ``replicate`` (0: the first run at that rung; 1.. re-scoring runs),
``promoted_from`` (the trial a promotion or re-scoring run was copied from), ``duplicate_of``
(a network sampled again: its earlier result reused, nothing trained). A trial without ``rung``
is rung 0, replicate 0 (single-fidelity studies, and studies made before multi-fidelity).
"""

from __future__ import annotations

from collections.abc import Iterable

from optuna.trial import FrozenTrial, TrialState

DIGEST_ATTR = "digest"
RUNG_ATTR = "rung"
REPLICATE_ATTR = "replicate"
PROMOTED_FROM_ATTR = "promoted_from"
DUPLICATE_ATTR = "duplicate_of"
TRAIN_SECONDS_ATTR = "train_seconds"  # the run's measured training time

LIVE = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)  # a run that is done or will be
RunKey = tuple[str | None, int, int]  # (network, rung, replicate): one training run


def is_feasible(trial: FrozenTrial) -> bool:
    """A trial with Optuna constraints is feasible when every constraint value is <= 0."""
    return all(c <= 0 for c in trial.constraints.values())


def rung_of(trial: FrozenTrial) -> int:
    return int(trial.user_attrs.get(RUNG_ATTR, 0))


def replicate_of(trial: FrozenTrial) -> int:
    return int(trial.user_attrs.get(REPLICATE_ATTR, 0))


def run_key(trial: FrozenTrial) -> RunKey:
    return trial.user_attrs.get(DIGEST_ATTR), rung_of(trial), replicate_of(trial)


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """A new network's first evaluation: what ``--budget`` counts (not promotions, not re-scoring)."""
    return rung_of(trial) == 0 and replicate_of(trial) == 0


def is_trained_run(trial: FrozenTrial) -> bool:
    """A run whose accuracy is a measurement that counts: finished, feasible, and trained (not an
    earlier result reused for a network sampled again)."""
    return trial.state == TrialState.COMPLETE and DUPLICATE_ATTR not in trial.user_attrs and is_feasible(trial)


def budget_runs(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that count toward the budget: new networks' first runs, complete and feasible
    (duplicates count: the sampler spent a trial on them; promotions and re-scoring come on top)."""
    return [t for t in trials if t.state == TrialState.COMPLETE and counts_toward_budget(t) and is_feasible(t)]
