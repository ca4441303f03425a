from __future__ import annotations

import pytest
import torch

from nas.blocks import BLOCKS, OPTIONS, block_options, channel_shuffle


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.parametrize(("in_chs", "out_chs", "stride"), [(8, 8, 1), (8, 16, 1), (8, 12, 2), (6, 6, 2)])
@pytest.mark.parametrize("size", [1, 5, 8])
def test_every_block_forward_backward(name: str, in_chs: int, out_chs: int, stride: int, size: int) -> None:
    if name == "fire" and stride == 2 and size < 2:
        pytest.skip("SqueezeNet's 3x3/2 ceil-mode pool needs at least 2x2 input; the spaces never ask for less")
    block = BLOCKS[name](in_chs, out_chs, stride, act="relu")
    x = torch.randn(2, in_chs, size, size, requires_grad=True)
    y = block(x)
    assert y.shape[:2] == (2, out_chs)
    expected = size if stride == 1 else (size + 1) // 2 if name != "fire" else -(-(size - 3) // 2) + 1
    assert y.shape[-1] == max(1, expected)
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in block.parameters())


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_every_block_accepts_its_declared_options(name: str) -> None:
    block = BLOCKS[name](8, 8, 1, act="relu6", **OPTIONS[name])
    assert block(torch.randn(1, 8, 4, 4)).shape == (1, 8, 4, 4)


def test_options_are_read_off_the_constructor() -> None:
    """OPTIONS cannot drift from the constructors: it is their keyword-only defaults (act aside)."""

    class Probe(torch.nn.Module):
        def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 5, act: str = "relu"):
            super().__init__()

    assert block_options(Probe) == {"kernel_size": 5}
    assert OPTIONS["ir"] == {"exp_ratio": 6.0, "kernel_size": 3}


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("fire", {"squeeze_ratio": 0.0}, "squeeze_ratio must be in (0, 1], got 0.0"),
        ("fire", {"expand3x3_ratio": 1.0}, "expand3x3_ratio must be in (0, 1), got 1.0"),
        ("dwsep", {"kernel_size": 4}, "kernel_size must be 3, 5 or 7, got 4"),
        ("ir", {"exp_ratio": 0.5}, "exp_ratio must be in [1, 8], got 0.5"),
        ("shuffle", {"kernel_size": 2}, "kernel_size must be 3, 5 or 7, got 2"),
    ],
)
def test_invalid_options_name_the_values(name: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        BLOCKS[name](8, 8, 1, **kwargs)


def test_invalid_shapes_name_the_values() -> None:
    with pytest.raises(ValueError, match="out_chs must be even.*got 7"):
        BLOCKS["shuffle"](8, 7, 2)
    with pytest.raises(ValueError, match="stride must be 1 or 2, got 3"):
        BLOCKS["dwsep"](8, 8, 3)


def test_inverted_residual_adds_residual_only_when_shapes_allow() -> None:
    assert BLOCKS["ir"](8, 8, 1).use_residual
    assert not BLOCKS["ir"](8, 8, 2).use_residual
    assert not BLOCKS["ir"](8, 16, 1).use_residual


def test_channel_shuffle_interleaves_groups() -> None:
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]
