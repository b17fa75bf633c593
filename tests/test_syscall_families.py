"""The syscall families compose without surprises.

A kernel personality is the composition of its families (mixins on
pyuser.syscalls.kernel.KernelCore, with a target's private families in
front).  Python resolves a name defined by two of them silently, by the
order of the bases; these tests make such a clash an error instead, and
check that what a family declares it needs from another family is there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.kernel import KernelCore, kernel_class
from pyuser.targets import load_target, target_names

SYSCALLS = Path(__file__).resolve().parent.parent / "pyuser" / "syscalls"
# the core's own names: every family's setup hook is called in turn
_SHARED = {"setup_family"}


def _families(kernel: type) -> list[type]:
    return [k for k in kernel.__mro__ if k not in (KernelCore, SyscallFamily, object)]


def _methods(family: type) -> set[str]:
    return {name for name, value in vars(family).items()
            if not (name.startswith("__") and name.endswith("__")) and name not in _SHARED
            and (callable(value) or isinstance(value, (staticmethod, classmethod, property)))}


@pytest.mark.parametrize("arch", target_names())
def test_no_two_families_define_the_same_method(arch: str) -> None:
    owners: dict[str, list[str]] = {}
    for family in _families(kernel_class(load_target(arch))):
        for name in _methods(family):
            owners.setdefault(name, []).append(family.__qualname__)
    clashes = {name: who for name, who in owners.items() if len(who) > 1}
    assert not clashes, f"methods defined by more than one family: {clashes}"


@pytest.mark.parametrize("arch", target_names())
def test_no_two_handlers_serve_the_same_syscall(arch: str) -> None:
    owners: dict[str, list[str]] = {}
    for family in _families(kernel_class(load_target(arch))):
        for attr in vars(family).values():
            for name in getattr(attr, "__syscall_names__", ()):
                owners.setdefault(name, []).append(f"{family.__qualname__}.{attr.__name__}")
    clashes = {name: who for name, who in owners.items() if len(who) > 1}
    assert not clashes, f"syscalls with more than one handler: {clashes}"


@pytest.mark.parametrize("arch", target_names())
def test_what_a_family_needs_the_kernel_provides(arch: str) -> None:
    kernel = kernel_class(load_target(arch))
    missing = []
    for family in _families(kernel):
        # the family's own annotations (postponed: their source text)
        for name, annotation in vars(family).get("__annotations__", {}).items():
            if str(annotation).startswith("Callable[") \
                    and not callable(getattr(kernel, name, None)):
                missing.append(f"{family.__qualname__}.{name}")
    assert not missing, f"declared as needed but provided by no family: {missing}"


def _imported_modules(path: Path) -> set[str]:
    """Every module the file imports, function-local and TYPE_CHECKING ones included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


# what families stand on may come from below; these are above them (or, for
# the kernels, composed of them)
_ABOVE = ("pyuser.cpu", "pyuser.launch", "pyuser.emulator", "pyuser.api", "pyuser.cli",
          "pyuser.instrument", "pyuser.plugins", "pyuser.binfmt", "pyuser.pytest_plugin",
          "pyuser.__main__", "pyuser.system")
_KERNELS = ("pyuser.syscalls.kernel", "pyuser.syscalls.freebsd.kernel")


@pytest.mark.parametrize("path", sorted(SYSCALLS.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(SYSCALLS)))
def test_families_import_nothing_above_them(path: Path) -> None:
    relative = path.relative_to(SYSCALLS)
    is_kernel = relative.name == "kernel.py" or relative == Path("freebsd/__init__.py")
    wrong = []
    for name in _imported_modules(path):
        if any(name == above or name.startswith(above + ".") for above in _ABOVE):
            wrong.append(name)
        if not is_kernel and any(name == k or name.startswith(k + ".") for k in _KERNELS):
            wrong.append(name)
    assert not wrong, f"{relative} imports {sorted(wrong)}"
