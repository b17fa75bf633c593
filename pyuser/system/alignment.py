"""SCTLR.A: alignment faults for ordinary loads and stores, which Unicorn lacks.

Measured with Unicorn 2.1.4 (QEMU 5.0's TCG), Cortex-A15, MMU on or off:
with SCTLR.A set, `ldr r2, [r1]` from an odd address loads the bytes and
raises nothing; the architecture (ARMv7-A ARM A3.2.1, B3.12.1) wants an
alignment fault, DFSR FS 0b00001, taken as a data abort, and qemu-system-arm
7.2 gives one (tests/guest_bins/system/align.c under both).  Exclusives and
the accesses that always need alignment do fault in Unicorn already.

Nothing here costs a run whose guest never sets SCTLR.A:

- each `mcr p15, 0, Rt, c1, c0, 0` (the SCTLR write) found in a bare-metal
  ELF image, ARM or Thumb, gets a code hook bounded to that one instruction,
  which reads Rt before the write happens (the same scan the timer uses for
  its CTL accesses); the CPU loop also looks at SCTLR.A at each slice
  boundary, for a write from code that is not in the image.  A Linux
  kernel's text is not hooked (50 candidates in 6.1's armmp): Linux keeps
  SCTLR.A clear on ARMv7, so the slice-boundary look suffices.  (A bounded
  code hook costs nothing where it is not since the CPU loop stopped using
  count= slices; in them each one cost every instruction, see cpu_loop.py);
- only while SCTLR.A is set, a code hook on every instruction decodes each
  memory instruction (capstone, pyuser.system.abort) and checks the
  alignment of its accesses before it runs; an unaligned one becomes the
  data abort, the instruction not executed.  That costs a Python call per
  instruction and a decode per memory instruction, only for such a guest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from unicorn import UC_HOOK_CODE, UcError
from unicorn import arm_const as A

from .abort import memory_accesses
from .cpu import CPSR_T, SCTLR, SCTLR_A, ArmCpu, GuestMemoryError
from .mmu import FS_ALIGNMENT, MmuFault

# mcr p15, 0, Rt, c1, c0, 0 (ARMv7-A ARM A8.8.98 MCR, encodings A1 and T1), any cond for A1.
ARM_SCTLR_WRITE = re.compile(rb"\x10[\x0f\x1f\x2f\x3f\x4f\x5f\x6f\x7f\x8f\x9f\xaf\xbf\xcf\xdf\xef\xff]\x01[\x0e\x1e\x2e\x3e\x4e\x5e\x6e\x7e\x8e\x9e\xae\xbe\xce\xde\xee]", re.DOTALL)
THUMB_SCTLR_WRITE = re.compile(rb"\x01\xee\x10[\x0f\x1f\x2f\x3f\x4f\x5f\x6f\x7f\x8f\x9f\xaf\xbf\xcf\xdf\xef]", re.DOTALL)


def sctlr_writes(segments: list[tuple[int, bytes]]) -> dict[int, int]:
    """address -> Rt of each SCTLR write in the executable `segments`."""
    found: dict[int, int] = {}
    for base, data in segments:
        for match in ARM_SCTLR_WRITE.finditer(data):
            if match.start() % 4 == 0:
                found[base + match.start()] = data[match.start() + 1] >> 4
        for match in THUMB_SCTLR_WRITE.finditer(data):
            if match.start() % 2 == 0:
                found.setdefault(base + match.start(), data[match.start() + 3] >> 4)
    return found


class AlignmentChecks:
    def __init__(self, cpu: ArmCpu, call: Callable[[Callable[[], Any]], Any],
                 abort: Callable[[int, tuple[int, int]], None]) -> None:
        self.cpu = cpu
        self.call = call  # CpuLoop.call: run at the next safe point
        self.abort = abort  # CpuLoop.data_abort_before: (pc, (DFSR, DFAR))
        self.checking: int | None = None  # the per-instruction hook while SCTLR.A is set
        self.watch_hooks: list[int] = []
        self.skip_once: int | None = None  # the SCTLR write resumed after a safe point
        self.memory_insn: dict[tuple[int, bool], bool] = {}
        self.checked = 0  # instructions looked at (for measurements)

    def watch(self, segments: list[tuple[int, bytes]]) -> int:
        """Hook the SCTLR writes of the image; returns how many."""
        writes = sctlr_writes(segments)
        for address, rt in writes.items():
            self.watch_hooks.append(self.cpu.uc.hook_add(UC_HOOK_CODE, self._on_sctlr_write, rt, address, address))
        return len(writes)

    def clear(self) -> None:
        """A machine reset: drop the image's watch hooks (the next load arms
        them again) and the per-instruction check, SCTLR.A being clear at
        power-on; forget what was decoded, the RAM being written anew."""
        uc = self.cpu.uc
        for hook in self.watch_hooks:
            uc.hook_del(hook)
        self.watch_hooks.clear()
        if self.checking is not None:
            uc.hook_del(self.checking)
            self.checking = None
        self.skip_once = None
        self.memory_insn.clear()

    def _on_sctlr_write(self, uc: Any, address: int, size: int, rt: int) -> None:
        if size != 4:
            return  # decoded otherwise at run time
        if self.skip_once == address:
            self.skip_once = None
            return
        wanted = bool(uc.reg_read(A.UC_ARM_REG_R0 + rt) & SCTLR_A)
        if wanted != (self.checking is not None):
            # Hooks change only at a safe point: stop before the write, switch, run it.
            self.skip_once = address
            self.call(lambda: self._set(wanted))
            uc.emu_stop()

    def sync(self) -> bool:
        """At a slice boundary: follow SCTLR.A written by code the scan did not see.
        Returns False, to stay among the loop's safe-point hooks."""
        if self.skip_once is not None:
            return False  # a hooked SCTLR write is about to run: it decides
        wanted = bool(self.cpu.read_cp(SCTLR) & SCTLR_A)
        if wanted != (self.checking is not None):
            self._set(wanted)
        return False

    def _set(self, on: bool) -> None:
        uc = self.cpu.uc
        if on and self.checking is None:
            self.checking = uc.hook_add(UC_HOOK_CODE, self._check)
        elif not on and self.checking is not None:
            uc.hook_del(self.checking)
            self.checking = None
        else:
            return
        uc.ctl_flush_tb()  # a code hook only reaches code translated after it

    def _check(self, uc: Any, address: int, size: int, _data: Any) -> None:
        self.checked += 1
        thumb = size == 2 or bool(uc.reg_read(A.UC_ARM_REG_CPSR) & CPSR_T)
        known = self.memory_insn.get((address, thumb))
        if known is False:
            return
        try:
            code = self.cpu.read(address, size)
        except (GuestMemoryError, UcError):
            return  # the fetch itself faults: Unicorn raises the prefetch abort
        accesses = memory_accesses(code, address, thumb, self._reg)
        if known is None:
            self.memory_insn[(address, thumb)] = bool(accesses)
        for access in accesses:
            if access.address % max(access.align, min(access.size, 4)):
                self.abort(address | int(thumb), (MmuFault(FS_ALIGNMENT).fsr(access.write), access.address & 0xFFFFFFFF))
                return

    def _reg(self, name: str) -> int:
        return self.cpu.uc.reg_read(getattr(A, f"UC_ARM_REG_{name.upper()}"))
