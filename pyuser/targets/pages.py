"""Pages a target puts into a new process before its program is loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyuser.memory import PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE

if TYPE_CHECKING:
    from pyuser.memory import GuestMemory


def map_code_page(memory: GuestMemory, address: int, code: bytes, name: str) -> None:
    """Map one read+exec page holding `code` (a sigreturn trampoline, a vsyscall entry).

    Called from Target.prepare_process, before anything was translated and
    before the process can invalidate code: invalidation is skipped.
    """
    saved = memory.invalidate_code
    memory.invalidate_code = lambda _start, _end: None  # type: ignore[method-assign]
    try:
        memory.map(address, PAGE_SIZE, PROT_READ | PROT_WRITE, kind="vdso", name=name)
        memory.write(address, code)
        memory.protect(address, PAGE_SIZE, PROT_READ | PROT_EXEC)
    finally:
        memory.invalidate_code = saved  # type: ignore[method-assign]
