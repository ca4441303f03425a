"""The package's layout rules, checked: small modules and functions (the exceptions named in the
README's layout section), and an import graph without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
MODULES = sorted([*ROOT.glob("nas/*.py"), *ROOT.glob("search_spaces/*.py")])
MAX_LINES, MAX_FUNCTION = 300, 60
LONG_FUNCTIONS: set[str] = set()  # exceptions, each named in the README's layout section


def name_of(path: Path) -> str:
    return f"{path.parent.name}.{path.stem}".removesuffix(".__init__")


def test_modules_and_functions_are_small() -> None:
    for path in MODULES:
        tree = ast.parse(path.read_text())
        assert len(path.read_text().splitlines()) <= MAX_LINES, path
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name not in LONG_FUNCTIONS:
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                assert node.end_lineno - start + 1 <= MAX_FUNCTION, f"{path.name}: {node.name}"
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in LONG_FUNCTIONS)


def test_the_import_graph_has_no_cycle() -> None:
    names = {name_of(p): p for p in MODULES}
    graph = {}
    for name, path in names.items():
        imported = set()
        for node in ast.parse(path.read_text()).body:  # module-level imports (lazy ones inside functions are not edges)
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        graph[name] = {m for m in imported if m in names and m != name}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            assert state.get(nxt) != 1, " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])
