"""What a study was created with, stored with it as one attr, and read back from studies of
every release (``nas.legacy`` reads the older layouts)."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from nas.latency_setup import LatencySetup
from nas.legacy import separate_attrs, with_folder_defaults
from nas.recipe import ProxyConfig

# All settings are one study attr, written in one transaction: a second worker sees all or none.
SETTINGS_ATTR = "settings"


@dataclass(frozen=True)
class StudySettings:
    """What a study was created with; stored with it as one attr (``SETTINGS_ATTR``)."""

    dataset: str
    space: str
    epochs: int  # proxy epochs
    recipe: dict  # the rest of the proxy trainer's config: a resumed study trains with its own
    sampler: str = "tpe"
    seed: int = 0
    mean: tuple[float, ...] | None = None  # what exported models normalise their inputs with
    std: tuple[float, ...] | None = None
    command: str = ""
    rungs: tuple[int, ...] | None = None  # proxy epochs of each rung, fewest first; None: (epochs,)
    eta: int | None = None  # promotion: the top 1/eta of a rung go up one rung
    val_size: int | None = None  # validation images: the binomial part of accuracy intervals
    # How the data were read: input sizes searched, flips, channels (None: the dataset's own).
    resolutions: tuple[int, ...] | None = None
    hflip: bool | None = None
    channels: int | None = None
    latency: dict | None = None  # LatencySetup as a dict, once the study measures latency

    def __post_init__(self) -> None:
        if self.rungs is None:
            object.__setattr__(self, "rungs", (self.epochs,))

    @property
    def proxy(self) -> ProxyConfig:
        return ProxyConfig(epochs=self.epochs, **self.recipe)

    @classmethod
    def of(cls, study: optuna.Study) -> StudySettings | None:
        """The study's settings, also from a study stored before they were one attr; None if
        the study has none (new, or not made by nas.search)."""
        attrs = study.user_attrs  # one storage read
        stored = dict(attrs[SETTINGS_ATTR]) if SETTINGS_ATTR in attrs else separate_attrs(attrs)
        if stored is None:
            return None
        stored = with_folder_defaults(stored)
        for key in ("mean", "std", "rungs", "resolutions"):
            if stored.get(key) is not None:
                stored[key] = tuple(stored[key])
        return cls(**stored)

    @property
    def latency_setup(self) -> LatencySetup | None:
        """How the study measures latency (None: it does not)."""
        return LatencySetup(**self.latency) if self.latency else None

    def data_options(self) -> dict:
        """Keyword arguments of ``nas.data.load_dataset`` that read the data as this study did."""
        return {"resolutions": self.resolutions, "hflip": self.hflip, "channels": self.channels}


def study_settings(study: optuna.Study) -> StudySettings:
    """The settings of a study made by nas.search; ValueError for any other study."""
    settings = StudySettings.of(study)
    if settings is None:
        raise ValueError(f"study {study.study_name!r} was not made by nas.search (it has no proxy settings)")
    return settings
