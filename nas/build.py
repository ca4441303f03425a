"""build_model(spec): the one place an ArchSpec becomes an nn.Module."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nas.arch import ArchSpec
from nas.blocks import BLOCKS, conv_bn_act


class Net(nn.Module):
    """stem -> stages -> head, from plain tables (so exported code can build it without nas).

    ``stages`` rows are ``(block, in_chs, out_chs, stride, options)``, one per block.
    """

    def __init__(
        self,
        *,
        blocks: dict[str, type[nn.Module]],
        in_chs: int,
        num_classes: int,
        act: str,
        stem: dict[str, Any],
        stages: list[tuple[str, int, int, int, dict[str, Any]]],
        head: dict[str, Any],
    ) -> None:
        super().__init__()
        pool = stem["pool"]
        self.stem = conv_bn_act(
            in_chs, stem["out_chs"], stem["kernel_size"], stem["stride"], stem["padding"], bn=stem["bn"], act=act
        )
        if pool == "max":
            self.stem.append(nn.MaxPool2d(3, 2, padding=1))
        elif pool == "max_ceil":
            self.stem.append(nn.MaxPool2d(3, 2, ceil_mode=True))
        self.stages = nn.Sequential(
            *(blocks[name](cin, cout, stride, act=act, **opts) for name, cin, cout, stride, opts in stages)
        )
        chs = stages[-1][2]
        self.head_conv = conv_bn_act(chs, head["conv_chs"], 1, act=act) if head["conv_chs"] else nn.Identity()
        chs = head["conv_chs"] or chs
        self.dropout = nn.Dropout(head["dropout"]) if head["dropout"] else nn.Identity()
        if head["classifier"] == "conv":  # SqueezeNet: 1x1 conv to class maps, ReLU, then average
            self.classifier = nn.Sequential(nn.Conv2d(chs, num_classes, 1), nn.ReLU(inplace=True))
        else:
            self.classifier = nn.Linear(chs, num_classes)
        self.conv_classifier = head["classifier"] == "conv"
        self._init_convs_without_bn()

    def _init_convs_without_bn(self) -> None:
        """He init for the hidden convs that no BatchNorm follows (they carry a bias). torch's
        default init shrinks the signal layer by layer; without BN to restore it, a deep Fire
        stack starts with near-constant outputs that the ReLU after a conv classifier soon zeroes
        for good (loss ln(classes) throughout). The classifier keeps torch's init: it learned
        faster than torchvision's N(0, 0.01) here (bench/RESULTS.md, section 8). Networks with
        BN keep torch's defaults."""
        classifier = self.classifier[0] if self.conv_classifier else self.classifier
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None and m is not classifier:
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head_conv(self.stages(self.stem(x)))
        if self.conv_classifier:
            return self.classifier(self.dropout(x)).mean((2, 3))
        return self.classifier(self.dropout(x.mean((2, 3))))


def net_tables(spec: ArchSpec) -> dict[str, Any]:
    """The keyword arguments of ``Net`` for a spec, width multiplier applied (JSON-friendly)."""
    spec = spec.canonical()
    stem = dict(vars(spec.stem))
    rows = []
    in_chs = stem["out_chs"]
    for st in spec.stages:
        for i in range(st.depth):
            rows.append((st.block, in_chs, st.out_chs, st.stride if i == 0 else 1, st.opts))
            in_chs = st.out_chs
    return {
        "in_chs": spec.in_chs,
        "num_classes": spec.num_classes,
        "act": spec.act,
        "stem": stem,
        "stages": rows,
        "head": dict(vars(spec.head)),
    }


def build_model(spec: ArchSpec) -> nn.Module:
    """Build the network a spec describes (weights freshly initialised by torch's defaults)."""
    return Net(blocks=BLOCKS, **net_tables(spec))
