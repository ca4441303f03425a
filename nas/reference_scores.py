"""The classic reference networks trained by the study's own proxy trainer, cached in the study.

The report draws these beside the search's front, so a user sees whether the search beats the
hand-designed networks at the same training budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import optuna

from nas.cli import DEFAULT_DATA_DIR
from nas.cost import count_cost
from nas.data import load_dataset
from nas.latency import measure
from nas.proxy import resolve_device, train_and_evaluate
from nas.references import REFERENCES, adapt
from nas.settings import study_settings

CACHE_ATTR = "reference_scores"  # study user attr: "<digest>-e<epochs>" -> score of a reference
DEFAULT_WIDTHS = (0.5, 1.0)  # the ends of the search spaces' width multipliers


def score_references(
    study: optuna.Study,
    *,
    names: Sequence[str],
    width_mults: Sequence[float],
    data_dir: str = DEFAULT_DATA_DIR,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Each reference at each width, trained like the study's trials (and its latency measured
    where the study measures latency); cached in the study."""
    if not names:
        return []
    settings = study_settings(study)
    proxy = settings.proxy
    cache = dict(study.user_attrs.get(CACHE_ATTR, {}))
    data = load_dataset(settings.dataset, data_dir, **settings.data_options())
    scores = []
    for name in names:
        for width in width_mults:
            spec = adapt(
                REFERENCES[name], in_chs=data.in_chs, num_classes=data.num_classes,
                resolution=max(data.resolutions), width_mult=width,
            )  # fmt: skip
            key = f"{spec.digest()}-e{proxy.epochs}"
            if key not in cache:
                log(f"scoring reference {name} x{width} with the proxy trainer ({proxy.epochs} epochs)...")
                result = train_and_evaluate(spec, data, proxy, device=resolve_device(device))
                cost = count_cost(spec)
                cache[key] = {
                    "name": f"{name} x{width}",
                    "accuracy": result.accuracy,
                    "flops": cost.flops,
                    "params": cost.params,
                    "arch": spec.to_string(),
                }
                study.set_user_attr(CACHE_ATTR, cache)  # saved as we go: an interrupted report keeps its work
            if settings.latency_setup and "latency_ms" not in cache[key]:  # measured here, like the trials
                cache[key]["latency_ms"] = measure(spec, settings.latency_setup).ms
                study.set_user_attr(CACHE_ATTR, cache)
            scores.append(cache[key])
    return scores
