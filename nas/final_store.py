"""Final training's records in the study: the networks judged, every run, and their summaries.

Everything lives in study user attrs, one attr per run (``final:<digest>:<stage>:<epochs>:<lr>:
<seed>``), so workers and a resumed command never overwrite each other's results and a running
search is not disturbed (no trials are created). Stages: ``select`` (train split -> validation,
proxy epochs, one per learning rate of the grid) and ``test`` (train + validation -> test split,
the final epochs, one per seed, at the learning rate the selection chose). Each searched network's
summary is also written onto its trial (``final_accuracy``, ``final_low``, ``final_high``,
``final_epochs``, ``final_seeds``, ``final_lr``) for optuna-dashboard.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
import time
from dataclasses import dataclass

import optuna

from nas.storage import annotate_finished_trial
from nas.verdict import CHANCE_FACTOR, Final

RUN_PREFIX = "final:"
NETWORK_PREFIX = "final_network:"  # -> what the network is (name, arch, costs, trial, proxy accuracy)
CLAIM_PREFIX = "final_claim:"  # -> who is training a run now (None once released)
SETUP_ATTR = "final_setup"  # the last command's epochs, seeds, learning rates and references
SELECT, TEST = "select", "test"


@dataclass(frozen=True)
class Job:
    """One training run of final training."""

    digest: str
    stage: str  # SELECT or TEST
    epochs: int
    lr: float
    seed: int

    @property
    def key(self) -> str:
        return f"{RUN_PREFIX}{self.digest}:{self.stage}:{self.epochs}:{self.lr:g}:{self.seed}"


@dataclass(frozen=True)
class Setup:
    epochs: int  # final training epochs
    seeds: int
    lrs: tuple[float, ...]  # the learning-rate grid, searched by a short run each
    select_epochs: int  # epochs of the selection runs (the proxy's)

    @classmethod
    def of(cls, study: optuna.Study) -> Setup | None:
        stored = study.user_attrs.get(SETUP_ATTR)
        return cls(**{**stored, "lrs": tuple(stored["lrs"])}) if stored else None

    def save(self, study: optuna.Study) -> None:
        study.set_user_attr(SETUP_ATTR, {**vars(self), "lrs": list(self.lrs)})


def runs_of(attrs: dict, digest: str, stage: str, epochs: int) -> dict[tuple[float, int], dict]:
    """(lr, seed) -> result of a network's finished runs at one stage and epochs."""
    prefix = f"{RUN_PREFIX}{digest}:{stage}:{epochs}:"
    out = {}
    for key, value in attrs.items():
        if key.startswith(prefix) and value is not None:
            lr, seed = key[len(prefix) :].split(":")
            out[(float(lr), int(seed))] = value
    return out


def chosen_lr(attrs: dict, digest: str, setup: Setup) -> float | None:
    """The grid's learning rate with the best validation accuracy (a diverged run scores 0; ties:
    the lower final loss); None until every selection run has finished. A network that learns at
    no rate of the grid in the short run (no better than 1.5 x chance) gets the lowest: a high rate
    is what stalls a network without BatchNorm for good, and the long run may still get it going."""
    runs = runs_of(attrs, digest, SELECT, setup.select_epochs)
    if any((lr, 0) not in runs for lr in setup.lrs):
        return None
    chance = CHANCE_FACTOR / networks(attrs)[digest]["num_classes"]
    if all(runs[(lr, 0)]["accuracy"] <= chance for lr in setup.lrs):
        return min(setup.lrs)

    def score(lr: float) -> tuple[float, float]:
        run = runs[(lr, 0)]
        return run["accuracy"], -(run["loss"] if run["loss"] is not None else math.inf)

    return max(setup.lrs, key=score)


def jobs_for(attrs: dict, digest: str, setup: Setup) -> list[Job]:
    """The network's runs: the selection grid, then (once chosen) the final seeds."""
    jobs = [Job(digest, SELECT, setup.select_epochs, lr, 0) for lr in setup.lrs]
    lr = chosen_lr(attrs, digest, setup)
    if lr is not None:
        jobs += [Job(digest, TEST, setup.epochs, lr, seed) for seed in range(setup.seeds)]
    return jobs


def networks(attrs: dict) -> dict[str, dict]:
    """digest -> what the network is, for every network final training was asked for."""
    return {k[len(NETWORK_PREFIX) :]: v for k, v in attrs.items() if k.startswith(NETWORK_PREFIX)}


def summary(attrs: dict, digest: str, setup: Setup) -> Final | None:
    """The network's final record at ``setup``: None until a test run has finished."""
    network = networks(attrs)[digest]
    lr = chosen_lr(attrs, digest, setup)
    runs = runs_of(attrs, digest, TEST, setup.epochs) if lr is not None else {}
    seeds = [runs[(lr, s)] for s in range(setup.seeds) if (lr, s) in runs]
    if not seeds:
        return None
    losses = [r["loss"] if r["loss"] is not None else math.nan for r in seeds]
    return Final(
        name=network["name"], costs=network["costs"], accuracies=tuple(r["accuracy"] for r in seeds),
        num_classes=network["num_classes"], final_loss=statistics.fmean(losses), epochs=setup.epochs, lr=lr,
        trial=network.get("trial"), proxy_accuracy=network.get("proxy_accuracy"),
    )  # fmt: skip


def finals(study: optuna.Study) -> tuple[list[Final], list[Final]]:
    """(searched, classic) networks with final results at the study's last setup (one read)."""
    attrs = study.user_attrs
    setup = Setup.of(study) if SETUP_ATTR in attrs else None
    searched, classic = [], []
    if setup is None:
        return searched, classic
    for digest, network in networks(attrs).items():
        final = summary(attrs, digest, setup)
        if final is not None:
            (searched if network["kind"] == "searched" else classic).append(final)
    return searched, classic


def final_attrs(final: Final) -> dict:
    """The user attrs a searched network's trial carries for optuna-dashboard."""
    low, high = final.interval()
    return {
        "final_accuracy": final.mean, "final_low": low, "final_high": high, "final_epochs": final.epochs,
        "final_seeds": len(final.accuracies), "final_lr": final.lr,
    }  # fmt: skip


def write_trial_attrs(study: optuna.Study, final: Final) -> None:
    """The searched network's summary onto its (finished) trial, for optuna-dashboard."""
    annotate_finished_trial(study, final.trial, final_attrs(final))


def claim(study: optuna.Study, job: Job) -> None:
    study.set_user_attr(CLAIM_PREFIX + job.key, {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()})


def release(study: optuna.Study, job: Job) -> None:
    """Drop this process's claim on ``job`` (another worker's claim that landed last is left)."""
    held = study.user_attrs.get(CLAIM_PREFIX + job.key)
    if held and (held["host"], held["pid"]) == (socket.gethostname(), os.getpid()):
        study.set_user_attr(CLAIM_PREFIX + job.key, None)


def claimed_by_another(attrs: dict, job: Job, stale_after: float) -> bool:
    """A run another live process is training (a claim older than ``stale_after`` s is a dead worker's)."""
    held = attrs.get(CLAIM_PREFIX + job.key)
    if not held or (held["host"], held["pid"]) == (socket.gethostname(), os.getpid()):
        return False
    return time.time() - held["at"] < stale_after
