"""The proxy trainer: a short, honest training run that scores an architecture.

airbench's recipe, scaled down: the whole dataset lives as one uint8 tensor on the device, each
batch is scaled, shifted and flipped on the device, no DataLoader; SGD with Nesterov
momentum, a one-cycle (or cosine) schedule and label smoothing. On the CPU a given seed gives the
same accuracy every time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import ArchSpec
from nas.build import build_model
from nas.dataset import Dataset
from nas.recipe import ProxyConfig


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


def augment(
    x: torch.Tensor,
    translate: int,
    hflip: bool,
    gen: torch.Generator,
    memory_format: torch.memory_format = torch.channels_last,
) -> torch.Tensor:
    """Per-image random shifts (zero padded) and, where labels allow, horizontal flips.

    The batch comes back channels_last (NHWC in memory) by default, so every conv of the network
    runs channels_last: faster on the CPU than NCHW (bench/memory_format.py, bench/RESULTS.md)."""
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
    if memory_format == torch.channels_last:
        return x.contiguous(memory_format=memory_format)  # a no-op after a shift
    # clone, not .contiguous(): a 1-channel channels_last batch already counts as contiguous in
    # other formats, yet its strides would still make the first conv run channels_last
    return x.clone(memory_format=memory_format)


def make_optimizer(
    model: nn.Module, config: ProxyConfig, total_steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov momentum and the config's schedule over ``total_steps`` steps."""
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True, weight_decay=config.weight_decay
    )
    if config.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    return optimizer, scheduler


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1024,
    *,
    bf16: bool = False,
    scale: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """Top-1 accuracy in eval mode; ``scale`` turns a stored (uint8) batch into the model's input."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size] if scale is None else scale(x[i : i + batch_size])
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            correct += (model(xb).argmax(1) == y[i : i + batch_size]).sum()
    return correct.item() / max(1, len(x))  # one host sync, not one per batch


def _train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    data: Dataset,
    config: ProxyConfig,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    gen: torch.Generator,
    bf16: bool,
    memory_format: torch.memory_format,
) -> float:
    """The training loop; the last step's loss. TrainingDiverged on a non-finite loss."""
    n = len(x)
    steps_per_epoch = steps_per_epoch_of(n, config)
    loss = torch.zeros((), device=x.device)
    final_loss = math.nan
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n, generator=gen, device=x.device)
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            xb = augment(data.scale(x[idx]), config.translate, data.hflip, gen, memory_format)
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(xb), y[idx], label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
        final_loss = loss.item()  # one host sync per epoch, not per step
        if not math.isfinite(final_loss):
            raise TrainingDiverged(f"loss became {final_loss} in epoch {epoch + 1}")
    return final_loss


def steps_per_epoch_of(n: int, config: ProxyConfig) -> int:
    return max(1, n // config.batch_size)  # drop the ragged last batch: stable BN


def train_and_evaluate(
    spec: ArchSpec,
    data: Dataset,
    config: ProxyConfig = ProxyConfig(),
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    train_on: tuple[str, ...] = ("train",),
    eval_on: str = "val",
    cuda_bf16: bool = False,
    memory_format: torch.memory_format = torch.channels_last,
) -> ProxyResult:
    """Build ``spec`` (seeded), train it on ``train_on`` splits, return accuracy on ``eval_on``.

    ``cuda_bf16`` (bf16 autocast, CUDA only) is off: measured slower on an H200 for networks this
    small, and it ranked worse (bench/RESULTS.md, section 1). ``memory_format`` is the layout of
    the training batches; both are switches for the benchmarks."""
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    bf16 = on_cuda and cuda_bf16
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    model = build_model(spec).to(device)

    parts = [data.split(name, spec.resolution) for name in train_on]
    x = torch.cat([p[0] for p in parts]).to(device)
    y = torch.cat([p[1] for p in parts]).to(device)
    total_steps = config.epochs * steps_per_epoch_of(len(x), config)
    optimizer, scheduler = make_optimizer(model, config, total_steps)
    start = time.perf_counter()
    final_loss = _train(model, x, y, data, config, optimizer, scheduler, gen=gen, bf16=bf16,
                        memory_format=memory_format)  # fmt: skip
    if on_cuda:
        torch.cuda.synchronize(device)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    val_x, val_y = data.split(eval_on, spec.resolution)
    accuracy = evaluate(model, val_x.to(device), val_y.to(device), bf16=bf16, scale=data.scale)
    eval_seconds = time.perf_counter() - start
    return ProxyResult(
        accuracy=accuracy,
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        images_per_second=total_steps * config.batch_size / max(train_seconds, 1e-9),
        final_loss=final_loss,
        model=model,
    )
