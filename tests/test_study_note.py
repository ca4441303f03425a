"""nas.study_note: the note optuna-dashboard shows says how the study was made."""

import optuna
import optuna_dashboard

from nas.front import feasible_front, front_table
from nas.objectives import study_objectives
from nas.search_config import SearchConfig
from nas.settings import StudySettings
from nas.study_note import FRONT_HEADING, study_note


def test_the_note_lists_the_settings_limits_and_command(tmp_path) -> None:
    config = SearchConfig(storage=f"sqlite:///{tmp_path / 'nas.db'}", max_flops=5_000_000, max_latency=2.0,
                          refine=1, command=["python", "-m", "nas.search", "--max-flops", "5M"])  # fmt: skip
    settings = StudySettings("digits", "mixed", 10, {}, rungs=(2, 6), eta=3, resolutions=(8, 12), hflip=False)
    note = study_note(config, settings, ("accuracy", "flops", "params"))
    assert note.startswith("# digits-mixed\n")
    for line in ("| resolutions | 8, 12 |", "| proxy epochs (per rung) | 2, 6 (eta 3) |",
                 "| re-scoring | up to 1 more seeds per undecided network, at most 0.25 of the search",
                 "| constraints | flops <= 5M, latency <= 2 ms |", "| latency | not measured |",
                 "python -m nas.search --max-flops 5M"):  # fmt: skip
        assert line in note


def test_the_search_leaves_its_front_in_the_note(small_study) -> None:
    """The dashboard shows the front as the end-of-search table does: evidence, seeds, tie groups."""
    storage, name = small_study
    study = optuna.load_study(study_name=name, storage=storage)
    note = optuna_dashboard.get_note(study)
    assert note.startswith(f"# {name}\n") and FRONT_HEADING in note
    assert front_table(feasible_front(study), study_objectives(study)) in note
