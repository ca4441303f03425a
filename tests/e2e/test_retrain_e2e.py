"""nas.retrain with worker processes and Ctrl-C, end to end (slow)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from nas.final_store import CLAIM_PREFIX, networks
from nas.search import main as search_main

from ..helpers import load, runs, wait_for


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
