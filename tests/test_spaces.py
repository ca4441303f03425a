from __future__ import annotations

import pytest
import torch

from nas import build_model
from search_spaces import SPACES, SpaceContext, cheapest_cost, get_space, random_specs

DIGITS = SpaceContext(in_chs=1, num_classes=10, resolutions=(8, 12, 16))
CIFAR = SpaceContext(in_chs=3, num_classes=100, resolutions=(16, 24, 32))


@pytest.mark.parametrize("ctx", [DIGITS, CIFAR], ids=["digits", "cifar"])
def test_every_sampled_spec_of_the_default_space_builds_and_runs(ctx: SpaceContext) -> None:
    specs = random_specs("mixed", ctx, 100)
    families = set()
    for spec in specs:
        families |= {s.block for s in spec.stages}
        model = build_model(spec).eval()
        with torch.no_grad():
            out = model(torch.randn(2, ctx.in_chs, spec.resolution, spec.resolution))
        assert out.shape == (2, ctx.num_classes), spec.to_string()
    assert families == {"fire", "dwsep", "ir", "shuffle"}
    assert {s.resolution for s in specs} == set(ctx.resolutions)
    assert {s.width_mult for s in specs} == {0.5, 0.75, 1.0}
    assert len({s.digest() for s in specs}) > 95  # a rich space, not a handful of networks


@pytest.mark.parametrize(
    ("space", "families"), [("squeezenet", {"fire"}), ("mobilenet", {"dwsep", "ir"}), ("shufflenet", {"shuffle"})]
)
def test_single_family_spaces_stay_in_their_family(space: str, families: set) -> None:
    for spec in random_specs(space, DIGITS, 30):
        assert {s.block for s in spec.stages} <= families
        assert build_model(spec)(torch.randn(1, 1, spec.resolution, spec.resolution)).shape == (1, 10)


def test_unknown_space_is_a_clear_error() -> None:
    assert set(SPACES) == {"mixed", "squeezenet", "mobilenet", "shufflenet"}
    with pytest.raises(ValueError, match="unknown search space 'nope'"):
        get_space("nope")


def test_cheapest_cost_is_a_lower_bound_of_the_space() -> None:
    ctx = SpaceContext(1, 10, (8, 12, 16))
    for space in ("mixed", "squeezenet", "mobilenet", "shufflenet"):
        least = cheapest_cost(space, ctx)
        from nas import count_cost

        costs = [count_cost(s) for s in random_specs(space, ctx, 40, seed=3)]
        assert least.flops <= min(c.flops for c in costs) and least.params <= min(c.params for c in costs)
