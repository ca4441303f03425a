"""build_model's initialisation: convs without BatchNorm get He init, so SqueezeNet learns."""

from __future__ import annotations

import pytest
from torch import nn

from nas import build_model, proxy
from nas.proxy import ProxyConfig, train_and_evaluate
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


@pytest.mark.slow
def test_squeezenet_learns_where_torchs_default_init_stays_at_chance(digits, monkeypatch) -> None:
    spec = adapt(REFERENCES["squeezenet1_1"], in_chs=1, num_classes=10, resolution=16, width_mult=0.5)
    config = ProxyConfig(epochs=20, lr=0.0125)  # the final-training grid's lowest rate
    fixed = train_and_evaluate(spec, digits, config, seed=0)

    def with_torch_defaults(s):  # noqa: ANN001, ANN202 (a spec; a module): the init before the fix
        model = build_model(s)
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.reset_parameters()
        return model

    monkeypatch.setattr(proxy, "build_model", with_torch_defaults)
    before = train_and_evaluate(spec, digits, config, seed=0)
    assert before.accuracy < 0.2 and before.final_loss > 2.2  # outputs constant: ln 10 = 2.303
    assert fixed.accuracy > 0.5 and fixed.final_loss < 2.0
