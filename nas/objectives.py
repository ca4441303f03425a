"""The objectives a study can optimise, and each trial's figures by name.

Accuracy (up) always comes first; the costs that follow are minimised: ``flops``, ``params``,
``latency`` (milliseconds, measured; ``nas.latency``). Whatever the objectives, every trial also
records each cost it knows as a user attr, so the table, report and export can show all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial

from nas.units import human

COSTS = ("flops", "params", "latency")
DEFAULT = ("accuracy", "flops", "params")
ATTRS = {"flops": "flops", "params": "params", "latency": "latency_ms"}  # user attr of each cost
LABELS = {"flops": "FLOPs (MACs)", "params": "parameters", "latency": "latency (ms, batch 1)"}
DESCRIPTIONS = {  # what each objective is, for the study note and the report
    "accuracy": "accuracy (validation, up)",
    "flops": "flops (multiply-accumulates, down)",
    "params": "params (down)",
    "latency": "latency (ms at batch 1, measured, down)",
}


def parse_objectives(text: str) -> tuple[str, ...]:
    """'accuracy,latency' -> ('accuracy', 'latency'); accuracy is required and put first."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ("accuracy", *COSTS)]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"--objectives: expected distinct names of accuracy, {', '.join(COSTS)}; got {text!r}")
    if "accuracy" not in names or len(names) < 2:
        raise ValueError(f"--objectives must hold accuracy and at least one cost ({', '.join(COSTS)}); got {text!r}")
    return ("accuracy", *(n for n in names if n != "accuracy"))


def directions(objectives: Sequence[str]) -> list[str]:
    return ["maximize" if n == "accuracy" else "minimize" for n in objectives]


def study_objectives(study: optuna.Study) -> tuple[str, ...]:
    """The study's objectives by their metric names (studies without names: the default three)."""
    names = study.metric_names
    return tuple(names) if names else DEFAULT


def metric(trial: FrozenTrial, name: str, objectives: Sequence[str] = DEFAULT) -> float | None:
    """A trial's figure by name: its objective value, or else the user attr it recorded (None if
    it has none, e.g. latency in a study that never measured it)."""
    if name in objectives:
        return trial.values[list(objectives).index(name)]
    return trial.user_attrs.get(ATTRS.get(name, name))


def cost_text(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g} ms" if name == "latency" else human(value)
