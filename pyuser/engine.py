"""Raw, allocation-free access to libunicorn for the hot paths.

The Python binding's convenience calls cost ~13 µs per syscall (register
reads build objects, hooks go through generic trampolines).  Calling the
library directly through ctypes with preallocated buffers costs ~2 µs
(tools/bench.py's getppid row).  Everything else keeps using the binding.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence

from unicorn import Uc, UcError
from unicorn import unicorn_const as UC
from unicorn.unicorn_py3.unicorn import UcContext, uclib

# void (*)(uc_engine *uc, uint32_t intno, void *user_data)
INTR_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
# void (*)(uc_engine *uc, void *user_data): UC_HOOK_INSN for x86 syscall
INSN_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
# bool (*)(uc_engine *uc, void *user_data): UC_HOOK_INSN_INVALID
INVALID_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p)
# void (*)(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
CODE_CALLBACK = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p
)


def _raw_function(name: str, *, keep_gil: bool = True) -> ctypes._CFuncPtr:
    """A second handle on a libunicorn function, without argtypes.

    The binding declares argtypes, which makes ctypes convert and check each
    argument on every call; passing ready-made ctypes objects to an
    undeclared function halves the cost (0.75 -> 0.33 µs for a batch read).

    A quick call keeps the GIL (a PyDLL handle): releasing it around every
    register access hands it to any other host thread that waits for it (a
    guest thread woken by a futex), once per access.  Only uc_emu_start,
    which runs guest code, must let the other threads run.
    """
    library = ctypes.PyDLL(uclib._name) if keep_gil else ctypes.CDLL(uclib._name)
    function = getattr(library, name)
    function.restype = ctypes.c_int
    return function


class RegisterBank:
    """Reads a fixed list of registers with one library call.

    `values` is refreshed in place by :meth:`read`; nothing is allocated
    per call.  Unused high bytes stay zero for 32-bit registers.
    """

    def __init__(self, uc: Uc, reg_ids: Sequence[int]) -> None:
        count = len(reg_ids)
        self._uch = ctypes.c_void_p(uc._uch.value)
        self._ids = (ctypes.c_int * count)(*reg_ids)
        self._cells = (ctypes.c_uint64 * count)()
        base = ctypes.addressof(self._cells)
        self._ptrs = (ctypes.c_void_p * count)(*(base + 8 * i for i in range(count)))
        self._count = count
        self._read_batch = _raw_function("uc_reg_read_batch")
        self.values = self._cells

    def read(self) -> ctypes.Array:
        self._read_batch(self._uch, self._ids, self._ptrs, self._count)
        return self._cells


class RegisterWriter:
    """Writes one register with a reused cell."""

    def __init__(self, uc: Uc, reg_id: int) -> None:
        self._uch = ctypes.c_void_p(uc._uch.value)
        self._id = ctypes.c_int(reg_id)
        self._cell = ctypes.c_uint64()
        self._ref = ctypes.byref(self._cell)
        self._write = _raw_function("uc_reg_write")

    def __call__(self, value: int) -> None:
        self._cell.value = value
        self._write(self._uch, self._id, self._ref)


class EngineCalls:
    """uc_emu_start and the context calls of a thread switch, straight to the
    library: the CPU loop makes them once per stop, and with threads every
    syscall that may block stops the engine (the binding's conversions cost
    several µs a call)."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._uch = ctypes.c_void_p(uc._uch.value)
        self._emu_start = _raw_function("uc_emu_start", keep_gil=False)
        self._context_save = _raw_function("uc_context_save")
        self._context_restore = _raw_function("uc_context_restore")
        self._zero = ctypes.c_uint64(0)
        self._no_count = ctypes.c_size_t(0)

    def emu_start(self, begin: int) -> None:
        """emu_start(begin, until=0), raising as the binding does."""
        uc = self._uc
        uc._hook_exception = None  # the binding's own hooks park exceptions there
        status = self._emu_start(self._uch, ctypes.c_uint64(begin), self._zero, self._zero,
                                 self._no_count)
        if status != UC.UC_ERR_OK:
            raise UcError(status)
        if uc._hook_exception is not None:
            raise uc._hook_exception

    def save(self, context: UcContext) -> None:
        if self._context_save(self._uch, context.context) != UC.UC_ERR_OK:
            raise UcError(UC.UC_ERR_ARG)

    def restore(self, context: UcContext) -> None:
        if self._context_restore(self._uch, context.context) != UC.UC_ERR_OK:
            raise UcError(UC.UC_ERR_ARG)


