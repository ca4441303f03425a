"""The shared sampler: stem, 2-4 stages of a chosen block family each, head, width and resolution.

Optuna parameter names stop here: everything downstream sees only the ArchSpec.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import optuna

from nas.arch import ArchSpec, HeadSpec, StageSpec, StemSpec
from nas.cost import Cost, count_cost

STEM_CHS = (8, 16, 24, 32)
STAGE_CHS = (16, 24, 32, 48, 64, 96, 128)
HEAD_CHS = (0, 128, 256)
WIDTH_MULTS = (0.5, 0.75, 1.0)
# Block options: one categorical per option, named after the family so that distributions
# never clash between families.
FAMILY_OPTIONS: dict[str, dict[str, tuple]] = {
    "fire": {"squeeze_ratio": (0.125, 0.25, 0.5), "expand3x3_ratio": (0.25, 0.5, 0.75)},
    "dwsep": {"kernel_size": (3, 5)},
    "ir": {"exp_ratio": (1.0, 3.0, 6.0), "kernel_size": (3, 5)},
    "shuffle": {"kernel_size": (3, 5)},
}


@dataclass(frozen=True)
class SpaceContext:
    """What a space needs to know about the dataset."""

    in_chs: int
    num_classes: int
    resolutions: tuple[int, ...]  # input sizes to choose from


def sample_arch(trial: optuna.Trial, ctx: SpaceContext, families: Sequence[str], act: str = "relu") -> ArchSpec:
    resolution = trial.suggest_categorical("resolution", ctx.resolutions)
    width_mult = trial.suggest_categorical("width_mult", WIDTH_MULTS)
    # Halve the input in the stem only for inputs big enough to afford it.
    stem_stride = trial.suggest_categorical("stem_stride", (1, 2)) if resolution >= 32 else 1
    stem = StemSpec(trial.suggest_categorical("stem_chs", STEM_CHS), 3, stem_stride, 1)
    size = resolution // stem_stride

    stages = []
    for i in range(trial.suggest_int("n_stages", 2, 4)):
        block = trial.suggest_categorical(f"s{i}_block", tuple(families))
        # Downsample only while the feature map stays at least 2x2 afterwards.
        stride = trial.suggest_categorical(f"s{i}_stride", (1, 2)) if size >= 4 else 1
        size = (size + 1) // stride
        options = {
            name: trial.suggest_categorical(f"s{i}_{block}_{name}", choices)
            for name, choices in FAMILY_OPTIONS[block].items()
        }
        stages.append(
            StageSpec(
                block,
                trial.suggest_categorical(f"s{i}_chs", STAGE_CHS),
                trial.suggest_int(f"s{i}_depth", 1, 3),
                stride,
                options,
            )
        )
    head = HeadSpec(trial.suggest_categorical("head_chs", HEAD_CHS))
    return ArchSpec(stem, tuple(stages), head, resolution, width_mult, ctx.in_chs, ctx.num_classes, act)


def cheapest_cost(ctx: SpaceContext, families: Sequence[str]) -> Cost:
    """The least FLOPs and the least params any architecture of the space can have.

    Every numeric choice above is listed cheapest first, so the cheapest network takes the
    first choice everywhere, two stages, stride 2 wherever allowed; only the families vary.
    """
    fixed: dict = {"resolution": min(ctx.resolutions), "width_mult": WIDTH_MULTS[0], "stem_stride": 2,
                   "stem_chs": STEM_CHS[0], "n_stages": 2, "head_chs": HEAD_CHS[0]}  # fmt: skip
    for i in range(2):
        fixed |= {f"s{i}_stride": 2, f"s{i}_chs": STAGE_CHS[0], f"s{i}_depth": 1}
        fixed |= {f"s{i}_{fam}_{opt}": choices[0] for fam in families for opt, choices in FAMILY_OPTIONS[fam].items()}
    costs = [
        count_cost(sample_arch(optuna.trial.FixedTrial({**fixed, "s0_block": a, "s1_block": b}), ctx, families))
        for a, b in itertools.product(families, repeat=2)
    ]
    return Cost(flops=min(c.flops for c in costs), params=min(c.params for c in costs))
