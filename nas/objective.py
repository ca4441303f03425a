"""The Optuna objective: sample an ArchSpec, cost it (FLOPs, params, measured latency), train it
by proxy, record what it is."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.trial import FrozenTrial, TrialState

from nas.arch import ArchSpec
from nas.codegen import trial_module_source
from nas.cost import Cost, count_cost
from nas.data import Dataset
from nas.fidelity import PROMOTED_FROM_ATTR, counts_toward_budget, done_by_another, rung_of
from nas.latency import Latency, LatencySetup, measure
from nas.objectives import ATTRS, DEFAULT
from nas.proxy import ProxyConfig, train_and_evaluate
from nas.storage import batched_writes
from search_spaces import SampleFn, SpaceContext


@dataclass(frozen=True)
class Limits:
    """Architectures over a limit are recorded infeasible and never trained."""

    max_flops: int | None = None
    max_params: int | None = None
    max_latency: float | None = None  # milliseconds

    def constraints(self, cost: Cost, latency_ms: float | None = None) -> dict[str, float]:
        """Optuna constraint values: > 0 means over the limit."""
        limits = {
            "flops": (cost.flops, self.max_flops),
            "params": (cost.params, self.max_params),
            "latency": (latency_ms, self.max_latency),
        }
        return {f"{k}_over_limit": float(value - limit) for k, (value, limit) in limits.items() if limit is not None}


def trial_seed(seed: int, number: int) -> int:
    """The training seed of trial ``number`` of a search run with ``seed``."""
    return seed * 1_000_003 + number


class Objective:
    """Sample an ArchSpec, cost it, train it by proxy; return its ``objectives`` (accuracy, then
    costs: flops, params, latency).

    Latency is measured (``latency`` says how) when it is an objective or limited, once per
    network in a study: a run of a network measured before reuses the figure. Infeasible
    architectures are recorded through ``trial.set_constraint`` and never trained; an
    architecture already evaluated in the study (same digest) reuses the stored result. A trial
    enqueued by ``nas.fidelity`` (a promotion or a re-scoring run) carries its rung and replicate in
    its user attrs, re-samples the same architecture from its fixed parameters and trains it with
    that rung's epochs and its own seed; one that another worker already ran is pruned, untrained.
    """

    def __init__(
        self,
        *,
        sample: SampleFn,
        data: Dataset,
        dataset_name: str,
        device: torch.device,
        proxy: ProxyConfig,
        rungs: tuple[int, ...],
        limits: Limits,
        seed: int,
        artifact_dir: str | Path,
        versions: dict[str, str],
        objectives: tuple[str, ...] = DEFAULT,
        latency: LatencySetup | None = None,
    ) -> None:
        self.sample = sample
        self.data = data
        self.dataset_name = dataset_name  # as the user named it (--dataset), for the exported docstring
        self.ctx = SpaceContext(data.in_chs, data.num_classes, data.resolutions)
        self.device = device
        self.proxy = proxy
        self.rungs = rungs  # proxy epochs per rung; a trial's ``rung`` user attr picks one
        self.new_networks = True  # False once the budget is met: only enqueued trials run
        self.limits = limits
        self.seed = seed
        self.versions = versions
        self.objectives = objectives
        self.latency = latency
        self.latencies: dict[str, Latency] = {}  # by digest: this process's measurements
        Path(artifact_dir).mkdir(parents=True, exist_ok=True)
        self.artifacts = FileSystemArtifactStore(str(artifact_dir))

    def __call__(self, trial: optuna.Trial) -> tuple[float, ...]:
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
        # Parameters and attrs are written in one transaction per block, not one each (bench/overhead.py).
        # A worker killed inside this block leaves a trial without parameters: nothing was trained,
        # and its heartbeat retry samples a new architecture. Killed later, the retry re-runs the
        # same parameters.
        with batched_writes(trial):
            spec: ArchSpec = self.sample(trial, self.ctx)
            cost = count_cost(spec)
            seed = trial_seed(self.seed, trial.number)
            digest = spec.digest()
            # Dataset and epochs are study settings: a trial records only what is its own, every
            # cost included whatever the objectives (the table, report and export show them all).
            for key, value in {
                "arch": spec.to_string(),  # exact: ArchSpec.from_string reads it back
                "digest": digest,
                "device": str(self.device),
                "seed": seed,
                "versions": self.versions,
                ATTRS["flops"]: cost.flops,
                ATTRS["params"]: cost.params,
            }.items():
                trial.set_user_attr(key, value)
            latency = self.measure_latency(trial, spec, digest) if self.latency is not None else None
            values = {"flops": cost.flops, "params": cost.params, "latency": latency.ms if latency else None}
            constraints = self.limits.constraints(cost, values["latency"])
            for key, value in constraints.items():
                trial.set_constraint(key, value)
            if any(v > 0 for v in constraints.values()):
                trial.set_user_attr("infeasible", True)  # accuracy 0.0 below: not measured
                return self.values(0.0, values)

            rung = int(enqueued.get("rung", 0))
            trial.set_user_attr("epochs", self.rungs[rung])
            if PROMOTED_FROM_ATTR in enqueued:
                key = (digest, rung, int(enqueued.get("replicate", 0)))
                other = done_by_another(trial.study.get_trials(deepcopy=False), trial.number, key)
                if other is not None:
                    raise optuna.TrialPruned(f"trial {other.number} already ran this promotion")
            else:
                twin = evaluated_twin(trial.study, digest)
                if twin is not None:
                    trial.set_user_attr("duplicate_of", twin.number)
                    trial.set_user_attr("seed", twin.user_attrs.get("seed"))
                    return self.values(twin.values[0], values)

        proxy = replace(self.proxy, epochs=self.rungs[rung])
        result = train_and_evaluate(spec, self.data, proxy, device=self.device, seed=seed)
        with batched_writes(trial):
            if rung > 0:  # every rung's accuracy of this network on its latest run (the dashboard shows it)
                trial.set_user_attr(
                    "accuracy_by_rung", self.accuracy_by_rung(trial.study, digest, rung, result.accuracy)
                )
            trial.set_user_attr("train_seconds", round(result.train_seconds, 3))
            trial.set_user_attr("eval_seconds", round(result.eval_seconds, 3))
            self.upload_artifacts(trial, spec, result.accuracy, cost, latency)
        return self.values(result.accuracy, values)

    def values(self, accuracy: float, costs: dict[str, float | None]) -> tuple[float, ...]:
        return tuple(accuracy if name == "accuracy" else costs[name] for name in self.objectives)

    def measure_latency(self, trial: optuna.Trial, spec: ArchSpec, digest: str) -> Latency:
        """The network's latency, measured once per study: reused from this process or from an
        earlier trial of the same network (a promotion, a re-scoring run, a duplicate)."""
        if digest not in self.latencies:
            for t in trial.study.get_trials(deepcopy=False):
                if t.user_attrs.get("digest") == digest and ATTRS["latency"] in t.user_attrs:
                    attrs = t.user_attrs
                    self.latencies[digest] = Latency(
                        attrs[ATTRS["latency"]], attrs["latency_spread"], 0, attrs.get("latency_median_ms", 0.0)
                    )
                    break
            else:
                self.latencies[digest] = measure(spec, self.latency)
        latency = self.latencies[digest]
        trial.set_user_attr(ATTRS["latency"], latency.ms)
        trial.set_user_attr("latency_spread", round(latency.spread, 4))
        trial.set_user_attr("latency_median_ms", latency.median_ms)
        return latency

    def accuracy_by_rung(self, study: optuna.Study, digest: str, rung: int, accuracy: float) -> dict[str, list[float]]:
        """'<epochs> epochs' -> the accuracies of this network's runs at that rung, this one included."""
        runs: dict[str, list[float]] = {}
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.user_attrs.get("digest") == digest and "duplicate_of" not in t.user_attrs:
                runs.setdefault(f"{self.rungs[rung_of(t)]} epochs", []).append(t.values[0])
        runs.setdefault(f"{self.rungs[rung]} epochs", []).append(accuracy)
        return runs

    def upload_artifacts(
        self, trial: optuna.Trial, spec: ArchSpec, accuracy: float, cost: Cost, latency: Latency | None
    ) -> None:
        """Attach the ArchSpec JSON and the standalone module to the trial (downloadable in the dashboard)."""
        name = f"trial{trial.number}"
        source = trial_module_source(
            spec, study_name=trial.study.study_name, number=trial.number, accuracy=accuracy, flops=cost.flops,
            params=cost.params, epochs=self.rungs[rung_of(trial)], dataset=self.dataset_name, mean=self.data.mean,
            std=self.data.std, name=name,
            latency=f"{latency.ms:.3g} ms ({self.latency.describe()})" if latency else None,
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            for suffix, text in ((".json", spec.to_json(indent=2)), (".py", source)):
                path = Path(tmp) / f"{name}{suffix}"
                path.write_text(text)
                upload_artifact(artifact_store=self.artifacts, file_path=str(path), study_or_trial=trial)


def evaluated_twin(study: optuna.Study, digest: str) -> FrozenTrial | None:
    """A trial that already trained this very network as a new one (rung 0; first one, if
    several). Read fresh: a parallel worker may have trained it a moment ago."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.user_attrs.get("digest") == digest and "duplicate_of" not in t.user_attrs and counts_toward_budget(t):
            return t
    return None
