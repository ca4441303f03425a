"""The verdict on constructed numbers: beaten, tied, not beaten, failed; the intervals themselves."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from nas.units import human
from nas.verdict import (
    BEATEN,
    FAILED,
    NOT_BEATEN,
    TIED,
    Final,
    beaten_share,
    difference,
    judge,
    judge_all,
    proxy_agreement,
    verdict_table,
)  # fmt: skip

COSTS = ("flops", "params")


def net(name: str, accs: tuple[float, ...], flops: float, params: float = 1e4, loss: float = 0.5, **kw) -> Final:
    return Final(name, {"flops": flops, "params": params, **kw}, accs, num_classes=10, final_loss=loss)


CLASSIC = net("mobilenet_v2 x0.5", (0.80, 0.81, 0.79), 2e6, 5e5)


def test_a_cheaper_clearly_better_member_beats_the_classic_and_is_named() -> None:
    members = [net("trial 3", (0.90, 0.91, 0.89), 1e6, 1e5), net("trial 9", (0.95, 0.96, 0.95), 9e6, 1e5)]
    v = judge(CLASSIC, members, COSTS)
    assert v.outcome == BEATEN and v.member.name == "trial 3"  # trial 9 is more accurate but costs more
    assert v.diff[1] > 0 and v.diff[0] == pytest.approx(0.10)


def test_overlapping_seeds_are_a_tie_whichever_way_the_means_lean() -> None:
    for accs in ((0.82, 0.78, 0.81), (0.80, 0.76, 0.81)):  # mean above, then below the classic's
        v = judge(CLASSIC, [net("trial 1", accs, 1e6, 1e5)], COSTS)
        assert v.outcome == TIED and v.diff[1] < 0 < v.diff[2]


def test_not_beaten_when_every_cheaper_member_is_worse_or_none_is_cheaper() -> None:
    worse = judge(CLASSIC, [net("trial 1", (0.60, 0.61, 0.60), 1e6, 1e5)], COSTS)
    assert worse.outcome == NOT_BEATEN and worse.diff[2] < 0
    dearer = judge(CLASSIC, [net("trial 2", (0.99, 0.99, 0.98), 3e6, 1e5)], COSTS)  # more FLOPs
    assert dearer.outcome == NOT_BEATEN and dearer.member is None
    more_params = judge(CLASSIC, [net("trial 2", (0.99, 0.99, 0.98), 1e6, 6e5)], COSTS)
    assert more_params.outcome == NOT_BEATEN


def test_latency_counts_where_the_study_measures_it() -> None:
    classic = net("shufflenet", (0.80, 0.81, 0.79), 2e6, 5e5, latency=1.0)
    member = net("trial 4", (0.90, 0.91, 0.89), 1e6, 1e5, latency=2.5)  # slower
    assert judge(classic, [member], COSTS).outcome == BEATEN
    assert judge(classic, [member], (*COSTS, "latency")).outcome == NOT_BEATEN


def test_a_classic_that_did_not_learn_is_failed_and_a_failed_member_never_counts() -> None:
    chance = net("squeezenet1_1 x0.5", (0.10, 0.10, 0.10), 5e6, 2e5, loss=2.3026)
    diverged = net("mobilenet_v2 x1", (0.90, 0.91, 0.92), 5e6, 2e5, loss=math.nan)
    assert chance.failed and diverged.failed
    assert judge(chance, [net("trial 1", (0.9, 0.9, 0.9), 1e6)], COSTS).outcome == FAILED
    assert judge(CLASSIC, [net("trial 1", (0.11, 0.1, 0.1), 1e6, loss=2.3)], COSTS).outcome == NOT_BEATEN
    verdicts = judge_all([chance, CLASSIC], [net("trial 3", (0.90, 0.91, 0.89), 1e6, 1e5)], COSTS)
    assert beaten_share(verdicts) == (1, 1)  # the failed classic is not counted
    table = verdict_table(verdicts, lambda _, v: human(v))
    assert "failed (loss 2.303)" in table and "beaten" in table and "trial 3" in table


def test_the_difference_interval_is_welchs() -> None:
    a, b = net("a", (0.90, 0.93, 0.88, 0.91), 1), net("b", (0.85, 0.80, 0.86), 1)
    diff, low, high = difference(a, b)
    ci = stats.ttest_ind(a.accuracies, b.accuracies, equal_var=False).confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high)) and diff == pytest.approx(a.mean - b.mean)
    one = net("one seed", (0.9,), 1)
    assert one.interval() == (0.9, 0.9) and difference(one, one)[1:] == (0.0, 0.0)


def test_proxy_agreement_is_kendall_tau_and_the_mean_gap() -> None:
    members = [
        Final(f"trial {i}", {"flops": 1, "params": 1}, (f,), 10, 0.5, proxy_accuracy=p)
        for i, (p, f) in enumerate(((0.5, 0.8), (0.6, 0.85), (0.7, 0.9), (0.65, 0.95)))
    ]
    tau, gap = proxy_agreement(members)
    assert tau == pytest.approx(stats.kendalltau([0.5, 0.6, 0.7, 0.65], [0.8, 0.85, 0.9, 0.95]).statistic)
    assert 0 < tau < 1 and gap == pytest.approx(0.875 - 0.6125)
    assert proxy_agreement(members[:1]) == (None, None)
