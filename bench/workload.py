"""The networks and data the benchmarks share: the search's own workload."""

from __future__ import annotations

import numpy as np

from nas import ArchSpec
from nas.dataset import Dataset, make_dataset
from nas.device_choice import PROBE_ARCH as ARCH  # a mid-sized network of the default space, fixed
from search_spaces import SpaceContext, random_specs


def sample_specs(data: Dataset, n: int, seed: int = 0) -> list[ArchSpec]:
    """``n`` draws of the default space by the random sampler (fixed seed: the same networks on
    every run, and the first ``n`` of a larger sample)."""
    return random_specs("mixed", SpaceContext(data.in_chs, data.num_classes, data.resolutions), n, seed)


def workload(data: Dataset, n: int) -> list[ArchSpec]:
    """``n`` sampled networks plus the fixed mid-sized one, at the dataset's largest resolution."""
    fixed = ARCH.format(res=max(data.resolutions), chs=data.in_chs, cls=data.num_classes)
    return [*sample_specs(data, n), ArchSpec.from_string(fixed)]


def random_cifar(n: int) -> Dataset:
    """CIFAR-10-shaped random data (for GPU machines without the dataset)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    test = (images[:1000], labels[:1000])
    return make_dataset("random-cifar", (images, labels), test, hflip=True, resolutions=(32,))
