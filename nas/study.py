"""The Optuna side: storage, sampler, objective wiring and resume semantics.

A study maximises accuracy and minimises FLOPs and parameters. ``budget`` is the number of
finished trials the study must hold, so running the same search again tops it up.
"""

from __future__ import annotations

import platform
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import sqlalchemy
import torch
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

import nas
from nas.arch import ArchSpec
from nas.cost import count_cost
from nas.data import Dataset, check_dataset_name, load_dataset
from nas.proxy import ProxyConfig, resolve_device, train_and_evaluate
from search_spaces import SpaceContext, get_space

DEFAULT_STORAGE = "sqlite:///studies/nas.db"
METRICS = ["accuracy", "flops", "params"]
DIRECTIONS = ["maximize", "minimize", "minimize"]
SAMPLERS = ("tpe", "nsga2", "random")
# Settings a study is created with; rerunning it with different ones would mix incomparable trials.
STUDY_KEYS = ("dataset", "space", "epochs")


@dataclass
class SearchConfig:
    budget: int = 200  # finished trials the study must hold
    dataset: str = "digits"  # digits | mnist | fashion-mnist | cifar10 | cifar100 | svhn | folder:PATH
    space: str = "mixed"  # see search_spaces.SPACES
    epochs: int = ProxyConfig.epochs  # proxy training epochs per trial
    storage: str = DEFAULT_STORAGE  # any SQLAlchemy URL
    study_name: str | None = None  # default: "<dataset>-<space>"
    sampler: str = "tpe"
    seed: int = 0  # fixes sampling and every trial's training
    device: str = "auto"
    data_dir: str = "studies/data"
    download: bool = True
    command: list[str] = field(default_factory=list)  # recorded in the study for the record

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError(f"budget must be a positive number of trials, got {self.budget}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {list(SAMPLERS)}")
        check_dataset_name(self.dataset)
        get_space(self.space)
        resolve_device(self.device)
        if self.study_name is None:
            data = self.dataset.rstrip("/").replace("folder:", "folder-").replace("/", "-")
            self.study_name = f"{data}-{self.space}"


def library_versions() -> dict[str, str]:
    return {
        "nas": nas.__version__,
        "torch": torch.__version__,
        "optuna": optuna.__version__,
        "python": platform.python_version(),
    }


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # multivariate/group TPE is "experimental" in name only
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            # group=True: the space is conditional (options depend on the block family).
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=20)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        return optuna.samplers.RandomSampler(seed=seed)


