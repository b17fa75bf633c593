"""Code, block and memory hooks on one engine, bounded to an address range,
added and removed at a safe point with the translated code they affect.

Facts this module relies on (measured with Unicorn 2.1.4):
- A code or block hook only reaches blocks translated after it was added:
  the blocks of its range must be dropped from the translation cache
  (uc_ctl_remove_cache), or all of them for an unbounded hook.
- Deleting a hook does not take it out of blocks already translated (with a
  single hook of a kind, Unicorn bakes the callback's address into each
  block): those blocks are dropped too, and the callback object is kept
  alive for the engine's lifetime, since stale code may still point at it.
- A hook bounded to [begin, end] costs nothing outside its range: Unicorn
  puts the call only into the instructions and blocks inside it.
- uc_emu_stop() from a code hook stops before that instruction, with the PC
  on it: an instruction boundary, the CPU loop's safe point.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from unicorn import Uc
from unicorn import unicorn_const as UC
from unicorn.unicorn_py3.unicorn import uclib

from pyuser.engine import CODE_CALLBACK, flush_tlb

# void (*)(uc_engine *, uc_mem_type type, uint64_t address, int size, int64_t value, void *)
MEM_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64,
                                ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)

EVERYWHERE = (1, 0)  # Unicorn's "begin > end": every address

MEM_READ = UC.UC_HOOK_MEM_READ
MEM_WRITE = UC.UC_HOOK_MEM_WRITE
# the access type Unicorn passes to a memory callback
ACCESS_WRITE = UC.UC_MEM_WRITE


class EngineHooks:
    """The hooks instruments put on one engine."""

    def __init__(self, uc: Uc) -> None:
        self.uc = uc
        self._keep: list[object] = []  # callbacks live as long as the engine
        self._live: dict[int, tuple[int, int, int]] = {}  # handle -> (kind, begin, end)

    def _add(self, kind: int, callback: object, begin: int, end: int) -> int:
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(self.uc._uch, ctypes.byref(handle), kind,
                                   ctypes.cast(callback, ctypes.c_void_p), None,
                                   ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if status != UC.UC_ERR_OK:
            raise RuntimeError(f"uc_hook_add({kind}) failed: {status}")
        self._keep.append(callback)
        self._live[handle.value] = (kind, begin, end)
        self._drop_code(kind, begin, end)
        return handle.value

    def code(self, fn: Callable[[int, int], None], begin: int = 1, end: int = 0) -> int:
        """fn(address, size) before each instruction in [begin, end]."""
        cb = CODE_CALLBACK(lambda _uc, address, size, _ud: fn(address, size))
        return self._add(UC.UC_HOOK_CODE, cb, begin, end)

    def block(self, fn: Callable[[int, int], None], begin: int = 1, end: int = 0) -> int:
        """fn(address, size) before each block starting in [begin, end]."""
        cb = CODE_CALLBACK(lambda _uc, address, size, _ud: fn(address, size))
        return self._add(UC.UC_HOOK_BLOCK, cb, begin, end)

    def memory(self, kind: int, fn: Callable[[int, int, int, int], None],
               begin: int = 1, end: int = 0) -> int:
        """fn(access, address, size, value) for each access of `kind`
        (MEM_READ, MEM_WRITE or both or-ed) in [begin, end]."""
        cb = MEM_CALLBACK(lambda _uc, access, address, size, value, _ud:
                          fn(access, address, size, value))
        return self._add(kind, cb, begin, end)

    def remove(self, handle: int) -> None:
        kind, begin, end = self._live.pop(handle)
        uclib.uc_hook_del(self.uc._uch, ctypes.c_size_t(handle))
        self._drop_code(kind, begin, end)

    def remove_all(self) -> None:
        for handle in list(self._live):
            self.remove(handle)

    def _drop_code(self, kind: int, begin: int, end: int) -> None:
        if kind in (UC.UC_HOOK_CODE, UC.UC_HOOK_BLOCK) and begin <= end:
            self.uc.ctl_remove_cache(begin, end + 1)
        else:
            # unbounded code hooks, and memory hooks (the TLB decides which
            # accesses take the hooked slow path)
            self.uc.ctl_flush_tb()
            flush_tlb(self.uc)
