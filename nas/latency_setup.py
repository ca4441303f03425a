"""Where and how latency is measured: a record stored with a study (no torch: read by the report
and the front without loading the trainer)."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

BACKENDS = ("torch", "onnxruntime")


@dataclass(frozen=True)
class LatencySetup:
    """Where and how latency is measured; stored with a study, which refuses to mix setups."""

    machine: str
    threads: int = 1
    backend: str = "torch"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown latency backend {self.backend!r}; choose one of {list(BACKENDS)}")
        if self.threads < 1:
            raise ValueError(f"--latency-threads must be at least 1, got {self.threads}")

    def describe(self) -> str:
        return f"{self.backend}, {self.threads} thread{'s' if self.threads > 1 else ''}, {self.machine}"

    def as_dict(self) -> dict:
        return asdict(self)


def this_machine() -> str:
    """The CPU's model name and logical core count: machines alike in these time alike."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({os.cpu_count() or 1} cores, {platform.machine()})"
