"""MIDR as qemu-system-arm 7.2 shows it: Cortex-A15 r4p0 (0x414fc0f0).

Measured with Unicorn 2.1.4: its Cortex-A15 (QEMU 5.0's model) has MIDR
0x412fc0f1, r2p1; the guest's `mrc p15, 0, Rt, c0, c0, 0` reads that, and a
write through UC_ARM_REG_CP_REG is ignored (it reads back 0x412fc0f1: QEMU's
MIDR read function returns the CPU object's constant, not the register
field).  Unicorn has no coprocessor-access hook for 32-bit ARM, and no model
with r4p0.  So each MIDR read found in the image (the ELF's segments, or the
Linux kernel's text once its MMU is on, as the timer's CTL accesses are
found) gets a code hook bounded to that one instruction, which does the read
itself: Rt = the MIDR, PC past the instruction (a PC written in a code hook
is where Unicorn continues, measured).  Nowhere else costs anything.

Limitation: a read from code that is not in the image (or, for Linux, that
runs before its MMU is on: head.S's processor lookup, which masks the
revision out anyway) still sees r2p1.
"""

from __future__ import annotations

import re
from typing import Any

from unicorn import UC_HOOK_CODE
from unicorn import arm_const as A

from .cpu import CPSR_T, ArmCpu

# qemu-system-arm 7.2's Cortex-A15 (its cortex_a15_initfn: r4p0).
QEMU_MIDR = {"cortex-a15": 0x414FC0F0}

# mrc p15, 0, Rt, c0, c0, 0 (ARMv7-A ARM A8.8.108 MRC, encodings A1 and T1), Rt r0-r12.
ARM_MIDR_READ = re.compile(rb"\x10[\x0f\x1f\x2f\x3f\x4f\x5f\x6f\x7f\x8f\x9f\xaf\xbf\xcf]\x10[\x0e\x1e\x2e\x3e\x4e\x5e\x6e\x7e\x8e\x9e\xae\xbe\xce\xde\xee]", re.DOTALL)
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

    def watch(self, segments: list[tuple[int, bytes]]) -> int:
        """Hook the MIDR reads of the image; returns how many."""
        if self.value is None:
            return 0
        sites = midr_reads(segments)
        for address, info in sites.items():
            self.cpu.uc.hook_add(UC_HOOK_CODE, self._on_read, info, address, address)
        return len(sites)

    def _on_read(self, uc: Any, address: int, size: int, info: tuple[bool, int]) -> None:
        thumb, rt = info
        if size != 4 or bool(uc.reg_read(A.UC_ARM_REG_CPSR) & CPSR_T) != thumb:
            return  # these bytes decode as something else in this state
        self.reads += 1
        uc.reg_write(A.UC_ARM_REG_R0 + rt, self.value)
        uc.reg_write(A.UC_ARM_REG_PC, (address + 4) | int(thumb))
