"""The search config, the study's stored settings, study creation and resume, and the search loop.

A study maximises accuracy and minimises its costs (FLOPs and parameters by default; measured
latency on request). ``budget`` is the number of finished feasible trials the study must hold,
so running the same search again tops it up.
"""

from __future__ import annotations

import importlib
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import optuna
import optuna_dashboard
import torch
from optuna.trial import FrozenTrial, TrialState

import nas
from nas.cli import DEFAULT_DATA_DIR, DEFAULT_STORAGE
from nas.cost import human
from nas.data import Dataset, check_dataset_name, check_resolutions, load_dataset
from nas.fidelity import (
    PROMOTED_FROM_ATTR,
    counts_toward_budget,
    due_promotions,
    due_refinements,
    is_feasible,
    promotion_attrs,
    rung_epochs,
    rung_of,
)
from nas.latency import BACKENDS, LatencySetup, measure, this_machine
from nas.objective import Limits, Objective
from nas.objectives import DEFAULT as DEFAULT_OBJECTIVES
from nas.objectives import DESCRIPTIONS, directions, study_objectives
from nas.optuna_compat import quiet_experimental
from nas.proxy import ProxyConfig, resolve_device
from nas.sampler import SAMPLERS, make_sampler, sampler_seed
from nas.settings import SETTINGS_ATTR, StudySettings, study_settings
from nas.storage import default_artifact_dir, make_storage, not_created_yet
from search_spaces import SpaceContext, cheapest_cost, cheapest_specs, get_space

# Settings a study is created with; rerunning it with different ones would mix incomparable trials.
STUDY_KEYS = ("dataset", "space", "epochs")
DEFAULT_ETA = 3


