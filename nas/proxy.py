"""The proxy trainer: a short, honest training run that scores an architecture.

airbench's recipe, scaled down: the whole dataset lives as one tensor on the device, random
translations and flips are done on the device per batch, no DataLoader; SGD with Nesterov
momentum, a one-cycle (or cosine) schedule and label smoothing. On the CPU a given seed gives the
same accuracy every time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import ArchSpec
from nas.build import build_model
from nas.data import Dataset

# bf16 autocast on CUDA: off, by measurement on an H200. The search's networks are so small that
# a step is bound by kernel launches (GPU busy 6-14%), so bf16 does not speed a step up, while each
# new network pays more cuDNN set-up (5 new digits networks: 10.7 s in fp32, 13.3 s in bf16, 18.3 s
# in bf16 with the model's weights channels_last as well) and bf16 ranked worse (bench/RESULTS.md,
# section 1). Never used on the CPU, where it is slower too.
CUDA_BF16 = False


@dataclass(frozen=True)
class ProxyConfig:
    # Passes over the training split. 10, not 6: against independent long runs on the benchmark's
    # shapes set, tau 0.58 vs 0.46, where 6 fell below FLOPs-only (0.49) (bench/RESULTS.md).
    epochs: int = 10
    batch_size: int = 64
    # Peak learning rate of the schedule. 0.2, not 0.4: at equal cost it ranks better on the shapes
    # set (tau 0.62 vs 0.58 against an independent long run; 0.1 ranks worse) (bench/RESULTS.md).
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    schedule: str = "onecycle"  # or "cosine"
    translate: int = 1  # random shifts of up to this many pixels (zero padding)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.schedule not in ("onecycle", "cosine"):
            raise ValueError(
                f"bad proxy config: epochs={self.epochs}, batch_size={self.batch_size}, schedule={self.schedule!r}"
            )


@dataclass
class ProxyResult:
    accuracy: float  # top-1 on the evaluation split, in [0, 1]
    train_seconds: float
    eval_seconds: float
    images_per_second: float  # training throughput
    final_loss: float
    model: nn.Module  # the trained model (on the device it trained on)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present; an unavailable device raises ValueError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine (use cpu or auto)")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device


def augment(x: torch.Tensor, translate: int, hflip: bool, gen: torch.Generator) -> torch.Tensor:
    """Per-image random shifts (zero padded) and, where labels allow, horizontal flips.

    The batch comes back channels_last (NHWC in memory), so every conv of the network runs
    channels_last: 1.16x faster on the CPU than NCHW (bench/RESULTS.md, section 1)."""
    n, _, h, w = x.shape
    if translate > 0:
        padded = F.pad(x, (translate,) * 4)
        dy, dx = (torch.randint(0, 2 * translate + 1, (2, n), generator=gen, device=gen.device)).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (N, H, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (N, 1, W)
        x = padded.permute(0, 2, 3, 1)[torch.arange(n, device=x.device)[:, None, None], rows, cols]
        x = x.permute(0, 3, 1, 2)
    if hflip:
        flip = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x.contiguous(memory_format=torch.channels_last)  # a no-op after a shift


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy in eval mode."""
    model.eval()
    correct = 0
    bf16 = x.device.type == "cuda" and CUDA_BF16
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            correct += (model(xb).argmax(1) == y[i : i + batch_size]).sum().item()
    return correct / max(1, len(x))


def train_and_evaluate(
    spec: ArchSpec,
    data: Dataset,
    config: ProxyConfig = ProxyConfig(),
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    train_on: tuple[str, ...] = ("train",),
    eval_on: str = "val",
) -> ProxyResult:
    """Build ``spec`` (seeded), train it on ``train_on`` splits, return accuracy on ``eval_on``."""
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    bf16 = on_cuda and CUDA_BF16
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    model = build_model(spec).to(device)

    parts = [data.split(name, spec.resolution) for name in train_on]
    x = torch.cat([p[0] for p in parts]).to(device)
    y = torch.cat([p[1] for p in parts]).to(device)
    n = len(x)
    steps_per_epoch = max(1, n // config.batch_size)  # drop the ragged last batch: stable BN
    total_steps = config.epochs * steps_per_epoch

    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True, weight_decay=config.weight_decay
    )
    if config.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)

    start = time.perf_counter()
    loss = torch.zeros((), device=device)
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n, generator=gen, device=device)
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            xb = augment(x[idx], config.translate, data.hflip, gen)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(xb), y[idx], label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        final_loss = loss.item()  # one host sync per epoch, not per step
        if not math.isfinite(final_loss):
            raise TrainingDiverged(f"loss became {final_loss} in epoch {epoch + 1}")
    if on_cuda:
        torch.cuda.synchronize(device)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    val_x, val_y = data.split(eval_on, spec.resolution)
    accuracy = evaluate(model, val_x.to(device), val_y.to(device))
    eval_seconds = time.perf_counter() - start
    return ProxyResult(
        accuracy=accuracy,
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        images_per_second=total_steps * config.batch_size / max(train_seconds, 1e-9),
        final_loss=final_loss,
        model=model,
    )
