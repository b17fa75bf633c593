"""The layer order of docs/architecture.md, enforced on every import.

A small AST walk over pyuser's sources: every `import` statement counts,
at module level, inside a function (the lazy imports that used to hide
cycles) and under `if TYPE_CHECKING:` (a type from above is a Protocol
declared below instead).  A module imports only from its own layer or
below; no two modules import each other, directly or around a circle; no
hand-written module is longer than 600 lines.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "pyuser"
MAX_LINES = 600

# docs/architecture.md: lowest first.  A module's layer is that of the
# longest prefix listed here.
LAYERS: list[tuple[str, ...]] = [
    # 0 ground: what every layer may raise, log or read; the host's own calls
    # (ctypes wrappers, no pyuser imports)
    ("pyuser.errors", "pyuser.log", "pyuser.limits", "pyuser.config",
     "pyuser.syscalls.hostcalls"),
    # 1 the address space and the engine (the package itself only boots the
    # unicorn binding; its API names are imported lazily, by name)
    ("pyuser", "pyuser.memory", "pyuser.engine", "pyuser.soft_tlb", "pyuser.unicorn_boot"),
    # 2 everything per CPU, and the vocabulary targets declare their own
    # syscalls and byte orders with
    ("pyuser.targets", "pyuser.syscalls.types", "pyuser.syscalls.table",
     "pyuser.syscalls.byteorder"),
    # 3 process state
    ("pyuser.signals", "pyuser.host_signals", "pyuser.threads", "pyuser.vfs", "pyuser.procfs",
     "pyuser.process"),
    # 4 mapping images into a process
    ("pyuser.loader",),
    # 5 the CPU loop and signal delivery
    ("pyuser.cpu", "pyuser.delivery", "pyuser.syscall_path", "pyuser.tracing", "pyuser.strace"),
    # 6 the syscall families, the kernel, the table
    ("pyuser.syscalls",),
    # 7 debugger and plugins
    ("pyuser.instrument", "pyuser.plugins"),
    # 8 building and running a process; building a sysroot
    ("pyuser.launch", "pyuser.emulator", "pyuser.api", "pyuser.sysroot"),
    # 9 entry points
    ("pyuser.cli", "pyuser.binfmt", "pyuser.binfmt_entry", "pyuser.binfmt_launcher",
     "pyuser.binfmt_misc", "pyuser.pytest_plugin", "pyuser.__main__", "pyuser.sysroot.cli"),
]
SYSTEM = "pyuser.system"
# what the machine layer may use besides itself: layers 0-2 and the protocol
# code of layer 7 (the gdbstub's packets and connection)
SYSTEM_MAY_USE_LAYERS = 2  # targets included: the machine's CPU is a target's
SYSTEM_MAY_USE = ("pyuser.instrument.gdbstub.packets", "pyuser.instrument.gdbstub.connection",
                  "pyuser.instrument.gdbstub.objects", "pyuser.instrument.gdbstub")
# inside pyuser.system, lowest first
SYSTEM_TOP = ("pyuser.system.cli", "pyuser.system.__main__")

# ---------------------------------------------------------------- allow-lists
# Known violations, emptied when the rest of issue 14 landed (the syscall
# families' typed bases, the split of files.py, the machine layer's shared
# Config).  They may only shrink: an entry that no longer happens fails the
# test until it is taken off.  Nothing outside pyuser/syscalls and
# pyuser/system may ever be listed.

# (importer, imported) of imports against the order
KNOWN_UPWARD: set[tuple[str, str]] = set()
# modules that are still in import cycles
KNOWN_IN_CYCLES: set[str] = set()
# hand-written modules still over MAX_LINES
KNOWN_LONG: set[str] = set()
ALLOWED_PACKAGES = ("pyuser.syscalls", "pyuser.system")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    kind: str  # "module", "function" or "TYPE_CHECKING"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if not level:
        return module or ""
    parts = importer.split(".")
    if not is_package:
        parts = parts[:-1]
    parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else []))


def _known(name: str) -> str:
    """`name`, or the closest enclosing module pyuser has ("pyuser.x.f" -> "pyuser.x")."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _is_type_checking(test: ast.expr) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "TYPE_CHECKING"
               or isinstance(n, ast.Attribute) and n.attr == "TYPE_CHECKING"
               for n in ast.walk(test))


def imports_of(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) \
                    and kind == "module":
                child_kind = "function"
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.body:
                    visit_statement(sub, "TYPE_CHECKING")
                    visit(sub, "TYPE_CHECKING")
                for sub in child.orelse:
                    visit_statement(sub, kind)
                    visit(sub, kind)
                continue
            visit_statement(child, child_kind)
            visit(child, child_kind)

    def visit_statement(node: ast.AST, kind: str) -> None:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                     for alias in node.names]
        for name in names:
            target = _known(name)
            if target and target != module:
                found.append(Import(module, target, node.lineno, kind))

    visit(tree, "module")
    return found


