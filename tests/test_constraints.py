"""Constraints, duplicate architectures, bad input and reproducibility of the search."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from nas.front import feasible_front, pick
from search_spaces import SpaceContext, cheapest_cost, random_specs

from .helpers import complete, main, write_images


def test_infeasible_architectures_are_never_trained_and_marked_for_the_sampler(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert main(["--budget", "4", "--epochs", "1", "--storage", storage, "--max-flops", "150K"]) == 0
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    done = study.get_trials(states=(TrialState.COMPLETE,))
    infeasible = [t for t in done if t.constraints["flops_over_limit"] > 0]
    feasible = [t for t in done if t.constraints["flops_over_limit"] <= 0]
    assert infeasible, "the space's typical networks exceed 150K MACs"
    for t in infeasible:
        assert t.user_attrs["infeasible"] and "train_seconds" not in t.user_attrs  # never trained
        assert t.values[1] > 150_000
    assert all(t.values[1] <= 150_000 and "train_seconds" in t.user_attrs for t in feasible)
    # the budget counts new feasible networks (re-scoring runs come on top)
    assert len([t for t in complete(storage) if t.constraints["flops_over_limit"] <= 0]) == 4
    front = feasible_front(study)
    assert front and {t.number for t in front} <= {t.number for t in feasible}
    assert pick(study, "max-accuracy").values[1] <= 150_000


def test_a_network_already_evaluated_reuses_its_result(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    args = ["--epochs", "1", "--storage", storage]
    assert main(["--budget", "2", *args]) == 0
    study = optuna.load_study(study_name="digits-mixed", storage=storage)
    first = study.get_trials()[0]
    study.enqueue_trial(first.params)  # the sampler proposes the very same network again
    assert main(["--budget", "3", *args]) == 0
    twin = complete(storage)[-1]
    assert twin.user_attrs["digest"] == first.user_attrs["digest"]
    assert twin.user_attrs["duplicate_of"] == first.number
    assert twin.values == first.values and "train_seconds" not in twin.user_attrs
    assert twin.number not in {t.number for t in feasible_front(study)}  # the front lists each network once


def test_same_seed_same_architectures_and_accuracies(tmp_path: Path) -> None:
    runs = []
    for run in ("a", "b"):
        storage = f"sqlite:///{tmp_path / run}.db"
        assert main(["--budget", "3", "--epochs", "1", "--seed", "11", "--storage", storage]) == 0
        runs.append([(t.user_attrs["arch"], t.values[0], t.user_attrs["seed"]) for t in complete(storage)])
    assert runs[0] == runs[1]
    other = tmp_path / "c.db"
    assert main(["--budget", "3", "--epochs", "1", "--seed", "12", "--storage", f"sqlite:///{other}"]) == 0
    assert [t.user_attrs["arch"] for t in complete(f"sqlite:///{other}")] != [r[0] for r in runs[0]]


def test_cheapest_cost_is_a_lower_bound_of_the_space() -> None:
    ctx = SpaceContext(1, 10, (8, 12, 16))
    for space in ("mixed", "squeezenet", "mobilenet", "shufflenet"):
        least = cheapest_cost(space, ctx)
        from nas import count_cost

        costs = [count_cost(s) for s in random_specs(space, ctx, 40, seed=3)]
        assert least.flops <= min(c.flops for c in costs) and least.params <= min(c.params for c in costs)


def write_folder(root: Path, classes: dict[str, int]) -> str:
    root.mkdir(parents=True, exist_ok=True)
    write_images(root, classes)
    return f"folder:{root}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "cuda"], "CUDA is not available"),
        (["--dataset", "folder:/no/such/dir"], "does not exist"),
        (["--dataset", "EMPTY"], "has no class folders with images"),
        (["--dataset", "ONECLASS"], "needs at least 2 class folders"),
        (["--max-flops", "10"], "below the cheapest architecture"),
        (["--max-params", "200", "--space", "squeezenet"], "below the cheapest architecture"),
        (["--max-flops", "many"], "expected a size"),
        (["--storage", "postgresql://nas:nas@127.0.0.1:9/none"], "cannot open storage"),
        (["--storage", "mysql://"], "cannot open storage"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, capsys, args, message) -> None:
    if torch.cuda.is_available() and "cuda" in args:
        pytest.skip("this machine has CUDA")
    args = [a.replace("EMPTY", f"folder:{tmp_path / 'empty'}") for a in args]
    (tmp_path / "empty").mkdir()
    args = [a.replace("ONECLASS", write_folder(tmp_path / "one", {"cats": 4})) for a in args]
    db = tmp_path / "nas.db"
    storage_args = [] if any(a.startswith("--storage") for a in args) else ["--storage", f"sqlite:///{db}"]
    assert main(["--budget", "2", *storage_args, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not db.exists()
