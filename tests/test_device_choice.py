"""--device auto decides by a measured probe; the proxy batch and its learning rate are the study's."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch

from nas.device_choice import choose_device, probe_seconds
from nas.proxy import ProxyConfig
from nas.settings import study_settings

from .helpers import main


def test_auto_without_cuda_is_the_cpu_and_probes_nothing() -> None:
    def probe(device: str) -> float:
        raise AssertionError("no probe without CUDA")

    assert choose_device(0, probe) == ("cpu", "no CUDA device")


@pytest.mark.parametrize(("gpu", "cpu", "expected"), [(0.002, 0.010, "cuda"), (0.012, 0.004, "cpu")])
def test_auto_takes_the_device_the_probe_found_faster(gpu: float, cpu: float, expected: str) -> None:
    probed: list[str] = []

    def probe(device: str) -> float:
        probed.append(device)
        return {"cuda": gpu, "cpu": cpu}[device]

    device, why = choose_device(1, probe)
    assert device == expected and sorted(probed) == ["cpu", "cuda"]
    assert f"{gpu * 1e3:.1f} ms on the GPU, {cpu * 1e3:.1f} ms on the CPU" in why


def test_the_probe_times_real_training_steps(digits) -> None:
    seconds = probe_seconds("cpu", digits)
    assert 0 < seconds < 5


def test_auto_says_what_it_picked_and_why(tmp_path: Path, capsys) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "1", "--epochs", "1", "--refine", "0", "--storage", storage]) == 0
    out = capsys.readouterr().out
    if torch.cuda.is_available():  # the probe decided, and says by how much
        assert "(auto: a probe training step took" in out
    else:
        assert "device cpu (auto: no CUDA device)" in out


def test_batch_size_scales_the_learning_rate_and_is_stored_with_the_study(tmp_path: Path, capsys) -> None:
    assert ProxyConfig().with_batch(256) == ProxyConfig(batch_size=256, lr=ProxyConfig.lr * 4)
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = ["--epochs", "1", "--refine", "0", "--storage", storage, "--device", "cpu"]
    assert main(["--budget", "1", "--batch-size", "128", *args]) == 0
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    proxy = study_settings(study).proxy
    assert (proxy.batch_size, proxy.lr) == (128, ProxyConfig.lr * 2)
    assert main(["--budget", "2", "--batch-size", "64", *args]) == 2  # not the study's batch
    assert "'batch_size': 128" in capsys.readouterr().err
    assert main(["--budget", "2", *args]) == 0  # resumed with its own batch and learning rate
    assert study_settings(study).proxy == proxy
