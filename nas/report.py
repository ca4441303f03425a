"""python -m nas.report: one self-contained HTML report of a study (plotly, works offline).

Accuracy vs each cost: FLOPs, params and, where measured, latency (Pareto front highlighted,
infeasible trials greyed), a 3-D view, hypervolume over trials, and, once ``nas.retrain`` has run,
the final training: test accuracy of the front and of the classic networks, who beats whom, and
how far the proxy agreed. The report only reads the study (it trains nothing); the figures are
also attached to the study for optuna-dashboard.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Sequence
from pathlib import Path

import optuna
import optuna_dashboard
import plotly.graph_objects as go
from optuna.trial import TrialState

from nas.cli import OneLineErrorParser
from nas.evidence import Evidence, tie_groups, tie_text
from nas.final_figures import final_figures, final_html
from nas.final_store import Setup
from nas.front import feasible_front, front_table, shown_costs
from nas.legacy import legacy_references
from nas.objectives import ATTRS, DESCRIPTIONS, cost_text, metric, study_objectives
from nas.paths import DEFAULT_STORAGE, STUDIES_DIR
from nas.report_figures import figures, reference_failed
from nas.settings import StudySettings, study_settings
from nas.storage import load_existing_study


def front_html(front: list[Evidence], objectives: tuple[str, ...]) -> str:
    ties = tie_groups(front)
    costs = shown_costs(front, objectives)
    rows = "".join(
        f"<tr><td>{t.number}</td><td>{t.accuracy:.4f}</td><td>{t.low:.4f}..{t.high:.4f}</td>"
        f"<td>{t.epochs} x {t.seeds}</td><td>{tie_text(ties.get(t.number))}</td>"
        + "".join(f"<td>{cost_text(c, metric(t, c, objectives))}</td>" for c in costs)
        + f"<td><code>{html.escape(t.user_attrs['arch'])}</code></td></tr>"
        for t in front
    )
    return (
        "<table><thead><tr><th>trial</th><th>accuracy (mean)</th><th>95% interval</th><th>epochs x seeds</th>"
        f"<th>ties</th>{''.join(f'<th>{c}</th>' for c in costs)}<th>arch</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def render(study: optuna.Study, figs: dict[str, go.Figure], references: list[dict], where: str = "") -> str:
    """One HTML page; plotly.js is inlined once, so it works offline."""
    parts = []
    for i, (key, fig) in enumerate(figs.items()):
        parts.append(f'<section id="{key}">' + fig.to_html(full_html=False, include_plotlyjs=i == 0) + "</section>")
    settings = StudySettings.of(study)
    summary = ", ".join(
        f"{k} {html.escape(str(getattr(settings, k)))}" for k in ("dataset", "space", "epochs") if settings
    )
    n_complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    objectives = study_objectives(study)
    refs = "".join(
        f"<li>{html.escape(r['name'])}: accuracy {r['accuracy']:.4f}"
        f"{' <b>(failed to learn: not plotted)</b>' if reference_failed(r) else ''}, "
        + ", ".join(f"{cost_text(c, r[key])} {c}" for c, key in ATTRS.items() if key in r)
        + "</li>"
        for r in references
    )
    setup = settings.latency_setup if settings else None
    latency = f" Latency measured with {html.escape(setup.describe())}." if setup else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(study.study_name)}: lightweight NAS report</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:last-child{{text-align:left}}</style>
</head><body>
<h1>{html.escape(study.study_name)}</h1>
<p>{n_complete} finished trials; {summary}. Objectives: {", ".join(DESCRIPTIONS[c] for c in objectives)}.{latency}</p>
<h2>Pareto front (feasible)</h2>
<p>Accuracy is each network's mean over its seeds at the most epochs it was trained for, with a 95%
interval (seed spread and the validation split's size). Members whose intervals overlap are tied:
the data do not order them.</p>
{front_html(feasible_front(study), objectives)}
<h2 id="final">Final training: the front against the classic networks (test split)</h2>
{final_html(study, where)}
{f"<h2>Reference networks (same proxy trainer, scored by an earlier release)</h2><ul>{refs}</ul>" if refs else ""}
{"".join(parts)}
</body></html>
"""


def write_report(study: optuna.Study, out: Path, *, storage_arg: str = "") -> Path:
    """Write the report of what the study holds; nothing is trained here."""
    references = legacy_references(study)  # proxy-scored by older releases
    figs = figures(study, references, where=storage_arg) | final_figures(study)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(study, figs, references, storage_arg))
    for key, fig in figs.items():  # the same figures in optuna-dashboard, replaced on each run
        optuna_dashboard.save_plotly_graph_object(study, fig, graph_object_id=key)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = OneLineErrorParser(prog="python -m nas.report", description=__doc__)
    parser.add_argument("--storage", default=DEFAULT_STORAGE)
    parser.add_argument("--study-name", default=None, help="needed only when the storage holds several studies")
    parser.add_argument("--out", default=None, help="default: studies/<study>/report.html")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = load_existing_study(args.storage, args.study_name)
        study_settings(study)  # a study not made by nas.search is refused in one line
        out = Path(args.out) if args.out else Path(STUDIES_DIR) / study.study_name / "report.html"
        where = "" if args.storage == DEFAULT_STORAGE else f" --storage {args.storage}"
        write_report(study, out, storage_arg=f"{where} --study-name {study.study_name}")
    except ValueError as exc:
        parser.error(str(exc))
    print("Pareto front (feasible):")
    print(front_table(feasible_front(study), study_objectives(study)))
    if Setup.of(study) is None:
        print(
            f"\nNo final training yet: python -m nas.retrain{where} --study-name {study.study_name} trains the "
            "front and the classic networks and scores them on the test split; the report then shows who wins."
        )
    print(f"\nreport: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
