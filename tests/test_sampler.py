"""nas.sampler: the samplers a search can use."""

from __future__ import annotations

import optuna
import pytest

from search_spaces import SpaceContext


def test_tpe_reading_trials_once_samples_what_optuna_tpe_samples() -> None:
    """nas's TPE reads the trials once per trial instead of once per parameter group, and each
    finished trial's parameter names once for the search-space groups, and each finished trial's
    infeasibility once; on the same history (trials finishing out of order, pruned, still running,
    infeasible) it must propose exactly what Optuna's TPE proposes."""
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
            if i % 5 == 1:  # finishes after the next one
                waiting.append((trial, spec, i))
                continue
            for t, s, k in [(trial, spec, i), *waiting]:
                values = [(k * 7919 % 97) / 97, len(s.stages), s.stem.out_chs]
                t.set_constraint("flops_over_limit", float(k % 4) - 2.0)  # some infeasible, by how much
                study.tell(t, state=optuna.trial.TrialState.PRUNED) if k % 7 == 3 else study.tell(t, values)
            waiting.clear()
        proposals.append(specs)
    assert proposals[0] == proposals[1]
    assert len(set(proposals[0][10:])) > 1  # TPE (not the random start-up) proposed these


def test_each_sampler_by_name_and_a_seed_per_worker_and_resume() -> None:
    from nas.sampler import SAMPLERS, make_sampler, sampler_seed

    kinds = {name: type(make_sampler(name, 0)).__name__ for name in SAMPLERS}
    assert kinds == {"tpe": kinds["tpe"], "nsga2": "NSGAIISampler", "random": "RandomSampler"}
    seeds = {sampler_seed(0, worker, before) for worker in range(4) for before in (0, 10)}
    assert len(seeds) == 8  # no two workers, and no resumed run, draw the same architectures
    with pytest.raises(ValueError):
        make_sampler("grid", 0)
