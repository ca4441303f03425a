"""Reference nets vs torchvision, and thop's counts vs torch.utils.flop_counter."""

from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm
from torch.utils.flop_counter import FlopCounterMode

from nas import build_model, count_cost
from nas.references import REFERENCES, adapt

TORCHVISION = {
    "squeezenet1_0": (tvm.squeezenet1_0, tvm.SqueezeNet1_0_Weights, 1_248_424),
    "squeezenet1_1": (tvm.squeezenet1_1, tvm.SqueezeNet1_1_Weights, 1_235_496),
    "mobilenet_v2": (tvm.mobilenet_v2, tvm.MobileNet_V2_Weights, 3_504_872),
    "shufflenet_v2_x0_5": (tvm.shufflenet_v2_x0_5, tvm.ShuffleNet_V2_X0_5_Weights, 1_366_792),
    "shufflenet_v2_x1_0": (tvm.shufflenet_v2_x1_0, tvm.ShuffleNet_V2_X1_0_Weights, 2_278_604),
}


def flop_counter_macs(model: torch.nn.Module, in_chs: int, resolution: int) -> int:
    """torch's own counter: FLOPs = 2 x MACs of conv/linear/matmul ops."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(1, in_chs, resolution, resolution))
    return counter.get_total_flops() // 2


def test_every_public_reference_is_there() -> None:
    assert set(TORCHVISION) | {"mobilenet_v1"} <= set(REFERENCES)


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_reference_matches_torchvision(name: str) -> None:
    factory, weights, params = TORCHVISION[name]
    spec = REFERENCES[name]
    theirs = factory(weights=None)
    cost = count_cost(spec)
    # parameters: exact, against the number in the issue and against the model torchvision builds
    assert cost.params == params == sum(p.numel() for p in theirs.parameters())
    assert sum(p.numel() for p in build_model(spec).parameters()) == params
    # MACs: equal to torchvision's model counted by torch, and to the published GFLOPS within
    # 1% or the published rounding (shufflenet_v2_x0_5 is published as 0.04 for 40.5M).
    assert cost.flops == flop_counter_macs(theirs, 3, 224)
    published = weights.IMAGENET1K_V1.meta["_ops"] * 1e9
    assert abs(cost.flops - published) <= max(0.01 * published, 0.5e6)
    # same outputs shape on a real forward pass
    assert build_model(spec).eval()(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_mobilenet_v1_matches_the_paper() -> None:
    cost = count_cost(REFERENCES["mobilenet_v1"])
    assert round(cost.params / 1e6, 2) == 4.23
    assert abs(cost.flops - 569e6) / 569e6 < 0.01


def test_adapted_references_run_at_small_sizes() -> None:
    import torch

    from nas import build_model

    for name, spec in REFERENCES.items():
        small = adapt(spec, in_chs=1, num_classes=10, resolution=8, width_mult=0.5)
        assert build_model(small).eval()(torch.zeros(1, 1, 8, 8)).shape == (1, 10), name