class RawHooks:
    """Hooks installed straight through uc_hook_add.

    The ctypes callback objects must stay alive as long as the hooks do, so
    they are kept here.  Exceptions must never escape a ctypes callback
    (ctypes prints and drops them): callers wrap their functions.
    """

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._keep: list[object] = []
        self._handles: list[int] = []

    def _add(self, kind: int, callback: object, *extra: int) -> int:
        handle = ctypes.c_size_t()
        args: list = [ctypes.c_uint64(1), ctypes.c_uint64(0)]
        args.extend(ctypes.c_int(x) for x in extra)
        status = uclib.uc_hook_add(
            self._uc._uch, ctypes.byref(handle), kind, ctypes.cast(callback, ctypes.c_void_p),
            None, *args,
        )
        if status != UC.UC_ERR_OK:
            raise RuntimeError(f"uc_hook_add({kind}) failed: {status}")
        self._keep.append(callback)
        self._handles.append(handle.value)
        return handle.value

    def on_interrupt(self, fn: Callable[[int, int, int], None]) -> int:
        """fn(uc_handle, intno, user_data), called straight from C."""
        return self._add(UC.UC_HOOK_INTR, INTR_CALLBACK(fn))

    def on_syscall_instruction(self, insn: int, fn: Callable[[int, int], None]) -> int:
        """fn(uc_handle, user_data) at each `insn` (UC_HOOK_INSN: x86's
        syscall), called straight from C."""
        return self._add(UC.UC_HOOK_INSN, INSN_CALLBACK(fn), insn)

    def on_invalid_instruction(self, fn: Callable[[], bool]) -> int:
        """fn() -> True when it handled the instruction (execution goes on)."""
        return self._add(UC.UC_HOOK_INSN_INVALID, INVALID_CALLBACK(lambda _uc, _ud: fn()))

    def on_block(self, fn: Callable[[int, int], None]) -> int:
        cb = CODE_CALLBACK(lambda _uc, addr, size, _ud: fn(addr, size))
        return self._add(UC.UC_HOOK_BLOCK, cb)

    def remove(self, handle: int) -> None:
        uclib.uc_hook_del(self._uc._uch, ctypes.c_size_t(handle))


def flush_tlb(uc: Uc) -> None:
    """Drop Unicorn's soft TLB after the guest page tables changed."""
    uc.ctl(UC.UC_CTL_TLB_FLUSH, UC.UC_CTL_IO_WRITE)


# Offsets in Unicorn 2.1.4's struct hook (include/uc_priv.h: int type, insn,
# refs, op, op_flags; bool to_delete; uint64_t begin, end; void *callback;
# ...).  pyproject pins unicorn==2.1.4; AsyncStop checks the layout when it
# installs its hooks and tests/test_threads.py checks that stops land.
_HOOK_END_OFFSET = 32
_HOOK_CALLBACK_OFFSET = 40
_NOWHERE = (1 << 64) - 1  # a block address no guest ever has


