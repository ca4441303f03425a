"""The Optuna objective: sample an ArchSpec, cost it (FLOPs, params, measured latency), train it
by proxy, record what it is."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.trial import FrozenTrial

from nas.arch import ArchSpec
from nas.codegen import trial_module_source
from nas.cost import Cost, count_cost
from nas.dataset import Dataset
from nas.latency import Latency, measure
from nas.latency_setup import LatencySetup
from nas.objectives import ATTRS, DEFAULT
from nas.proxy import ProxyConfig, ProxyResult, train_and_evaluate
from nas.schedule import done_by_another
from nas.search_config import Limits
from nas.storage import batched_writes
from nas.trials import (
    DIGEST_ATTR,
    DUPLICATE_ATTR,
    PROMOTED_FROM_ATTR,
    REPLICATE_ATTR,
    RUNG_ATTR,
    TRAIN_SECONDS_ATTR,
    counts_toward_budget,
    is_trained_run,
    rung_of,
)
from search_spaces import SampleFn, SpaceContext


def trial_seed(seed: int, number: int) -> int:
    """The training seed of trial ``number`` of a search run with ``seed``."""
    return seed * 1_000_003 + number


@dataclass(frozen=True)
class TrialSetup:
    """What every trial of a search run shares: the study's settings and this run's choices."""

    dataset_name: str  # as the user named it (--dataset), for the exported docstring
    proxy: ProxyConfig  # the study's recipe
    rungs: tuple[int, ...]  # proxy epochs per rung; a trial's ``rung`` user attr picks one
    limits: Limits
    seed: int
    artifact_dir: str | Path
    versions: dict[str, str]
    objectives: tuple[str, ...] = DEFAULT
    latency: LatencySetup | None = None  # how latency is measured, where the study needs it


@dataclass
class Objective:
    """Sample an ArchSpec, cost it, train it by proxy; return its ``objectives`` (accuracy, then
    costs: flops, params, latency).

    Latency is measured (``setup.latency`` says how) when it is an objective or limited, once per
    network in a study: a run of a network measured before reuses the figure. Infeasible
    architectures are recorded through ``trial.set_constraint`` and never trained; an
    architecture already evaluated in the study (same digest) reuses the stored result. A trial
    enqueued by ``nas.schedule`` (a promotion or a re-scoring run) carries its rung and replicate in
    its user attrs, re-samples the same architecture from its fixed parameters and trains it with
    that rung's epochs and its own seed; one that another worker already ran is pruned, untrained.
    The study is read once per trial; every check uses that read.
    """

    sample: SampleFn
    data: Dataset
    device: torch.device
    setup: TrialSetup
    new_networks: bool = True  # False once the budget is met: only enqueued trials run
    # The trainer: the proxy's; bench/scale.py alone passes a stand-in to time the tool's own cost.
    train: Callable[..., ProxyResult] = train_and_evaluate
    latencies: dict[str, Latency] = field(default_factory=dict, init=False)  # by digest: this process's
    current: int | None = field(default=None, init=False)  # the number of the trial running now

    def __post_init__(self) -> None:
        self.ctx = SpaceContext(self.data.in_chs, self.data.num_classes, self.data.resolutions)
        Path(self.setup.artifact_dir).mkdir(parents=True, exist_ok=True)
        self.artifacts = FileSystemArtifactStore(str(self.setup.artifact_dir))

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
        self.current = trial.number
        try:
            return self.evaluate(trial)
        except BaseException as exc:  # recorded with the failed trial; optimize(catch=...) goes on
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("fail_reason", reason[:500])
            if self.device.type == "cuda":
                torch.cuda.empty_cache()  # e.g. after an out-of-memory: give the next trial a clean slate
            raise

    def evaluate(self, trial: optuna.Trial) -> tuple[float, ...]:
        enqueued = trial.user_attrs  # read once: rung, replicate, promoted_from of an enqueued trial
        if not self.new_networks and PROMOTED_FROM_ATTR not in enqueued:
            raise optuna.TrialPruned("the budget of new networks is met (another worker took the queued trial)")
        rung = int(enqueued.get(RUNG_ATTR, 0))
        # Parameters and attrs are written in one transaction per block, not one each (bench/overhead.py).
        # A worker killed inside this block leaves a trial without parameters: nothing was trained,
        # and its heartbeat retry samples a new architecture. Killed later, the retry re-runs the
        # same parameters.
        with batched_writes(trial):
            spec: ArchSpec = self.sample(trial, self.ctx)
            cost = count_cost(spec)
            digest = spec.digest()
            seed = trial_seed(self.setup.seed, trial.number)
            self.record(trial, spec, digest, seed, cost)
            # The one read of the study for this trial: this network's other runs, read fresh (a
            # parallel worker may have trained it a moment ago).
            runs = [t for t in trial.study.get_trials(deepcopy=False) if t.user_attrs.get(DIGEST_ATTR) == digest]
            latency = self.measure_latency(trial, spec, runs) if self.setup.latency is not None else None
            values = {"flops": cost.flops, "params": cost.params, "latency": latency.ms if latency else None}
            constraints = self.setup.limits.constraints(cost, values["latency"])
            for key, value in constraints.items():
                trial.set_constraint(key, value)
            if any(v > 0 for v in constraints.values()):
                trial.set_user_attr("infeasible", True)  # accuracy 0.0 below: not measured
                return self.values(0.0, values)
            trial.set_user_attr("epochs", self.setup.rungs[rung])
            if PROMOTED_FROM_ATTR in enqueued:
                key = (digest, rung, int(enqueued.get(REPLICATE_ATTR, 0)))
                if (other := done_by_another(runs, trial.number, key)) is not None:
                    raise optuna.TrialPruned(f"trial {other.number} already ran this promotion")
            elif (twin := first_run(runs)) is not None:
                trial.set_user_attr(DUPLICATE_ATTR, twin.number)
                trial.set_user_attr("seed", twin.user_attrs.get("seed"))
                return self.values(twin.values[0], values)

        proxy = replace(self.setup.proxy, epochs=self.setup.rungs[rung])
        result = self.train(spec, self.data, proxy, device=self.device, seed=seed)
        with batched_writes(trial):
            if rung > 0:  # every rung's accuracy of this network on its latest run (the dashboard shows it)
                trial.set_user_attr("accuracy_by_rung", self.accuracy_by_rung(runs, rung, result.accuracy))
            trial.set_user_attr(TRAIN_SECONDS_ATTR, round(result.train_seconds, 3))
            trial.set_user_attr("eval_seconds", round(result.eval_seconds, 3))
            self.upload_artifacts(trial, spec, result.accuracy, cost, latency)
        return self.values(result.accuracy, values)

    def record(self, trial: optuna.Trial, spec: ArchSpec, digest: str, seed: int, cost: Cost) -> None:
        """What the trial is. Dataset and epochs are study settings: a trial records only what is
        its own, every cost included whatever the objectives (the table, report and export show them all)."""
        for key, value in {
            "arch": spec.to_string(),  # exact: ArchSpec.from_string reads it back
            DIGEST_ATTR: digest,
            "device": str(self.device),
            "seed": seed,
            "versions": self.setup.versions,
            ATTRS["flops"]: cost.flops,
            ATTRS["params"]: cost.params,
        }.items():
            trial.set_user_attr(key, value)

    def values(self, accuracy: float, costs: dict[str, float | None]) -> tuple[float, ...]:
        return tuple(accuracy if name == "accuracy" else costs[name] for name in self.setup.objectives)

    def measure_latency(self, trial: optuna.Trial, spec: ArchSpec, runs: list[FrozenTrial]) -> Latency:
        """The network's latency, measured once per study: reused from this process or from an
        earlier run of the same network (a promotion, a re-scoring run, a duplicate)."""
        digest = spec.digest()
        if digest not in self.latencies:
            measured = next((t.user_attrs for t in runs if ATTRS["latency"] in t.user_attrs), None)
            self.latencies[digest] = (
                Latency(measured[ATTRS["latency"]], measured["latency_spread"], 0,
                        measured.get("latency_median_ms", 0.0)) if measured else measure(spec, self.setup.latency)
            )  # fmt: skip
        latency = self.latencies[digest]
        trial.set_user_attr(ATTRS["latency"], latency.ms)
        trial.set_user_attr("latency_spread", round(latency.spread, 4))
        trial.set_user_attr("latency_median_ms", latency.median_ms)
        return latency

    def accuracy_by_rung(self, runs: list[FrozenTrial], rung: int, accuracy: float) -> dict[str, list[float]]:
        """'<epochs> epochs' -> the accuracies of this network's runs at that rung, this one included."""
        by_rung: dict[str, list[float]] = {}
        for t in runs:
            if is_trained_run(t):
                by_rung.setdefault(f"{self.setup.rungs[rung_of(t)]} epochs", []).append(t.values[0])
        by_rung.setdefault(f"{self.setup.rungs[rung]} epochs", []).append(accuracy)
        return by_rung

    def upload_artifacts(
        self, trial: optuna.Trial, spec: ArchSpec, accuracy: float, cost: Cost, latency: Latency | None
    ) -> None:
        """Attach the ArchSpec JSON and the standalone module to the trial (downloadable in the dashboard)."""
        name = f"trial{trial.number}"
        source = trial_module_source(
            spec, study_name=trial.study.study_name, number=trial.number, accuracy=accuracy, flops=cost.flops,
            params=cost.params, epochs=self.setup.rungs[rung_of(trial)], dataset=self.setup.dataset_name,
            mean=self.data.mean, std=self.data.std, name=name,
            latency=f"{latency.ms:.3g} ms ({self.setup.latency.describe()})" if latency else None,
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            for suffix, text in ((".json", spec.to_json(indent=2)), (".py", source)):
                path = Path(tmp) / f"{name}{suffix}"
                path.write_text(text)
                upload_artifact(artifact_store=self.artifacts, file_path=str(path), study_or_trial=trial)


def first_run(runs: list[FrozenTrial]) -> FrozenTrial | None:
    """The run that trained this network as a new one (rung 0; the first, if several)."""
    return next((t for t in runs if is_trained_run(t) and counts_toward_budget(t)), None)
