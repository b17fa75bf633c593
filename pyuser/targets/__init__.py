"""The CPUs pyuser emulates, one module each; loaded on demand.

The list of targets is pyuser.targets.registry (one row per target); a
target's module is imported only when that target runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from pyuser.errors import UserError
from pyuser.targets.registry import TARGETS, target_names

if TYPE_CHECKING:
    from pyuser.targets.base import Target

__all__ = ["TARGETS", "load_target", "target_names"]


def load_target(name: str) -> Target:
    row = TARGETS.get(name)
    if row is None:
        raise UserError(f"unsupported target '{name}' (supported: {', '.join(target_names())})")
    module = importlib.import_module(f"pyuser.targets.{row.module}")
    return module.TARGET()
