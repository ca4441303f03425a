"""python -m nas.export: take an architecture from a study into your own project.

Writes ``studies/<study>/exports/<name>.py`` (standalone: imports only torch) and the ArchSpec
JSON beside it; optionally retrains it from scratch on train+validation, reports test accuracy
and saves the weights (``.pt``), and exports ONNX / torch.export (``.pt2``) files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from nas.arch import ArchSpec
from nas.cli import OneLineErrorParser, fraction_arg, latency_arg, non_negative_int, size_arg
from nas.codegen import trial_module_source
from nas.cost import count_cost
from nas.data import load_dataset
from nas.evidence import Evidence, best_evidence
from nas.final_store import finals
from nas.front import RULES, accuracy_text, pick, shown_costs
from nas.objectives import cost_text, metric, study_objectives
from nas.paths import DEFAULT_DATA_DIR, DEFAULT_STORAGE, STUDIES_DIR
from nas.proxy import ProxyConfig, resolve_device, train_and_evaluate
from nas.settings import study_settings
from nas.storage import load_existing_study
from nas.verdict import Final


@dataclass
class Exported:
    code: Path
    spec_json: Path
    weights: Path | None = None
    onnx: Path | None = None
    pt2: Path | None = None
    test_accuracy: float | None = None


def study_dir(study: optuna.Study, root: str | Path = STUDIES_DIR) -> Path:
    return Path(root) / study.study_name


def trial_source(study: optuna.Study, trial: Evidence | FrozenTrial, name: str) -> str:
    """The standalone module of a finished trial, with its scores in the docstring."""
    spec = ArchSpec.from_string(trial.user_attrs["arch"])
    cost = count_cost(spec)  # exact whatever the study's objectives
    settings = study_settings(study)
    if isinstance(trial, Evidence):
        epochs, seeds, interval = trial.epochs, trial.seeds, (trial.low, trial.high)
    else:  # a run that is no network's evidence (e.g. over a limit): as it ran
        epochs, seeds, interval = trial.user_attrs.get("epochs", settings.epochs), 1, None
    latency = metric(trial, "latency", study_objectives(study))
    if latency is not None and settings.latency_setup:
        latency_text = f"{latency:.3g} ms ({settings.latency_setup.describe()})"
    else:
        latency_text = None
    final = final_results(study).get(trial.number)
    return trial_module_source(
        spec, study_name=study.study_name, number=trial.number, accuracy=trial.values[0], flops=cost.flops,
        params=cost.params, epochs=epochs, dataset=settings.dataset, name=name,
        mean=settings.mean or (0.0,) * spec.in_chs, std=settings.std or (1.0,) * spec.in_chs,
        seeds=seeds, interval=interval, latency=latency_text,
        final=final_text(final) if final else None,
    )  # fmt: skip


def final_results(study: optuna.Study) -> dict[int, Final]:
    """Trial number -> its network's final training (``nas.retrain``), for those that have one."""
    return {f.trial: f for f in finals(study)[0] if not f.failed}


def final_text(final: Final) -> str:
    low, high = final.interval()
    return (f"{final.mean:.4f} (95% interval {low:.4f}..{high:.4f}; final training by nas.retrain: "
            f"{final.epochs} epochs x {len(final.accuracies)} seeds at lr {final.lr:g} on train + validation, "
            "scored on the test split)")  # fmt: skip


def get_trial(study: optuna.Study, number: int) -> Evidence | FrozenTrial:
    """Trial ``number``, standing for its network's best evidence (mean accuracy over its seeds at
    the most epochs it reached) where the study has more than that one run of it."""
    trials = study.get_trials(deepcopy=False)
    found = [t for t in trials if t.number == number]
    if not found:
        raise ValueError(f"study {study.study_name!r} has no trial {number}")
    if found[0].state != TrialState.COMPLETE or "arch" not in found[0].user_attrs:
        raise ValueError(f"trial {number} of study {study.study_name!r} did not finish ({found[0].state.name})")
    settings = study_settings(study)
    digest = found[0].user_attrs.get("digest")
    evidence = best_evidence(trials, default_epochs=settings.epochs, val_size=settings.val_size)
    return next((e for e in evidence if e.user_attrs.get("digest") == digest), found[0])


