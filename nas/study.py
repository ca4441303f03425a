"""The Optuna side: the search config, sampler, objective wiring and resume semantics.

A study maximises accuracy and minimises FLOPs and parameters. ``budget`` is the number of
finished feasible trials the study must hold, so running the same search again tops it up.
"""

from __future__ import annotations

import importlib
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import optuna
import optuna_dashboard
import torch
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.trial import FrozenTrial, TrialState

import nas
from nas.arch import ArchSpec
from nas.codegen import trial_module_source
from nas.cost import Cost, count_cost, human
from nas.data import Dataset, check_dataset_name, load_dataset
from nas.front import is_feasible
from nas.proxy import ProxyConfig, resolve_device, train_and_evaluate
from nas.storage import DEFAULT_STORAGE, batched_writes, default_artifact_dir, make_storage
from search_spaces import SpaceContext, cheapest_cost, get_space

METRICS = ["accuracy", "flops", "params"]
DIRECTIONS = ["maximize", "minimize", "minimize"]
SAMPLERS = ("tpe", "nsga2", "random")
# Settings a study is created with; rerunning it with different ones would mix incomparable trials.
STUDY_KEYS = ("dataset", "space", "epochs")
# The rest of the proxy recipe is stored with the study too, and a resumed study trains with its
# own: a later change of the defaults must not mix recipes in one study. Studies made before the
# recipe was stored trained with the defaults of then (peak lr 0.4).
RECIPE_ATTR = "proxy_recipe"
RECIPE_BEFORE_STORED = {"lr": 0.4}


@dataclass
class SearchConfig:
    budget: int = 200  # finished feasible trials the study must hold
    dataset: str = "digits"  # digits | mnist | fashion-mnist | cifar10 | cifar100 | svhn | folder:PATH
    space: str = "mixed"  # see search_spaces.SPACES
    # Proxy training epochs per trial. None: the study's own when resuming (so the same command
    # resumes a study made under an older default), ProxyConfig.epochs for a new study.
    epochs: int | None = None
    storage: str = DEFAULT_STORAGE  # any SQLAlchemy URL
    study_name: str | None = None  # default: "<dataset>-<space>"
    sampler: str = "tpe"
    seed: int = 0  # fixes sampling and every trial's training
    device: str = "auto"
    data_dir: str = "studies/data"
    download: bool = True
    max_flops: int | None = None  # architectures above these are recorded infeasible, never trained
    max_params: int | None = None
    max_failures: int = 5  # consecutive failed trials that stop the search
    heartbeat: int = 30  # seconds between a running trial's heartbeats; silent for 2x => re-run
    artifact_dir: str | None = None  # default: "artifacts" beside a SQLite file, else studies/artifacts
    command: list[str] = field(default_factory=list)  # recorded in the study for the record

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError(f"budget must be a positive number of trials, got {self.budget}")
        if (self.epochs is not None and self.epochs < 1) or self.max_failures < 1 or self.heartbeat < 1:
            raise ValueError(
                f"epochs, max_failures and heartbeat must be >= 1, got {self.epochs}, "
                f"{self.max_failures}, {self.heartbeat}"
            )
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


