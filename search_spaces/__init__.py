"""Search spaces by name. Each module has ``sample(trial, ctx) -> ArchSpec``; register it here."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from nas.arch import ArchSpec
from search_spaces import mixed, mobilenet, shufflenet, squeezenet
from search_spaces.common import SpaceContext

SampleFn = Callable[[optuna.Trial, SpaceContext], ArchSpec]

SPACES: dict[str, SampleFn] = {
    "mixed": mixed.sample,  # the default: every stage picks its block family
    "squeezenet": squeezenet.sample,
    "mobilenet": mobilenet.sample,
    "shufflenet": shufflenet.sample,
}


def get_space(name: str) -> SampleFn:
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; choose one of {sorted(SPACES)}")
    return SPACES[name]


__all__ = ["SPACES", "SampleFn", "SpaceContext", "get_space"]
