"""python -m nas.retrain on tiny real studies: its records, resume, the test split, bad input."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from nas.data import load_dataset
from nas.final_figures import final_figures, final_html
from nas.final_store import CLAIM_PREFIX, NETWORK_PREFIX, RUN_PREFIX, SELECT, TEST, Setup, finals, networks
from nas.retrain import main as retrain_main
from nas.search import main as search_main

from .helpers import RETRAIN_SHORT, wait_for, write_images


def retrain(*argv: str) -> int:
    try:
        return retrain_main(list(argv))
    except SystemExit as exc:
        return exc.code


def runs(study: optuna.Study) -> dict:
    return {k: v for k, v in study.user_attrs.items() if k.startswith(RUN_PREFIX)}


def load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="digits-mixed", storage=storage)


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


def test_the_same_command_resumes_without_training_anything_twice(retrained, capsys) -> None:
    storage, chosen = retrained
    study = load(storage)
    before = runs(study)
    assert retrain("--storage", storage, "--trials", ",".join(map(str, chosen)), "--references",
                   "squeezenet1_1,mobilenet_v2", "--reference-widths", "0.25", *RETRAIN_SHORT) == 0  # fmt: skip
    assert runs(study) == before  # same records, same timings: nothing retrained
    assert "Final training (3 epochs x 2 seeds" in capsys.readouterr().out


def test_a_failed_classic_is_listed_with_its_loss_and_never_plotted(retrained) -> None:
    study = load(retrained[0])
    _, classic = finals(study)
    figs = final_figures(study)
    assert {"final_vs_flops", "final_vs_params", "proxy_vs_final"} <= set(figs)
    plotted = {name for trace in figs["final_vs_flops"].data for name in (trace.text or ())}
    section = final_html(study)
    for c in classic:
        if c.failed:  # three epochs of SqueezeNet 1.1 at these rates usually stay at chance
            assert c.name not in plotted and f"failed to learn (final loss {c.final_loss:.3f})" in section
        else:
            assert c.name in plotted


@pytest.fixture(scope="module")
def swapped_folder(tmp_path_factory) -> tuple[str, Path]:
    """A folder whose test/ tree has its two classes' pictures swapped: a network trained on train
    (+ validation) scores about 1 on validation and about 0 on test."""
    root = tmp_path_factory.mktemp("swapped") / "bright"
    write_images(root / "train", {"dark": 150, "light": 150}, size=12, mode="L")
    write_images(root / "test", {"light": 40, "dark": 40}, size=12, mode="L")  # the dark pictures named light
    storage = f"sqlite:///{root.parent / 'nas.db'}"
    assert search_main(["--dataset", f"folder:{root}", "--budget", "2", "--epochs", "2", "--refine", "0",
                        "--batch-size", "16", "--storage", storage]) == 0  # fmt: skip
    return storage, root


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


@pytest.mark.slow
def test_workers_share_the_runs_and_ctrl_c_keeps_what_finished(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    assert search_main(["--budget", "3", "--epochs", "1", "--refine", "0", "--storage", storage]) == 0
    cmd = [sys.executable, "-m", "nas.retrain", "--storage", storage, "--references", "shufflenet_v2_x0_5",
           "--reference-widths", "0.25", "--epochs", "2", "--seeds", "2", "--lrs", "0.2,0.05"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(runs(load(storage))) >= 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "finished runs are kept. Resume with the same command" in err
    kept = runs(load(storage))
    assert len(kept) >= 2 and not any(v for k, v in load(storage).user_attrs.items() if k.startswith(CLAIM_PREFIX))
    done = subprocess.run([*cmd, "--workers", "2"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = runs(load(storage))
    assert {k: after[k] for k in kept} == kept  # what finished before Ctrl-C was not trained again
    networks_ = networks(load(storage).user_attrs)
    assert len(after) == len(networks_) * (2 + 2)  # every run once: 2 learning rates, 2 seeds
    assert len({v["worker"] for k, v in after.items() if k not in kept}) == 2  # both workers trained some
    assert "The front beats" in done.stdout or "Classic networks" in done.stdout


def test_a_folder_without_test_tree_holds_its_test_split_out_of_train_and_validation(tmp_path) -> None:
    write_images(tmp_path / "pics", {"a": 30, "b": 30}, size=10)  # random pictures: each one unique
    data = load_dataset(f"folder:{tmp_path / 'pics'}")
    seen = {bytes(x.numpy()) for name in ("train", "val") for x in data.split(name, data.native_resolution)[0]}
    test = [bytes(x.numpy()) for x in data.split("test", data.native_resolution)[0]]
    assert len(test) == 12 and not seen & set(test)  # 20% held out, none of it in what the search reads
