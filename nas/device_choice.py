"""``--device auto``: the faster device for the workload at hand, by a short measured probe.

The search's networks are small, and for small inputs a GPU step is bound by kernel launches and
host work: a GPU can lose to the CPU (bench/RESULTS.md, section 1). So where CUDA is present,
``auto`` trains one network of the search space on the dataset's own images for a few steps on
each device and takes the faster, and says so; without CUDA it is the CPU, with no probe.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from nas.arch import ArchSpec
from nas.dataset import Dataset
from nas.proxy import ProxyConfig, train_and_evaluate

PROBE_STEPS = 30  # timed training steps per device, after as many again to warm up
# A mid-sized network of the default space, at the dataset's shape (the benchmarks' fixed one too).
PROBE_ARCH = (
    "{res}px w0.75 in{chs} cls{cls} relu | stem:16 k3 s1 p1 bn1 | ir:24x2 s2 e3.0 k3 | "
    "fire:48x2 s1 e3x0.5 sr0.25 | shuffle:64x2 s2 | head:128 linear d0.0"
)


def probe_seconds(device: str, data: Dataset, config: ProxyConfig = ProxyConfig()) -> float:
    """Seconds per training step of the probe network on ``device``, as the proxy trainer runs it
    (its data resident on the device, its augmentation, optimiser and batch)."""
    spec = ArchSpec.from_string(PROBE_ARCH.format(res=max(data.resolutions), chs=data.in_chs, cls=data.num_classes))
    n = min(len(data.train_y), 2 * PROBE_STEPS * config.batch_size)
    sample = data.head(n).to(device)
    steps = max(1, n // config.batch_size)
    one_epoch = ProxyConfig(epochs=1, batch_size=config.batch_size, lr=config.lr)
    train_and_evaluate(spec, sample, one_epoch, device=device)  # warm-up: allocator, cuDNN autotuning, lazy init
    start = time.perf_counter()
    train_and_evaluate(spec, sample, one_epoch, device=device)
    return (time.perf_counter() - start) / steps


def choose_device(cuda_devices: int, probe: Callable[[str], float]) -> tuple[str, str]:
    """(device, why) for ``--device auto``: the CPU without CUDA; else whichever of ``cuda`` and
    ``cpu`` ran the probe's steps faster."""
    if cuda_devices == 0:
        return "cpu", "no CUDA device"
    gpu, cpu = probe("cuda"), probe("cpu")
    times = f"a probe training step took {gpu * 1e3:.1f} ms on the GPU, {cpu * 1e3:.1f} ms on the CPU"
    return ("cuda", times) if gpu < cpu else ("cpu", times)


def cuda_device_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def auto_device(load: Callable[[], Dataset]) -> tuple[str, str]:
    """``choose_device`` with the real probe on the data ``load`` returns (loaded only where CUDA
    is present)."""
    count = cuda_device_count()
    data = load() if count else None
    return choose_device(count, lambda device: probe_seconds(device, data))
