"""Sizing Unicorn's soft TLB for guests that map a lot of memory.

Unicorn 2.1.4's soft TLB is QEMU 5.0's (accel/tcg/cputlb.c): one table per
MMU mode, 256 entries at first, resized only when it is flushed
(tlb_mmu_resize_locked): doubled when more than 70% of its entries were used
since the window began, shrunk to fit when under 30% for a 100 ms window.  An
emulator that flushes only when guest page tables change leaves a
memory-bound guest that never changes them with 256 entries (1 MB with 4 KB
pages) for its whole run, and every access beyond that refills the TLB
(~170 ns).  Measured, arm: the 32 MB sieve of `make bench` ran 6.0 s, and
2.4 s once the guest itself forced a flush every 20 outer sweeps.

The engine offers no call to size its TLB, and a flush is only safe with the
engine stopped or in a hook on its own thread, which a compute loop without
syscalls never reaches (no per-block hook is installed for this).  So the
policy acts where pyuser already flushes: when the guest maps memory (a
syscall, or the loader).  If its accessible memory outgrows what the TLB of
an MMU mode in use covers, that mode's table is doubled, by flushes, until it
covers it (at most MAX_ENTRIES).  Each doubling is QEMU's own resize: before
the flush the mode's `window_max_entries` is set to its size (a use rate of
100%).  QEMU's rule then shrinks the table again at later flushes if the
guest does not use it.

The TLB descriptors live in the engine's CPU structure, found here once by
content and checked: the CPU state (`env`) is where the bytes of a saved
context are; before it, per MMU mode, CPUTLBDescFast {mask, table} (masks of
256 entries) and before those the CPUTLBDesc array, whose window start times
must be recent CLOCK_REALTIME values.  If anything does not match, there is
no policy (SoftTlb.find returns None); memory is read through /proc/self/mem,
so a wrong guess is an error, not a crash.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable

from unicorn import Uc

# Unicorn 2.1.4 (include/uc_priv.h): struct uc_struct's `CPUState *cpu`, and
# struct uc_context's `data` (after size_t, two enums, int, bool, two pointers)
_UC_CPU_OFFSET = 440
_CONTEXT_DATA_OFFSET = 40
# QEMU 5.0's include/exec/cpu-defs.h, counted back from the end of a
# CPUTLBDesc (vtable[8] of 64-byte entries, viotlb[8] of 16 bytes, iotlb*)
_DESC_FROM_END = {"iotlb": 8, "n_used_entries": 664, "window_max_entries": 672,
                  "window_begin_ns": 680}
_DESC_SIZES = (688, 696)  # 2 * sizeof(target_ulong) + 680: 32- and 64-bit targets
MAX_ENTRIES = 1 << 15  # 128 MB with 4 KB pages; 3 MB of tables per mode
_PATTERN = 0x5A17C0DE


class _Memory:
    """Reads of this process's memory that fail instead of crashing."""

    def __init__(self) -> None:
        self._fd = os.open("/proc/self/mem", os.O_RDONLY | os.O_CLOEXEC)

    def read(self, address: int, size: int) -> bytes:
        try:
            return os.pread(self._fd, size, address)
        except (OSError, OverflowError, ValueError):
            return b""

    def word(self, address: int) -> int:
        data = self.read(address, 8)
        return int.from_bytes(data, "little") if len(data) == 8 else -1

    def close(self) -> None:
        os.close(self._fd)


