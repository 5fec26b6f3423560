"""The engine's layout: no import circle anywhere in it, and the deployed part never imports
the local stand-ins or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "lambdagram"
NOT_DEPLOYED = (
    "lambdagram.local",
    "lambdagram.tools",
    "lambdagram.cli",
    "lambdagram.__main__",
    "lambdagram.testing",
    "lambdagram.new_project",
    "lambdagram.project_template",  # the files `python -m lambdagram new` writes
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every engine module and the engine modules it imports (at any depth of its code,
    type-checking imports included: a circle there is a circle in the design)."""
    modules = {module_name(p): p for p in ENGINE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            found.update(c for c in candidates if c in modules and c != name)
        graph[name] = found - {"lambdagram"}  # the package's own __init__: the public names
    return graph


def test_no_engine_module_imports_itself_back_through_others() -> None:
    graph = imports()
    circles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        for target in sorted(graph[name]):
            if target in path:
                circles.append([*path[path.index(target) :], target])
            elif len(path) < 12:
                visit(target, [*path, target])

    for start in sorted(graph):
        visit(start, [start])

    assert circles == [], circles[:3]


def test_the_deployed_modules_never_import_the_local_tools_or_the_cli() -> None:
    graph = imports()
    deployed = [name for name in graph if not name.startswith(NOT_DEPLOYED)]

    for name in deployed:
        assert not [t for t in graph[name] if t.startswith(NOT_DEPLOYED)], name
