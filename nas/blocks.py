"""The compact building blocks the search mixes: Fire, depthwise-separable, inverted residual, shuffle.

Every block has the uniform constructor ``(in_chs, out_chs, stride, *, act, **options)`` and is
registered by name in ``BLOCKS``; ``OPTIONS`` lists each block's options with their defaults, read
off the constructor's signature (the default's type is the option's type). Bad arguments raise
``ValueError`` naming the values.

This file imports only torch and the standard library: ``nas.export`` copies these classes
verbatim into standalone code.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6}


def conv_bn_act(
    in_chs: int,
    out_chs: int,
    kernel_size: int,
    stride: int = 1,
    padding: int | None = None,
    groups: int = 1,
    bn: bool = True,
    act: str | None = "relu",
) -> nn.Sequential:
    """Conv + BatchNorm + activation; without BN the conv carries a bias (SqueezeNet style)."""
    padding = kernel_size // 2 if padding is None else padding
    layers: list[nn.Module] = [nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding, groups=groups, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(out_chs))
    if act is not None:
        layers.append(ACTIVATIONS[act](inplace=True))
    return nn.Sequential(*layers)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: let information cross the channel groups."""
    n, c, h, w = x.shape
    x = x.view(n, groups, c // groups, h, w)  # [N, g, C/g, H, W]
    x = x.transpose(1, 2).contiguous()  # [N, C/g, g, H, W]: interleave the groups
    return x.view(n, c, h, w)  # flatten back


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_common(name: str, in_chs: int, out_chs: int, stride: int, act: str) -> None:
    _check(in_chs >= 1 and out_chs >= 1, f"{name}: channels must be >= 1, got in_chs={in_chs}, out_chs={out_chs}")
    _check(stride in (1, 2), f"{name}: stride must be 1 or 2, got {stride}")
    _check(act in ACTIVATIONS, f"{name}: act must be one of {sorted(ACTIVATIONS)}, got {act!r}")


class Fire(nn.Module):
    """SqueezeNet's Fire: a 1x1 squeeze, then 1x1 and 3x3 expands concatenated.

    SqueezeNet downsamples with a 3x3/2 max-pool between Fire modules; stride 2 puts it in front.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        *,
        squeeze_ratio: float = 0.125,
        expand3x3_ratio: float = 0.5,
        bn: bool = True,
        act: str = "relu",
    ) -> None:
        super().__init__()
        _check_common("Fire", in_chs, out_chs, stride, act)
        _check(0 < squeeze_ratio <= 1, f"Fire: squeeze_ratio must be in (0, 1], got {squeeze_ratio}")
        _check(0 < expand3x3_ratio < 1, f"Fire: expand3x3_ratio must be in (0, 1), got {expand3x3_ratio}")
        _check(out_chs >= 2, f"Fire: out_chs must be >= 2 (two expand branches), got {out_chs}")
        squeeze_chs = max(1, round(out_chs * squeeze_ratio))
        expand3x3_chs = min(out_chs - 1, max(1, round(out_chs * expand3x3_ratio)))
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True) if stride == 2 else nn.Identity()
        self.squeeze = conv_bn_act(in_chs, squeeze_chs, 1, bn=bn, act=act)
        self.expand1x1 = conv_bn_act(squeeze_chs, out_chs - expand3x3_chs, 1, bn=bn, act=act)
        self.expand3x3 = conv_bn_act(squeeze_chs, expand3x3_chs, 3, bn=bn, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(self.pool(x))
        return torch.cat([self.expand1x1(x), self.expand3x3(x)], 1)


class DepthwiseSeparable(nn.Module):
    """MobileNet v1: a depthwise kxk conv (one filter per channel), then a 1x1 pointwise conv."""

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3, act: str = "relu") -> None:
        super().__init__()
        _check_common("DepthwiseSeparable", in_chs, out_chs, stride, act)
        _check(kernel_size in (3, 5, 7), f"DepthwiseSeparable: kernel_size must be 3, 5 or 7, got {kernel_size}")
        self.depthwise = conv_bn_act(in_chs, in_chs, kernel_size, stride, groups=in_chs, act=act)
        self.pointwise = conv_bn_act(in_chs, out_chs, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class InvertedResidual(nn.Module):
    """MobileNetV2: 1x1 expand, depthwise kxk, linear 1x1 project; a residual when shapes allow."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int = 1,
        *,
        exp_ratio: float = 6.0,
        kernel_size: int = 3,
        act: str = "relu6",
    ) -> None:
        super().__init__()
        _check_common("InvertedResidual", in_chs, out_chs, stride, act)
        _check(1 <= exp_ratio <= 8, f"InvertedResidual: exp_ratio must be in [1, 8], got {exp_ratio}")
        _check(kernel_size in (3, 5, 7), f"InvertedResidual: kernel_size must be 3, 5 or 7, got {kernel_size}")
        hidden = int(round(in_chs * exp_ratio))
        self.use_residual = stride == 1 and in_chs == out_chs
        layers = [] if exp_ratio == 1 else [conv_bn_act(in_chs, hidden, 1, act=act)]
        layers += [
            conv_bn_act(hidden, hidden, kernel_size, stride, groups=hidden, act=act),
            conv_bn_act(hidden, out_chs, 1, act=None),  # linear bottleneck: no activation
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit: split channels, transform one half, concatenate, shuffle.

    The two-branch (downsampling) form is used for stride 2 and also whenever the channel count
    changes, so every (in_chs, out_chs, stride) the search samples is a valid unit.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int = 1, *, kernel_size: int = 3, act: str = "relu") -> None:
        super().__init__()
        _check_common("ShuffleUnit", in_chs, out_chs, stride, act)
        _check(out_chs % 2 == 0, f"ShuffleUnit: out_chs must be even (two branches), got {out_chs}")
        _check(kernel_size in (3, 5, 7), f"ShuffleUnit: kernel_size must be 3, 5 or 7, got {kernel_size}")
        branch = out_chs // 2
        self.split = stride == 1 and in_chs == out_chs
        if self.split:
            self.branch1 = nn.Identity()
        else:
            self.branch1 = nn.Sequential(
                conv_bn_act(in_chs, in_chs, kernel_size, stride, groups=in_chs, act=None),
                conv_bn_act(in_chs, branch, 1, act=act),
            )
        branch2_in = branch if self.split else in_chs
        self.branch2 = nn.Sequential(
            conv_bn_act(branch2_in, branch, 1, act=act),
            conv_bn_act(branch, branch, kernel_size, stride, groups=branch, act=None),
            conv_bn_act(branch, branch, 1, act=act),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


BLOCKS: dict[str, type[nn.Module]] = {}
OPTIONS: dict[str, dict[str, bool | int | float]] = {}
# One-or-two-letter codes of each option in the compact arch string (see nas.arch).
OPTION_CODES = {"squeeze_ratio": "sr", "expand3x3_ratio": "e3x", "bn": "bn", "exp_ratio": "e", "kernel_size": "k"}


def block_options(cls: type[nn.Module]) -> dict[str, bool | int | float]:
    """The keyword-only options of a block's constructor (``act`` aside) with their defaults."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY and p.name != "act"}


def register_block(name: str, cls: type[nn.Module]) -> None:
    """Add a block type; its options and their defaults come from its constructor."""
    options = block_options(cls)
    unknown = set(options) - set(OPTION_CODES)
    if unknown:
        raise ValueError(f"options {sorted(unknown)} of block {name!r} have no code in OPTION_CODES")
    BLOCKS[name] = cls
    OPTIONS[name] = dict(options)


register_block("fire", Fire)
register_block("dwsep", DepthwiseSeparable)
register_block("ir", InvertedResidual)
register_block("shuffle", ShuffleUnit)
