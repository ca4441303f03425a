"""count_cost(spec): multiply-accumulates of conv and linear layers, and parameters.

The convention is torchvision's published "GFLOPS" and the MobileNet/ShuffleNet papers': one
multiply-add of a conv or linear layer counts once; BatchNorm, activations, pooling and biases
count zero. thop does the counting; it would also count BatchNorm and pooling, so those are
zeroed here. thop leaves ``total_ops``/``total_params`` buffers in what it profiles, so it only
ever sees a throwaway model built for the count, never one that is trained or exported.
"""

from __future__ import annotations

from dataclasses import dataclass

import thop
import torch
from thop.profile import register_hooks
from thop.vision.basic_hooks import zero_ops
from torch import nn

from nas.arch import ArchSpec
from nas.build import build_model

_COUNTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NOT_COUNTED = {kind: zero_ops for kind in register_hooks if kind not in _COUNTED}


@dataclass(frozen=True)
class Cost:
    flops: int  # multiply-accumulates of conv + linear layers for one image
    params: int  # trainable parameters

    def __str__(self) -> str:
        return f"{human(self.flops)} MACs, {human(self.params)} params"


def human(n: float) -> str:
    """1234567 -> '1.23M'."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def count_model_flops(model: nn.Module, in_chs: int, resolution: int) -> int:
    """MACs of one forward pass at batch size 1. Leaves thop buffers in ``model``: pass a copy."""
    x = torch.zeros(1, in_chs, resolution, resolution)
    was_training = model.training
    model.eval()
    flops, _ = thop.profile(model, inputs=(x,), custom_ops=_NOT_COUNTED, verbose=False)
    model.train(was_training)
    return int(flops)


def count_cost(spec: ArchSpec) -> Cost:
    """The cost of a spec at its input resolution."""
    model = build_model(spec)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    with torch.no_grad():
        return Cost(flops=count_model_flops(model, spec.in_chs, spec.resolution), params=params)
