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
from optuna.trial import FrozenTrial, TrialState

from nas.arch import ArchSpec
from nas.cli import DEFAULT_STORAGE, STUDIES_DIR, OneLineErrorParser
from nas.fidelity import replicate_of, tied_with
from nas.final_figures import final_figures, final_html
from nas.final_store import Setup
from nas.front import accuracy_text, feasible_front, front_table, is_feasible, pareto_front, shown_costs
from nas.hypervolume import axes_text, hypervolume, hypervolume_history
from nas.objectives import ATTRS, DESCRIPTIONS, LABELS, cost_text, metric, study_objectives
from nas.settings import StudySettings, study_settings
from nas.storage import load_existing_study

RUNG_COLOURS = ("#9ecae1", "#4292c6", "#08519c", "#08306b")  # fewest epochs lightest
LEGACY_REFERENCES_ATTR = "reference_scores"  # classics scored by the proxy trainer before nas.retrain existed
FRONT_STYLE = {"color": "#d62728", "size": 10, "line": {"width": 1, "color": "black"}}


def _hover(t: FrozenTrial, where: str, objectives: tuple[str, ...]) -> str:
    costs = ", ".join(f"{cost_text(c, metric(t, c, objectives))} {c}" for c in shown_costs([t], objectives))
    return (
        f"trial {t.number}<br>accuracy {accuracy_text(t)}<br>{costs}<br>"
        f"{html.escape(t.user_attrs.get('arch', ''))}<br>python -m nas.export{where} --trial {t.number}"
    )


def reference_failed(reference: dict) -> bool:
    """A reference that did not learn (no better than 1.5 x chance) is shown as failed, not plotted."""
    return reference["accuracy"] <= 1.5 / ArchSpec.from_string(reference["arch"]).num_classes


def _error_bars(front: list[FrozenTrial]) -> dict:
    return {
        "type": "data", "symmetric": False, "color": "#d62728",
        "array": [t.user_attrs.get("accuracy_high", t.values[0]) - t.values[0] for t in front],
        "arrayminus": [t.values[0] - t.user_attrs.get("accuracy_low", t.values[0]) for t in front],
    }  # fmt: skip


