"""Training images per second: the proxy trainer vs a conventional DataLoader pipeline.

    python bench/trainer_throughput.py [--dataset digits] [--archs 10] [--epochs 2] [--batch-size 64]
    python bench/trainer_throughput.py --random-cifar 50000 --device cuda   # GPU machines
    python bench/trainer_throughput.py --random-cifar 10000 --device cuda --cuda-bf16

Both train the same networks with the same optimiser, batch size and number of steps, side by
side in this one run. The networks are the search's own workload: ``--archs`` drawn from the
default space by Optuna's random sampler (fixed seed), plus one fixed mid-sized network.
- baseline: torchvision-style ``Dataset`` of uint8 images + ``transforms`` (random crop with
  padding, flip where allowed, ToTensor, Normalize) per sample, batched by ``DataLoader``; run
  with each ``--loader-workers`` setting, and the faster one per network is the baseline;
- figure: ``nas.proxy.train_and_evaluate`` (dataset as one tensor on the device, augmentation
  per batch on the device, no DataLoader, channels_last activations). On CUDA it runs fp32
  unless ``--cuda-bf16`` switches on the bf16 autocast it was measured against.
The figure is total images over total seconds across all networks, for each side. Also printed:
the bound, the same steps on one batch that never leaves the device, i.e. the network's own
compute; no input pipeline can beat it, so bound / baseline caps the reachable ratio. On CUDA the
mean GPU utilisation (NVML, the share of time a kernel was running) is sampled during each side's
training, after one untimed warm-up run (CUDA context, cuDNN and allocator start-up).
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import optuna
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import transforms
from workload import random_cifar, workload

from nas import ArchSpec, build_model
from nas.data import load_dataset
from nas.dataset import Dataset
from nas.proxy import ProxyConfig, augment, make_optimizer, resolve_device, train_and_evaluate


class ImageDataset(torch.utils.data.Dataset):
    """What a conventional pipeline holds: uint8 images, transformed one at a time."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), int(self.labels[i])


def baseline(spec: ArchSpec, data: Dataset, config: ProxyConfig, device: torch.device, workers: int) -> float:
    """Seconds the DataLoader pipeline takes for the proxy's steps, same model and optimiser."""
    x, y = data.split("train", spec.resolution)
    images = x.numpy().transpose(0, 2, 3, 1)  # uint8 HWC pictures, as a conventional dataset stores them
    steps = [transforms.ToPILImage(), transforms.RandomCrop(spec.resolution, padding=config.translate)]
    if data.hflip:
        steps.append(transforms.RandomHorizontalFlip())
    steps += [transforms.ToTensor(), transforms.Normalize(data.mean, data.std)]
    loader = DataLoader(
        ImageDataset(images, y.numpy(), transforms.Compose(steps)), batch_size=config.batch_size, shuffle=True,
        drop_last=True, num_workers=workers, persistent_workers=workers > 0,
    )  # fmt: skip
    batches = (batch for _ in range(config.epochs) for batch in loader)
    return timed_steps(spec, config, device, batches, config.epochs * len(loader))


