"""Search spaces by name. Each module has ``sample(trial, ctx) -> ArchSpec``; register it here."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from nas.arch import ArchSpec
from nas.cost import Cost
from search_spaces import common, mixed, mobilenet, shufflenet, squeezenet
from search_spaces.common import SpaceContext

SampleFn = Callable[[optuna.Trial, SpaceContext], ArchSpec]

# The default first: every stage picks its block family. Each module: FAMILIES and sample().
_MODULES = {"mixed": mixed, "squeezenet": squeezenet, "mobilenet": mobilenet, "shufflenet": shufflenet}
SPACES: dict[str, SampleFn] = {name: module.sample for name, module in _MODULES.items()}


def get_space(name: str) -> SampleFn:
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; choose one of {sorted(SPACES)}")
    return SPACES[name]


def cheapest_cost(name: str, ctx: SpaceContext) -> Cost:
    """The least FLOPs and least params an architecture of space ``name`` can have."""
    get_space(name)
    return common.cheapest_cost(ctx, _MODULES[name].FAMILIES)


def cheapest_specs(name: str, ctx: SpaceContext) -> list[ArchSpec]:
    """The candidates for the cheapest architecture of space ``name`` (one per pair of families)."""
    get_space(name)
    return common.cheapest_specs(ctx, _MODULES[name].FAMILIES)


def random_specs(space: str, ctx: SpaceContext, n: int, seed: int = 0) -> list[ArchSpec]:
    """``n`` draws of a space by Optuna's random sampler through real trials (a fixed seed gives
    the same networks on every run, and the first ``n`` of a larger sample): the networks the
    tests and benchmarks use."""
    sample = get_space(space)
    study = optuna.create_study(directions=["maximize"] * 3, sampler=optuna.samplers.RandomSampler(seed=seed))
    return [sample(study.ask(), ctx) for _ in range(n)]


__all__ = ["SPACES", "SampleFn", "SpaceContext", "cheapest_cost", "cheapest_specs", "get_space", "random_specs"]
