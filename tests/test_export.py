from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nas import ArchSpec, count_cost
from nas.export import main as export_main

from .test_codegen import run_isolated

# Run in a fresh interpreter that refuses to import anything of ours or of Optuna's.


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = export_main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow  # a search, then training the export
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


@pytest.mark.slow  # ONNX export and onnxruntime
def test_onnx_export_matches_pytorch(small_study, tmp_path: Path, capsys) -> None:
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    pytest.importorskip("onnxscript", reason="the onnx extra is not installed")
    storage, _ = small_study
    code, out, err = cli(["--storage", storage, "--pick", "max-accuracy", "--out-dir", str(tmp_path), "--onnx",
                          "--pt2"], capsys)  # fmt: skip
    assert code == 0, err
    diff = float(out.split("max abs diff ")[1].split()[0])
    assert diff < 1e-4
    # the torch.export program runs, and computes what the ONNX file of the same model computes
    import onnxruntime

    (pt2,), (onnx,) = tmp_path.glob("*.pt2"), tmp_path.glob("*.onnx")
    session = onnxruntime.InferenceSession(str(onnx))
    shape = [d if isinstance(d, int) else 2 for d in session.get_inputs()[0].shape]
    x = torch.randn(*shape)
    expected = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        assert torch.allclose(torch.export.load(pt2).module()(x[:1]), torch.from_numpy(expected[:1]), atol=1e-4)


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
