"""The proxy trainer's recipe: a plain record (no torch), stored with each study."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ProxyConfig:
    # Passes over the training split, chosen against long training by bench/proxy_fidelity.py
    # (bench/RESULTS.md, section 2).
    epochs: int = 10
    batch_size: int = 64
    # Peak learning rate of the schedule, chosen the same way (bench/RESULTS.md, section 2).
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    schedule: str = "onecycle"  # or "cosine"
    translate: int = 1  # random shifts of up to this many pixels (zero padding)

    def with_batch(self, batch_size: int) -> ProxyConfig:
        """The recipe at another batch size, the peak learning rate scaled with it (the linear
        scaling rule of Goyal et al., 2017), so an epoch takes fewer, larger steps."""
        return replace(self, batch_size=batch_size, lr=self.lr * batch_size / self.batch_size)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.schedule not in ("onecycle", "cosine"):
            raise ValueError(
                f"bad proxy config: epochs={self.epochs}, batch_size={self.batch_size}, schedule={self.schedule!r}"
            )
