"""The shared sampler: stem, 2-4 stages of a chosen block family each, head, width and resolution.

Optuna parameter names stop here: everything downstream sees only the ArchSpec.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import optuna

from nas.arch import ArchSpec, HeadSpec, StageSpec, StemSpec
from nas.blocks import OPTION_CODES
from nas.cost import Cost, count_cost

STEM_CHS = (8, 16, 24, 32)
STAGE_CHS = (16, 24, 32, 48, 64, 96, 128)
HEAD_CHS = (0, 128, 256)
WIDTH_MULTS = (0.5, 0.75, 1.0)
# Block options per family. A stage picks one *operation*, its family and options together
# (timm/MnasNet style names such as "ir_e6_k5"), as a single categorical: the space is then
# conditional only on the number of stages, so multivariate TPE models each stage's choice
# jointly (3 parameter groups instead of ~20) and a trial stores ~18 parameters, not ~25.
FAMILY_OPTIONS: dict[str, dict[str, tuple]] = {
    "fire": {"squeeze_ratio": (0.125, 0.25, 0.5), "expand3x3_ratio": (0.25, 0.5, 0.75)},
    "dwsep": {"kernel_size": (3, 5)},
    "ir": {"exp_ratio": (1.0, 3.0, 6.0), "kernel_size": (3, 5)},
    "shuffle": {"kernel_size": (3, 5)},
}


def _op_name(family: str, options: dict) -> str:
    return "_".join([family] + [f"{OPTION_CODES[k]}{v:g}" for k, v in options.items()])


# op name -> (family, options); families in FAMILY_OPTIONS order, options cheapest first.
OPS: dict[str, tuple[str, dict]] = {
    _op_name(family, opts): (family, opts)
    for family, choices in FAMILY_OPTIONS.items()
    for opts in (dict(zip(choices, values, strict=True)) for values in itertools.product(*choices.values()))
}


def ops_of(families: Sequence[str]) -> tuple[str, ...]:
    return tuple(name for name, (family, _) in OPS.items() if family in families)


@dataclass(frozen=True)
class SpaceContext:
    """What a space needs to know about the dataset."""

    in_chs: int
    num_classes: int
    resolutions: tuple[int, ...]  # input sizes to choose from


def sample_arch(trial: optuna.Trial, ctx: SpaceContext, families: Sequence[str], act: str = "relu") -> ArchSpec:
    """Strides are always sampled and applied only where they fit (so no parameter depends on
    another's value); the spec, not the parameters, identifies the network (``digest``)."""
    resolution = trial.suggest_categorical("resolution", ctx.resolutions)
    width_mult = trial.suggest_categorical("width_mult", WIDTH_MULTS)
    stem_stride = 1
    if max(ctx.resolutions) >= 32:  # halve the input in the stem only for inputs big enough to afford it
        stem_stride = trial.suggest_categorical("stem_stride", (1, 2))
        stem_stride = stem_stride if resolution >= 32 else 1
    stem = StemSpec(trial.suggest_categorical("stem_chs", STEM_CHS), 3, stem_stride, 1)
    size = resolution // stem_stride

    ops = ops_of(families)
    stages = []
    for i in range(trial.suggest_int("n_stages", 2, 4)):
        block, options = OPS[trial.suggest_categorical(f"s{i}_op", ops)]
        stride = trial.suggest_categorical(f"s{i}_stride", (1, 2))
        stride = stride if size >= 4 else 1  # downsample only while the map stays at least 2x2
        size = -(-size // stride)  # ceil: padded convs and ceil-mode pools round up
        out_chs = trial.suggest_categorical(f"s{i}_chs", STAGE_CHS)
        stages.append(StageSpec(block, out_chs, trial.suggest_int(f"s{i}_depth", 1, 3), stride, options))
    head = HeadSpec(trial.suggest_categorical("head_chs", HEAD_CHS))
    return ArchSpec(stem, tuple(stages), head, resolution, width_mult, ctx.in_chs, ctx.num_classes, act)


def cheapest_specs(ctx: SpaceContext, families: Sequence[str]) -> list[ArchSpec]:
    """The candidates for the cheapest architecture of the space, one per pair of families.

    Every numeric choice above is listed cheapest first, so the cheapest network takes the
    first choice everywhere, two stages, stride 2 wherever allowed; only the families vary.
    """
    fixed: dict = {"resolution": min(ctx.resolutions), "width_mult": WIDTH_MULTS[0], "stem_stride": 2,
                   "stem_chs": STEM_CHS[0], "n_stages": 2, "head_chs": HEAD_CHS[0]}  # fmt: skip
    for i in range(2):
        fixed |= {f"s{i}_stride": 2, f"s{i}_chs": STAGE_CHS[0], f"s{i}_depth": 1}
    cheapest_ops = [ops_of([family])[0] for family in families]  # options are listed cheapest first
    return [
        sample_arch(optuna.trial.FixedTrial({**fixed, "s0_op": a, "s1_op": b}), ctx, families)
        for a, b in itertools.product(cheapest_ops, repeat=2)
    ]


def cheapest_cost(ctx: SpaceContext, families: Sequence[str]) -> Cost:
    """The least FLOPs and the least params any architecture of the space can have."""
    costs = [count_cost(spec) for spec in cheapest_specs(ctx, families)]
    return Cost(flops=min(c.flops for c in costs), params=min(c.params for c in costs))
