"""Measured inference latency: batch 1, a fixed number of threads, on this machine's CPU.

FLOPs are a poor stand-in for latency on the targets lightweight networks are for (depthwise and
shuffle layers do few FLOPs and take long per FLOP), so a search can measure it. A network is
warmed up, then timed in blocks of runs of about 5 ms (``timeit``), a few passes of them. A busy
neighbour only ever adds time, so the figure is the per-run time of the fastest block, as
``timeit``'s docs advise (on the shared machine this was built on, slow spells of up to 2x come
and go, and the fastest block ranked networks alike from one measurement to the next where the
median did not: bench/RESULTS.md); the blocks' interquartile range over their median is recorded
as the spread, and a wide spread earns one more pass. ONNX Runtime is the other backend, for
deployments that run it.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import timeit
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nas.arch import ArchSpec
from nas.build import build_model
from nas.latency_setup import LatencySetup

WARMUP_RUNS = 5
BLOCK_S = 0.005  # a timed block runs the network for about this long
BLOCKS = 7  # blocks per pass
MAX_SPREAD = 0.10  # interquartile range / median of the blocks above this: one more pass
MIN_PASSES = 3  # a slow spell can outlast a pass: a few passes, the fastest block of all kept
MAX_PASSES = 4  # at most 4 x 7 x 5 ms: about 2% of a default trial here (bench/latency.py)


@dataclass(frozen=True)
class Latency:
    ms: float  # time of one forward pass in the fastest block, milliseconds
    spread: float  # interquartile range / median of all the blocks' times: how busy the machine was
    passes: int  # passes of BLOCKS blocks it took (more than MIN_PASSES: the machine was busy)
    median_ms: float = 0.0  # the blocks' median, for the record


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
        blocks: list[float] = []  # seconds per run, one figure per block
        for passes in range(1, MAX_PASSES + 1):
            blocks += [t / number for t in timer.repeat(BLOCKS, number)]
            q1, median, q3 = statistics.quantiles(blocks, n=4)
            if passes >= MIN_PASSES and (q3 - q1) / median <= MAX_SPREAD:
                break
    finally:
        torch.set_num_threads(previous)
    return Latency(ms=min(blocks) * 1e3, spread=(q3 - q1) / median, passes=passes, median_ms=median * 1e3)


def measure(spec: ArchSpec, setup: LatencySetup) -> Latency:
    """Latency of a freshly built ``spec`` (weights do not change the time) at its resolution."""
    torch.manual_seed(0)
    return measure_model(build_model(spec), spec.in_chs, spec.resolution, setup)