@dataclass
class SearchConfig:
    budget: int = 200  # finished feasible trials the study must hold
    dataset: str = "digits"  # digits | mnist | fashion-mnist | cifar10 | cifar100 | svhn | folder:PATH
    space: str = "mixed"  # see search_spaces.SPACES
    # Proxy training epochs per trial. None: the study's own when resuming (so the same command
    # resumes a study made under an older default), ProxyConfig.epochs for a new study.
    epochs: int | None = None
    # Multi-fidelity: rungs from min_epochs up to epochs (the top rung), eta x the epochs each;
    # None: the study's own (a new study: min_epochs = epochs, one rung, single fidelity).
    min_epochs: int | None = None
    eta: int | None = None  # the top 1/eta of a rung are promoted (default DEFAULT_ETA)
    refine: int = 2  # once the budget is met: extra seeds for the top-rung front and its band
    storage: str = DEFAULT_STORAGE  # any SQLAlchemy URL
    study_name: str | None = None  # default: "<dataset>-<space>"
    sampler: str = "tpe"
    seed: int = 0  # fixes sampling and every trial's training
    device: str = "auto"
    data_dir: str = DEFAULT_DATA_DIR
    download: bool = True
    max_flops: int | None = None  # architectures above these are recorded infeasible, never trained
    max_params: int | None = None
    max_latency: float | None = None  # milliseconds
    # Objectives after accuracy: flops, params, latency. None: the study's own (new: the default three).
    objectives: tuple[str, ...] | None = None
    # Latency measurement: threads and backend (None: the study's own, new: 1 and torch); a study
    # measured on another machine is refused unless mix_latencies.
    latency_threads: int | None = None
    latency_backend: str | None = None
    mix_latencies: bool = False
    # How the data are read (None: the study's own; new: the dataset's): input sizes searched,
    # horizontal flips; and the most memory the images may take (default: most of what is free).
    resolutions: tuple[int, ...] | None = None
    hflip: bool | None = None
    data_memory: int | None = None
    max_failures: int = 5  # consecutive failed trials that stop the search
    # Proxy batch size of a new study (None: ProxyConfig's), the learning rate scaled with it;
    # stored in the study's recipe, so a resumed study trains as it did.
    batch_size: int | None = None
    heartbeat: int = 30  # seconds between a running trial's heartbeats; silent for 2x => re-run
    artifact_dir: str | None = None  # default: "artifacts" beside a SQLite file, else studies/artifacts
    command: list[str] = field(default_factory=list)  # recorded in the study for the record
    # A folder study named the way releases before this named it: resumed under that name if it exists.
    legacy_study_name: str | None = None

    def __post_init__(self) -> None:
        if self.refine < 0:
            raise ValueError(f"--refine must be >= 0, got {self.refine}")
        if self.eta is not None and self.eta < 2:
            raise ValueError(f"--eta must be at least 2, got {self.eta}")
        if self.min_epochs is not None and self.epochs is not None and self.min_epochs > self.epochs:
            raise ValueError(f"--min-epochs {self.min_epochs} is above --epochs {self.epochs} (the top rung)")
        if self.budget < 1:
            raise ValueError(f"budget must be a positive number of trials, got {self.budget}")
        if (self.epochs is not None and self.epochs < 1) or self.max_failures < 1 or self.heartbeat < 1:
            raise ValueError(
                f"epochs, max_failures and heartbeat must be >= 1, got {self.epochs}, "
                f"{self.max_failures}, {self.heartbeat}"
            )
        if self.latency_backend is not None and self.latency_backend not in BACKENDS:
            raise ValueError(f"unknown latency backend {self.latency_backend!r}; choose one of {list(BACKENDS)}")
        if self.latency_threads is not None and self.latency_threads < 1:
            raise ValueError(f"--latency-threads must be at least 1, got {self.latency_threads}")
        if self.max_latency is not None and self.max_latency <= 0:
            raise ValueError(f"--max-latency must be positive, got {self.max_latency} ms")
        if self.resolutions is not None:
            self.resolutions = check_resolutions(self.resolutions)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {list(SAMPLERS)}")
        check_dataset_name(self.dataset)
        get_space(self.space)
        resolve_device(self.device)
        if self.artifact_dir is None:
            self.artifact_dir = str(default_artifact_dir(self.storage))
        if self.study_name is None:
            if self.dataset.startswith("folder:"):  # named after the folder: folder:/data/my/photos -> photos
                folder = self.dataset[len("folder:") :].rstrip("/") or "/"
                self.study_name = f"{Path(folder).expanduser().name or 'folder'}-{self.space}"
                self.legacy_study_name = (
                    f"{self.dataset.rstrip('/').replace('folder:', 'folder-').replace('/', '-')}-{self.space}"
                )
            else:
                self.study_name = f"{self.dataset}-{self.space}"

    @property
    def recipe(self) -> ProxyConfig:
        """The proxy recipe of a new study (its epochs are set apart)."""
        return ProxyConfig().with_batch(self.batch_size) if self.batch_size else ProxyConfig()

    @property
    def limits(self) -> Limits:
        return Limits(max_flops=self.max_flops, max_params=self.max_params, max_latency=self.max_latency)


def library_versions() -> dict[str, str]:
    return {
        "nas": nas.__version__,
        "torch": torch.__version__,
        "optuna": optuna.__version__,
        "python": platform.python_version(),
    }


def study_note(config: SearchConfig, settings: StudySettings, objectives: tuple[str, ...]) -> str:
    """The markdown note optuna-dashboard shows on the study page."""
    limits = ", ".join(
        f"{k} <= {human(v)}" for k, v in (("flops", config.max_flops), ("params", config.max_params)) if v
    )
    if config.max_latency:
        limits += f"{', ' if limits else ''}latency <= {config.max_latency:g} ms"
    latency = settings.latency_setup.describe() if settings.latency_setup else "not measured"
    return (
        f"# {config.study_name}\n\n"
        f"Multi-objective search by lightweight NAS: {', '.join(DESCRIPTIONS[n] for n in objectives)}.\n\n"
        f"| setting | value |\n|---|---|\n"
        f"| dataset | `{config.dataset}` |\n| space | `{config.space}` |\n"
        f"| resolutions | {', '.join(map(str, settings.resolutions or ()))} |\n"
        f"| horizontal flips | {'on' if settings.hflip else 'off'} |\n"
        f"| proxy epochs (per rung) | {', '.join(map(str, settings.rungs))} (eta {settings.eta}) |\n"
        f"| re-scoring seeds | {config.refine} more for the top-rung front |\n"
        f"| sampler | `{config.sampler}` |\n| seed | {config.seed} |\n"
        f"| constraints | {limits or 'none'} |\n| latency | {latency} |\n\n"
        f"Command:\n\n```\n{' '.join(config.command) or 'python -m nas.search'}\n```\n\n"
        "Each trial is one run of one network: user attrs `rung`, `epochs`, `replicate` (re-scoring runs) and, "
        "on promoted runs, `accuracy_by_rung`. Optuna's own Pareto plot mixes rungs; the report's plots "
        "(below, under Plots) read the front off each network's best evidence.\n\n"
        "Each trial carries its ArchSpec JSON and a standalone PyTorch module as artifacts; "
        "`python -m nas.export --trial N` also retrains and exports weights / ONNX."
    )


