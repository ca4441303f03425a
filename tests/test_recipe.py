"""nas.recipe: the proxy recipe, plain and checked."""

import pytest

from nas.recipe import ProxyConfig


def test_a_larger_batch_scales_the_learning_rate_linearly() -> None:
    assert ProxyConfig().with_batch(256) == ProxyConfig(batch_size=256, lr=ProxyConfig.lr * 4)


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"batch_size": 0}, {"schedule": "step"}])
def test_a_bad_recipe_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="bad proxy config"):
        ProxyConfig(**bad)
