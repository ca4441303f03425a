"""The report's final-training section: test accuracy against each cost with error bars from the
seeds, the classics as labelled points (failed ones listed, never plotted), the verdict table, and
the proxy's accuracy against the final one (Kendall tau, mean gap). Reads the study only."""

from __future__ import annotations

import html

import optuna
import plotly.graph_objects as go

from nas.final_store import Setup, finals
from nas.objectives import LABELS, cost_text
from nas.settings import StudySettings
from nas.verdict import FAILED, Final, Verdict, judge_all, proxy_agreement

MEMBER = {"color": "#d62728", "size": 9, "line": {"width": 1, "color": "black"}}
CLASSIC = {"symbol": "diamond", "size": 11, "color": "black"}


def judged_costs(study: optuna.Study) -> tuple[str, ...]:
    """The costs a classic is compared on: FLOPs, params and latency where the study measures it."""
    settings = StudySettings.of(study)
    return ("flops", "params", "latency") if settings and settings.latency_setup else ("flops", "params")


def verdicts(study: optuna.Study) -> tuple[list[Final], list[Final], list[Verdict]]:
    members, classic = finals(study)
    return members, classic, judge_all(classic, members, judged_costs(study))


def _points(finals_: list[Final], cost: str, name: str, marker: dict, labelled: bool) -> go.Scatter:
    finals_ = sorted((f for f in finals_ if not f.failed and cost in f.costs), key=lambda f: f.costs[cost])
    intervals = [f.interval() for f in finals_]
    above = [high - f.mean for f, (_, high) in zip(finals_, intervals, strict=True)]
    below = [f.mean - low for f, (low, _) in zip(finals_, intervals, strict=True)]
    return go.Scatter(
        x=[f.costs[cost] for f in finals_], y=[f.mean for f in finals_], name=name, marker=marker,
        mode="markers+text" if labelled else "markers", text=[f.name for f in finals_] if labelled else None,
        textposition="top center",
        error_y={"type": "data", "symmetric": False, "array": above, "arrayminus": below},
        hovertext=[f"{html.escape(f.name)}<br>test accuracy {f.mean:.4f} ({len(f.accuracies)} seeds, lr {f.lr:g})"
                   f"<br>{cost_text(cost, f.costs[cost])} {cost}" for f in finals_],
        hoverinfo="text",
    )  # fmt: skip


def final_figures(study: optuna.Study) -> dict[str, go.Figure]:
    """Figures keyed by id (``final_vs_<cost>``, ``proxy_vs_final``); none before final training."""
    members, classic = finals(study)
    if not members and not classic:
        return {}
    figs = {}
    for cost in judged_costs(study):
        fig = go.Figure([_points(members, cost, "searched (final training)", MEMBER, False),
                         _points(classic, cost, "classic networks", CLASSIC, True)])  # fmt: skip
        fig.update_layout(title=f"{study.study_name}: test accuracy vs {LABELS[cost]} after final training "
                                "(mean of seeds, 95% interval)", xaxis={"type": "log", "title": LABELS[cost]},
                          yaxis={"title": "test accuracy"}, template="plotly_white", height=520)  # fmt: skip
        figs[f"final_vs_{cost}"] = fig
    tau, gap = proxy_agreement(members)
    shown = [m for m in members if m.proxy_accuracy is not None and not m.failed]
    fig = go.Figure(go.Scatter(x=[m.proxy_accuracy for m in shown], y=[m.mean for m in shown], mode="markers+text",
                               text=[m.name for m in shown], textposition="top center", marker=MEMBER,
                               name="searched networks"))  # fmt: skip
    said = f"Kendall tau {tau:.3f}, mean gap (final - proxy) {gap:+.4f}" if tau is not None else "too few networks"
    fig.update_layout(title=f"{study.study_name}: proxy accuracy (validation) vs final test accuracy: {said}",
                      xaxis={"title": "proxy accuracy (validation)"}, yaxis={"title": "final test accuracy"},
                      template="plotly_white", height=520)  # fmt: skip
    figs["proxy_vs_final"] = fig
    return figs


def final_html(study: optuna.Study, where: str = "") -> str:
    """The verdict section of the report (a pointer to ``nas.retrain`` before final training)."""
    members, classic, judged = verdicts(study)
    setup = Setup.of(study)
    if setup is None or (not members and not classic):
        return (f"<p>No final training yet. <code>python -m nas.retrain{html.escape(where)}</code> trains the front "
                "and the classic networks for real and scores them on the test split.</p>")  # fmt: skip
    rows = "".join(_verdict_row(v) for v in judged)
    tau, gap = proxy_agreement(members)
    agreement = (
        f" Proxy vs final: Kendall tau {tau:.3f}, mean gap (final - proxy) {gap:+.4f}." if tau is not None else ""
    )
    return f"""<p>{len(members)} searched and {len(classic)} classic networks, each with its learning rate chosen
from {", ".join(map(str, setup.lrs))} on the validation split, then trained {setup.epochs} epochs x {setup.seeds} seeds
on train + validation and scored on the test split. A classic is <b>beaten</b> by a front member that costs no more
({", ".join(judged_costs(study))}) with the 95% interval of the accuracy difference above zero, <b>tied</b> when it
covers zero.{agreement}</p>
<table><thead><tr><th>classic</th><th>test accuracy</th><th>FLOPs</th><th>params</th><th>verdict</th><th>by</th>
<th>difference (95%)</th></tr></thead><tbody>{rows}</tbody></table>"""


def _verdict_row(v: Verdict) -> str:
    c = v.classic
    acc = f"failed to learn (final loss {c.final_loss:.3f}): not plotted" if v.outcome == FAILED else \
        "{:.4f} ({:.4f}..{:.4f})".format(c.mean, *c.interval())  # fmt: skip
    by = f"{html.escape(v.member.name)} ({v.member.mean:.4f})" if v.member else "-"
    diff = "{:+.4f} ({:+.4f}..{:+.4f})".format(*v.diff) if v.diff else "-"
    cells = [html.escape(c.name), acc, cost_text("flops", c.costs["flops"]), cost_text("params", c.costs["params"]),
             v.outcome, by, diff]  # fmt: skip
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
