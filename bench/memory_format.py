"""Memory format of the proxy trainer's activations: channels_last vs NCHW, side by side.

    python bench/memory_format.py [--archs 6] [--epochs 1] [--device cpu]

The trainer's augmentation hands the network channels_last batches, so every conv runs
channels_last. This measures that choice against plain NCHW batches (the same values, cloned to
the default strides): same networks, same steps, in ABBA order per network to cancel drift. The
networks are the search's own workload (the default space's random sample and the fixed network of
``trainer_throughput.py``), on digits (1 channel) and on random 32x32 RGB images (3 channels).
"""

from __future__ import annotations

import argparse

import optuna
import torch
from workload import random_cifar, workload

from nas import ArchSpec
from nas.data import load_dataset
from nas.dataset import Dataset
from nas.proxy import ProxyConfig, resolve_device, train_and_evaluate

CHANNELS_LAST, NCHW = torch.channels_last, torch.contiguous_format


def seconds(
    spec: ArchSpec, data: Dataset, config: ProxyConfig, device: torch.device, fmt: torch.memory_format
) -> float:
    return train_and_evaluate(spec, data, config, device=device, memory_format=fmt).train_seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", type=int, default=6, help="networks sampled from the default space, per dataset")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--rgb-images", type=int, default=1500, help="size of the random RGB set")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    device = resolve_device(args.device)
    config = ProxyConfig(epochs=args.epochs)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for data in (load_dataset("digits"), random_cifar(args.rgb_images)):
        specs = workload(data, args.archs)
        data = data.to(device)
        images = args.epochs * (len(data.train_x) // config.batch_size) * config.batch_size * 2  # per network, ABBA
        last = nc = 0.0
        print(f"{data.name} on {device}: images/s per network, channels_last | NCHW")
        for spec in specs:
            a = seconds(spec, data, config, device, CHANNELS_LAST)
            b = seconds(spec, data, config, device, NCHW) + seconds(spec, data, config, device, NCHW)
            a += seconds(spec, data, config, device, CHANNELS_LAST)
            last, nc = last + a, nc + b
            print(f"  {images / a:6,.0f} | {images / b:6,.0f}  ({b / a:.2f}x)  {spec.to_string()}")
        n = images * len(specs)
        print(f"baseline NCHW batches:         {n / nc:,.0f} images/s")
        print(f"figure   channels_last batches: {n / last:,.0f} images/s")
        print(f"ratio {nc / last:.2f}x")


if __name__ == "__main__":
    main()