@dataclass(frozen=True)
class Existing:
    """What the storage already holds under the search's study name, read without writing."""

    study_name: str
    settings: StudySettings | None = None
    objectives: tuple[str, ...] | None = None


def find_existing(config: SearchConfig) -> Existing:
    """The study the search will resume, if any (a folder study under its legacy name too)."""
    if not_created_yet(config.storage):
        return Existing(config.study_name)
    storage = make_storage(config.storage)
    names = optuna.get_all_study_names(storage)
    name = config.study_name
    if config.legacy_study_name in names and name not in names:
        name = config.legacy_study_name
    if name not in names:
        return Existing(name)
    study = optuna.load_study(study_name=name, storage=storage)
    return Existing(name, StudySettings.of(study), study_objectives(study))


def data_options(config: SearchConfig, settings: StudySettings | None) -> dict:
    """How to read the data: as asked, else as the study did."""
    stored = settings.data_options() if settings else {}
    return {
        "resolutions": config.resolutions or stored.get("resolutions"),
        "hflip": config.hflip if config.hflip is not None else stored.get("hflip"),
        "channels": stored.get("channels"),
        "memory_limit": config.data_memory,
    }


def latency_setup(
    config: SearchConfig, settings: StudySettings | None, objectives: tuple[str, ...]
) -> LatencySetup | None:
    """How to measure latency, where the study needs it (an objective or a limit): as asked, else
    as the study did, else 1 thread of PyTorch."""
    if "latency" not in objectives and config.max_latency is None:
        return None
    stored = (settings.latency if settings else None) or {}
    return LatencySetup(
        this_machine(),
        threads=config.latency_threads or stored.get("threads", 1),
        backend=config.latency_backend or stored.get("backend", "torch"),
    )


