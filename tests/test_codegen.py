"""nas.codegen: exported modules rebuild the same network in a process without nas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nas import build_model, count_cost
from nas.codegen import module_source
from nas.references import REFERENCES
from search_spaces import SpaceContext, random_specs


def run_isolated(files: list[Path]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-I", "-c", CHECKER, *map(str, files)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # a fresh Python process importing torch
def test_exported_code_matches_build_model_in_a_process_without_nas(tmp_path: Path) -> None:
    specs = random_specs("mixed", SpaceContext(3, 10, (16, 24, 32)), 10, seed=5)
    specs += random_specs("mixed", SpaceContext(1, 10, (8, 12, 16)), 5, seed=6)
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
