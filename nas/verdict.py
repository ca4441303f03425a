"""Who wins: the final-trained front against each classic network, on test accuracy over seeds.

A classic is *beaten* by a front member that costs no more (FLOPs, params and, where the study
measures it, latency) and whose accuracy is higher with the 95% interval of the difference above
zero; *tied* when the best such member's interval covers zero; *not beaten* when no member costs
no more, or every one that does is worse. A classic that did not learn is *failed*: listed with its
final loss, never compared or plotted. Pure functions of the numbers: no torch, no Optuna.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

BEATEN, TIED, NOT_BEATEN, FAILED = "beaten", "tied", "not beaten", "failed"
CHANCE_FACTOR = 1.5  # a network no better than 1.5 x chance did not learn


@dataclass(frozen=True)
class Final:
    """A network's final training: test accuracy of each seed at the chosen recipe."""

    name: str  # "trial 12" or "mobilenet_v2 x0.5"
    costs: dict[str, float]  # flops, params and latency (ms) where known
    accuracies: tuple[float, ...]  # one per seed
    num_classes: int
    final_loss: float  # mean training loss at the end (nan: diverged)
    epochs: int = 0
    lr: float = 0.0
    trial: int | None = None  # the study's trial, for searched networks
    proxy_accuracy: float | None = None  # the search's own evidence (validation, proxy epochs)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies) if self.accuracies else 0.0

    @property
    def failed(self) -> bool:
        return (
            not self.accuracies or not math.isfinite(self.final_loss) or self.mean <= CHANCE_FACTOR / self.num_classes
        )

    def interval(self) -> tuple[float, float]:
        """95% t-interval of the mean over seeds (a point with one seed)."""
        k = len(self.accuracies)
        half = _t_half_width(statistics.variance(self.accuracies) / k, k - 1) if k > 1 else 0.0
        return max(0.0, self.mean - half), min(1.0, self.mean + half)


def _t_half_width(var_of_mean: float, dof: float) -> float:
    if dof < 1 or var_of_mean <= 0:
        return 0.0
    return float(stats.t.ppf(0.975, dof)) * math.sqrt(var_of_mean)


def difference(a: Final, b: Final) -> tuple[float, float, float]:
    """mean(a) - mean(b) with its 95% Welch interval over seeds: (diff, low, high)."""
    va = statistics.variance(a.accuracies) / len(a.accuracies) if len(a.accuracies) > 1 else 0.0
    vb = statistics.variance(b.accuracies) / len(b.accuracies) if len(b.accuracies) > 1 else 0.0
    var = va + vb
    dof = var**2 / sum(v**2 / (len(x.accuracies) - 1) for v, x in ((va, a), (vb, b)) if v > 0) if var > 0 else 0
    diff = a.mean - b.mean
    half = _t_half_width(var, dof)
    return diff, diff - half, diff + half


def costs_no_more(member: Final, classic: Final, costs: Sequence[str]) -> bool:
    return all(member.costs[c] <= classic.costs[c] for c in costs if c in classic.costs and c in member.costs)


@dataclass(frozen=True)
class Verdict:
    classic: Final
    outcome: str  # BEATEN, TIED, NOT_BEATEN or FAILED
    member: Final | None = None  # the front member that beats or ties it (or the best at no more cost)
    diff: tuple[float, float, float] | None = None  # member - classic: (diff, low, high)


def judge(classic: Final, members: Sequence[Final], costs: Sequence[str]) -> Verdict:
    """The verdict on one classic against the trained front members (failed members never count)."""
    if classic.failed:
        return Verdict(classic, FAILED)
    cheaper = [m for m in members if not m.failed and costs_no_more(m, classic, costs)]
    if not cheaper:
        return Verdict(classic, NOT_BEATEN)
    diffs = {m.name: difference(m, classic) for m in cheaper}
    best = max(cheaper, key=lambda m: diffs[m.name][1])
    if diffs[best.name][1] > 0:
        return Verdict(classic, BEATEN, best, diffs[best.name])
    covering = [m for m in cheaper if diffs[m.name][2] >= 0]  # intervals that reach zero: ties
    if covering:
        closest = max(covering, key=lambda m: diffs[m.name][0])  # the most accurate of them, not the noisiest
        return Verdict(classic, TIED, closest, diffs[closest.name])
    closest = max(cheaper, key=lambda m: diffs[m.name][0])
    return Verdict(classic, NOT_BEATEN, closest, diffs[closest.name])


def judge_all(classics: Sequence[Final], members: Sequence[Final], costs: Sequence[str]) -> list[Verdict]:
    return [judge(c, members, costs) for c in classics]


def beaten_share(verdicts: Sequence[Verdict]) -> tuple[int, int]:
    """(beaten, classics that learned)."""
    learned = [v for v in verdicts if v.outcome != FAILED]
    return sum(v.outcome == BEATEN for v in learned), len(learned)


def verdict_table(verdicts: Sequence[Verdict], cost_text) -> str:  # noqa: ANN001 (costs' formatter)
    """A plain-text table: classic, its test accuracy and costs, the verdict and the member behind it."""
    header = ("classic", "test accuracy", "FLOPs", "params", "verdict", "by", "difference (95%)")
    rows = []
    for v in verdicts:
        c = v.classic
        if v.outcome == FAILED:
            acc = f"failed (loss {c.final_loss:.3f})"
        else:
            low, high = c.interval()
            acc = f"{c.mean:.4f} ({low:.4f}..{high:.4f})"
        by = (
            f"{v.member.name} ({v.member.mean:.4f}, {cost_text('flops', v.member.costs['flops'])})" if v.member else "-"
        )
        diff = f"{v.diff[0]:+.4f} ({v.diff[1]:+.4f}..{v.diff[2]:+.4f})" if v.diff else "-"
        rows.append((c.name, acc, cost_text("flops", c.costs["flops"]), cost_text("params", c.costs["params"]),
                     v.outcome, by, diff))  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    )


def proxy_agreement(members: Sequence[Final]) -> tuple[float | None, float | None]:
    """Kendall tau between the proxy's accuracy and the final test accuracy over the trained
    searched networks, and the mean gap (final - proxy): how far the search's proxy can be trusted."""
    pairs = [(m.proxy_accuracy, m.mean) for m in members if m.proxy_accuracy is not None and not m.failed]
    if len(pairs) < 2:
        return None, None
    tau = stats.kendalltau([p for p, _ in pairs], [f for _, f in pairs]).statistic
    gap = statistics.fmean(f - p for p, f in pairs)
    return (None if math.isnan(tau) else float(tau)), gap
