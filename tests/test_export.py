from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from nas import ArchSpec, build_model, count_cost
from nas.cli import parse_size
from nas.codegen import module_source
from nas.export import main as export_main
from nas.front import feasible_front, knee, pareto_front, pick, study_evidence
from nas.references import REFERENCES
from search_spaces import SpaceContext, random_specs

# Run in a fresh interpreter that refuses to import anything of ours or of Optuna's.
CHECKER = r"""
import importlib.abc, importlib.util, json, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"nas", "search_spaces", "optuna", "thop", "sqlalchemy"}:
            raise ImportError(f"exported code imported {name}")
sys.meta_path.insert(0, Refuse())
import torch
from torch.utils.flop_counter import FlopCounterMode
results = {}
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("exported", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build().eval()
    model.load_state_dict(torch.load(path[:-3] + ".pt"), strict=True)
    x = torch.load(path[:-3] + ".in.pt")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(x[:1])
    torch.save(model(x).detach(), path[:-3] + ".out.pt")
    results[path] = {"params": sum(p.numel() for p in model.parameters()), "flops": counter.get_total_flops() // 2}
print(json.dumps(results))
"""


def run_isolated(files: list[Path]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-I", "-c", CHECKER, *map(str, files)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_exported_code_matches_build_model_in_a_process_without_nas(tmp_path: Path) -> None:
    specs = random_specs("mixed", SpaceContext(3, 10, (16, 24, 32)), 20, seed=5)
    specs += random_specs("mixed", SpaceContext(1, 10, (8, 12, 16)), 10, seed=6)
    specs += list(REFERENCES.values())
    files, expected = [], {}
    for i, spec in enumerate(specs):
        path = tmp_path / f"net{i}.py"
        path.write_text(module_source(spec, doc=spec.to_string(), mean=(0.5,) * spec.in_chs, std=(0.25,) * spec.in_chs))
        torch.manual_seed(i)
        model = build_model(spec).eval()
        torch.save(model.state_dict(), tmp_path / f"net{i}.pt")
        x = torch.randn(2, spec.in_chs, spec.resolution, spec.resolution)
        torch.save(x, tmp_path / f"net{i}.in.pt")
        with torch.no_grad():
            expected[str(path)] = (model(x), count_cost(spec))
        files.append(path)
    results = run_isolated(files)
    for path, (out, cost) in expected.items():
        assert results[path] == {"params": cost.params, "flops": cost.flops}, path
        assert torch.equal(torch.load(path[:-3] + ".out.pt"), out), path


def test_parse_size() -> None:
    assert parse_size("50M") == 50_000_000 and parse_size("1.5m") == 1_500_000
    assert parse_size("300K") == 300_000 and parse_size("2G") == 2 * 10**9 and parse_size("1234") == 1234
    with pytest.raises(ValueError, match="expected a size"):
        parse_size("lots")


def brute_force_front(trials: list) -> list:
    """The trials no other trial dominates (accuracy up, FLOPs and params down), by comparing all pairs."""

    def dominated(b: optuna.trial.FrozenTrial) -> bool:
        return any(a.values[0] >= b.values[0] and a.values[1] <= b.values[1] and a.values[2] <= b.values[2]
                   and a.values != b.values for a in trials)  # fmt: skip

    return [t for t in trials if not dominated(t)]


def test_pick_rules_on_a_real_study(small_study) -> None:
    storage, name = small_study
    study = optuna.load_study(study_name=name, storage=storage)
    front = feasible_front(study)
    networks = study_evidence(study)  # one per network: mean accuracy over its seeds
    assert len({t.user_attrs["digest"] for t in networks}) == len(networks)
    assert front and {t.number for t in front} == {t.number for t in brute_force_front(networks)}

    best = pick(study, "max-accuracy")
    assert best.values[0] == max(t.values[0] for t in networks)
    cheapest = pick(study, "min-flops")
    assert cheapest.values[1] == min(t.values[1] for t in front)

    cap = sorted(t.values[1] for t in front)[len(front) // 2]
    capped = pick(study, "max-accuracy", max_flops=cap)
    assert capped.values[1] <= cap
    assert capped.values[0] == max(t.values[0] for t in front if t.values[1] <= cap)

    floor = sorted(t.values[0] for t in front)[len(front) // 2]
    cheap_good = pick(study, "min-flops", min_accuracy=floor)
    assert cheap_good.values[0] >= floor
    assert cheap_good.values[1] == min(t.values[1] for t in front if t.values[0] >= floor)

    assert pick(study, "knee") in front
    with pytest.raises(ValueError, match="no feasible Pareto trial .* meets flops <= 1"):
        pick(study, "max-accuracy", max_flops=1)
    with pytest.raises(ValueError, match="accuracy >= 1.5"):
        pick(study, "min-flops", min_accuracy=1.5)


def test_knee_is_the_bend_of_the_front() -> None:
    class T:  # the three fields knee() reads
        def __init__(self, number: int, acc: float, flops: float) -> None:
            self.number, self.values = number, [acc, flops, 1]

    points = [T(0, 0.50, 1e3), T(1, 0.90, 1e4), T(2, 0.92, 1e5), T(3, 0.93, 1e6), T(4, 0.40, 1e5)]
    assert knee(points).number == 1


def test_pareto_front_equals_the_brute_force_front() -> None:
    """The O(n x front) cull finds exactly the trials no other trial dominates (ties included)."""
    rng = np.random.default_rng(0)
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for _ in range(20):
        values = rng.integers(0, 6, (60, 3)).astype(float)  # few levels: many ties and equal points
        trials = [optuna.trial.create_trial(params={"x": 0.5}, distributions=dist, values=list(v)) for v in values]
        for number, t in enumerate(trials):
            t.number = number
        assert {t.number for t in pareto_front(trials)} == {t.number for t in brute_force_front(trials)}


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = export_main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_export_cli_knee_with_retraining_loads_in_plain_torch(small_study, tmp_path: Path, capsys) -> None:
    storage, _ = small_study
    code, out, _ = cli(["--storage", storage, "--pick", "knee", "--out-dir", str(tmp_path), "--name", "best",
                        "--train-epochs", "1"], capsys)  # fmt: skip
    assert code == 0
    assert "test accuracy" in out
    text = (tmp_path / "best.py").read_text()
    spec = ArchSpec.from_json((tmp_path / "best.json").read_text())
    assert spec.to_string() in text and "digits-mixed" in text
    assert "import nas" not in text and "optuna" not in text
    torch.save(torch.randn(3, spec.in_chs, spec.resolution, spec.resolution), tmp_path / "best.in.pt")
    result = run_isolated([tmp_path / "best.py"])[str(tmp_path / "best.py")]
    assert result == {"params": count_cost(spec).params, "flops": count_cost(spec).flops}
    # python best.py runs its own smoke test
    proc = subprocess.run([sys.executable, "-I", str(tmp_path / "best.py")], capture_output=True, text=True)
    assert proc.returncode == 0 and f"params {count_cost(spec).params:,}" in proc.stdout


def test_onnx_export_matches_pytorch(small_study, tmp_path: Path, capsys) -> None:
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    pytest.importorskip("onnxscript", reason="the onnx extra is not installed")
    storage, _ = small_study
    code, out, err = cli(["--storage", storage, "--pick", "max-accuracy", "--out-dir", str(tmp_path), "--onnx",
                          "--pt2"], capsys)  # fmt: skip
    assert code == 0, err
    diff = float(out.split("max abs diff ")[1].split()[0])
    assert diff < 1e-4
    assert list(tmp_path.glob("*.onnx")) and list(tmp_path.glob("*.pt2"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trial", "999"], "has no trial 999"),
        (["--study-name", "nope", "--trial", "0"], "no study 'nope'"),
        (["--pick", "max-accuracy", "--max-params", "10"], "meets params <= 10"),
        (["--pick", "knee", "--max-flops", "big"], "expected a size"),
        (["--pick", "fastest"], "invalid choice"),
    ],
)
def test_export_errors_are_one_line_exit_2(small_study, tmp_path: Path, capsys, args, message) -> None:
    storage, _ = small_study
    code, _, err = cli(["--storage", storage, "--out-dir", str(tmp_path), *args], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_export_of_a_missing_database_is_refused(tmp_path: Path, capsys) -> None:
    code, _, err = cli(["--storage", f"sqlite:///{tmp_path / 'none.db'}", "--trial", "0"], capsys)
    assert code == 2 and "no study database" in err
    assert not (tmp_path / "none.db").exists()
