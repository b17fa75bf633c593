"""MIDR as qemu-system-arm 7.2 shows it: Cortex-A15 r4p0 (0x414fc0f0).

Measured with Unicorn 2.1.4: its Cortex-A15 (QEMU 5.0's model) has MIDR
0x412fc0f1, r2p1; the guest's `mrc p15, 0, Rt, c0, c0, 0` reads that, and a
write through UC_ARM_REG_CP_REG is ignored (it reads back 0x412fc0f1: QEMU's
MIDR read function returns the CPU object's constant, not the register
field).  Unicorn has no coprocessor-access hook for 32-bit ARM, and no model
with r4p0.  So each MIDR read found in the image (the ELF's segments, or the
Linux kernel's text once its MMU is on, as the timer's CTL accesses are
found) gets a code hook bounded to it and the instruction after it: at the
read it notes that it ran, at the next instruction (before it runs) it puts
the r4p0 value into Rt.  Nowhere else costs
anything.  Doing the read in the first hook instead (Rt, then the PC past
it) works but is ruinous: a PC written in a hook drops translated code
(measured: Linux's boot stalled into a soft lockup).  Only unconditional
ARM reads are taken (a conditional one may not write Rt).

A Linux kernel gets the same hooks once it runs with its MMU on
(pyuser.system.runner finds its text as it finds the timer's accesses), so
its /proc/cpuinfo shows r4p0 as under QEMU; its reads made before the MMU is
on see r2p1.  These hooks made Linux's boot crawl while the CPU loop bounded
its slices with count= (Unicorn's own per-instruction hook, which walks every
code hook); its slices no longer do, and the boot costs the same with them.
"""

from __future__ import annotations

import re
from typing import Any

from unicorn import UC_HOOK_CODE
from unicorn import arm_const as A

from .cpu import CPSR_T, ArmCpu

# qemu-system-arm 7.2's Cortex-A15 (its cortex_a15_initfn: r4p0).
QEMU_MIDR = {"cortex-a15": 0x414FC0F0}

# mrc p15, 0, Rt, c0, c0, 0 (ARMv7-A ARM A8.8.108 MRC, encodings A1 with cond AL, and T1), Rt r0-r12.
ARM_MIDR_READ = re.compile(rb"\x10[\x0f\x1f\x2f\x3f\x4f\x5f\x6f\x7f\x8f\x9f\xaf\xbf\xcf]\x10\xee", re.DOTALL)
THUMB_MIDR_READ = re.compile(rb"\x10\xee\x10[\x0f\x1f\x2f\x3f\x4f\x5f\x6f\x7f\x8f\x9f\xaf\xbf\xcf]", re.DOTALL)


def midr_reads(segments: list[tuple[int, bytes]]) -> dict[int, tuple[bool, int]]:
    """address -> (Thumb, Rt) of each MIDR read in `segments`."""
    found: dict[int, tuple[bool, int]] = {}
    for base, data in segments:
        for match in ARM_MIDR_READ.finditer(data):
            if match.start() % 4 == 0:
                found[base + match.start()] = (False, data[match.start() + 1] >> 4)
        for match in THUMB_MIDR_READ.finditer(data):
            if match.start() % 2 == 0:
                found.setdefault(base + match.start(), (True, data[match.start() + 3] >> 4))
    return found


class MidrOverride:
    def __init__(self, cpu: ArmCpu, model: str) -> None:
        self.cpu = cpu
        self.value = QEMU_MIDR.get(model)
        self.reads = 0  # MIDR reads served (for measurements)
        self.pending: dict[int, int] = {}  # the instruction after a read that ran -> its Rt
        self.hooks: list[int] = []

    def watch(self, segments: list[tuple[int, bytes]]) -> int:
        """Hook the MIDR reads of the image; returns how many."""
        if self.value is None:
            return 0
        sites = midr_reads(segments)
        for address, info in sites.items():
            # one hook over the read and the next instruction (fewer hooks)
            self.hooks.append(self.cpu.uc.hook_add(UC_HOOK_CODE, self._on_hooked, (address, *info),
                                                   address, address + 4))
        return len(sites)

    def clear(self) -> None:
        """A machine reset: drop the hooks (the next load of the image arms them again)."""
        for hook in self.hooks:
            self.cpu.uc.hook_del(hook)
        self.hooks.clear()
        self.pending.clear()

    def _on_hooked(self, uc: Any, address: int, size: int, site: tuple[int, bool, int]) -> None:
        read_at, thumb, rt = site
        if address != read_at:  # the instruction after the read
            if self.pending.pop(address, None) is not None:
                self.reads += 1
                uc.reg_write(A.UC_ARM_REG_R0 + rt, self.value)
        elif size == 4 and bool(uc.reg_read(A.UC_ARM_REG_CPSR) & CPSR_T) == thumb:
            self.pending[address + 4] = rt  # (in another state these bytes are something else)
