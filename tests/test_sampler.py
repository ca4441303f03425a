"""nas.sampler: the samplers a search can use."""

from __future__ import annotations

import optuna
import pytest

from search_spaces import SpaceContext


@pytest.mark.parametrize("violated", [2.0, 0.0])  # a quarter of the trials infeasible, or three quarters
def test_tpe_reading_trials_once_samples_what_optuna_tpe_samples(violated: float) -> None:
    """nas's TPE reads the trials once per trial instead of once per parameter group, splits them
    once per sample, and reads each finished trial's parameter names, parameters and kind once; on
    the same history (trials finishing out of order, pruned, several still running, infeasible,
    few feasible ones) it must propose exactly what Optuna's TPE proposes."""
    from nas.sampler import make_sampler
    from search_spaces import get_space

    ctx, sample = SpaceContext(1, 10, (8, 12, 16)), get_space("mixed")
    proposals = []
    for sampler in (
        make_sampler("tpe", seed=5),
        optuna.samplers.TPESampler(seed=5, multivariate=True, group=True, n_startup_trials=10, constant_liar=True),
    ):
        study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=sampler)
        specs, waiting = [], []
        for i in range(40):
            trial = study.ask()
            spec = sample(trial, ctx)
            specs.append(spec.to_string())
            if i % 5 in (1, 2, 3):  # running while the next ones are sampled
                waiting.append((trial, spec, i))
                continue
            for t, s, k in [(trial, spec, i), *waiting]:
                values = [(k * 7919 % 97) / 97, len(s.stages), s.stem.out_chs]
                t.set_constraint("flops_over_limit", float(k % 4) - violated)  # some infeasible, by how much
                study.tell(t, state=optuna.trial.TrialState.PRUNED) if k % 7 == 3 else study.tell(t, values)
            waiting.clear()
        proposals.append(specs)
    assert proposals[0] == proposals[1]
    assert len(set(proposals[0][10:])) > 1  # TPE (not the random start-up) proposed these


def test_the_split_once_per_sample_is_optunas_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each sample's split of the trials into TPE's "good" and "bad" ones, worked out once from
    each trial's kind kept since it finished, equals Optuna's split of the same trials: many running
    (constant liar), finishing in any order, pruned, mostly infeasible (few feasible: the infeasible
    ones reach the "good" side), equal points."""
    import random

    from nas import sampler as nas_sampler
    from nas.optuna_compat import tpe_module
    from search_spaces import get_space

    own, sizes = nas_sampler._TPESampler._split_once, []

    def compared(self, study, trial):  # noqa: ANN001, ANN202
        fresh, split = self._split is None, own(self, study, trial)
        if fresh:
            states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
            trials = [t for t in study._get_trials(deepcopy=False, states=states) if t.number != trial.number]
            n = sum(t.state != optuna.trial.TrialState.RUNNING for t in trials)
            below, above = tpe_module._split_trials(study, trials, tpe_module.default_gamma_multiobjective(n))
            assert [t.number for t in split.below] == [t.number for t in below]
            assert [t.number for t in split.above] == [t.number for t in above]
            sizes.append(len(below))
        return split

    monkeypatch.setattr(nas_sampler._TPESampler, "_split_once", compared)
    ctx, sample, rng = SpaceContext(1, 10, (8, 12, 16)), get_space("mixed"), random.Random(4)
    study = optuna.create_study(
        directions=["maximize", "minimize", "minimize"], sampler=nas_sampler.make_sampler("tpe", 1)
    )
    running = []
    for _ in range(120):
        trial = study.ask()
        sample(trial, ctx)
        running.append(trial)
        while len(running) > rng.randint(0, 6):
            t = running.pop(rng.randrange(len(running)))
            t.set_constraint("flops_over_limit", rng.choice([0.5, 2.0, 2.0]) if rng.random() < 0.9 else -1.0)
            values = [rng.randint(0, 4) / 4, rng.randint(1, 4), rng.random()]
            study.tell(t, state=optuna.trial.TrialState.PRUNED) if rng.random() < 0.15 else study.tell(t, values)
    assert len(sizes) > 100 and max(sizes) >= 8


def test_each_sampler_by_name_and_a_seed_per_worker_and_resume() -> None:
    from nas.sampler import SAMPLERS, make_sampler, sampler_seed

    kinds = {name: type(make_sampler(name, 0)).__name__ for name in SAMPLERS}
    assert kinds == {"tpe": kinds["tpe"], "nsga2": "NSGAIISampler", "random": "RandomSampler"}
    seeds = {sampler_seed(0, worker, before) for worker in range(4) for before in (0, 10)}
    assert len(seeds) == 8  # no two workers, and no resumed run, draw the same architectures
    with pytest.raises(ValueError):
        make_sampler("grid", 0)


@pytest.mark.parametrize("points", ["grid", "continuous"])
def test_leading_fronts_split_the_complete_trials_as_a_sort_of_every_trial_does(points: str) -> None:
    """TPE's split of the complete trials worked out on the leading fronts only must give Optuna's
    split on all of them (fronts, ties of equal points, the hypervolume tie-break), as trials
    arrive out of order and the number of "good" ones grows, jumps or shrinks."""
    import math

    import numpy as np

    from nas.optuna_compat import tpe_module
    from nas.tpe_kept import LeadingFronts

    split = tpe_module._split_complete_trials
    rng = np.random.default_rng(2)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    for k in range(450 if points == "grid" else 300):
        a, b = rng.integers(0, 15), rng.integers(0, 15)  # a grid makes equal points, some on a line
        values = (
            rng.random(3)
            if points == "continuous"
            else [a, b + rng.integers(0, 4), rng.random()]
            if k % 3
            else [a / 2, b / 2, (a + b) / 2]
        )
        study.add_trial(optuna.trial.create_trial(values=[float(v) for v in values]))
    pending, visible = list(study.get_trials(deepcopy=False)), []
    rng.shuffle(pending)
    fronts, sorts, late = LeadingFronts(), [], []

    def recording(trials, study, n_below):  # noqa: ANN001, ANN202
        sorts.append(len(trials))
        return split(trials, study, n_below)

    for step in range(1, len(pending)):
        visible = sorted([*visible, pending[step - 1]], key=lambda t: t.number)
        n_below = math.ceil(0.1 * len(visible)) + (int(rng.integers(0, 40)) if step % 3 == 0 else 0)
        n_below = n_below if step % 11 else int(rng.integers(1, len(visible) + 1))
        sorted_before = len(sorts)
        got = fronts.split(recording, visible, study, n_below)
        want = split(visible, study, n_below)
        assert [t.number for t in got[0]] == [t.number for t in want[0]], step
        assert [t.number for t in got[1]] == [t.number for t in want[1]], step
        if step > 100 and step % 11 and step % 3:
            late.append(len(sorts) > sorted_before)
    assert sum(late) < 0.1 * len(late)  # past the first trials, with a tenth good: no sort of every trial
