"""What a study was created with, stored with it as one attr, and read back from studies of
every release (older ones kept each setting as an attr of its own)."""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from nas.latency import LatencySetup
from nas.proxy import ProxyConfig

# All settings are one study attr, written in one transaction: a second worker sees all or none.
SETTINGS_ATTR = "settings"
# Studies made before SETTINGS_ATTR kept each setting as an attr of its own and the recipe in
# "proxy_recipe"; those made before the recipe was stored trained with the defaults of then.
LEGACY_RECIPE_ATTR = "proxy_recipe"
RECIPE_BEFORE_STORED = {"lr": 0.4}
LEGACY_FOLDER_RESOLUTIONS = (16, 24, 32)


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
        if SETTINGS_ATTR in attrs:
            stored = dict(attrs[SETTINGS_ATTR])
        elif "epochs" in attrs:
            stored = {k: attrs[k] for k in ("dataset", "space", "epochs", "sampler", "seed", "command") if k in attrs}
            stored |= {k: attrs[k] for k in ("mean", "std", "val_size", "resolutions", "hflip", "channels",
                                             "latency") if k in attrs}  # fmt: skip
            stored["recipe"] = attrs.get(LEGACY_RECIPE_ATTR, RECIPE_BEFORE_STORED)
            stored.setdefault("dataset", "?")
            stored.setdefault("space", "?")
        else:
            return None
        if "resolutions" not in stored and str(stored.get("dataset")).startswith("folder:"):
            # image folders were read as 32 px RGB, searched at 16/24/32 with flips, before these were stored
            stored |= {"resolutions": LEGACY_FOLDER_RESOLUTIONS, "hflip": True, "channels": 3}
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