def prepare_storage(url: str) -> str:
    """Create the folder of a SQLite file; refuse a file that is not a database."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ValueError(f"malformed storage URL {url!r} (expected e.g. sqlite:///studies/nas.db)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size and path.read_bytes()[:16] != b"SQLite format 3\x00":
            raise ValueError(f"{path} exists and is not a SQLite database; refusing to touch it")
    return url


def open_study(config: SearchConfig) -> optuna.Study:
    """Create the study or load it to resume; refuse one created for other objectives or settings."""
    try:
        study = optuna.create_study(
            storage=prepare_storage(config.storage),
            study_name=config.study_name,
            directions=DIRECTIONS,
            sampler=make_sampler(config.sampler, config.seed),
            load_if_exists=True,
        )
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ModuleNotFoundError) as exc:
        raise ValueError(f"cannot open storage {config.storage!r}: {str(exc).splitlines()[0]}") from None
    if [d.name.lower() for d in study.directions] != DIRECTIONS:
        raise ValueError(
            f"study {config.study_name!r} in {config.storage} has other objectives "
            f"({[d.name.lower() for d in study.directions]}); pick another --study-name"
        )
    wanted = {k: getattr(config, k) for k in STUDY_KEYS}
    stored = {k: study.user_attrs.get(k) for k in STUDY_KEYS}
    if study.user_attrs.get("dataset") is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(METRICS)
        for key, value in {**wanted, "sampler": config.sampler, "seed": config.seed}.items():
            study.set_user_attr(key, value)
        study.set_user_attr("command", " ".join(config.command))
    elif stored != wanted:
        raise ValueError(
            f"study {config.study_name!r} was created with {stored}, not {wanted}; "
            "rerun with those settings or pick another --study-name"
        )
    return study


def load_existing_study(storage: str, study_name: str | None) -> optuna.Study:
    """Load a study that must exist; a storage holding a single study needs no name."""
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///") :]).is_file():
        raise ValueError(f"no study database at {storage}: run python -m nas.search first")
    try:
        names = optuna.get_all_study_names(storage=prepare_storage(storage))
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:
        raise ValueError(f"cannot open storage {storage!r}: {str(exc).splitlines()[0]}") from None
    if study_name is None:
        if len(names) != 1:
            raise ValueError(f"{storage} holds {len(names)} studies {names}: pass --study-name")
        study_name = names[0]
    if study_name not in names:
        raise ValueError(f"no study {study_name!r} in {storage}; studies there: {names}")
    return optuna.load_study(study_name=study_name, storage=storage)


def finished(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


class Objective:
    """Sample an ArchSpec, cost it, train it by proxy; return (accuracy, flops, params)."""

    def __init__(self, config: SearchConfig, data: Dataset, device: torch.device) -> None:
        self.config = config
        self.data = data
        self.device = device
        self.sample = get_space(config.space)
        self.ctx = SpaceContext(data.in_chs, data.num_classes, data.resolutions)
        self.proxy = ProxyConfig(epochs=config.epochs)
        self.versions = library_versions()

    def __call__(self, trial: optuna.Trial) -> tuple[float, int, int]:
        spec: ArchSpec = self.sample(trial, self.ctx)
        cost = count_cost(spec)
        seed = self.config.seed * 1_000_003 + trial.number
        for key, value in {
            "arch": spec.to_string(),
            "arch_json": spec.to_json(),
            "digest": spec.digest(),
            "flops": cost.flops,
            "params": cost.params,
            "dataset": self.config.dataset,
            "epochs": self.config.epochs,
            "device": str(self.device),
            "seed": seed,
            "versions": self.versions,
        }.items():
            trial.set_user_attr(key, value)
        try:
            result = train_and_evaluate(spec, self.data, self.proxy, device=self.device, seed=seed)
        except Exception as exc:  # recorded with the failed trial, then re-raised
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}"[:500])
            raise
        trial.set_user_attr("train_seconds", round(result.train_seconds, 3))
        trial.set_user_attr("eval_seconds", round(result.eval_seconds, 3))
        return result.accuracy, cost.flops, cost.params


def run_search(
    config: SearchConfig,
    on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    on_start: Callable[[optuna.Study, int], None] | None = None,
) -> optuna.Study:
    """Top the study up to ``config.budget`` finished trials. Failed trials are kept as FAIL
    with their reason and do not count; 5 failures in a row stop the search."""
    device = resolve_device(config.device)
    study = open_study(config)
    if on_start is not None:
        on_start(study, len(finished(study)))
    if len(finished(study)) >= config.budget:
        return study
    data = load_dataset(config.dataset, config.data_dir, config.download).to(device)
    if "mean" not in study.user_attrs:  # what exported models must normalise their inputs with
        study.set_user_attr("mean", list(data.mean))
        study.set_user_attr("std", list(data.std))
    torch.manual_seed(config.seed)

    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(study, trial)
        recent = study.get_trials(deepcopy=False)[-5:]
        if len(recent) == 5 and all(t.state == TrialState.FAIL for t in recent):
            study.stop()
            raise RuntimeError(f"5 trials failed in a row; last reason: {recent[-1].user_attrs.get('fail_reason')}")

    study.optimize(
        Objective(config, data, device),
        callbacks=[MaxTrialsCallback(config.budget, states=(TrialState.COMPLETE,)), callback],
        catch=(Exception,),
        gc_after_trial=False,
    )
    return study