class AsyncStop:
    """Stop the CPU from another host thread, at a translated-block boundary.

    uc_emu_stop from another thread is not safe with this engine: Unicorn
    checks for an exit request after every guest memory access and restores
    the PC to that instruction, so e.g. a strex whose store was done runs
    again, fails, and the guest's retry loop increments twice (measured:
    about one extra increment per 10^5-10^6 preemptions; docs/threads.md).

    Instead two block hooks are installed.  A *carrier* covering every
    address, whose callback is a native no-op (uc_arch_supported ignores the
    extra arguments), makes Unicorn put a hook call at the start of every
    translated block, before its first instruction.  A *stopper* whose
    callback is uc_emu_stop covers no address at all (begin = end = an
    impossible PC); a request widens it to every address with one aligned
    8-byte store (end := 0 makes begin > end, "all addresses"), so the CPU
    stops at its next block boundary, on its own thread.  Two hooks, because
    with a single block hook Unicorn bakes a direct call to its callback
    into each block (qemu/include/tcg/tcg-op.h gen_uc_tracecode) and never
    looks at the hook again.  Cost: a helper call per block, paid only by
    processes with a second thread or a signal handler.
    """

    def __init__(self, uc: Uc) -> None:
        lib = ctypes.CDLL(uclib._name)
        noop = ctypes.cast(lib.uc_arch_supported, ctypes.c_void_p).value
        stop = ctypes.cast(lib.uc_emu_stop, ctypes.c_void_p).value
        self._add_hook(uc, noop, 1, 0)
        stopper = self._add_hook(uc, stop, _NOWHERE, _NOWHERE)
        self._end = ctypes.c_uint64.from_address(stopper + _HOOK_END_OFFSET)
        callback = ctypes.c_void_p.from_address(stopper + _HOOK_CALLBACK_OFFSET)
        if self._end.value != _NOWHERE or callback.value != stop:
            raise RuntimeError("unexpected Unicorn hook layout (pyuser needs unicorn 2.1.4)")
        # blocks translated before now have no call to the hooks
        uc.ctl_flush_tb()

    @staticmethod
    def _add_hook(uc: Uc, callback: int, begin: int, end: int) -> int:
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC.UC_HOOK_BLOCK,
                                   ctypes.c_void_p(callback), None,
                                   ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if status != UC.UC_ERR_OK:
            raise RuntimeError(f"uc_hook_add(block) failed: {status}")
        return handle.value

    def request(self) -> None:
        """Any thread: stop at the next block boundary."""
        self._end.value = 0

    def clear(self) -> None:
        """The emulating thread, between runs."""
        self._end.value = _NOWHERE

    @property
    def requested(self) -> bool:
        """A stop was asked for since the last clear()."""
        return self._end.value != _NOWHERE


class GatedBlockHook:
    """A block hook that costs nothing while closed.

    Installed next to an AsyncStop (whose carrier already puts a hook call
    at the start of every translated block), it covers no address until
    :meth:`open` widens it to every address with the same one-store trick,
    so it can be switched on and off between runs without translating any
    block again.  `fn(uc_handle, address, size, user_data)` is called
    straight from C (no binding wrapper); emulating thread only.
    """

    def __init__(self, uc: Uc, fn: Callable[[int, int, int, int], None]) -> None:
        self._callback = CODE_CALLBACK(fn)  # kept alive as long as the hook
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC.UC_HOOK_BLOCK,
                                   ctypes.cast(self._callback, ctypes.c_void_p), None,
                                   ctypes.c_uint64(_NOWHERE), ctypes.c_uint64(_NOWHERE))
        if status != UC.UC_ERR_OK:
            raise RuntimeError(f"uc_hook_add(block) failed: {status}")
        self._end = ctypes.c_uint64.from_address(handle.value + _HOOK_END_OFFSET)
        if self._end.value != _NOWHERE:
            raise RuntimeError("unexpected Unicorn hook layout (pyuser needs unicorn 2.1.4)")

    def open(self) -> None:
        self._end.value = 0

    def close(self) -> None:
        self._end.value = _NOWHERE


def close_engine(uc: Uc) -> None:
    """Free an engine now (its translation cache and CPU state, ~4 MB), not at
    the next garbage collection: the binding's own finalizer, run once; the
    engine must not be used after this."""
    finalizer = getattr(uc, "_Uc__finalizer", None)
    if finalizer is not None:
        finalizer()
