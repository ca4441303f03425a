"""Measured inference latency: batch 1, a fixed number of threads, on this machine's CPU.

FLOPs are a poor stand-in for latency on the targets lightweight networks are for (depthwise and
shuffle layers do few FLOPs and take long per FLOP), so a search can measure it. A network is
warmed up, then timed in blocks of runs (``timeit``; the median per-run time over the blocks,
their interquartile range as its spread). A busy neighbour only ever adds time, so a pass whose
spread is too wide is repeated and the fastest median of the passes is kept. ONNX Runtime is the
other backend, for deployments that run it.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import timeit
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from nas.arch import ArchSpec
from nas.build import build_model

BACKENDS = ("torch", "onnxruntime")
WARMUP_RUNS = 5
BLOCK_S = 0.002  # a timed block runs the network for about this long
BLOCKS = 9  # blocks per pass: the median and interquartile range are over these
MAX_SPREAD = 0.10  # interquartile range / median above this: the pass is repeated
MIN_PASSES = 3  # a slow spell can outlast a pass: the fastest of a few passes is kept
MAX_PASSES = 6


@dataclass(frozen=True)
class Latency:
    ms: float  # median time of one forward pass, milliseconds
    spread: float  # interquartile range / median of the kept pass
    passes: int  # how many passes it took (more than 1: the machine was busy)


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


def _torch_runner(model: nn.Module, x: torch.Tensor):
    model = model.eval()

    def run() -> None:
        with torch.inference_mode():
            model(x)

    return run


def _onnx_runner(model: nn.Module, x: torch.Tensor, threads: int):
    try:
        import onnxruntime
    except ImportError:
        raise ValueError(
            "--latency-backend onnxruntime needs onnxruntime: pip install 'lightweight-nas[onnx]'"
        ) from None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        # the TorchScript exporter: a fraction of a second for these networks, where dynamo takes seconds
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model.eval(), (x,), str(path), dynamo=False)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    return lambda: session.run(None, feed)


def measure_model(model: nn.Module, in_chs: int, resolution: int, setup: LatencySetup) -> Latency:
    """Latency of one forward pass of ``model`` at batch 1 on the CPU, as ``setup`` says."""
    model = model.cpu()
    x = torch.randn(1, in_chs, resolution, resolution)
    run = _onnx_runner(model, x, setup.threads) if setup.backend == "onnxruntime" else _torch_runner(model, x)
    previous = torch.get_num_threads()
    torch.set_num_threads(setup.threads)
    try:
        start = time.perf_counter()
        for _ in range(WARMUP_RUNS):
            run()
        # runs per block: a block lasts about BLOCK_S, so the timer's own cost is negligible
        number = max(1, round(BLOCK_S * WARMUP_RUNS / (time.perf_counter() - start)))
        timer = timeit.Timer(run)
        best: tuple[float, float] | None = None
        for passes in range(1, MAX_PASSES + 1):
            q1, median, q3 = statistics.quantiles([t / number for t in timer.repeat(BLOCKS, number)], n=4)
            if best is None or median < best[0]:
                best = median, (q3 - q1) / median
            if passes >= MIN_PASSES and best[1] <= MAX_SPREAD:
                break
    finally:
        torch.set_num_threads(previous)
    return Latency(ms=best[0] * 1e3, spread=best[1], passes=passes)


def measure(spec: ArchSpec, setup: LatencySetup) -> Latency:
    """Latency of a freshly built ``spec`` (weights do not change the time) at its resolution."""
    torch.manual_seed(0)
    return measure_model(build_model(spec), spec.in_chs, spec.resolution, setup)
