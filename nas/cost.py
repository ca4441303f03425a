"""count_cost(spec): multiply-accumulates of conv and linear layers, and parameters.

The convention is torchvision's published "GFLOPS" and the MobileNet/ShuffleNet papers': one
multiply-add of a conv or linear layer counts once; BatchNorm, activations, pooling and biases
count zero. thop's own rules count the conv and linear layers. ``thop.profile`` itself is not
used: it puts two buffers and two hooks on every module (BatchNorm, ReLU, containers) only for
them to count zero here, which doubled the cost of counting, paid on every trial.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from thop.profile import register_hooks
from torch import nn

from nas.arch import ArchSpec
from nas.build import build_model
from nas.units import human

_COUNTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass(frozen=True)
class Cost:
    flops: int  # multiply-accumulates of conv + linear layers for one image
    params: int  # trainable parameters

    def __str__(self) -> str:
        return f"{human(self.flops)} MACs, {human(self.params)} params"


def count_model_flops(model: nn.Module, in_chs: int, resolution: int) -> int:
    """MACs of one forward pass at batch size 1, by thop's rule for each conv and linear layer.
    The model is left as it was (thop's ``total_ops`` buffers and the hooks are removed)."""
    counted = [m for m in model.modules() if isinstance(m, _COUNTED)]
    hooks = []
    for m in counted:
        m.register_buffer("total_ops", torch.zeros(1, dtype=torch.float64))
        hooks.append(m.register_forward_hook(register_hooks[type(m)]))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_chs, resolution, resolution))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return int(sum(m._buffers.pop("total_ops").item() for m in counted))


def count_cost(spec: ArchSpec) -> Cost:
    """The cost of a spec at its input resolution."""
    model = build_model(spec)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Cost(flops=count_model_flops(model, spec.in_chs, spec.resolution), params=params)
