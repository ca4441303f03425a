"""The classic hand-designed compact networks as ArchSpecs (ImageNet setting: 224 px, 1000 classes).

Built with ``build_model`` they have exactly torchvision's parameter counts (MobileNet v1, which
torchvision lacks, matches the paper's 4.23M parameters / 569M multiply-adds), so the search
space contains the seed's classic designs and reports can place them next to searched ones.
"""

from __future__ import annotations

import dataclasses

from nas.arch import ArchSpec, HeadSpec, StageSpec, StemSpec

_FIRE = {"bn": False}  # SqueezeNet has no BatchNorm: convs carry biases


def _fire(out_chs: int, depth: int, stride: int = 1) -> StageSpec:
    return StageSpec("fire", out_chs, depth, stride, _FIRE)


def _shufflenet_v2(chs: tuple[int, int, int]) -> ArchSpec:
    return ArchSpec(
        stem=StemSpec(24, 3, 2, 1, pool="max"),
        stages=tuple(StageSpec("shuffle", c, d, 2) for c, d in zip(chs, (4, 8, 4), strict=True)),
        head=HeadSpec(1024),
        resolution=224,
        num_classes=1000,
    )


REFERENCES: dict[str, ArchSpec] = {
    # SqueezeNet: max-pools between Fire groups are Fire stages with stride 2.
    "squeezenet1_0": ArchSpec(
        stem=StemSpec(96, 7, 2, 0, bn=False, pool="max_ceil"),
        stages=(_fire(128, 2), _fire(256, 1), _fire(256, 1, 2), _fire(384, 2), _fire(512, 1), _fire(512, 1, 2)),
        head=HeadSpec(0, "conv", 0.5),
        resolution=224,
        num_classes=1000,
    ),
    "squeezenet1_1": ArchSpec(
        stem=StemSpec(64, 3, 2, 0, bn=False, pool="max_ceil"),
        stages=(_fire(128, 2), _fire(256, 2, 2), _fire(384, 2, 2), _fire(512, 2)),
        head=HeadSpec(0, "conv", 0.5),
        resolution=224,
        num_classes=1000,
    ),
    "mobilenet_v1": ArchSpec(
        stem=StemSpec(32),
        stages=tuple(
            StageSpec("dwsep", c, d, s) for c, d, s in ((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2))
        ),
        resolution=224,
        num_classes=1000,
    ),
    "mobilenet_v2": ArchSpec(
        stem=StemSpec(32),
        stages=tuple(
            StageSpec("ir", c, n, s, {"exp_ratio": t})
            for t, c, n, s in (
                (1, 16, 1, 1),
                (6, 24, 2, 2),
                (6, 32, 3, 2),
                (6, 64, 4, 2),
                (6, 96, 3, 1),
                (6, 160, 3, 2),
                (6, 320, 1, 1),
            )
        ),
        head=HeadSpec(1280, "linear", 0.2),
        resolution=224,
        num_classes=1000,
        act="relu6",
    ),
    "shufflenet_v2_x0_5": _shufflenet_v2((48, 96, 192)),
    "shufflenet_v2_x1_0": _shufflenet_v2((116, 232, 464)),
}


def adapt(spec: ArchSpec, *, in_chs: int, num_classes: int, resolution: int, width_mult: float) -> ArchSpec:
    """A reference design rebuilt for another input size, class count and width.

    Small inputs (< 64 px) get the usual small-image stem (stride 1, no max-pool), and a stride
    is dropped once the feature map is below 4x4, the rule the search spaces follow too.
    """
    stem = spec.stem
    if resolution < 64:
        stem = dataclasses.replace(stem, stride=1, pool="none", padding=stem.kernel_size // 2)
    size = resolution // stem.stride // (2 if stem.pool != "none" else 1)
    stages = []
    for stage in spec.stages:
        stride = stage.stride if size >= 4 else 1
        size = (size + 1) // stride
        stages.append(dataclasses.replace(stage, stride=stride))
    return dataclasses.replace(
        spec, stem=stem, stages=tuple(stages), in_chs=in_chs, num_classes=num_classes,
        resolution=resolution, width_mult=width_mult,
    )  # fmt: skip
