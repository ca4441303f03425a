"""nas.paths: the default places, and that the library reads them from there (not the CLI helpers)."""

import ast
from pathlib import Path

from nas.paths import DEFAULT_DATA_DIR, DEFAULT_STORAGE, STUDIES_DIR

PACKAGE = Path(__file__).parent.parent / "nas"
ENTRY_POINTS = {"search", "report", "export", "retrain", "dashboard", "grpc_server", "cli"}


def test_defaults_live_under_the_studies_folder() -> None:
    assert f"sqlite:///{STUDIES_DIR}/nas.db" == DEFAULT_STORAGE and DEFAULT_DATA_DIR.startswith(STUDIES_DIR + "/")


def test_no_library_module_imports_the_cli_helpers() -> None:
    for path in PACKAGE.glob("*.py"):
        if path.stem in ENTRY_POINTS:
            continue
        imported = {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)}
        assert "nas.cli" not in imported, path.name
