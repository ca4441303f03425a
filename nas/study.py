"""The Optuna side: storage, sampler, objective wiring and resume semantics.

A study maximises accuracy and minimises FLOPs and parameters. ``budget`` is the number of
finished trials the study must hold, so running the same search again tops it up.
"""

from __future__ import annotations

import platform
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import optuna_dashboard
import sqlalchemy
import torch
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState

import nas
from nas.arch import ArchSpec
from nas.codegen import trial_module_source
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
    artifact_dir: str | None = None  # default: "artifacts" beside a SQLite file, else studies/artifacts
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
        if self.artifact_dir is None:
            self.artifact_dir = str(default_artifact_dir(self.storage))
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


def default_artifact_dir(storage: str) -> Path:
    """Where trial artifacts go: beside the SQLite file, or studies/artifacts for a server."""
    try:
        parsed = sqlalchemy.engine.make_url(storage)
    except sqlalchemy.exc.ArgumentError:
        return Path("studies/artifacts")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database).parent / "artifacts"
    return Path("studies/artifacts")


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
        optuna_dashboard.save_note(study, study_note(config))
    elif stored != wanted:
        raise ValueError(
            f"study {config.study_name!r} was created with {stored}, not {wanted}; "
            "rerun with those settings or pick another --study-name"
        )
    return study


def study_note(config: SearchConfig) -> str:
    """The markdown note optuna-dashboard shows on the study page."""
    return (
        f"# {config.study_name}\n\n"
        f"Multi-objective search by lightweight NAS: **accuracy** (validation, up), **flops** "
        f"(multiply-accumulates, down), **params** (down).\n\n"
        f"| setting | value |\n|---|---|\n"
        f"| dataset | `{config.dataset}` |\n| space | `{config.space}` |\n"
        f"| proxy epochs | {config.epochs} |\n| sampler | `{config.sampler}` |\n| seed | {config.seed} |\n\n"
        f"Command:\n\n```\n{' '.join(config.command) or 'python -m nas.search'}\n```\n\n"
        "Each trial carries its ArchSpec JSON and a standalone PyTorch module as artifacts; "
        "`python -m nas.export --trial N` also retrains and exports weights / ONNX."
    )


def existing_study_names(storage: str) -> list[str]:
    """Names of the studies in a storage that must already exist (never creates a database)."""
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///") :]).is_file():
        raise ValueError(f"no study database at {storage}: run python -m nas.search first")
    try:
        return optuna.get_all_study_names(storage=prepare_storage(storage))
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:
        raise ValueError(f"cannot open storage {storage!r}: {str(exc).splitlines()[0]}") from None


def load_existing_study(storage: str, study_name: str | None) -> optuna.Study:
    """Load a study that must exist; a storage holding a single study needs no name."""
    names = existing_study_names(storage)
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
        Path(config.artifact_dir).mkdir(parents=True, exist_ok=True)
        self.artifacts = FileSystemArtifactStore(config.artifact_dir)

    def __call__(self, trial: optuna.Trial) -> tuple[float, int, int]:
        try:
            return self.evaluate(trial)
        except Exception as exc:  # recorded with the failed trial; optimize(catch=...) goes on
            trial.set_user_attr("fail_reason", f"{type(exc).__name__}: {exc}"[:500])
            raise

    def evaluate(self, trial: optuna.Trial) -> tuple[float, int, int]:
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
        result = train_and_evaluate(spec, self.data, self.proxy, device=self.device, seed=seed)
        trial.set_user_attr("train_seconds", round(result.train_seconds, 3))
        trial.set_user_attr("eval_seconds", round(result.eval_seconds, 3))
        self.upload_artifacts(trial, spec, result.accuracy, cost.flops, cost.params)
        return result.accuracy, cost.flops, cost.params

    def upload_artifacts(self, trial: optuna.Trial, spec: ArchSpec, accuracy: float, flops: int, params: int) -> None:
        """Attach the ArchSpec JSON and the standalone module to the trial (downloadable in the dashboard)."""
        name = f"trial{trial.number}"
        source = trial_module_source(
            spec, study_name=self.config.study_name, number=trial.number, accuracy=accuracy, flops=flops,
            params=params, epochs=self.config.epochs, dataset=self.config.dataset, mean=self.data.mean,
            std=self.data.std, name=name,
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            for suffix, text in ((".json", spec.to_json(indent=2)), (".py", source)):
                path = Path(tmp) / f"{name}{suffix}"
                path.write_text(text)
                upload_artifact(artifact_store=self.artifacts, file_path=str(path), study_or_trial=trial)


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
