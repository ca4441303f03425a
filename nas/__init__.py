"""lightweight NAS: multi-objective search over Fire / depthwise-separable / inverted-residual /
shuffle networks, scored by accuracy, FLOPs (multiply-accumulates) and parameters."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas.arch import ArchSpec, HeadSpec, StageSpec, StemSpec
    from nas.build import build_model
    from nas.cost import Cost, count_cost

__all__ = ["ArchSpec", "Cost", "HeadSpec", "StageSpec", "StemSpec", "build_model", "count_cost"]
__version__ = "0.1.0"

# Imported on first use, so that entry points which need no torch (the dashboard) do not load it.
_HOME = {
    **dict.fromkeys(("ArchSpec", "HeadSpec", "StageSpec", "StemSpec"), "nas.arch"),
    "build_model": "nas.build",
    **dict.fromkeys(("Cost", "count_cost"), "nas.cost"),
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'nas' has no attribute {name!r}")
