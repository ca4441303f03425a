"""nas.final_train: final runs train on train + validation and are scored on the test split."""

from __future__ import annotations

import optuna

from nas.data import load_dataset
from nas.final_store import SELECT, TEST

from .helpers import retrain, runs, write_images


def test_final_scores_come_from_the_test_split_and_the_choice_from_validation(swapped_folder) -> None:
    storage, _ = swapped_folder
    assert retrain("--storage", storage, "--top", "1", "--references", "none", "--epochs", "3", "--seeds", "2") == 0
    study = optuna.load_study(study_name="bright-mixed", storage=storage)
    recorded = runs(study)
    select = [v["accuracy"] for k, v in recorded.items() if f":{SELECT}:" in k]
    test = [v["accuracy"] for k, v in recorded.items() if f":{TEST}:" in k]
    assert len(select) == 3 and len(test) == 2
    assert max(select) > 0.9  # validation: carved from train, labels as trained
    assert max(test) < 0.1  # test: labels swapped, so only a score on test can be this low


def test_a_folder_without_test_tree_holds_its_test_split_out_of_train_and_validation(tmp_path) -> None:
    write_images(tmp_path / "pics", {"a": 30, "b": 30}, size=10)  # random pictures: each one unique
    data = load_dataset(f"folder:{tmp_path / 'pics'}")
    seen = {bytes(x.numpy()) for name in ("train", "val") for x in data.split(name, data.native_resolution)[0]}
    test = [bytes(x.numpy()) for x in data.split("test", data.native_resolution)[0]]
    assert len(test) == 12 and not seen & set(test)  # 20% held out, none of it in what the search reads
