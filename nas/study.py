"""The search config, the study's stored settings, study creation and resume, and the search loop.

A study maximises accuracy and minimises FLOPs and parameters. ``budget`` is the number of
finished feasible trials the study must hold, so running the same search again tops it up.
"""

from __future__ import annotations

import importlib
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import optuna
import optuna_dashboard
import torch
from optuna.trial import FrozenTrial, TrialState

import nas
from nas.cli import DEFAULT_DATA_DIR, DEFAULT_STORAGE
from nas.cost import human
from nas.data import Dataset, check_dataset_name, load_dataset
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
from nas.objective import Limits, Objective
from nas.optuna_compat import quiet_experimental
from nas.proxy import ProxyConfig, resolve_device
from nas.sampler import SAMPLERS, make_sampler, sampler_seed
from nas.settings import SETTINGS_ATTR, StudySettings, study_settings
from nas.storage import default_artifact_dir, make_storage
from search_spaces import SpaceContext, cheapest_cost, get_space

METRICS = ["accuracy", "flops", "params"]
DIRECTIONS = ["maximize", "minimize", "minimize"]
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
    max_failures: int = 5  # consecutive failed trials that stop the search
    heartbeat: int = 30  # seconds between a running trial's heartbeats; silent for 2x => re-run
    artifact_dir: str | None = None  # default: "artifacts" beside a SQLite file, else studies/artifacts
    command: list[str] = field(default_factory=list)  # recorded in the study for the record

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

    @property
    def limits(self) -> Limits:
        return Limits(max_flops=self.max_flops, max_params=self.max_params)


def library_versions() -> dict[str, str]:
    return {
        "nas": nas.__version__,
        "torch": torch.__version__,
        "optuna": optuna.__version__,
        "python": platform.python_version(),
    }


def study_note(config: SearchConfig, settings: StudySettings) -> str:
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
        f"| proxy epochs (per rung) | {', '.join(map(str, settings.rungs))} (eta {settings.eta}) |\n"
        f"| re-scoring seeds | {config.refine} more for the top-rung front |\n"
        f"| sampler | `{config.sampler}` |\n| seed | {config.seed} |\n"
        f"| constraints | {limits or 'none'} |\n\n"
        f"Command:\n\n```\n{' '.join(config.command) or 'python -m nas.search'}\n```\n\n"
        "Each trial is one run of one network: user attrs `rung`, `epochs`, `replicate` (re-scoring runs) and, "
        "on promoted runs, `accuracy_by_rung`. Optuna's own Pareto plot mixes rungs; the report's plots "
        "(below, under Plots) read the front off each network's best evidence.\n\n"
        "Each trial carries its ArchSpec JSON and a standalone PyTorch module as artifacts; "
        "`python -m nas.export --trial N` also retrains and exports weights / ONNX."
    )


def open_study(config: SearchConfig, data: Dataset, worker: int = 0) -> tuple[optuna.Study, StudySettings]:
    """Create the study or load it to resume; refuse one created for other objectives or settings
    (a setting left None takes the study's own)."""
    study = optuna.create_study(
        storage=make_storage(config.storage, config.heartbeat),
        study_name=config.study_name,
        directions=DIRECTIONS,
        load_if_exists=True,
    )
    if [d.name.lower() for d in study.directions] != DIRECTIONS:
        raise ValueError(
            f"study {config.study_name!r} in {config.storage} has other objectives "
            f"({[d.name.lower() for d in study.directions]}); pick another --study-name"
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
            recipe={k: v for k, v in asdict(ProxyConfig()).items() if k != "epochs"}, sampler=config.sampler,
            seed=config.seed, mean=data.mean, std=data.std, command=" ".join(config.command),
            rungs=rung_epochs(epochs, config.min_epochs or epochs, eta), eta=eta, val_size=len(data.val_y),
        )  # fmt: skip
        with quiet_experimental():
            study.set_metric_names(METRICS)
        study.set_user_attr(SETTINGS_ATTR, asdict(settings))
        optuna_dashboard.save_note(study, study_note(config, settings))
        return study, settings
    wanted = {k: getattr(config, k) for k in STUDY_KEYS}
    stored = {k: getattr(settings, k) for k in STUDY_KEYS}
    if config.min_epochs is not None or config.eta is not None:  # asked for rungs: they must be the study's
        stored |= {"rungs": settings.rungs}
        wanted |= {"rungs": rung_epochs(settings.epochs, config.min_epochs or settings.rungs[0],
                                        config.eta or settings.eta or DEFAULT_ETA)}  # fmt: skip
    if clash := {k: v for k, v in wanted.items() if v is not None and v != stored[k]}:
        raise ValueError(
            f"study {config.study_name!r} was created with {stored}, not {clash}; "
            "rerun with those settings or pick another --study-name"
        )
    if settings.mean is None or settings.val_size is None:  # a study from before these were recorded
        for key, value in {"mean": list(data.mean), "std": list(data.std), "val_size": len(data.val_y)}.items():
            study.set_user_attr(key, value)
        settings = replace(settings, mean=data.mean, std=data.std, val_size=len(data.val_y))
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
    study, settings = open_study(config, data, worker)
    done = finished(study)
    if on_start is not None:
        on_start(study, len(done))
    data = data.to(device)
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
        versions=library_versions(),
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