def figures(study: optuna.Study, references: list[dict], where: str = "") -> dict[str, go.Figure]:
    """The report's figures, keyed by a short id. Every run is drawn, coloured by its epochs (rung);
    the front is read off each network's best evidence (mean over seeds at its top rung, with a 95%
    interval), drawn over the front of the first runs alone."""
    objectives = study_objectives(study)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    runs = [t for t in complete if is_feasible(t) and "duplicate_of" not in t.user_attrs]
    front = feasible_front(study)
    top_epochs = max((t.user_attrs["epochs"] for t in front), default=None)
    first_runs = [t for t in runs if t.user_attrs.get("epochs", top_epochs) == top_epochs and replicate_of(t) == 0]
    raw_front = pareto_front(first_runs)
    by_epochs: dict[int | None, list[FrozenTrial]] = {}
    for t in runs:
        by_epochs.setdefault(t.user_attrs.get("epochs"), []).append(t)
    plotted = [r for r in references if not reference_failed(r)]
    figs: dict[str, go.Figure] = {}
    for cost in shown_costs(complete, objectives):
        axis = LABELS[cost]

        def x_of(t: FrozenTrial, cost: str = cost) -> float:
            return metric(t, cost, objectives)

        fig = go.Figure()
        for i, (epochs, trials) in enumerate(sorted(by_epochs.items(), key=lambda kv: kv[0] or 0)):
            colour = RUNG_COLOURS[min(i, len(RUNG_COLOURS) - 1)] if len(by_epochs) > 1 else "#7aa6d8"
            fig.add_trace(_scatter(trials, x_of, where, objectives, f"runs at {epochs} epochs" if epochs else
                                   "trials", "markers", {"color": colour, "size": 7, "opacity": 0.7}))  # fmt: skip
        infeasible = [t for t in complete if not is_feasible(t) and x_of(t) is not None]
        fig.add_trace(_scatter(infeasible, x_of, where, objectives, "infeasible", "markers",
                               {"color": "#bbbbbb", "size": 6, "symbol": "x"}))  # fmt: skip
        if {t.number for t in raw_front} != {t.number for t in front} or any(t.user_attrs["seeds"] > 1 for t in front):
            fig.add_trace(_scatter(raw_front, x_of, where, objectives, "front of first runs", "lines",
                                   {"color": "#999999"}, dash="dot"))  # fmt: skip
        bars = _error_bars(sorted(front, key=x_of))
        fig.add_trace(_scatter(front, x_of, where, objectives, "Pareto front (mean of seeds, 95% interval)",
                               "lines+markers", FRONT_STYLE, error_y=bars))  # fmt: skip
        placed = [r for r in plotted if ATTRS[cost] in r]
        if placed:
            fig.add_trace(
                go.Scatter(
                    x=[r[ATTRS[cost]] for r in placed],
                    y=[r["accuracy"] for r in placed],
                    name="reference networks",
                    mode="markers+text",
                    text=[r["name"] for r in placed],
                    textposition="top center",
                    marker={"symbol": "diamond", "size": 11, "color": "black"},
                    hovertext=[
                        f"{r['name']}<br>accuracy {r['accuracy']:.4f}<br>{html.escape(r['arch'])}" for r in placed
                    ],
                    hoverinfo="text",
                )  # fmt: skip
            )
        fig.update_layout(
            title=f"{study.study_name}: accuracy vs {axis}", xaxis={"type": "log", "title": axis},
            yaxis={"title": "validation accuracy"}, template="plotly_white", height=560,
        )  # fmt: skip
        figs[f"accuracy_vs_{cost}"] = fig

    fig = go.Figure()
    on_front = {t.number for t in front}
    for name, trials, marker in (
        ("runs", [t for t in runs if t.number not in on_front], {"color": "#7aa6d8", "size": 4, "opacity": 0.7}),
        ("Pareto front", front, {**FRONT_STYLE, "size": 6}),
    ):
        fig.add_trace(
            go.Scatter3d(
                x=[metric(t, "flops", objectives) for t in trials],
                y=[metric(t, "params", objectives) for t in trials],
                z=[t.values[0] for t in trials],
                mode="markers",
                name=name,
                marker=marker,
                hovertext=[_hover(t, where, objectives) for t in trials],
                hoverinfo="text",
            )  # fmt: skip
        )
    if plotted:
        fig.add_trace(
            go.Scatter3d(
                x=[r["flops"] for r in plotted],
                y=[r["params"] for r in plotted],
                z=[r["accuracy"] for r in plotted],
                mode="markers+text",
                name="reference networks",
                text=[r["name"] for r in plotted],
                marker={"symbol": "diamond", "size": 5, "color": "black"},
            )  # fmt: skip
        )
    fig.update_layout(
        title=f"{study.study_name}: accuracy, FLOPs and params", height=650, template="plotly_white",
        scene={"xaxis": {"type": "log", "title": "FLOPs"}, "yaxis": {"type": "log", "title": "params"},
               "zaxis": {"title": "accuracy"}},
    )  # fmt: skip
    figs["pareto_3d"] = fig

    if first_runs:
        history = hypervolume_history(sorted(first_runs, key=lambda t: t.number), objectives)
        fig = go.Figure(go.Scatter(x=[t.number for t in sorted(first_runs, key=lambda t: t.number)], y=history,
                                   mode="lines+markers", name="first runs at the top rung"))  # fmt: skip
        refined = hypervolume(front, objectives)
        fig.add_hline(y=refined, line_dash="dash", line_color="#d62728", annotation_text=f"refined front {refined:.4f}")
        fig.update_layout(
            title=f"{study.study_name}: hypervolume over trials (normalised axes: {axes_text(objectives)}; "
            "reference point: all 1)",
            xaxis={"title": "trial"}, yaxis={"title": "hypervolume"}, template="plotly_white",
        )  # fmt: skip
        figs["hypervolume"] = fig
    return figs


def _scatter(trials: list[FrozenTrial], x_of, where: str, objectives: tuple[str, ...], name: str, mode: str,
             marker: dict, *, dash: str | None = None, error_y: dict | None = None) -> go.Scatter:  # fmt: skip
    trials = sorted(trials, key=x_of)
    return go.Scatter(
        x=[x_of(t) for t in trials], y=[t.values[0] for t in trials], name=name, mode=mode, marker=marker,
        line={"shape": "hv", "color": marker["color"], "dash": dash}, error_y=error_y,
        customdata=[t.number for t in trials], hovertext=[_hover(t, where, objectives) for t in trials],
        hoverinfo="text",
    )  # fmt: skip


def front_html(front: list[FrozenTrial], objectives: tuple[str, ...]) -> str:
    ties = tied_with(front)
    costs = shown_costs(front, objectives)
    rows = "".join(
        f"<tr><td>{t.number}</td><td>{t.values[0]:.4f}</td>"
        f"<td>{t.user_attrs.get('accuracy_low', t.values[0]):.4f}.."
        f"{t.user_attrs.get('accuracy_high', t.values[0]):.4f}</td>"
        f"<td>{t.user_attrs.get('epochs', '?')} x {t.user_attrs.get('seeds', 1)}</td>"
        f"<td>{', '.join(map(str, ties[t.number])) or '-'}</td>"
        + "".join(f"<td>{cost_text(c, metric(t, c, objectives))}</td>" for c in costs)
        + f"<td><code>{html.escape(t.user_attrs['arch'])}</code></td></tr>"
        for t in front
    )
    return (
        "<table><thead><tr><th>trial</th><th>accuracy (mean)</th><th>95% interval</th><th>epochs x seeds</th>"
        f"<th>tied with</th>{''.join(f'<th>{c}</th>' for c in costs)}<th>arch</th></tr></thead>"
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
    references = list(study.user_attrs.get(LEGACY_REFERENCES_ATTR, {}).values())  # proxy-scored by older releases
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
