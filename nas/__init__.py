"""lightweight NAS: multi-objective search over Fire / depthwise-separable / inverted-residual /
shuffle networks, scored by accuracy, FLOPs (multiply-accumulates) and parameters."""

from __future__ import annotations

from nas.arch import ArchSpec, HeadSpec, StageSpec, StemSpec
from nas.build import build_model
from nas.cost import Cost, count_cost

__all__ = ["ArchSpec", "Cost", "HeadSpec", "StageSpec", "StemSpec", "build_model", "count_cost"]
__version__ = "0.1.0"
