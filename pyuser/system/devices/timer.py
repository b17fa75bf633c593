"""The Arm generic timer's interrupt outputs.

Unicorn implements the timer *registers* (CNTFRQ, CNTPCT/CNTVCT, CNTx_CTL,
CNTx_CVAL/TVAL) but never raises their interrupts, because it has no
interrupt API.  This device samples those registers at safe points (and when
the GIC is asked for the highest pending interrupt) and drives the timer
PPIs from them.

Measured on Unicorn 2.1.4: CNTPCT and CNTVCT read CLOCK_MONOTONIC in units of
16 ns (62.5 MHz, the CNTFRQ value it reports), so deadlines convert to host
time exactly.  There is no EL2 or EL3 on this CPU (SCR access is undefined),
so CNTVOFF is 0 and only the EL1 physical and virtual timers exist.

Also measured: writes to CNTP_CTL/CNTV_CTL are dropped (the guest reads 0
back), while CVAL/TVAL are kept.  So the CTL registers are shadowed here: the
loaded image is scanned for ``mcr``/``mrc p15, 0, Rt, c14, c2|c3, 1`` (ARM and
Thumb-2 encodings) and a one-instruction code hook on each records writes and
answers reads (setting Rt and stepping over the instruction).  Code that is
not in the image (copied or generated at run time) is not covered.
"""

from __future__ import annotations

import re
import time
from typing import Any

from unicorn import UC_HOOK_CODE
from unicorn import arm_const as A

from ..irq import IrqLine
from ..qdev import Device, device_type

TICK_NS = 16
# Interrupt IDs of the timer PPIs on QEMU's virt board (hw/arm/virt.h:
# ARCH_TIMER_NS_EL1_IRQ 14, ARCH_TIMER_VIRT_IRQ 11; PPI n is interrupt ID 16 + n).
PHYS_PPI, VIRT_PPI = 14, 11
# (cp, is64, sec, crn, crm, opc1, opc2) selectors, ARMv7-A ARM B4.1.
CNTP_CVAL = (15, 1, 0, 0, 14, 2, 0)
CNTV_CVAL = (15, 1, 0, 0, 14, 3, 0)
CTL_ENABLE, CTL_IMASK, CTL_ISTATUS = 1, 2, 4
CRM_TIMER = {2: 0, 3: 1}  # CNTP_CTL -> physical (0), CNTV_CTL -> virtual (1)
# mcr/mrc p15, 0, Rt, c14, c2|c3, 1 (ARMv7-A ARM A8.8.98) with the condition or
# Thumb prefix 0xE, as byte patterns for a regex scan of a whole kernel (~20 MB)
# in well under a second.  ARM: the little-endian word 0xEE0E0F30 | L<<20 |
# Rt<<12 | CRm; Thumb-2: the halfword 0xEE0E|L<<4, then Rt<<12 | 0xF30 | CRm.
# Rt = 15 (APSR_nzcv) is left out.
_RT_BYTE = b"[" + b"".join(re.escape(bytes([rt << 4 | 0xF])) for rt in range(15)) + b"]"
ARM_CTL = re.compile(b"(?=[\x32\x33]" + _RT_BYTE + b"[\x0e\x1e]\xee)", re.DOTALL)
# CVAL through mcrr/mrrc p15, 2|3, Rt, Rt2, c14 (A8.8.100): Unicorn keeps CVAL
# written through TVAL but reads back 0 after an mcrr (measured with Linux 6.1,
# whose timer writes CVAL), so those are shadowed too.  ARM: the word
# 0xEC400F0E | L<<20 | Rt2<<16 | Rt<<12 | opc1<<4; Thumb-2: 0xEC40|L<<4|Rt2,
# then Rt<<12 | 0xF0E | opc1<<4.
_RT2_LOW = b"[" + b"".join(re.escape(bytes([0x40 | load << 4 | r])) for load in (0, 1) for r in range(15)) + b"]"
ARM_CVAL = re.compile(b"(?=[\\x2e\\x3e]" + _RT_BYTE + _RT2_LOW + b"\\xec)", re.DOTALL)
THUMB_CVAL = re.compile(b"(?=" + _RT2_LOW + b"\\xec[\\x2e\\x3e]" + _RT_BYTE + b")", re.DOTALL)
THUMB_CTL = re.compile(b"(?=[\x0e\x1e]\xee[\x32\x33]" + _RT_BYTE + b")", re.DOTALL)


