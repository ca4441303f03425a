"""The Optuna API we use that is private or marked experimental, in one place.

Batched trial writes (``nas.rdb_storage``), the cache that re-reads changed trials only
(``nas.trial_cache``), the sampler's one-read snapshot (``nas.sampler``) and
the promotions' non-dominated sort (``nas.pareto``) reach into Optuna's internals. Everything they
touch is named here, and ``check()`` (run by the test suite) fails loudly, naming the Optuna
version, when an upgrade moves any of it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import optuna
from optuna.samplers._tpe import sampler as tpe_module
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._rdb import models as rdb_models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.study import _multi_objective

# Optuna's non-dominated sort (NSGA-II and TPE use it): (points, n_below=None) -> ranks.
non_domination_rank = getattr(_multi_objective, "_fast_non_domination_rank", None)

# TPE's module functions nas.sampler calls to split the trials into its "good" and "bad" ones, once
# per sample (Optuna's ``_sample`` splits once per parameter group): its split of the complete
# (feasible, finished) trials (nas.tpe_kept runs it on the leading fronts only), of the pruned and of
# the infeasible ones, its infeasibility score, and its default gammas.
TPE_FUNCTIONS = ("_split_complete_trials", "_split_pruned_trials", "_split_infeasible_trials",
                 "_get_infeasible_trial_score", "default_gamma", "default_gamma_multiobjective")  # fmt: skip
# TPE's tie-break on the last front it needs, and the reference point it uses: nas.tpe_kept calls them.
solve_hssp = getattr(tpe_module, "_solve_hssp", None)  # (points, labels, size, reference) -> chosen labels
reference_point = getattr(tpe_module, "_get_reference_point", None)  # (points) -> reference point
# TPESampler methods and attributes that nas.sampler overrides or calls (``_sample``: with the split once per sample).
TPE_METHODS = ("_get_internal_repr", "_get_params", "_sample", "_build_parzen_estimator", "_compute_acquisition_func",
               "_compare")  # fmt: skip

__all__ = [
    "TPE_FUNCTIONS", "check", "non_domination_rank", "quiet_experimental", "rdb_models",
    "reference_point", "scoped_session", "solve_hssp", "tpe_module", "trial_id", "trial_storage",
]  # fmt: skip

# RDBStorage methods that ``nas.rdb_storage.BatchingRDBStorage`` and ``nas.trial_cache`` override or call.
RDB_METHODS = ("_set_trial_param", "_set_trial_attr_without_commit", "check_trial_is_updatable", "_get_trials")
RDB_MODELS = ("TrialModel", "TrialParamModel", "TrialUserAttributeModel", "TrialSystemAttributeModel",
              "TrialIntermediateValueModel")  # fmt: skip
# _CachedStorage methods that ``nas.trial_cache`` overrides or calls.
CACHE_METHODS = ("_read_trials_from_remote_storage", "_add_trials_to_cache")


@contextlib.contextmanager
def quiet_experimental() -> Iterator[None]:
    """Silence ``ExperimentalWarning`` for features that are experimental in name only
    (multivariate TPE, heartbeats, metric names, hypervolume plots)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def scoped_session(storage: RDBStorage, ignore_integrity_error: bool = False) -> contextlib.AbstractContextManager:
    """A session that commits at the end of the block, or rolls back and raises on an error."""
    return _create_scoped_session(storage.scoped_session, ignore_integrity_error)


def trial_storage(trial: optuna.Trial) -> BaseStorage:
    """The storage a live trial writes to, with Optuna's cache layer unwrapped."""
    storage = trial.study._storage
    return getattr(storage, "_backend", storage)


def trial_id(trial: optuna.Trial) -> int:
    """The trial's id in the storage (not its number within the study)."""
    return trial._trial_id


def check() -> None:
    """Raise RuntimeError naming what is missing, if this Optuna lacks an internal we rely on."""
    missing = [f"RDBStorage.{m}" for m in RDB_METHODS if not callable(getattr(RDBStorage, m, None))]
    missing += [f"optuna.storages._rdb.models.{m}" for m in RDB_MODELS if not hasattr(rdb_models, m)]
    cache = optuna.storages._CachedStorage
    missing += [f"_CachedStorage.{m}" for m in CACHE_METHODS if not callable(getattr(cache, m, None))]
    missing += [] if callable(getattr(optuna.Study, "_get_trials", None)) else ["Study._get_trials"]
    missing += [] if callable(non_domination_rank) else ["study._multi_objective._fast_non_domination_rank"]
    tpe_functions = (*TPE_FUNCTIONS, "_solve_hssp", "_get_reference_point")
    missing += [f"samplers._tpe.sampler.{f}" for f in tpe_functions if not callable(getattr(tpe_module, f, None))]
    missing += [f"TPESampler.{m}" for m in TPE_METHODS if not callable(getattr(optuna.samplers.TPESampler, m, None))]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        trial = optuna.create_study(storage=optuna.storages.InMemoryStorage()).ask()
    finally:
        optuna.logging.set_verbosity(verbosity)
    tpe = optuna.samplers.TPESampler()
    probes: dict[str, Any] = {
        "Trial._trial_id": lambda: isinstance(trial_id(trial), int),
        "TPESampler._group_decomposed_search_space": lambda: callable(
            optuna.samplers.TPESampler(multivariate=True, group=True)._group_decomposed_search_space.calculate
        ),
        "TPESampler._gamma, _n_ei_candidates, _rng.rng and _constant_liar": lambda: (
            all(hasattr(tpe, a) for a in ("_gamma", "_n_ei_candidates", "_constant_liar")) and hasattr(tpe._rng, "rng")
        ),
        "Trial.study._storage": lambda: isinstance(trial_storage(trial), BaseStorage),
        "_CachedStorage._backend": lambda: isinstance(
            getattr(cache(RDBStorage("sqlite://")), "_backend", None), RDBStorage
        ),
        "_CachedStorage._studies and _trial_id_to_study_id_and_number": lambda: all(
            isinstance(getattr(cache(RDBStorage("sqlite://")), a, None), dict)
            for a in ("_studies", "_trial_id_to_study_id_and_number")
        ),
        "_StudyInfo.unfinished_trial_ids and last_finished_trial_id": lambda: (
            isinstance(optuna.storages._cached_storage._StudyInfo().unfinished_trial_ids, set)
            and optuna.storages._cached_storage._StudyInfo().last_finished_trial_id == -1
        ),
    }
    for name, probe in probes.items():
        try:
            ok = probe()
        except (AttributeError, TypeError):
            ok = False
        if not ok:
            missing.append(name)
    if missing:
        raise RuntimeError(
            f"optuna {optuna.__version__} lacks internals lightweight NAS relies on: {', '.join(missing)}; "
            "pin the Optuna version in pyproject.toml or update nas/optuna_compat.py"
        )
