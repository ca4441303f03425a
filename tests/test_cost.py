"""nas.cost: multiply-accumulates and parameters, by torchvision's convention."""

from __future__ import annotations

from torch import nn

from nas import ArchSpec, build_model
from nas.cost import count_cost, count_model_flops
from nas.references import REFERENCES
from search_spaces import SpaceContext, random_specs

from .test_references import flop_counter_macs

SPEC = ArchSpec.from_string("8px w1.0 in1 cls10 relu | stem:16 k3 s1 p1 bn1 | dwsep:24x1 s2 | head:0 linear d0.0")


def test_a_conv_and_a_linear_layer_count_one_mac_per_multiply_add() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=True), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))  # fmt: skip
    # conv: 8x8 outputs x 8 channels x (3 x 3 x 3) MACs; linear: 8 x 10; BN, ReLU, pooling, biases: 0
    assert count_model_flops(model, 3, 8) == 8 * 8 * 8 * 27 + 80


def test_a_spec_costs_what_its_built_model_holds_and_counting_leaves_it_clean() -> None:
    cost = count_cost(SPEC)
    model = build_model(SPEC)
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert cost.flops == count_model_flops(model, 1, 8) > 0
    assert not any("total_ops" in name for name, _ in model.named_buffers())  # thop's counters removed
    assert str(cost).endswith("params") and "MACs" in str(cost)


def test_thop_agrees_with_flop_counter_on_searched_specs() -> None:
    ctx = SpaceContext(in_chs=3, num_classes=10, resolutions=(16, 24, 32))
    for spec in random_specs("mixed", ctx, 25, seed=1):
        assert count_cost(spec).flops == flop_counter_macs(build_model(spec), spec.in_chs, spec.resolution)


def test_counting_leaves_no_thop_buffers_behind() -> None:
    spec = REFERENCES["shufflenet_v2_x0_5"]
    count_cost(spec)
    model = build_model(spec)
    keys = model.state_dict().keys()
    assert not [k for k in keys if "total_ops" in k or "total_params" in k]
    assert count_cost(spec) == count_cost(spec)  # counting twice gives the same, nothing accumulates
    count_model_flops(model, spec.in_chs, spec.resolution)  # counting a model leaves it as it was
    assert model.state_dict().keys() == keys and model.training
    assert not any(m._forward_hooks for m in model.modules())