def require(module: str, extra: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ValueError(f"this needs {module}: pip install 'lightweight-nas[{extra}]'") from None


def export_onnx(model: torch.nn.Module, spec: ArchSpec, path: Path) -> float:
    """Write ONNX (dynamo exporter), run it in onnxruntime, return max |onnx - torch|."""
    for module in ("onnx", "onnxscript", "onnxruntime"):
        require(module, "onnx")
    import onnxruntime

    model = model.cpu().eval()
    x = torch.randn(2, spec.in_chs, spec.resolution, spec.resolution)
    batch = torch.export.Dim("batch", min=1)
    torch.onnx.export(model, (x,), str(path), dynamo=True, dynamic_shapes=({0: batch},), verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (ours,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        return float((torch.from_numpy(ours) - model(x)).abs().max())


def export_pt2(model: torch.nn.Module, spec: ArchSpec, path: Path) -> None:
    x = torch.randn(1, spec.in_chs, spec.resolution, spec.resolution)
    torch.export.save(torch.export.export(model.cpu().eval(), (x,)), str(path))


def export(
    study: optuna.Study,
    trial: FrozenTrial,
    *,
    out_dir: Path,
    name: str,
    train_epochs: int = 0,
    device: str = "auto",
    data_dir: str = DEFAULT_DATA_DIR,
    onnx: bool = False,
    pt2: bool = False,
    log=print,
) -> Exported:
    spec = ArchSpec.from_string(trial.user_attrs["arch"])
    out_dir.mkdir(parents=True, exist_ok=True)
    result = Exported(code=out_dir / f"{name}.py", spec_json=out_dir / f"{name}.json")
    result.code.write_text(trial_source(study, trial, name))
    result.spec_json.write_text(spec.to_json(indent=2) + "\n")
    log(f"wrote {result.code} and {result.spec_json}")

    model = None
    if train_epochs:
        settings = study_settings(study)
        data = load_dataset(settings.dataset, data_dir, **settings.data_options())
        trained = train_and_evaluate(
            spec, data, ProxyConfig(epochs=train_epochs), device=resolve_device(device),
            seed=trial.user_attrs.get("seed", 0), train_on=("train", "val"), eval_on="test",
        )  # fmt: skip
        model = trained.model.cpu()
        result.test_accuracy = trained.accuracy
        result.weights = out_dir / f"{name}.pt"
        torch.save(model.state_dict(), result.weights)
        log(
            f"retrained {train_epochs} epochs on train+validation: test accuracy {trained.accuracy:.4f}; "
            f"weights in {result.weights}"
        )
    if onnx or pt2:
        if model is None:
            from nas.build import build_model

            model = build_model(spec)
        if onnx:
            result.onnx = out_dir / f"{name}.onnx"
            diff = export_onnx(model, spec, result.onnx)
            log(f"wrote {result.onnx}: onnxruntime vs PyTorch max abs diff {diff:.2e}")
        if pt2:
            result.pt2 = out_dir / f"{name}.pt2"
            export_pt2(model, spec, result.pt2)
            log(f"wrote {result.pt2} (torch.export)")
    return result


def build_parser() -> argparse.ArgumentParser:
    p = OneLineErrorParser(prog="python -m nas.export", description=__doc__)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=non_negative_int, help="trial number")
    which.add_argument("--pick", choices=RULES, help="a rule over the feasible Pareto set")
    p.add_argument("--max-flops", type=size_arg, help="limit for --pick, e.g. 50M")
    p.add_argument("--max-params", type=size_arg, help="limit for --pick, e.g. 1.5M")
    p.add_argument("--max-latency", type=latency_arg, help="limit for --pick, e.g. 2ms (studies that measured it)")
    p.add_argument("--min-accuracy", type=fraction_arg, help="limit for --pick, e.g. 0.9")
    p.add_argument("--storage", default=DEFAULT_STORAGE)
    p.add_argument("--study-name", default=None, help="needed only when the storage holds several studies")
    p.add_argument("--name", default=None, help="file name without suffix (default: trial<N>)")
    p.add_argument("--out-dir", default=None, help="default: studies/<study>/exports")
    p.add_argument(
        "--train-epochs", type=non_negative_int, default=0, help="retrain from scratch, report test accuracy"
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--onnx", action="store_true", help="also write ONNX (extra: onnx)")
    p.add_argument("--pt2", action="store_true", help="also write a torch.export program")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        study = load_existing_study(args.storage, args.study_name)
        final = final_results(study)
        if args.trial is not None:
            trial = get_trial(study, args.trial)
        else:
            trial = pick(
                study, args.pick, max_flops=args.max_flops, max_params=args.max_params, max_latency=args.max_latency,
                min_accuracy=args.min_accuracy, final={n: f.mean for n, f in final.items()},
            )  # fmt: skip
            evidence = f"final test accuracy (nas.retrain; {len(final)} front members trained)" if final else \
                "proxy validation accuracy (no final training yet: python -m nas.retrain)"  # fmt: skip
            print(f"picked {args.pick} by {evidence}")
        objectives = study_objectives(study)
        costs = ", ".join(f"{cost_text(c, metric(trial, c, objectives))} {c}" for c in shown_costs([trial], objectives))
        print(f"trial {trial.number}: accuracy {accuracy_text(trial)}, {costs}")
        if trial.number in final:
            print(f"  test accuracy {final_text(final[trial.number])}")
        print(f"  {trial.user_attrs['arch']}")
        out_dir = Path(args.out_dir) if args.out_dir else study_dir(study) / "exports"
        export(
            study, trial, out_dir=out_dir, name=args.name or f"trial{trial.number}",
            train_epochs=args.train_epochs, device=args.device, data_dir=args.data_dir, onnx=args.onnx, pt2=args.pt2,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
