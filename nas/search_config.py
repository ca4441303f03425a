"""What a search is asked to do: one record, its defaults defined here once (the command line
reads them from here) and every value checked here, before anything is opened or written."""

from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass, field, fields
from pathlib import Path

from nas.cost import Cost
from nas.data import check_dataset_name, check_resolutions
from nas.latency_setup import BACKENDS
from nas.legacy import folder_study_name
from nas.paths import DEFAULT_DATA_DIR, DEFAULT_STORAGE
from nas.proxy import resolve_device
from nas.racing import DEFAULT_SHARE
from nas.recipe import ProxyConfig
from nas.sampler import SAMPLERS
from nas.storage import default_artifact_dir
from search_spaces import get_space


def default_study_name(dataset: str, space: str) -> str:
    """'<dataset>-<space>'; a folder study is named after the folder: folder:/data/my/photos -> photos."""
    if not dataset.startswith("folder:"):
        return f"{dataset}-{space}"
    folder = dataset[len("folder:") :].rstrip("/") or "/"
    return f"{Path(folder).expanduser().name or 'folder'}-{space}"


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


@dataclass
class SearchConfig:
    budget: int = 200  # finished feasible trials the study must hold
    dataset: str = "digits"  # digits | mnist | fashion-mnist | cifar10 | cifar100 | svhn | folder:PATH
    space: str = "mixed"  # see search_spaces.SPACES
    # Proxy training epochs per trial. None: the study's own when resuming (so the same command
    # resumes a study made under an older default), ProxyConfig.epochs for a new study.
    epochs: int | None = None
    # Multi-fidelity: rungs from min_epochs up to epochs (the top rung), eta x the epochs each;
    # None: the study's own (a new study: min_epochs = epochs, one rung, single fidelity).
    min_epochs: int | None = None
    eta: int | None = None  # the top 1/eta of a rung are promoted (default nas.schedule.DEFAULT_ETA)
    refine: int = 2  # once the budget is met: at most this many more seeds per contested network
    refine_budget: float = DEFAULT_SHARE  # re-scoring training time: at most this share of the search's
    storage: str = DEFAULT_STORAGE  # any SQLAlchemy URL
    study_name: str | None = None  # default: "<dataset>-<space>"
    sampler: str = "tpe"
    seed: int = 0  # fixes sampling and every trial's training
    device: str = "auto"
    data_dir: str = DEFAULT_DATA_DIR
    download: bool = True
    max_flops: int | None = None  # architectures above these are recorded infeasible, never trained
    max_params: int | None = None
    max_latency: float | None = None  # milliseconds
    # Objectives after accuracy: flops, params, latency. None: the study's own (new: the default three).
    objectives: tuple[str, ...] | None = None
    # Latency measurement: threads and backend (None: the study's own, new: 1 and torch); a study
    # measured on another machine is refused unless mix_latencies.
    latency_threads: int | None = None
    latency_backend: str | None = None
    mix_latencies: bool = False
    # How the data are read (None: the study's own; new: the dataset's): input sizes searched,
    # horizontal flips; and the most memory the images may take (default: most of what is free).
    resolutions: tuple[int, ...] | None = None
    hflip: bool | None = None
    data_memory: int | None = None
    max_failures: int = 5  # consecutive failed trials that stop the search
    # Proxy batch size of a new study (None: ProxyConfig's), the learning rate scaled with it;
    # stored in the study's recipe, so a resumed study trains as it did.
    batch_size: int | None = None
    heartbeat: int = 30  # seconds between a running trial's heartbeats; silent for 2x => re-run
    artifact_dir: str | None = None  # default: "artifacts" beside a SQLite file, else studies/artifacts
    command: list[str] = field(default_factory=list)  # recorded in the study for the record
    # A folder study named the way releases before this named it: resumed under that name if it exists.
    legacy_study_name: str | None = None

    @classmethod
    def from_args(cls, args: Namespace, command: list[str]) -> SearchConfig:
        """From the parser's fields of the same names (those left unset keep the defaults above)."""
        given = {f.name: getattr(args, f.name) for f in fields(cls) if getattr(args, f.name, None) is not None}
        return cls(**given, command=command)

    def __post_init__(self) -> None:
        self._check_numbers()
        if self.latency_backend is not None and self.latency_backend not in BACKENDS:
            raise ValueError(f"unknown latency backend {self.latency_backend!r}; choose one of {list(BACKENDS)}")
        if self.resolutions is not None:
            self.resolutions = check_resolutions(self.resolutions)
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {list(SAMPLERS)}")
        check_dataset_name(self.dataset)
        get_space(self.space)
        resolve_device(self.device)
        if self.artifact_dir is None:
            self.artifact_dir = str(default_artifact_dir(self.storage))
        if self.study_name is None:
            self.study_name = default_study_name(self.dataset, self.space)
            if self.dataset.startswith("folder:"):
                self.legacy_study_name = folder_study_name(self.dataset, self.space)

    def _check_numbers(self) -> None:
        at_least = {"budget": 1, "epochs": 1, "min_epochs": 1, "eta": 2, "refine": 0, "max_failures": 1,
                    "heartbeat": 1, "latency_threads": 1, "batch_size": 1, "max_flops": 1, "max_params": 1,
                    "data_memory": 1}  # fmt: skip
        for name, least in at_least.items():
            value = getattr(self, name)
            if value is not None and value < least:
                raise ValueError(f"--{name.replace('_', '-')} must be at least {least}, got {value}")
        if not 0 <= self.refine_budget < float("inf"):
            raise ValueError(f"--refine-budget must be 0 or more, got {self.refine_budget}")
        if self.max_latency is not None and self.max_latency <= 0:
            raise ValueError(f"--max-latency must be positive, got {self.max_latency} ms")
        if self.min_epochs is not None and self.epochs is not None and self.min_epochs > self.epochs:
            raise ValueError(f"--min-epochs {self.min_epochs} is above --epochs {self.epochs} (the top rung)")

    @property
    def recipe(self) -> ProxyConfig:
        """The proxy recipe of a new study (its epochs are set apart)."""
        return ProxyConfig().with_batch(self.batch_size) if self.batch_size else ProxyConfig()

    @property
    def limits(self) -> Limits:
        return Limits(max_flops=self.max_flops, max_params=self.max_params, max_latency=self.max_latency)
