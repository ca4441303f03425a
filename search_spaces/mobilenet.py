"""Baseline: MobileNet blocks only (v1 depthwise-separable and v2 inverted residual)."""

from __future__ import annotations

import optuna

from nas.arch import ArchSpec
from search_spaces.common import SpaceContext, sample_arch

FAMILIES = ("dwsep", "ir")


def sample(trial: optuna.Trial, ctx: SpaceContext) -> ArchSpec:
    return sample_arch(trial, ctx, FAMILIES)