class _TrialSnapshot:
    """``study`` with its trials read from storage once. TPE with ``constant_liar`` re-reads every
    trial, running ones included, for each parameter group it samples; one read per trial gives
    it the same trials (they are sampled milliseconds apart) at a third of the storage queries."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study
        self._trials = study.get_trials(deepcopy=False)

    def __getattr__(self, name: str):  # everything else is the study's own
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = False, states=None, use_cache: bool = False) -> list[FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]


class _TPESampler(optuna.samplers.TPESampler):
    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        return super().sample_relative(_TrialSnapshot(study), trial, search_space)  # type: ignore[arg-type]


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """Samplers read infeasibility from ``trial.set_constraint`` (Optuna 5)."""
    with warnings.catch_warnings():  # multivariate/group TPE is "experimental" in name only
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            # group=True: the space is conditional (stages 3 and 4 exist or not); constant_liar:
            # parallel workers do not all sample next to the same running trial. Settings chosen
            # by bench/sampler_efficiency.py (bench/RESULTS.md).
            return _TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=10, constant_liar=True)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        return optuna.samplers.RandomSampler(seed=seed)


def study_note(config: SearchConfig) -> str:
    """The markdown note optuna-dashboard shows on the study page."""
    limits = ", ".join(
        f"{k} <= {human(v)}" for k, v in (("flops", config.max_flops), ("params", config.max_params)) if v
    )
    return (
        f"# {config.study_name}\n\n"
        f"Multi-objective search by lightweight NAS: **accuracy** (validation, up), **flops** "
        f"(multiply-accumulates, down), **params** (down).\n\n"
        f"| setting | value |\n|---|---|\n"
        f"| dataset | `{config.dataset}` |\n| space | `{config.space}` |\n"
        f"| proxy epochs | {config.epochs} |\n| sampler | `{config.sampler}` |\n| seed | {config.seed} |\n"
        f"| constraints | {limits or 'none'} |\n\n"
        f"Command:\n\n```\n{' '.join(config.command) or 'python -m nas.search'}\n```\n\n"
        "Each trial carries its ArchSpec JSON and a standalone PyTorch module as artifacts; "
        "`python -m nas.export --trial N` also retrains and exports weights / ONNX."
    )


def sampler_seed(seed: int, worker: int, trials_before: int) -> int:
    """The sampler's seed: ``seed + worker`` for a new study, a fresh stream for each resume.
    Re-seeding a resumed study with its first seed would draw its first random architectures
    again, and they would come back as duplicates that use up the budget."""
    if trials_before == 0:
        return seed + worker
    return int(np.random.SeedSequence([seed, worker, trials_before]).generate_state(1)[0])


def open_study(config: SearchConfig, worker: int = 0) -> optuna.Study:
    """Create the study or load it to resume; refuse one created for other objectives or settings
    (a setting left None takes the study's own)."""
    study = optuna.create_study(
        storage=make_storage(config.storage, config.heartbeat),
        study_name=config.study_name,
        directions=DIRECTIONS,
        load_if_exists=True,
    )
    trials_before = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(config.sampler, sampler_seed(config.seed, worker, trials_before))
    if [d.name.lower() for d in study.directions] != DIRECTIONS:
        raise ValueError(
            f"study {config.study_name!r} in {config.storage} has other objectives "
            f"({[d.name.lower() for d in study.directions]}); pick another --study-name"
        )

    def stored_settings() -> dict:
        attrs = study.user_attrs  # one storage read
        return {k: attrs.get(k) for k in STUDY_KEYS}

    wanted = {k: getattr(config, k) for k in STUDY_KEYS}
    stored = stored_settings()
    deadline = time.monotonic() + 30
    while None in stored.values() and any(v is not None for v in stored.values()) and time.monotonic() < deadline:
        time.sleep(0.2)  # another worker is writing the settings, one attr at a time
        stored = stored_settings()
    if all(v is None for v in stored.values()):
        config = replace(config, epochs=config.epochs or ProxyConfig.epochs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(METRICS)
        # The recipe first: a worker that sees all STUDY_KEYS (it waits for them) sees it too.
        study.set_user_attr(RECIPE_ATTR, {k: v for k, v in asdict(ProxyConfig()).items() if k != "epochs"})
        for key in (*STUDY_KEYS, "sampler", "seed"):
            study.set_user_attr(key, getattr(config, key))
        study.set_user_attr("command", " ".join(config.command))
        optuna_dashboard.save_note(study, study_note(config))
    elif clash := {k: v for k, v in wanted.items() if v is not None and v != stored[k]}:
        raise ValueError(
            f"study {config.study_name!r} was created with {stored}, not {clash}; "
            "rerun with those settings or pick another --study-name"
        )
    return study


def study_proxy(study: optuna.Study) -> ProxyConfig:
    """The proxy trainer settings of a study's trials: its stored epochs and recipe."""
    attrs = study.user_attrs
    if "epochs" not in attrs:
        raise ValueError(f"study {study.study_name!r} was not made by nas.search (it has no proxy settings)")
    return ProxyConfig(epochs=int(attrs["epochs"]), **attrs.get(RECIPE_ATTR, RECIPE_BEFORE_STORED))


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count toward the budget: complete and feasible."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if is_feasible(t)]


class Objective:
    """Sample an ArchSpec, cost it, train it by proxy; return (accuracy, flops, params).

    Infeasible architectures are recorded through ``trial.set_constraint`` and never trained; an
    architecture already evaluated in the study (same digest) reuses the stored result.
    """

    def __init__(self, config: SearchConfig, data: Dataset, device: torch.device, proxy: ProxyConfig) -> None:
        self.config = config
        self.data = data
        self.device = device
        self.sample = get_space(config.space)
        self.ctx = SpaceContext(data.in_chs, data.num_classes, data.resolutions)
        self.proxy = proxy
        self.versions = library_versions()
        Path(config.artifact_dir).mkdir(parents=True, exist_ok=True)
        self.artifacts = FileSystemArtifactStore(config.artifact_dir)

    def __call__(self, trial: optuna.Trial) -> tuple[float, int, int]:
        try:
            return self.evaluate(trial)
        except BaseException as exc:  # recorded with the failed trial; optimize(catch=...) goes on
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("fail_reason", reason[:500])
            if self.device.type == "cuda":
                torch.cuda.empty_cache()  # e.g. after an out-of-memory: give the next trial a clean slate
            raise

    def constraints(self, cost: Cost) -> dict[str, float]:
        limits = {"flops": (cost.flops, self.config.max_flops), "params": (cost.params, self.config.max_params)}
        return {f"{k}_over_limit": float(value - limit) for k, (value, limit) in limits.items() if limit is not None}

    def evaluate(self, trial: optuna.Trial) -> tuple[float, int, int]:
        # Parameters and attrs are written in one transaction per block, not one each (bench/overhead.py).
        with batched_writes(trial):
            spec: ArchSpec = self.sample(trial, self.ctx)
            cost = count_cost(spec)
            seed = self.config.seed * 1_000_003 + trial.number
            digest = spec.digest()
            # Dataset and epochs are study attributes, FLOPs and params the objective values: a
            # trial records only what is its own.
            for key, value in {
                "arch": spec.to_string(),  # exact: ArchSpec.from_string reads it back
                "digest": digest,
                "device": str(self.device),
                "seed": seed,
                "versions": self.versions,
            }.items():
                trial.set_user_attr(key, value)
            constraints = self.constraints(cost)
            for key, value in constraints.items():
                trial.set_constraint(key, value)
            if any(v > 0 for v in constraints.values()):
                trial.set_user_attr("infeasible", True)  # accuracy 0.0 below: not measured
                return 0.0, cost.flops, cost.params

            twin = self.evaluated_twin(trial.study, digest)
            if twin is not None:
                trial.set_user_attr("duplicate_of", twin.number)
                trial.set_user_attr("seed", twin.user_attrs.get("seed"))
                return twin.values[0], cost.flops, cost.params

        result = train_and_evaluate(spec, self.data, self.proxy, device=self.device, seed=seed)
        with batched_writes(trial):
            trial.set_user_attr("train_seconds", round(result.train_seconds, 3))
            trial.set_user_attr("eval_seconds", round(result.eval_seconds, 3))
            self.upload_artifacts(trial, spec, result.accuracy, cost)
        return result.accuracy, cost.flops, cost.params

    @staticmethod
    def evaluated_twin(study: optuna.Study, digest: str) -> FrozenTrial | None:
        """A trial that already trained this very network (first one, if several). Read fresh:
        a parallel worker may have trained it a moment ago."""
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.user_attrs.get("digest") == digest and "duplicate_of" not in t.user_attrs:
                return t
        return None

    def upload_artifacts(self, trial: optuna.Trial, spec: ArchSpec, accuracy: float, cost: Cost) -> None:
        """Attach the ArchSpec JSON and the standalone module to the trial (downloadable in the dashboard)."""
        name = f"trial{trial.number}"
        source = trial_module_source(
            spec, study_name=self.config.study_name, number=trial.number, accuracy=accuracy, flops=cost.flops,
            params=cost.params, epochs=self.proxy.epochs, dataset=self.config.dataset, mean=self.data.mean,
            std=self.data.std, name=name,
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            for suffix, text in ((".json", spec.to_json(indent=2)), (".py", source)):
                path = Path(tmp) / f"{name}{suffix}"
                path.write_text(text)
                upload_artifact(artifact_store=self.artifacts, file_path=str(path), study_or_trial=trial)


class SearchFailed(RuntimeError):
    """Too many trials failed in a row."""


def check_limits(config: SearchConfig, data: Dataset) -> None:
    """Refuse limits that no architecture of the space can meet."""
    if config.max_flops is None and config.max_params is None:
        return
    cheapest = cheapest_cost(config.space, SpaceContext(data.in_chs, data.num_classes, data.resolutions))
    for name, limit, least in (("flops", config.max_flops, cheapest.flops), ("params", config.max_params,
                                                                              cheapest.params)):  # fmt: skip
        if limit is not None and limit < least:
            raise ValueError(
                f"--max-{name} {human(limit)} is below the cheapest architecture of space "
                f"{config.space!r} ({human(least)} {name})"
            )


def run_search(
    config: SearchConfig,
    on_trial: Callable[[FrozenTrial, list[FrozenTrial]], None] | None = None,
    on_start: Callable[[optuna.Study, int], None] | None = None,
    worker: int = 0,
) -> optuna.Study:
    """Top the study up to ``config.budget`` finished feasible trials. Failed trials are kept as
    FAIL with their reason and do not count; ``max_failures`` failures in a row stop the search.
    Worker ``k`` of a parallel search samples with seed ``seed + k``. ``on_trial(trial, finished)``
    runs after each trial with the trials that count toward the budget."""
    device = resolve_device(config.device)
    # Load and check everything that can be wrong before the storage is touched.
    data = load_dataset(config.dataset, config.data_dir, config.download)
    check_limits(config, data)
    study = open_study(config, worker)
    proxy = study_proxy(study)  # the study's own epochs and recipe, whatever the defaults are now
    if "mean" not in study.user_attrs:  # what exported models must normalise their inputs with
        study.set_user_attr("mean", list(data.mean))
        study.set_user_attr("std", list(data.std))
    done = finished(study)
    if on_start is not None:
        on_start(study, len(done))
    if len(done) >= config.budget:
        return study
    data = data.to(device)
    torch.manual_seed(config.seed)
    # torch.optim imports torch._dynamo when it builds its first optimizer (~1 s): a start-up
    # cost, paid here rather than inside the first trial.
    importlib.import_module("torch._dynamo")
    streak = 0

    def callback(study: optuna.Study, trial: FrozenTrial) -> None:
        nonlocal streak
        done = finished(study)
        if on_trial is not None:
            on_trial(trial, done)
        streak = streak + 1 if trial.state == TrialState.FAIL else 0
        if streak >= config.max_failures:
            study.stop()
            raise SearchFailed(
                f"{streak} trials failed in a row (last: {trial.user_attrs.get('fail_reason')}); "
                "finished trials are kept"
            )
        if len(done) >= config.budget:
            study.stop()

    study.optimize(
        Objective(config, data, device, proxy), callbacks=[callback], catch=(Exception,), gc_after_trial=False
    )
    return study
