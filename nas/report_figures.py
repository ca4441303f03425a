"""The report's study figures (plotly): accuracy against each cost, a 3-D view and the
hypervolume over trials. Every run is drawn, coloured by its epochs (rung); the front is read off
each network's best evidence (mean over seeds at its top rung, with a 95% interval), drawn over
the front of the first runs alone. The final training's figures are ``nas.final_figures``'."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from nas.arch import ArchSpec
from nas.evidence import Evidence
from nas.front import accuracy_text, feasible_front, shown_costs
from nas.hypervolume import axes_text, hypervolume, hypervolume_history
from nas.objectives import ATTRS, LABELS, cost_text, metric, study_objectives
from nas.pareto import pareto_front
from nas.trials import is_feasible, is_trained_run, replicate_of

RUNG_COLOURS = ("#9ecae1", "#4292c6", "#08519c", "#08306b")  # fewest epochs lightest
FRONT_STYLE = {"color": "#d62728", "size": 10, "line": {"width": 1, "color": "black"}}
Point = FrozenTrial | Evidence


@dataclass(frozen=True)
class StudyView:
    """What every figure reads from the study, read once."""

    objectives: tuple[str, ...]
    complete: list[FrozenTrial]
    runs: list[FrozenTrial]  # trained runs
    front: list[Evidence]
    first_runs: list[FrozenTrial]  # replicate 0 at the front's epochs
    where: str  # the --storage/--study-name part of the commands in hover texts

    @classmethod
    def of(cls, study: optuna.Study, where: str) -> StudyView:
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        runs = [t for t in complete if is_trained_run(t)]
        front = feasible_front(study)
        top = max((e.epochs for e in front), default=None)
        first = [t for t in runs if t.user_attrs.get("epochs", top) == top and replicate_of(t) == 0]
        return cls(study_objectives(study), complete, runs, front, sorted(first, key=lambda t: t.number), where)

    def hover(self, t: Point) -> str:
        shown = shown_costs([t], self.objectives)
        costs = ", ".join(f"{cost_text(c, metric(t, c, self.objectives))} {c}" for c in shown)
        return (
            f"trial {t.number}<br>accuracy {accuracy_text(t)}<br>{costs}<br>"
            f"{html.escape(t.user_attrs.get('arch', ''))}<br>python -m nas.export{self.where} --trial {t.number}"
        )

    def scatter(self, points: Sequence[Point], x_of: Callable[[Point], float], name: str, mode: str, marker: dict,
                *, dash: str | None = None, error_y: dict | None = None) -> go.Scatter:  # fmt: skip
        points = sorted(points, key=x_of)
        return go.Scatter(
            x=[x_of(t) for t in points], y=[t.values[0] for t in points], name=name, mode=mode, marker=marker,
            line={"shape": "hv", "color": marker["color"], "dash": dash}, error_y=error_y,
            customdata=[t.number for t in points], hovertext=[self.hover(t) for t in points], hoverinfo="text",
        )  # fmt: skip


def reference_failed(reference: dict) -> bool:
    """A reference that did not learn (no better than 1.5 x chance) is shown as failed, not plotted."""
    return reference["accuracy"] <= 1.5 / ArchSpec.from_string(reference["arch"]).num_classes


def _error_bars(front: list[Evidence]) -> dict:
    return {
        "type": "data", "symmetric": False, "color": "#d62728",
        "array": [e.high - e.accuracy for e in front], "arrayminus": [e.accuracy - e.low for e in front],
    }  # fmt: skip


def cost_figure(view: StudyView, cost: str, title: str, references: list[dict]) -> go.Figure:
    """Accuracy against one cost: the runs by rung, the infeasible ones greyed, the front of first
    runs and the front by best evidence with its intervals, the reference networks labelled."""

    def x_of(t: Point) -> float:
        return metric(t, cost, view.objectives)

    by_epochs: dict[int | None, list[FrozenTrial]] = {}
    for t in view.runs:
        by_epochs.setdefault(t.user_attrs.get("epochs"), []).append(t)
    fig = go.Figure()
    for i, (epochs, runs) in enumerate(sorted(by_epochs.items(), key=lambda kv: kv[0] or 0)):
        colour = RUNG_COLOURS[min(i, len(RUNG_COLOURS) - 1)] if len(by_epochs) > 1 else "#7aa6d8"
        fig.add_trace(view.scatter(runs, x_of, f"runs at {epochs} epochs" if epochs else "trials", "markers",
                                   {"color": colour, "size": 7, "opacity": 0.7}))  # fmt: skip
    infeasible = [t for t in view.complete if not is_feasible(t) and x_of(t) is not None]
    grey = {"color": "#bbbbbb", "size": 6, "symbol": "x"}
    fig.add_trace(view.scatter(infeasible, x_of, "infeasible", "markers", grey))
    raw_front, front = pareto_front(view.first_runs), view.front
    if {t.number for t in raw_front} != {e.number for e in front} or any(e.seeds > 1 for e in front):
        fig.add_trace(view.scatter(raw_front, x_of, "front of first runs", "lines", {"color": "#999999"}, dash="dot"))
    fig.add_trace(view.scatter(front, x_of, "Pareto front (mean of seeds, 95% interval)", "lines+markers",
                               FRONT_STYLE, error_y=_error_bars(sorted(front, key=x_of))))  # fmt: skip
    if placed := [r for r in references if ATTRS[cost] in r]:
        fig.add_trace(go.Scatter(
            x=[r[ATTRS[cost]] for r in placed], y=[r["accuracy"] for r in placed], name="reference networks",
            mode="markers+text", text=[r["name"] for r in placed], textposition="top center",
            marker={"symbol": "diamond", "size": 11, "color": "black"}, hoverinfo="text",
            hovertext=[f"{r['name']}<br>accuracy {r['accuracy']:.4f}<br>{html.escape(r['arch'])}" for r in placed],
        ))  # fmt: skip
    fig.update_layout(
        title=f"{title}: accuracy vs {LABELS[cost]}", xaxis={"type": "log", "title": LABELS[cost]},
        yaxis={"title": "validation accuracy"}, template="plotly_white", height=560,
    )  # fmt: skip
    return fig


def pareto_3d(view: StudyView, title: str, references: list[dict]) -> go.Figure:
    fig = go.Figure()
    on_front = {e.number for e in view.front}
    for name, points, marker in (
        ("runs", [t for t in view.runs if t.number not in on_front], {"color": "#7aa6d8", "size": 4, "opacity": 0.7}),
        ("Pareto front", view.front, {**FRONT_STYLE, "size": 6}),
    ):
        fig.add_trace(go.Scatter3d(
            x=[metric(t, "flops", view.objectives) for t in points], y=[metric(t, "params", view.objectives)
                                                                          for t in points],
            z=[t.values[0] for t in points], mode="markers", name=name, marker=marker,
            hovertext=[view.hover(t) for t in points], hoverinfo="text",
        ))  # fmt: skip
    if references:
        fig.add_trace(go.Scatter3d(
            x=[r["flops"] for r in references], y=[r["params"] for r in references],
            z=[r["accuracy"] for r in references], mode="markers+text", name="reference networks",
            text=[r["name"] for r in references], marker={"symbol": "diamond", "size": 5, "color": "black"},
        ))  # fmt: skip
    fig.update_layout(
        title=f"{title}: accuracy, FLOPs and params", height=650, template="plotly_white",
        scene={"xaxis": {"type": "log", "title": "FLOPs"}, "yaxis": {"type": "log", "title": "params"},
               "zaxis": {"title": "accuracy"}},
    )  # fmt: skip
    return fig


def hypervolume_figure(view: StudyView, title: str) -> go.Figure:
    """Hypervolume of the first runs at the top rung over trials, and of the re-scored front."""
    history = hypervolume_history(view.first_runs, view.objectives)
    fig = go.Figure(go.Scatter(x=[t.number for t in view.first_runs], y=history, mode="lines+markers",
                               name="first runs at the top rung"))  # fmt: skip
    refined = hypervolume(view.front, view.objectives)
    fig.add_hline(y=refined, line_dash="dash", line_color="#d62728", annotation_text=f"refined front {refined:.4f}")
    fig.update_layout(
        title=f"{title}: hypervolume over trials (normalised axes: {axes_text(view.objectives)}; reference point: "
        "all 1)", xaxis={"title": "trial"}, yaxis={"title": "hypervolume"}, template="plotly_white",
    )  # fmt: skip
    return fig


def figures(study: optuna.Study, references: list[dict], where: str = "") -> dict[str, go.Figure]:
    """The report's study figures, keyed by a short id (also the dashboard's graph ids)."""
    view = StudyView.of(study, where)
    plotted = [r for r in references if not reference_failed(r)]
    figs = {f"accuracy_vs_{c}": cost_figure(view, c, study.study_name, plotted)
            for c in shown_costs(view.complete, view.objectives)}  # fmt: skip
    figs["pareto_3d"] = pareto_3d(view, study.study_name, plotted)
    if view.first_runs:
        figs["hypervolume"] = hypervolume_figure(view, study.study_name)
    return figs
