"""build_model's initialisation: convs without BatchNorm get He init, so SqueezeNet learns."""

from __future__ import annotations

import pytest
from torch import nn

from nas import build_model
from nas.references import REFERENCES, adapt

from .helpers import SMALL


def test_convs_without_bn_get_he_init_and_networks_with_bn_keep_torchs() -> None:
    squeeze = build_model(adapt(REFERENCES["squeezenet1_1"], in_chs=3, num_classes=10, resolution=32, width_mult=1.0))
    convs = [m for m in squeeze.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.bias is not None for m in convs)  # SqueezeNet: no BN anywhere
    classifier = squeeze.classifier[0]
    for m in convs:
        fan_in = m.weight[0].numel()
        std = m.weight.std().item()
        if m is classifier:
            assert std == pytest.approx((3 * fan_in) ** -0.5, rel=0.25)  # torch's default
        else:
            assert std == pytest.approx((2 / fan_in) ** 0.5, rel=0.25)  # He (ReLU gain)
            assert m.bias.abs().max().item() == 0
    for m in build_model(SMALL).modules():  # BN after every conv: torch's default init, unchanged
        if isinstance(m, nn.Conv2d) and m.weight.numel() >= 200:
            fan_in = m.weight[0].numel()
            assert m.bias is None and m.weight.std().item() == pytest.approx((3 * fan_in) ** -0.5, rel=0.3)
