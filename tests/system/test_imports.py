"""pyuser.system's modules import one another without a cycle.

Every import counts, function-local and TYPE_CHECKING ones included: the
command line (cli) sits above the runner, and what both need (Config) lives
below them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pyuser.system

PACKAGE = Path(pyuser.system.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def _imports(path: Path) -> set[str]:
    """The pyuser.system modules `path` imports, as names relative to the package."""
    here = _module_name(path).split(".") if path.name != "__init__.py" else \
        [*_module_name(path).split("."), "__init__"]
    package = [p for p in here[:-1] if p]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
            elif node.module and node.module.startswith("pyuser.system"):
                base = []
            else:
                continue
            module = (node.module or "").removeprefix("pyuser.system").lstrip(".") if not node.level \
                else node.module or ""
            target = ".".join([*base, *([module] if module else [])])
            if node.level > len(package) + 1:
                continue  # above pyuser.system
            if not module:
                found.update(".".join([*base, alias.name]) for alias in node.names)
            else:
                found.add(target)
    return {name for name in found if (PACKAGE / (name.replace(".", "/") + ".py")).exists()
            or (PACKAGE / name.replace(".", "/") / "__init__.py").exists()}


def test_no_import_cycle_inside_pyuser_system() -> None:
    graph = {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}
    assert "config" in graph["cli"] and "config" in graph["runner"]
    assert "cli" not in graph["runner"]
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        assert state.get(name) != 1, "import cycle: " + " -> ".join([*path, name])
        state[name] = 1
        for dep in sorted(graph.get(name, ())):
            if dep != name:
                visit(dep, [*path, name])
        state[name] = 2

    for module in sorted(graph):
        visit(module, [])