ALL_IMPORTS = [imp for module, path in sorted(MODULES.items()) for imp in imports_of(module, path)]


def layer_of(module: str) -> int | None:
    """The layer index, or None for the machine layer (pyuser.system)."""
    if module == SYSTEM or module.startswith(SYSTEM + "."):
        return None
    best, best_len = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best


def _system_allows(imp: Import) -> bool:
    if imp.importer.startswith(SYSTEM_TOP) or not imp.imported.startswith(SYSTEM_TOP):
        return True
    return False


def upward_imports() -> list[Import]:
    wrong = []
    for imp in ALL_IMPORTS:
        low, high = layer_of(imp.importer), layer_of(imp.imported)
        if low is None and high is None:
            ok = _system_allows(imp)
        elif low is None:
            ok = high <= SYSTEM_MAY_USE_LAYERS or imp.imported in SYSTEM_MAY_USE
        elif high is None:
            ok = low == len(LAYERS) - 1  # only the entry points start a machine
        else:
            ok = high <= low
        if not ok:
            wrong.append(imp)
    return wrong


def import_cycles() -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in ALL_IMPORTS:
        edges[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[frozenset[str]] = []

    def connect(v: str) -> None:
        # iterative: the graph is deep enough to matter for recursion limits
        work = [(v, iter(sorted(edges[v])))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    members = set()
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        members.add(w)
                        if w == node:
                            break
                    if len(members) > 1:
                        cycles.append(frozenset(members))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return cycles


def _describe(imp: Import) -> str:
    return (f"{imp.importer} (layer {layer_of(imp.importer)}) imports {imp.imported} "
            f"(layer {layer_of(imp.imported)}) at line {imp.line} ({imp.kind})")


def test_the_walk_sees_every_kind_of_import(tmp_path):
    """The walk counts function-local and TYPE_CHECKING imports (a checker that
    skipped them would pass today's code with its cycles hidden)."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from pyuser import errors\n"
        "if TYPE_CHECKING:\n"
        "    from pyuser.process import Process\n"
        "def f():\n"
        "    from pyuser.cpu import CpuLoop\n"
        "    import pyuser.syscalls.kernel\n"
    )
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    found = {(i.imported, i.kind) for i in imports_of("pyuser.probe", probe)}
    assert found == {("pyuser.errors", "module"), ("pyuser.process", "TYPE_CHECKING"),
                     ("pyuser.cpu", "function"), ("pyuser.syscalls.kernel", "function")}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_import_runs_up_the_layer_order():
    wrong = [imp for imp in upward_imports() if (imp.importer, imp.imported) not in KNOWN_UPWARD]
    assert not wrong, "imports against docs/architecture.md's order:\n" + \
        "\n".join(_describe(imp) for imp in wrong)


def test_the_allow_list_of_upward_imports_only_names_real_ones():
    """An entry that no longer happens comes off the list (it only shrinks)."""
    real = {(imp.importer, imp.imported) for imp in upward_imports()}
    assert KNOWN_UPWARD <= real, sorted(KNOWN_UPWARD - real)


def test_no_import_cycles():
    found = import_cycles()
    new = [c for c in found if not c <= KNOWN_IN_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(" ".join(sorted(c)) for c in new)
    in_cycles = set().union(*found)
    gone = KNOWN_IN_CYCLES - in_cycles
    assert not gone, f"no longer in a cycle, take them off KNOWN_IN_CYCLES: {sorted(gone)}"


def test_the_allow_lists_name_only_syscalls_and_system():
    named = {m for pair in KNOWN_UPWARD for m in pair[:1]} | KNOWN_IN_CYCLES
    assert all(m.startswith(ALLOWED_PACKAGES) for m in named), sorted(named)
    assert all(p.startswith(("pyuser/syscalls/", "pyuser/system/")) for p in KNOWN_LONG)


def test_no_hand_written_module_over_600_lines():
    """pyuser/targets/generated is made by tools/gen_abi.py and exempt."""
    long = {}
    for path in MODULES.values():
        if "generated" in path.relative_to(PACKAGE_DIR).parts:
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            long[str(path.relative_to(PACKAGE_DIR.parent))] = lines
    new = {name: lines for name, lines in long.items() if name not in KNOWN_LONG}
    assert not new, "\n".join(f"{name}: {lines} lines" for name, lines in sorted(new.items()))
    assert KNOWN_LONG <= set(long), f"no longer long, take off KNOWN_LONG: {KNOWN_LONG - set(long)}"


def test_the_documented_order_names_every_layer():
    """docs/architecture.md draws the order this test enforces."""
    doc = (PACKAGE_DIR.parent / "docs" / "architecture.md").read_text()
    for prefixes in LAYERS:
        for prefix in prefixes:
            if prefix != "pyuser":
                assert prefix.removeprefix("pyuser.") in doc, prefix