class SoftTlb:
    """The soft TLB tables of one engine (per MMU mode)."""

    def __init__(self, dirty: int, descs: list[int], fasts: list[int], entry_bits: int) -> None:
        self._dirty = dirty  # CPUTLBCommon.dirty: the modes a flush will flush
        self._descs = descs  # address of the end of each mode's CPUTLBDesc
        self._fasts = fasts  # address of each mode's CPUTLBDescFast
        self._entry_bits = entry_bits

    @classmethod
    def find(cls, uc: Uc, sp_reg: int, word_mask: int) -> SoftTlb | None:
        """Locate the engine's TLB descriptors (with the engine stopped)."""
        mem = _Memory()
        try:
            env = _find_env(uc, mem, sp_reg, word_mask)
            return None if env is None else cls._find_tables(env, mem)
        finally:
            mem.close()

    @classmethod
    def _find_tables(cls, env: int, mem: _Memory) -> SoftTlb | None:
        before = mem.read(env - 4096, 4096)
        if len(before) != 4096:
            return None
        slots = [(int.from_bytes(before[p:p + 8], "little"),
                  int.from_bytes(before[p + 8:p + 16], "little"))
                 for p in range(0, 4096, 16)]
        # {mask: CPU_TLB_ENTRY_BITS}: masks of 64 to 2^22 entries of 32 or 64 bytes
        masks = {((1 << k) - 1) << bits: bits for bits in (5, 6) for k in range(6, 23)}
        end = len(slots)
        while end > len(slots) - 4 and slots[end - 1][0] not in masks:
            end -= 1  # icount_decr and padding between the TLB and env
        start = end
        while start > 0 and slots[start - 1][0] in masks and slots[start - 1][1]:
            start -= 1
        modes = end - start
        if not modes or len({masks[slots[i][0]] for i in range(start, end)}) != 1:
            return None
        entry_bits = masks[slots[start][0]]
        first_fast = env - 4096 + 16 * start
        fasts = [first_fast + 16 * i for i in range(modes)]
        now = time.time_ns()
        for size in _DESC_SIZES:
            for pad in (0, 8):
                last_end = first_fast - pad
                descs = [last_end - (modes - 1 - i) * size for i in range(modes)]
                # CPUTLBCommon before them: uint16_t dirty, then three counters
                dirty = descs[0] - size - 32
                if all(_plausible_desc(mem, d, now) for d in descs) and \
                        0 <= mem.word(dirty) & 0xFFFF < 1 << modes and \
                        all(0 <= mem.word(dirty + 8 * i) < 1 << 40 for i in (1, 2, 3)):
                    return cls(dirty, descs, fasts, entry_bits)
        return None

    # ------------------------------------------------------------ reading
    def size(self, mode: int) -> int:
        mask = ctypes.c_size_t.from_address(self._fasts[mode]).value
        return (mask >> self._entry_bits) + 1

    def used(self, mode: int) -> int:
        return ctypes.c_size_t.from_address(
            self._descs[mode] - _DESC_FROM_END["n_used_entries"]).value

    def modes_in_use(self) -> list[int]:
        """The MMU modes with entries filled since their last flush."""
        return [m for m in range(len(self._fasts)) if self.used(m)]

    @property
    def mode_count(self) -> int:
        return len(self._fasts)

    # ------------------------------------------------------------ growing
    def grow(self, modes: list[int], entries: int, flush: Callable[[], None]) -> None:
        """Double the tables of `modes` until they hold `entries`.

        Only where a flush is safe: with the engine stopped, or in a hook on
        the emulating thread (as every page-table flush of pyuser)."""
        entries = min(entries, MAX_ENTRIES)
        while modes:
            small = [m for m in modes if self.size(m) < entries]
            if not small:
                return
            dirty = ctypes.c_uint16.from_address(self._dirty)
            for m in small:
                ctypes.c_size_t.from_address(
                    self._descs[m] - _DESC_FROM_END["window_max_entries"]).value = self.size(m)
                dirty.value |= 1 << m  # only modes with new entries are flushed
            before = [self.size(m) for m in small]
            flush()
            modes = [m for m, old in zip(small, before, strict=True) if self.size(m) > old]


def _find_env(uc: Uc, mem: _Memory, sp_reg: int, word_mask: int) -> int | None:
    """The address of the engine's CPU state, where a saved context's bytes are."""
    cpu = mem.word(uc._uch.value + _UC_CPU_OFFSET)
    if cpu <= 0:
        return None
    saved_sp = uc.reg_read(sp_reg)
    pattern = (_PATTERN * 0x100000001) & word_mask
    uc.reg_write(sp_reg, pattern)  # a value to find, in the context and in env
    try:
        context = uc.context_save()
        header = ctypes.cast(context.context, ctypes.c_void_p).value or 0
        size = ctypes.c_size_t.from_address(header).value
        data = mem.read(header + _CONTEXT_DATA_OFFSET, min(size, 1 << 16))
        chunk = mem.read(cpu, 1 << 17) or mem.read(cpu, 1 << 16)
    finally:
        uc.reg_write(sp_reg, saved_sp)
    key = pattern.to_bytes(8 if word_mask >> 32 else 4, "little")
    at = data.find(key)
    if at < 0:
        return None
    lo = max(at - 256, 0)
    probe = data[lo:at + 256]
    found = chunk.find(probe)
    while found >= 0:  # saved contexts elsewhere hold the same bytes
        env = cpu + found - lo
        if not env & 15 and env.to_bytes(8, "little") in chunk[:found]:  # cpu->env_ptr
            return env
        found = chunk.find(probe, found + 1)
    return None


def _plausible_desc(mem: _Memory, end: int, now: int) -> bool:
    began = mem.word(end - _DESC_FROM_END["window_begin_ns"])
    iotlb = mem.word(end - _DESC_FROM_END["iotlb"])
    used = mem.word(end - _DESC_FROM_END["n_used_entries"])
    return 0 < now - began < 86_400 * 10**9 and iotlb > 0 and 0 <= used <= 1 << 22