def open_study(
    config: SearchConfig,
    data: Dataset,
    worker: int = 0,
    objectives: tuple[str, ...] = DEFAULT_OBJECTIVES,
    latency: LatencySetup | None = None,
) -> tuple[optuna.Study, StudySettings]:
    """Create the study or load it to resume; refuse one created for other objectives or settings
    (a setting left None takes the study's own)."""
    study = optuna.create_study(
        storage=make_storage(config.storage, config.heartbeat),
        study_name=config.study_name,
        directions=directions(objectives),
        load_if_exists=True,
    )
    named = tuple(study.metric_names or objectives)  # a new study is named below
    if named != objectives or [d.name.lower() for d in study.directions] != directions(objectives):
        raise ValueError(
            f"study {config.study_name!r} in {config.storage} has other objectives "
            f"({','.join(study_objectives(study))}); rerun with --objectives {','.join(study_objectives(study))} "
            "or pick another --study-name"
        )
    trials_before = len(study.get_trials(deepcopy=False))
    study.sampler = make_sampler(config.sampler, sampler_seed(config.seed, worker, trials_before))

    settings = StudySettings.of(study)
    if settings is None:
        # Workers that start together on a new study may both get here: they write the same settings.
        epochs = config.epochs or ProxyConfig.epochs
        eta = config.eta or DEFAULT_ETA
        settings = StudySettings(
            dataset=config.dataset, space=config.space, epochs=epochs,
            recipe={k: v for k, v in asdict(config.recipe).items() if k != "epochs"}, sampler=config.sampler,
            seed=config.seed, mean=data.mean, std=data.std, command=" ".join(config.command),
            rungs=rung_epochs(epochs, config.min_epochs or epochs, eta), eta=eta, val_size=len(data.val_y),
            resolutions=data.resolutions, hflip=data.hflip, channels=data.in_chs,
            latency=latency.as_dict() if latency else None,
        )  # fmt: skip
        with quiet_experimental():
            study.set_metric_names(list(objectives))
        study.set_user_attr(SETTINGS_ATTR, asdict(settings))
        optuna_dashboard.save_note(study, study_note(config, settings, objectives))
        return study, settings
    wanted = {k: getattr(config, k) for k in STUDY_KEYS}
    stored = {k: getattr(settings, k) for k in STUDY_KEYS}
    if config.min_epochs is not None or config.eta is not None:  # asked for rungs: they must be the study's
        stored |= {"rungs": settings.rungs}
        wanted |= {"rungs": rung_epochs(settings.epochs, config.min_epochs or settings.rungs[0],
                                        config.eta or settings.eta or DEFAULT_ETA)}  # fmt: skip
    if config.batch_size is not None:  # asked for a batch: it must be the study's
        stored |= {"batch_size": settings.proxy.batch_size}
        wanted |= {"batch_size": config.batch_size}
    if config.resolutions is not None or config.hflip is not None:
        if settings.resolutions is None:
            raise ValueError(
                f"study {config.study_name!r} was made before --resolutions and --hflip were stored: "
                "resume it without them, or pick another --study-name"
            )
        stored |= {"resolutions": settings.resolutions, "hflip": settings.hflip}
        wanted |= {"resolutions": config.resolutions, "hflip": config.hflip}
    if latency and settings.latency:
        same_machine = {k: v for k, v in settings.latency.items() if k != "machine"}
        stored |= {"latency": same_machine}
        wanted |= {"latency": {k: v for k, v in latency.as_dict().items() if k != "machine"}}
    if clash := {k: v for k, v in wanted.items() if v is not None and v != stored[k]}:
        raise ValueError(
            f"study {config.study_name!r} was created with {stored}, not {clash}; "
            "rerun with those settings or pick another --study-name"
        )
    if latency and settings.latency and settings.latency["machine"] != latency.machine and not config.mix_latencies:
        raise ValueError(
            f"study {config.study_name!r} measured latency on {settings.latency['machine']}, and this is "
            f"{latency.machine}: resume it there, or pass --mix-latencies to add latencies measured here"
        )
    updates = {}
    if settings.mean is None or settings.val_size is None:  # a study from before these were recorded
        updates |= {"mean": data.mean, "std": data.std, "val_size": len(data.val_y)}
    if settings.resolutions is None:
        updates |= {"resolutions": data.resolutions, "hflip": data.hflip, "channels": data.in_chs}
    if latency and not settings.latency:  # a limit on latency, added on a resume
        updates |= {"latency": latency.as_dict()}
    if updates:
        settings = replace(settings, **updates)
        if SETTINGS_ATTR in study.user_attrs:
            study.set_user_attr(SETTINGS_ATTR, asdict(settings))
        else:  # a study stored the older way keeps that way: one attr per setting
            for key, value in updates.items():
                study.set_user_attr(key, list(value) if isinstance(value, tuple) else value)
    return study, settings


