"""nas.search_config: one record of what a search is asked, checked before anything is opened."""

import argparse

import pytest

from nas.search_config import Limits, SearchConfig


def test_defaults_and_derived_names(tmp_path) -> None:
    config = SearchConfig(storage=f"sqlite:///{tmp_path / 'nas.db'}")
    assert (config.budget, config.refine, config.study_name) == (200, 2, "digits-mixed")
    assert config.artifact_dir == str(tmp_path / "artifacts")
    folder = SearchConfig(dataset="folder:/data/my/photos/", storage=config.storage)
    assert folder.study_name == "photos-mixed" and folder.legacy_study_name == "folder--data-my-photos-mixed"


def test_from_args_takes_the_fields_given_and_keeps_the_rest() -> None:
    args = argparse.Namespace(budget=7, refine=None, workers=3, seed=4, verbose=True)
    config = SearchConfig.from_args(args, ["python", "-m", "nas.search", "--budget", "7"])
    assert (config.budget, config.refine, config.seed) == (7, 2, 4) and config.command[-1] == "7"


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"budget": 0}, "--budget must be at least 1"), ({"eta": 1}, "--eta must be at least 2"),
     ({"refine": -1}, "--refine must be at least 0"), ({"min_epochs": 5, "epochs": 2}, "above --epochs"),
     ({"max_latency": 0.0}, "--max-latency must be positive"), ({"sampler": "grid"}, "unknown sampler"),
     ({"dataset": "imagenet"}, "unknown dataset"), ({"space": "resnet"}, "resnet"),
     ({"latency_backend": "tvm"}, "unknown latency backend"), ({"resolutions": (4,)}, "resolutions must be")],
)  # fmt: skip
def test_bad_values_are_refused_with_the_flag_named(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchConfig(**kw)


def test_limits_are_constraints_above_zero_when_exceeded() -> None:
    from nas.cost import Cost

    limits = Limits(max_flops=1000, max_latency=2.0)
    assert limits.constraints(Cost(flops=1500, params=10), 1.0) == {
        "flops_over_limit": 500.0,
        "latency_over_limit": -1.0,
    }
    assert Limits().constraints(Cost(flops=1, params=1)) == {}