@device_type
class GenericTimer(Device):
    type_name = "arm-generic-timer"

    def __init__(self, cpu: Any = None) -> None:
        super().__init__()
        self.cpu = cpu  # pyuser.system.cpu.ArmCpu; None in tests without a CPU
        self.phys = IrqLine("timer.phys")
        self.virt = IrqLine("timer.virt")
        self.ctl = [0, 0]  # shadow CNTP_CTL, CNTV_CTL (ENABLE, IMASK)
        # Shadow CNTP_CVAL, CNTV_CVAL once the guest writes them with mcrr
        # (None: Unicorn's own value, which TVAL writes keep up to date).
        self.cval: list[int | None] = [None, None]
        self._hooks: list[int] = []

    # -- CTL shadowing

    def trap_ctl_accesses(self, segments: list[tuple[int, bytes]]) -> int:
        """Hook every CTL access found in the executable `segments`; returns how many."""
        if self.cpu is None:
            return 0
        found: dict[int, tuple[bool, int, int, int]] = {}  # addr -> (thumb, L, Rt, CRm)
        for base, data in segments:
            for match in ARM_CTL.finditer(data):
                off = match.start()
                if off % 4 == 0:
                    word = int.from_bytes(data[off:off + 4], "little")
                    found[base + off] = (False, word >> 20 & 1, word >> 12 & 0xF, word & 0xF)
            for match in THUMB_CTL.finditer(data):
                off = match.start()
                if off % 2 == 0:
                    hw1, hw2 = (int.from_bytes(data[o:o + 2], "little") for o in (off, off + 2))
                    found.setdefault(base + off, (True, hw1 >> 4 & 1, hw2 >> 12, hw2 & 0xF))
        cvals: dict[int, tuple[bool, int, int, int, int]] = {}  # addr -> (thumb, L, Rt, Rt2, timer)
        for base, data in segments:
            for match in ARM_CVAL.finditer(data):
                off = match.start()
                if off % 4 == 0:
                    word = int.from_bytes(data[off:off + 4], "little")
                    cvals[base + off] = (False, word >> 20 & 1, word >> 12 & 0xF, word >> 16 & 0xF, (word >> 4 & 0xF) - 2)
            for match in THUMB_CVAL.finditer(data):
                off = match.start()
                if off % 2 == 0:
                    hw1, hw2 = (int.from_bytes(data[o:o + 2], "little") for o in (off, off + 2))
                    cvals.setdefault(base + off, (True, hw1 >> 4 & 1, hw2 >> 12, hw1 & 0xF, (hw2 >> 4 & 0xF) - 2))
        for addr, (thumb, load, rt, crm) in found.items():
            hook = self.cpu.uc.hook_add(UC_HOOK_CODE, self._on_ctl_access, (thumb, load, rt, crm), addr, addr)
            self._hooks.append(hook)
        for addr, info in cvals.items():
            self._hooks.append(self.cpu.uc.hook_add(UC_HOOK_CODE, self._on_cval_access, info, addr, addr))
        return len(found) + len(cvals)

    def _on_ctl_access(self, uc, address: int, size: int, info: tuple[bool, int, int, int]) -> None:
        thumb, load, rt, crm = info
        if size != 4:
            return  # decoded differently at run time (e.g. data, or other-state code)
        reg = A.UC_ARM_REG_R0 + rt
        index = CRM_TIMER[crm]
        if not load:
            self.ctl[index] = uc.reg_read(reg) & (CTL_ENABLE | CTL_IMASK)
            return
        value = self.ctl[index]
        if value & CTL_ENABLE and self._count() >= self._cval(index):
            value |= CTL_ISTATUS
        uc.reg_write(reg, value)
        uc.reg_write(A.UC_ARM_REG_PC, (address + 4) | (1 if thumb else 0))  # the read is done

    def _cval(self, index: int) -> int:
        shadow = self.cval[index]
        return shadow if shadow is not None else self.cpu.read_cp((CNTP_CVAL, CNTV_CVAL)[index])

    def _on_cval_access(self, uc, address: int, size: int, info: tuple[bool, int, int, int, int]) -> None:
        thumb, load, rt, rt2, index = info
        if size != 4:
            return
        if not load:
            low, high = uc.reg_read(A.UC_ARM_REG_R0 + rt), uc.reg_read(A.UC_ARM_REG_R0 + rt2)
            self.cval[index] = (high << 32 | low) & 0xFFFFFFFFFFFFFFFF
            return
        value = self._cval(index)
        uc.reg_write(A.UC_ARM_REG_R0 + rt, value & 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_R0 + rt2, value >> 32)
        uc.reg_write(A.UC_ARM_REG_PC, (address + 4) | (1 if thumb else 0))

    @staticmethod
    def _count() -> int:
        return time.monotonic_ns() // TICK_NS

    def clear_traps(self) -> None:
        """Drop the hooks trap_ctl_accesses added (a reset loads the image again)."""
        for hook in self._hooks:
            self.cpu.uc.hook_del(hook)
        self._hooks.clear()

    def unrealize_hook(self) -> None:
        self.clear_traps()

    def reset(self) -> None:
        self.ctl = [0, 0]
        self.cval = [None, None]

    def irq_routes(self) -> list[tuple[IrqLine, int]]:
        return [(self.phys, 16 + PHYS_PPI), (self.virt, 16 + VIRT_PPI)]

    def poll(self, now_ns: int) -> int | None:
        if self.cpu is None:
            return None
        count = now_ns // TICK_NS
        deadline: int | None = None
        for index, (line, ctl) in enumerate(((self.phys, self.ctl[0]), (self.virt, self.ctl[1]))):
            if not ctl & CTL_ENABLE:
                line.set(False)
                continue
            cval = self._cval(index)
            fired = count >= cval
            line.set(fired and not ctl & CTL_IMASK)
            if not fired:
                due = cval * TICK_NS
                deadline = due if deadline is None else min(deadline, due)
        return deadline

    def fdt_node(self, tree: Any) -> None:
        # Secure, non-secure, virtual, hypervisor PPIs, level-high, CPU 0
        # (the order of the arm,armv7-timer binding; QEMU virt uses 13,14,11,10).
        flags = (1 << 8) | 4
        tree.add_node("timer", {
            "compatible": ["arm,armv7-timer"],
            "interrupts": [1, 13, flags, 1, 14, flags, 1, 11, flags, 1, 10, flags],
            "always-on": None,
        })