def timed_steps(spec: ArchSpec, config: ProxyConfig, device: torch.device, batches: Iterable, total: int) -> float:
    """Seconds to train a fresh ``spec`` for ``total`` steps on ``batches`` with the proxy's
    optimiser and one-cycle schedule, fetching included."""
    torch.manual_seed(0)
    model = build_model(spec).to(device)
    optimizer, scheduler = make_optimizer(model, config, total)
    start = time.perf_counter()
    model.train()
    for xb, yb in batches:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        loss = F.cross_entropy(model(xb), yb, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compute_bound(spec: ArchSpec, data: Dataset, config: ProxyConfig, device: torch.device) -> float:
    """Seconds for the same steps on one batch that stays on the device, in the trainer's
    channels_last layout: the network's own forward, backward and update with no input pipeline at
    all, so images / seconds is the most that any way of feeding this network could reach."""
    x, y = data.split("train", spec.resolution)
    gen = torch.Generator(device=device).manual_seed(0)
    # augmented once, so the batch has the trainer's layout (a 1-channel tensor made contiguous in
    # channels_last keeps NCHW strides, and the convs would then run NCHW)
    xb = augment(data.scale(x[: config.batch_size].to(device)), config.translate, data.hflip, gen)
    yb = y[: config.batch_size].to(device)
    total = config.epochs * (len(x) // config.batch_size)
    return timed_steps(spec, config, device, itertools.repeat((xb, yb), total), total)


class GpuUtilisation:
    """Appends NVML's GPU utilisation to ``samples`` every ``period`` seconds while a block runs
    (CUDA only)."""

    def __init__(self, device: torch.device, samples: list[int], period: float = 0.05) -> None:
        self.device, self.samples, self.period = device, samples, period
        self._stop = threading.Event()

    def __enter__(self) -> None:
        if self.device.type == "cuda":
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.period):
            self.samples.append(torch.cuda.utilization(self.device))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.device.type == "cuda":
            self._thread.join()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--random-cifar", type=int, default=0, help="use N random CIFAR-shaped images instead")
    p.add_argument("--archs", type=int, default=10, help="networks sampled from the default space")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=ProxyConfig.batch_size)
    p.add_argument("--loader-workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts tried")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cuda-bf16", action="store_true", help="trainer: bf16 autocast on CUDA")
    args = p.parse_args()
    device = resolve_device(args.device)
    data = random_cifar(args.random_cifar) if args.random_cifar else load_dataset(args.dataset)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    specs = workload(data, args.archs)
    config = ProxyConfig(epochs=args.epochs, batch_size=args.batch_size)
    images = config.epochs * (len(data.train_x) // config.batch_size) * config.batch_size  # per network
    on_device = data.to(device)
    print(f"device {device}, {len(data.train_x)} training images, batch {config.batch_size}, {config.epochs} epochs, "
          f"{len(specs)} networks; images/s per network: proxy trainer | DataLoader with "
          f"{' / '.join(map(str, args.loader_workers))} workers | one resident batch")  # fmt: skip
    if device.type == "cuda":  # untimed: CUDA context, cuDNN and the caching allocator start up here
        train_and_evaluate(specs[-1], on_device, replace(config, epochs=1), device=device, cuda_bf16=args.cuda_bf16)
    ours_total = base_total = bound_total = 0.0
    ours_busy: list[int] = []
    base_busy: list[int] = []
    for spec in specs:
        base = {}
        for workers in args.loader_workers:
            with GpuUtilisation(device, base_busy):
                base[workers] = baseline(spec, data, config, device, workers)
        with GpuUtilisation(device, ours_busy):
            ours = train_and_evaluate(spec, on_device, config, device=device, seed=0, cuda_bf16=args.cuda_bf16)
            ours = ours.train_seconds
        bound = compute_bound(spec, on_device, config, device)
        ours_total += ours
        base_total += min(base.values())
        bound_total += bound
        rates = " / ".join(f"{images / t:6,.0f}" for t in base.values())
        print(f"  {images / ours:6,.0f} | {rates} | {images / bound:6,.0f}  ({min(base.values()) / ours:.2f}x; "
              f"bound {min(base.values()) / bound:.2f}x)  {spec.to_string()}")  # fmt: skip
    n = len(specs) * images
    print(f"baseline DataLoader + transforms (faster worker setting per network): {n / base_total:,.0f} images/s")
    print(f"figure   proxy trainer (tensors on device, no DataLoader):            {n / ours_total:,.0f} images/s")
    print(f"ratio {base_total / ours_total:.2f}x")
    cap = base_total / bound_total
    print(f"bound    the same steps on one resident batch (no input pipeline):   {n / bound_total:,.0f} images/s, "
          f"{cap:.2f}x the baseline: the most any trainer of these networks can reach")  # fmt: skip
    if device.type == "cuda":
        print(f"mean GPU utilisation: proxy trainer {np.mean(ours_busy):.0f}%, DataLoader runs (all worker "
              f"settings) {np.mean(base_busy):.0f}%  ({len(ours_busy)} / {len(base_busy)} NVML samples)")  # fmt: skip


if __name__ == "__main__":
    main()
