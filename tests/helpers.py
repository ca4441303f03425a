"""What several test files share: running the search CLI, reading a study back, small networks
and image folders made on the spot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial
from PIL import Image

from nas import ArchSpec
from nas.final_store import RUN_PREFIX
from nas.racing import DEFAULT_SHARE, due_rescoring, rescoring_cost, search_cost
from nas.retrain import main as retrain_main
from nas.search import main as search_main
from nas.settings import study_settings
from nas.trials import counts_toward_budget, replicate_of

# A tiny digits network: trains in well under a second.
SMALL = ArchSpec.from_string(
    "12px w1.0 in1 cls10 relu | stem:16 k3 s1 p1 bn1 | dwsep:24x1 s2 | shuffle:32x1 s2 | head:0 linear d0.0"
)

# Final training at its smallest: 1 epoch, 2 seeds, a grid of 2 learning rates; and long enough
# for small digits networks to learn (3 epochs).
RETRAIN_TINY = ["--epochs", "1", "--seeds", "2", "--lrs", "0.2,0.05"]
RETRAIN_SHORT = ["--epochs", "3", "--seeds", "2", "--lrs", "0.2,0.05"]


def main(argv: list[str]) -> int:
    """The search CLI's exit code, whether it returns it or exits with it."""
    try:
        return search_main(argv)
    except SystemExit as exc:
        return exc.code


def trials(storage: str, name: str = "digits-mixed") -> list[FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials()
    except KeyError:  # not created yet
        return []


def complete(storage: str, name: str = "digits-mixed") -> list[FrozenTrial]:
    """The finished trials that count toward the budget (not promotions, not re-scoring runs)."""
    return [t for t in trials(storage, name) if t.state == TrialState.COMPLETE and counts_toward_budget(t)]


def settled_rescoring(study: optuna.Study, refine: int, share: float = DEFAULT_SHARE) -> list[FrozenTrial]:
    """The study's re-scoring runs, checked: within the re-scoring budget, and none left due."""
    every = study.get_trials(deepcopy=False)
    settings = study_settings(study)
    rescored = [t for t in every if t.state == TrialState.COMPLETE and replicate_of(t) >= 1]
    assert rescoring_cost(every) <= share * search_cost(every) + 1e-9
    assert due_rescoring(every, settings.rungs, refine, share, settings.val_size) == []
    return rescored


def start_search(storage: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "nas.search", "--storage", storage, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_and_resume(proc: subprocess.Popen, storage: str, *args: str) -> None:
    """SIGKILL a search, wait past its heartbeat's grace period, then run the same command to the end."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(4)  # past the grace period (2 x heartbeat; SQLite timestamps in whole seconds)
    resumed = start_search(storage, *args)
    _, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def write_images(root: Path, classes: dict[str, int], size: int = 20, mode: str = "RGB") -> None:
    """An image-folder tree: ``n`` random PNGs of size x (size + 4) per class, each class a
    different brightness; ``mode`` "L" writes greyscale pictures."""
    rng = np.random.default_rng(0)
    for c, (name, n) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = rng.integers(0, 60, (size, size + 4, 3), dtype=np.uint8) + np.uint8(60 * c)
            Image.fromarray(img).convert(mode).save(root / name / f"{i}.png")


def run(number: int, acc: float, flops: float, params: float = 1000, *, digest: str | None = None, rung: int = 0,
        replicate: int = 0, state=TrialState.COMPLETE, over_limit: float = -1.0) -> FrozenTrial:  # fmt: skip
    """A trial of one run as the objective records it (rung epochs 2, 6, 18)."""
    attrs = {"digest": digest or f"net{number}", "arch": f"arch{number}", "epochs": (2, 6, 18)[rung]}
    if rung or replicate:
        attrs |= {"rung": rung, "replicate": replicate, "promoted_from": number}
    t = create_trial(
        state=state, values=[acc, flops, params] if state == TrialState.COMPLETE else None,
        params={"x": number}, distributions={"x": IntDistribution(0, 10_000)}, user_attrs=attrs,
        system_attrs={"constraints": [over_limit]},
    )  # fmt: skip
    t.number = number
    return t


USER_ATTRS = {"arch", "digest", "seed", "train_seconds"}


def run_concurrently(commands: list[list[str]], timeout: float = 600) -> list[subprocess.CompletedProcess]:
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in commands]
    results = []
    for cmd, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return results


def check_study(storage: str, budget: int, workers: int) -> list:
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    every = study.get_trials()
    done = [t for t in every if t.state == TrialState.COMPLETE and counts_toward_budget(t)]
    assert budget <= len(done) <= budget + workers - 1  # extras: trials in flight when the budget was met
    assert not [t for t in every if t.state in (TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)]
    for t in done:
        assert set(t.user_attrs) >= USER_ATTRS or "duplicate_of" in t.user_attrs
    # no architecture trained twice: repeats reuse the first result
    trained = [t.user_attrs["digest"] for t in done if "duplicate_of" not in t.user_attrs]
    assert len(trained) == len(set(trained))
    assert len({t.number for t in every}) == len(every)
    return done


def retrain(*argv: str) -> int:
    """The retrain CLI's exit code, whether it returns it or exits with it."""
    try:
        return retrain_main(list(argv))
    except SystemExit as exc:
        return exc.code


def runs(study: optuna.Study) -> dict:
    """The final-training runs a study holds."""
    return {k: v for k, v in study.user_attrs.items() if k.startswith(RUN_PREFIX)}


def load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="digits-mixed", storage=storage)
