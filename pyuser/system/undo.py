"""Undo stacks, and the rule that undoing never fails.

A multi-step operation (realize, device_add, mapping a region into several
listeners) pushes one zero-argument undo callable for each step as it
succeeds.  If a later step fails the stack is unwound in reverse and the
state is exactly as before: "leaves no trace" is a property of the structure,
not of hand-written clean-up code in every error branch.

A successful realize keeps its stack: unrealize *is* unwinding it, so the
teardown order is by construction the reverse of the set-up order.

Undo callables must not fail (QEMU's rule since "Unrealize must not fail").
One that raises is a programming error; continuing would leave the board
half torn down, so the process aborts with a clear message instead.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

PROGRAM = "pyuser-system-arm"


def fatal(message: str, exc: BaseException | None = None) -> NoReturn:
    """Print `message` (and the offending traceback) and abort the process."""
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - we are dying anyway; the message matters more
        pass
    sys.stderr.write(f"{PROGRAM}: fatal: {message}\n")
    if exc is not None:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.flush()
    try:  # an abort is for the message and the status, not for a core file
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    os.abort()


def must_not_fail(what: str, fn: Callable[[], None]) -> None:
    """Run an undo/unrealize step; abort the process if it raises."""
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - any escape here is a bug by definition
        fatal(f"{what} raised {type(exc).__name__}: {exc} (unrealize must not fail)", exc)


@dataclass
class UndoStack:
    """Undo callables in the order their steps succeeded."""

    owner: str
    _steps: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def push(self, what: str, undo: Callable[[], None]) -> None:
        self._steps.append((what, undo))

    def unwind(self) -> None:
        """Undo every step, newest first.  Never raises (aborts instead)."""
        while self._steps:
            what, undo = self._steps.pop()
            must_not_fail(f"undoing '{what}' of {self.owner}", undo)

    def steps(self) -> list[str]:
        return [what for what, _ in self._steps]

    def __len__(self) -> int:
        return len(self._steps)
