"""Every path that exists only for studies made by earlier releases, in one module, so that it
can be deleted as a whole the day those studies no longer need to resume.

- Settings kept as one attr per setting, before they were one ``settings`` attr; the recipe in
  ``proxy_recipe``, or not stored at all (the defaults of then).
- Image-folder studies from before resolutions, flips and channels were stored (read as 32 px
  RGB, searched at 16/24/32 with flips), and named after the whole path.
- Studies from before the normalisation, the validation size or latency were recorded: filled
  in on resume.
- Reference networks scored by the proxy trainer (``reference_scores``), before ``nas.retrain``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna

if TYPE_CHECKING:
    from nas.dataset import Dataset
    from nas.latency_setup import LatencySetup
    from nas.settings import StudySettings

LEGACY_RECIPE_ATTR = "proxy_recipe"
RECIPE_BEFORE_STORED = {"lr": 0.4}
LEGACY_FOLDER_RESOLUTIONS = (16, 24, 32)
LEGACY_REFERENCES_ATTR = "reference_scores"
_SEPARATE = ("dataset", "space", "epochs", "sampler", "seed", "command", "mean", "std", "val_size", "resolutions",
             "hflip", "channels", "latency")  # fmt: skip


def separate_attrs(attrs: dict[str, Any]) -> dict[str, Any] | None:
    """Settings stored one attr each (None: the study has none)."""
    if "epochs" not in attrs:
        return None
    stored = {k: attrs[k] for k in _SEPARATE if k in attrs}
    stored["recipe"] = attrs.get(LEGACY_RECIPE_ATTR, RECIPE_BEFORE_STORED)
    stored.setdefault("dataset", "?")
    stored.setdefault("space", "?")
    return stored


def with_folder_defaults(stored: dict[str, Any]) -> dict[str, Any]:
    """A folder study from before its resolutions were stored read its images as 32 px RGB."""
    if "resolutions" not in stored and str(stored.get("dataset")).startswith("folder:"):
        return stored | {"resolutions": LEGACY_FOLDER_RESOLUTIONS, "hflip": True, "channels": 3}
    return stored


def folder_study_name(dataset: str, space: str) -> str:
    """The name releases before the current one gave a folder study: the whole path, dashed."""
    return f"{dataset.rstrip('/').replace('folder:', 'folder-').replace('/', '-')}-{space}"


def missing_settings(settings: StudySettings, data: Dataset, latency: LatencySetup | None) -> dict[str, Any]:
    """Settings an older study lacks, as this run reads the data and measures latency."""
    updates: dict[str, Any] = {}
    if settings.mean is None or settings.val_size is None:
        updates |= {"mean": data.mean, "std": data.std, "val_size": len(data.val_y)}
    if settings.resolutions is None:
        updates |= {"resolutions": data.resolutions, "hflip": data.hflip, "channels": data.in_chs}
    if latency and not settings.latency:  # a limit on latency, added on a resume
        updates |= {"latency": latency.as_dict()}
    return updates


def write_separate_attrs(study: optuna.Study, updates: dict[str, Any]) -> None:
    """A study stored the older way keeps that way: one attr per setting."""
    for key, value in updates.items():
        study.set_user_attr(key, list(value) if isinstance(value, tuple) else value)


def legacy_references(study: optuna.Study) -> list[dict]:
    """Reference networks scored by the proxy trainer of an earlier release (shown, not compared)."""
    return list(study.user_attrs.get(LEGACY_REFERENCES_ATTR, {}).values())
