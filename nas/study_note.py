"""The markdown note optuna-dashboard shows on a study's page: its settings and how to read it."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import optuna
import optuna_dashboard

from nas.objectives import DESCRIPTIONS, study_objectives
from nas.settings import StudySettings
from nas.units import human

if TYPE_CHECKING:
    from nas.search_config import SearchConfig

FRONT_HEADING = "## Pareto front, by each network's best evidence"


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
        f"| re-scoring | up to {config.refine} more seeds per undecided network, at most {config.refine_budget:g} "
        "of the search's training time |\n"
        f"| sampler | `{config.sampler}` |\n| seed | {config.seed} |\n"
        f"| constraints | {limits or 'none'} |\n| latency | {latency} |\n\n"
        f"Command:\n\n```\n{' '.join(config.command) or 'python -m nas.search'}\n```\n\n"
        "Each trial is one run of one network: user attrs `rung`, `epochs`, `replicate` (re-scoring runs) and, "
        "on promoted runs, `accuracy_by_rung`. Optuna's own Pareto plot mixes rungs; the report's plots "
        "(below, under Plots) read the front off each network's best evidence.\n\n"
        "Each trial carries its ArchSpec JSON and a standalone PyTorch module as artifacts; "
        "`python -m nas.export --trial N` also retrains and exports weights / ONNX."
    )


def save_note_with_front(study: optuna.Study, config: SearchConfig, table: str) -> None:
    """The study's note, with the front as this search left it (``nas.front.front_table``): the
    dashboard shows the same evidence, seeds and tie groups as the end-of-search table."""
    settings = StudySettings.of(study)
    if settings is None:
        return
    note = study_note(replace(config, study_name=study.study_name), settings, study_objectives(study))
    optuna_dashboard.save_note(study, f"{note}\n\n{FRONT_HEADING}\n\n```\n{table}\n```\n")