def study_proxy(study: optuna.Study) -> ProxyConfig:
    """The proxy trainer settings of a study's trials: its stored epochs and recipe."""
    return study_settings(study).proxy


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count toward the budget: new networks' first runs, complete and feasible
    (promotions and re-scoring runs come on top)."""
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if is_feasible(t) and counts_toward_budget(t)
    ]


class SearchFailed(RuntimeError):
    """Too many trials failed in a row."""


def check_limits(config: SearchConfig, data: Dataset, latency: LatencySetup | None) -> None:
    """Refuse limits that no architecture of the space can meet (latency: measured here)."""
    ctx = SpaceContext(data.in_chs, data.num_classes, data.resolutions)
    if config.max_flops is not None or config.max_params is not None:
        cheapest = cheapest_cost(config.space, ctx)
        for name, limit, least in (("flops", config.max_flops, cheapest.flops), ("params", config.max_params,
                                                                                  cheapest.params)):  # fmt: skip
            if limit is not None and limit < least:
                raise ValueError(
                    f"--max-{name} {human(limit)} is below the cheapest architecture of space "
                    f"{config.space!r} ({human(least)} {name})"
                )
    if config.max_latency is not None and latency is not None:
        fastest = min(measure(spec, latency).ms for spec in cheapest_specs(config.space, ctx))
        if config.max_latency < fastest:
            raise ValueError(
                f"--max-latency {config.max_latency:g} ms is below the fastest of the cheapest architectures "
                f"of space {config.space!r} ({fastest:.3g} ms measured with {latency.describe()})"
            )


def run_search(
    config: SearchConfig,
    on_trial: Callable[[FrozenTrial, list[FrozenTrial]], None] | None = None,
    on_start: Callable[[optuna.Study, int, list[str]], None] | None = None,
    worker: int = 0,
) -> optuna.Study:
    """Top the study up to ``config.budget`` finished feasible trials. Failed trials are kept as
    FAIL with their reason and do not count; ``max_failures`` failures in a row stop the search.
    Worker ``k`` of a parallel search samples with seed ``seed + k``. ``on_trial(trial, finished)``
    runs after each trial with the trials that count toward the budget; ``on_start(study, done,
    lines)`` once the study is open, with lines that say how the data are read and latency measured."""
    device = resolve_device(config.device)
    existing = find_existing(config)
    config = replace(config, study_name=existing.study_name)
    # Load and check everything that can be wrong before the study is written to.
    data = load_dataset(config.dataset, config.data_dir, config.download, **data_options(config, existing.settings))
    objectives = config.objectives or existing.objectives or DEFAULT_OBJECTIVES
    latency = latency_setup(config, existing.settings, objectives)
    check_limits(config, data, latency)
    study, settings = open_study(config, data, worker, objectives, latency)
    done = finished(study)
    if on_start is not None:
        lines = [data.describe()] + ([f"latency measured with {latency.describe()}"] if latency else [])
        on_start(study, len(done), lines)
    data = data.to(device)
    data.prepare(("train", "val"))  # every resolution resized once, on the device, before any trial
    torch.manual_seed(config.seed)
    # torch.optim imports torch._dynamo when it builds its first optimizer (~1 s): a start-up
    # cost, paid here rather than inside the first trial.
    importlib.import_module("torch._dynamo")
    streak = 0
    rungs, eta = settings.rungs, settings.eta or DEFAULT_ETA

    def enqueue_promotions(study: optuna.Study) -> int:
        due = due_promotions(study.get_trials(deepcopy=False), len(rungs), eta) if len(rungs) > 1 else []
        for run in due:
            study.enqueue_trial(run.params, user_attrs=promotion_attrs(run, rung_of(run) + 1))
        return len(due)

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
        enqueue_promotions(study)
        if len(done) >= config.budget:
            study.stop()

    objective = Objective(
        sample=get_space(config.space), data=data, dataset_name=config.dataset, device=device,
        proxy=settings.proxy,  # the study's own epochs and recipe, whatever the defaults are now
        rungs=rungs, limits=config.limits, seed=config.seed, artifact_dir=config.artifact_dir,
        versions=library_versions(), objectives=objectives, latency=latency,
    )  # fmt: skip
    if len(done) < config.budget:
        enqueue_promotions(study)  # any left undone by an interrupted run
        study.optimize(objective, callbacks=[callback], catch=(Exception,), gc_after_trial=False)
    # The budget of new networks is met: run the promotions still due, then re-score the top-rung
    # front with more seeds. Trials still running elsewhere are left to their workers, which settle
    # the same way when they finish (a dead worker's: to the next run, once its heartbeat is stale).
    objective.new_networks = False
    while True:
        with quiet_experimental():
            optuna.storages.fail_stale_trials(study)  # a dead worker's trial is failed (and re-queued)
        queued = enqueue_promotions(study)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        if queued or TrialState.WAITING in states:
            study.optimize(objective, n_trials=1, callbacks=[callback], catch=(Exception,), gc_after_trial=False)
            last = study.get_trials(deepcopy=False)[-1]
            if last.state == TrialState.PRUNED and PROMOTED_FROM_ATTR not in last.user_attrs:
                return study  # another worker took the queued trial: it settles the rest
        elif TrialState.RUNNING in states:
            return study
        elif refinements := due_refinements(study.get_trials(deepcopy=False), len(rungs) - 1, config.refine):
            for run, replicate in refinements:
                study.enqueue_trial(run.params, user_attrs=promotion_attrs(run, len(rungs) - 1, replicate))
        else:
            return study
