"""nas.final_figures: the final training's section of the report."""

from __future__ import annotations

import pytest

from nas.final_figures import final_figures, final_html
from nas.final_store import finals

from .helpers import load


@pytest.mark.slow  # the final training of a study
def test_a_failed_classic_is_listed_with_its_loss_and_never_plotted(retrained) -> None:
    study = load(retrained[0])
    _, classic = finals(study)
    figs = final_figures(study)
    assert {"final_vs_flops", "final_vs_params", "proxy_vs_final"} <= set(figs)
    plotted = {name for trace in figs["final_vs_flops"].data for name in (trace.text or ())}
    section = final_html(study)
    for c in classic:
        if c.failed:  # three epochs of SqueezeNet 1.1 at these rates usually stay at chance
            assert c.name not in plotted and f"failed to learn (final loss {c.final_loss:.3f})" in section
        else:
            assert c.name in plotted
