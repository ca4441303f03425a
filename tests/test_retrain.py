"""python -m nas.retrain on tiny real studies: its records, resume, the test split, bad input."""

from __future__ import annotations

import shutil

import optuna
import pytest

from nas.final_store import NETWORK_PREFIX, SELECT, TEST, Setup, finals, networks

from .helpers import RETRAIN_SHORT, load, retrain, runs


@pytest.mark.slow  # the final training of a study
def test_every_run_is_recorded_and_the_trials_carry_their_final_attrs(retrained) -> None:
    storage, chosen = retrained
    study = load(storage)
    nets = networks(study.user_attrs)
    assert sorted(n["trial"] for n in nets.values() if n["kind"] == "searched") == chosen
    assert sorted(n["name"] for n in nets.values() if n["kind"] == "classic") == [
        "mobilenet_v2 x0.25",
        "squeezenet1_1 x0.25",
    ]
    recorded = runs(study)
    for digest in nets:
        assert sum(f":{SELECT}:" in k and digest in k for k in recorded) == 2  # one per learning rate
        assert sum(f":{TEST}:3:" in k and digest in k for k in recorded) == 2  # one per seed, 3 epochs
    assert Setup.of(study) == Setup(epochs=3, seeds=2, lrs=(0.2, 0.05), select_epochs=1)
    members, classic = finals(study)
    by_trial = {m.trial: m for m in members}
    for t in study.get_trials():
        if t.number in chosen:
            attrs = t.user_attrs
            assert attrs["final_accuracy"] == pytest.approx(by_trial[t.number].mean)
            assert attrs["final_low"] <= attrs["final_accuracy"] <= attrs["final_high"]
            assert attrs["final_epochs"] == 3 and attrs["final_seeds"] == 2 and attrs["final_lr"] in (0.2, 0.05)
        else:
            assert "final_accuracy" not in t.user_attrs


@pytest.mark.slow  # the final training of a study
def test_the_same_command_resumes_without_training_anything_twice(retrained, capsys) -> None:
    storage, chosen = retrained
    study = load(storage)
    before = runs(study)
    assert retrain("--storage", storage, "--trials", ",".join(map(str, chosen)), "--references",
                   "squeezenet1_1,mobilenet_v2", "--reference-widths", "0.25", *RETRAIN_SHORT) == 0  # fmt: skip
    assert runs(study) == before  # same records, same timings: nothing retrained
    assert "Final training (3 epochs x 2 seeds" in capsys.readouterr().out


def test_bad_input_is_one_line_exit_2_and_writes_nothing(small_study, swapped_folder, tmp_path, capsys) -> None:
    storage, name = small_study
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    source = optuna.load_study(study_name=name, storage=storage)
    optuna.create_study(storage=empty, study_name="digits-mixed", directions=["maximize", "minimize", "minimize"])
    optuna.load_study(study_name="digits-mixed", storage=empty).set_user_attr("settings",
                                                                             source.user_attrs["settings"])  # fmt: skip
    folder_storage, folder = swapped_folder
    moved = folder.with_name("moved")
    shutil.move(folder, moved)  # the study's data can no longer be read
    try:
        for argv, message in (
            (["--storage", storage, "--study-name", "nope"], "no study 'nope'"),
            (["--storage", storage, "--trials", "9999"], "has no trial 9999"),
            (["--storage", storage, "--epochs", "0"], "must be at least 1"),
            (["--storage", storage, "--seeds", "0"], "must be at least 1"),
            (["--storage", storage, "--lrs", "0.1,-1"], "positive numbers"),
            (["--storage", storage, "--references", "alexnet"], "unknown reference ['alexnet']"),
            (["--storage", empty], "has no finished trial"),
            (["--storage", folder_storage], "cannot be read"),
            (["--storage", f"sqlite:///{tmp_path / 'absent.db'}"], "absent.db"),
        ):
            before = {s: optuna.load_study(study_name=n, storage=s).user_attrs for s, n in
                      ((empty, "digits-mixed"), (folder_storage, "bright-mixed"))}  # fmt: skip
            assert retrain(*argv) == 2, argv
            err = capsys.readouterr().err
            assert message in err and len(err.strip().splitlines()) == 1, (argv, err)
            for s, attrs in before.items():
                n = "digits-mixed" if s == empty else "bright-mixed"
                assert optuna.load_study(study_name=n, storage=s).user_attrs == attrs  # nothing written
        assert not (tmp_path / "absent.db").exists()
        assert not any(k.startswith(NETWORK_PREFIX) for k in optuna.load_study(study_name="digits-mixed",
                                                                                storage=empty).user_attrs)  # fmt: skip
    finally:
        shutil.move(moved, folder)
