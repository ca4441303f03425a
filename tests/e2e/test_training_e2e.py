"""Training long enough to tell learning from chance (slow)."""

from __future__ import annotations

import pytest
from torch import nn

from nas import build_model, proxy
from nas.proxy import ProxyConfig, train_and_evaluate
from nas.references import REFERENCES, adapt


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
