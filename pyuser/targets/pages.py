"""Pages a target puts into a new process before its program is loaded, and
what a target whose page permissions are Unicorn regions learns of a failed
access."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import unicorn_const as UC

from pyuser.memory import PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE

if TYPE_CHECKING:
    from unicorn import Uc

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


class SharedTables:
    """Guest page tables in one host buffer, mapped at a guest-physical address
    into the process's engine (shared by its threads, pyuser.threads), whose TLB
    is flushed when they change.

    Subclasses set `_ucs`, `_table_base`, `_table_size`, `_table_address` and
    `_dirty` in their __init__ (the engine, attached, is `_ucs`' one element).
    """

    _ucs: list
    _table_base: int
    _table_size: int
    _table_address: int
    _dirty: bool

    def attach(self, uc) -> None:
        uc.mem_map_ptr(self._table_base, self._table_size, 1 | 2, self._table_address)
        self._ucs.append(uc)

    def flush(self) -> None:
        if self._dirty:
            from pyuser.engine import flush_tlb

            for uc in self._ucs:
                flush_tlb(uc)
            self._dirty = False


class FailedAccesses:
    """The last failed load or store of each engine: its address and the PC
    the engine reported at that moment.

    For targets with no guest MMU (page permissions are Unicorn regions:
    ppc, s390x, m68k), where the CPU exception or engine error that follows a
    failed access carries neither the data address nor, on some, the PC of
    the faulting instruction.  The hook runs only when an access fails, so it
    costs nothing until then; the fault that follows takes the record.
    """

    def __init__(self, pc_reg: int) -> None:
        self._pc_reg = pc_reg
        self._last: dict[int, tuple[int, int]] = {}  # id(uc) -> (address, pc)

    def install(self, uc: Uc) -> None:
        def on_failed(_uc: int, _access: int, address: int, _size: int, _value: int,
                      _user_data: int) -> bool:
            self._last[id(uc)] = (address, uc.reg_read(self._pc_reg))
            return False  # the access still fails: the engine stops with its error

        uc.hook_add(UC.UC_HOOK_MEM_UNMAPPED | UC.UC_HOOK_MEM_PROT, on_failed)

    def take(self, uc: Uc) -> tuple[int, int] | None:
        """(address, pc) of the engine's last failed access, once; None if none."""
        return self._last.pop(id(uc), None)
