"""The syscall families only some targets have, by name.

A target lists the names in `Target.syscall_families`; each names a module
here whose FAMILY class pyuser.syscalls.kernel.kernel_class mixes in front of
the personality's families (a module is imported only when a target of its
kind runs).
"""

from __future__ import annotations

import importlib


def family(name: str) -> type:
    """The family class a target names (pyuser/syscalls/arch/<name>.py)."""
    return importlib.import_module(f"pyuser.syscalls.arch.{name}").FAMILY
