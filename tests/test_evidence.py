"""nas.evidence: each network's best evidence, its interval, ties."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import create_trial

from nas.evidence import Evidence, best_evidence, tie_groups, tie_text, top_rung_only

from .helpers import run


def test_best_evidence_is_the_mean_at_the_highest_rung_with_an_interval() -> None:
    trials = [
        run(0, 0.60, 100),  # rung 0 of net0
        run(1, 0.90, 100, digest="net0", rung=1),
        run(2, 0.92, 100, digest="net0", rung=1, replicate=1),
        run(3, 0.94, 100, digest="net0", rung=1, replicate=2),
        run(4, 0.50, 50),  # net4 never promoted
    ]
    by_digest = {e.user_attrs["digest"]: e for e in best_evidence(trials, default_epochs=2, val_size=300)}
    net0 = by_digest["net0"]
    assert net0.accuracy == pytest.approx(0.92) and net0.seeds == 3 and net0.epochs == 6 and net0.number == 1
    assert net0.values == pytest.approx((0.92, 100, 1000)) and net0.low < 0.92 < net0.high
    # without seeds to compare (the pooled seed spread is from net0 at 6 epochs only, so not applied
    # at 2 epochs): the binomial error of 300 validation images, and a seed spread assumed as large
    net4 = by_digest["net4"]
    assert net4.high - 0.5 == pytest.approx(1.96 * (2 * 0.5 * 0.5 / 300) ** 0.5)
    assert [e.user_attrs["digest"] for e in top_rung_only(list(by_digest.values()))] == ["net0"]


def test_evidence_points_at_its_run_and_leaves_it_as_it_was() -> None:
    trials = [run(1, 0.90, 100, digest="net0", rung=1), run(2, 0.80, 100, digest="net0", rung=1, replicate=1)]
    (e,) = best_evidence(trials, default_epochs=2, val_size=None)
    assert isinstance(e, Evidence) and e.trial is trials[0]
    assert trials[0].values == [0.90, 100, 1000] and "seeds" not in trials[0].user_attrs


def test_one_seed_borrows_the_spread_pooled_at_its_epochs() -> None:
    trials = [run(0, 0.90, 100, digest="a", rung=1), run(1, 0.80, 100, digest="a", rung=1, replicate=1),
              run(2, 0.85, 200, digest="b", rung=1)]  # fmt: skip
    by_digest = {e.user_attrs["digest"]: e for e in best_evidence(trials, default_epochs=2, val_size=None)}
    sd = 0.1 / 2**0.5  # the stdev of (0.9, 0.8)
    assert by_digest["b"].high - 0.85 == pytest.approx(1.96 * sd)


def test_saturated_members_are_tied_not_ranked() -> None:
    trials = [run(0, 1.0, 100), run(1, 1.0, 200, 500), run(2, 0.80, 50, 500)]
    ties = tie_groups(best_evidence(trials, default_epochs=2, val_size=360))
    assert ties == {0: (1, 2), 1: (1, 2)}  # 2 is separated: no group
    assert tie_text(ties[0]) == "tied: 2 networks (group 1)" and tie_text(ties.get(2)) == "-"


def test_overlaps_chain_into_groups_numbered_from_the_most_accurate() -> None:
    """a-b overlap and b-c overlap (a and c do not): one group of 3; d and e apart form group 2."""
    bounds = {"a": (0.95, 0.99), "b": (0.92, 0.96), "c": (0.90, 0.93), "d": (0.70, 0.75), "e": (0.74, 0.80),
              "f": (0.50, 0.55)}  # fmt: skip
    front = [Evidence(run(i, (lo + hi) / 2, 10, digest=d), ((lo + hi) / 2,), 2, lo, hi)
             for i, (d, (lo, hi)) in enumerate(bounds.items())]  # fmt: skip
    assert tie_groups(front) == {0: (1, 3), 1: (1, 3), 2: (1, 3), 3: (2, 2), 4: (2, 2)}


def test_a_single_run_never_claims_more_certainty_than_its_split() -> None:
    """Nothing re-scored yet: one seed assumes a seed spread as large as the binomial error."""
    (e,) = best_evidence([run(0, 0.9, 10)], default_epochs=2, val_size=400)
    binomial = (0.9 * 0.1 / 400) ** 0.5
    assert e.high - 0.9 == pytest.approx(1.96 * (2 * binomial**2) ** 0.5)


def test_a_study_without_fidelity_attrs_reads_as_one_rung() -> None:
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    study.add_trial(create_trial(values=[0.9, 10, 10], user_attrs={"digest": "a", "arch": "a"}))
    (only,) = best_evidence(study.trials, default_epochs=10, val_size=None)
    assert only.values == (0.9, 10, 10) and only.epochs == 10 and only.seeds == 1
