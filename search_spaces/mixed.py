"""The default space: every stage picks its family (Fire, depthwise-separable, inverted residual, shuffle)."""

from __future__ import annotations

import optuna

from nas.arch import ArchSpec
from search_spaces.common import SpaceContext, sample_arch

FAMILIES = ("fire", "dwsep", "ir", "shuffle")


def sample(trial: optuna.Trial, ctx: SpaceContext) -> ArchSpec:
    return sample_arch(trial, ctx, FAMILIES)
