"""Opening a study for a search: find the one to resume, create it with its settings, or resume
it, refusing one made for other settings, and filling in what an older one lacks. Nothing here
runs a trial (``nas.search_loop`` does).

A study maximises accuracy and minimises its costs (FLOPs and parameters by default; measured
latency on request). Its settings (``nas.settings``) are written once, at creation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import optuna
import optuna_dashboard

from nas.dataset import Dataset
from nas.latency import measure
from nas.latency_setup import LatencySetup, this_machine
from nas.legacy import missing_settings, write_separate_attrs
from nas.objectives import directions, study_objectives
from nas.optuna_compat import quiet_experimental
from nas.recipe import ProxyConfig
from nas.sampler import make_sampler, sampler_seed
from nas.schedule import DEFAULT_ETA, rung_epochs
from nas.search_config import SearchConfig
from nas.settings import SETTINGS_ATTR, StudySettings
from nas.storage import make_storage, not_created_yet
from nas.study_note import study_note
from nas.units import human
from search_spaces import SpaceContext, cheapest_cost, cheapest_specs

# Settings a study is created with; rerunning it with different ones would mix incomparable trials.
STUDY_KEYS = ("dataset", "space", "epochs")


@dataclass(frozen=True)
class Existing:
    """What the storage already holds under the search's study name, read without writing."""

    study_name: str
    settings: StudySettings | None = None
    objectives: tuple[str, ...] | None = None
    storage: optuna.storages.BaseStorage | None = None  # opened once, reused to open the study


def find_existing(config: SearchConfig) -> Existing:
    """The study the search will resume, if any (a folder study under its legacy name too)."""
    if not_created_yet(config.storage):  # opening it would create it: not before every check passed
        return Existing(config.study_name)
    storage = make_storage(config.storage, config.heartbeat)
    names = optuna.get_all_study_names(storage)
    name = config.study_name
    if config.legacy_study_name in names and name not in names:
        name = config.legacy_study_name
    if name not in names:
        return Existing(name, storage=storage)
    study = optuna.load_study(study_name=name, storage=storage)
    return Existing(name, StudySettings.of(study), study_objectives(study), storage)


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


def open_study(
    config: SearchConfig,
    data: Dataset,
    worker: int,
    objectives: tuple[str, ...],
    latency: LatencySetup | None,
    storage: optuna.storages.BaseStorage | None = None,
) -> tuple[optuna.Study, StudySettings]:
    """Create the study or load it to resume (in ``storage`` if already open); refuse one created
    for other objectives or settings (a setting left None takes the study's own)."""
    study = optuna.create_study(
        storage=storage or make_storage(config.storage, config.heartbeat),
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
        return study, create_settings(study, config, data, objectives, latency)
    check_resume(config, settings, latency)
    if updates := missing_settings(settings, data, latency):
        settings = replace(settings, **updates)
        if SETTINGS_ATTR in study.user_attrs:
            study.set_user_attr(SETTINGS_ATTR, asdict(settings))
        else:
            write_separate_attrs(study, updates)
    return study, settings


def create_settings(
    study: optuna.Study, config: SearchConfig, data: Dataset, objectives: tuple[str, ...], latency: LatencySetup | None
) -> StudySettings:
    """A new study's settings, written with it (with its objectives' names and the dashboard note).
    Workers that start together on a new study may both get here: they write the same settings."""
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
    return settings


def check_resume(config: SearchConfig, settings: StudySettings, latency: LatencySetup | None) -> None:
    """ValueError if the search asks for settings other than the study's own."""
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
        stored |= {"latency": {k: v for k, v in settings.latency.items() if k != "machine"}}
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
