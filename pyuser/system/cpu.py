"""The Cortex-A15 in system mode: exception entry and guest-virtual memory access.

Unicorn never enters the guest's vector table by itself, so exceptions are entered here, at a safe point between
emu_start slices, following the ARMv7-A ARM's pseudocode for taking an
exception to a PL1 mode (B1.8): switch mode (Unicorn then banks SP/LR/SPSR),
save the old CPSR in the new mode's SPSR, set LR, mask, and jump to the
vector.  Reset state matches QEMU's virt for a bare-metal ELF: SVC mode with
A, I and F masked (measured CPSR 0x1d3), no security or virtualization
extensions (SCR access is undefined on this Unicorn model).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import Uc, UcError
from unicorn import arm_const as A

from ..targets.arm_cpu import DACR, SCTLR, TTBCR, VBAR, create_arm_cpu, read_cp, write_cp
from .abort import memory_accesses
from .mmu import EXECUTE, FS_ALIGNMENT, FS_EXTERNAL, FSR_WNR, READ, WRITE, MmuFault, Translation

if TYPE_CHECKING:
    from .debuglog import MachineLog

CPSR_T = 1 << 5
CPSR_F = 1 << 6
CPSR_I = 1 << 7
CPSR_A = 1 << 8
CPSR_E = 1 << 9
CPSR_IT = (0x3F << 10) | (0x3 << 25)
CPSR_J = 1 << 24
MODE_IRQ, MODE_SVC, MODE_ABT, MODE_UND = 0x12, 0x13, 0x17, 0x1B
SCTLR_M, SCTLR_V, SCTLR_EE, SCTLR_TE = 1 << 0, 1 << 13, 1 << 25, 1 << 30
TTBR0_SEL = (15, 0, 0, 2, 0, 0, 0)
TTBR1_SEL = (15, 0, 0, 2, 0, 0, 1)
# Fault status and address registers (ARMv7-A ARM B4.1.52, B4.1.96, B4.1.52, B4.1.97).
DFSR = (15, 0, 0, 5, 0, 0, 0)
IFSR = (15, 0, 0, 5, 0, 0, 1)
DFAR = (15, 0, 0, 6, 0, 0, 0)
IFAR = (15, 0, 0, 6, 0, 0, 2)
SCTLR_A = 1 << 1
MODE_USR = 0x10

# kind -> (mode, vector offset, extra I/F masking)
EXCEPTIONS = {
    "undef": (MODE_UND, 0x04),
    "svc": (MODE_SVC, 0x08),
    "prefetch": (MODE_ABT, 0x0C),
    "data": (MODE_ABT, 0x10),
    "irq": (MODE_IRQ, 0x18),
}


class GuestMemoryError(Exception):
    pass


class ArmCpu:
    def __init__(self, model: str = "cortex-a15") -> None:
        self.uc: Uc = create_arm_cpu(model)
        self.irq_level = False  # the GIC's output, as last driven
        self.log: MachineLog | None = None  # -d int
        # The state a reset returns to: Unicorn's context is the whole CPU
        # state (core and banked registers, CP15, VFP), as created.
        self._reset_context = self.uc.context_save()

    def reset(self) -> None:
        """The CPU as at power-on, for a machine reset (PSCI SYSTEM_RESET)."""
        self.uc.context_restore(self._reset_context)
        # Restoring the context copies SCTLR back without QEMU's write
        # function, which is what flushes the TLB: write it once more.
        write_cp(self.uc, SCTLR, self.read_cp(SCTLR))
        self.uc.ctl_flush_tb()  # the image is written to RAM again: drop code translated from before
        if self.log is not None:
            self.log.reset()  # -d int: the exception state QEMU's log reads is reset too

    # -- the GIC drives this
    def set_irq(self, level: bool) -> None:
        self.irq_level = level

    # -- registers
    def reg(self, reg: int) -> int:
        return self.uc.reg_read(reg)

    def set_reg(self, reg: int, value: int) -> None:
        self.uc.reg_write(reg, value & 0xFFFFFFFF)

    def read_cp(self, sel: tuple[int, ...]) -> int:
        return read_cp(self.uc, sel)

    @property
    def cpsr(self) -> int:
        return self.uc.reg_read(A.UC_ARM_REG_CPSR)

    @property
    def thumb(self) -> bool:
        return bool(self.cpsr & CPSR_T)

    def resume_address(self) -> int:
        """Where emu_start must continue: the PC with the Thumb bit folded in."""
        return self.uc.reg_read(A.UC_ARM_REG_PC) | (1 if self.thumb else 0)

    # -- exceptions
    def take_exception(self, kind: str, lr: int, fault: tuple[int, int] | None = None) -> int:
        """Enter `kind`'s vector with LR = `lr`; returns the address to resume at.

        `fault` is (FSR, FAR) for an abort: DFSR/DFAR or IFSR/IFAR get them.
        """
        mode, offset = EXCEPTIONS[kind]
        if fault is not None:
            fsr_reg, far_reg = (DFSR, DFAR) if kind == "data" else (IFSR, IFAR)
            write_cp(self.uc, fsr_reg, fault[0])
            write_cp(self.uc, far_reg, fault[1])
        old = self.cpsr
        if self.log is not None:
            self._log_exception(kind, old, lr, fault)
        sctlr = self.read_cp(SCTLR)
        new = (old & ~(0x1F | CPSR_T | CPSR_IT | CPSR_J | CPSR_E)) | mode | CPSR_I
        if kind in ("irq", "data", "prefetch"):
            new |= CPSR_A  # no security extensions: always set (ARMv7-A ARM B1.8.3)
        if sctlr & SCTLR_TE:
            new |= CPSR_T
        if sctlr & SCTLR_EE:
            new |= CPSR_E
        self.uc.reg_write(A.UC_ARM_REG_CPSR, new)  # banks SP/LR/SPSR in
        self.uc.reg_write(A.UC_ARM_REG_SPSR, old)
        self.uc.reg_write(A.UC_ARM_REG_LR, lr & 0xFFFFFFFF)
        base = 0xFFFF0000 if sctlr & SCTLR_V else self.read_cp(VBAR)
        return (base + offset) | (1 if new & CPSR_T else 0)

    def _log_exception(self, kind: str, old_cpsr: int, lr: int, fault: tuple[int, int] | None) -> None:
        assert self.log is not None
        thumb = bool(old_cpsr & CPSR_T)
        insn = None
        if kind == "svc":  # LR is the instruction after the svc
            try:
                insn = int.from_bytes(self.read(lr - (2 if thumb else 4), 2 if thumb else 4), "little")
            except (GuestMemoryError, UcError):
                insn = 0
        self.log.exception(kind, (old_cpsr & 0x1F) == MODE_USR, insn=insn, thumb=thumb, fault=fault,
                           write=bool(fault is not None and fault[0] & FSR_WNR))

    def take_irq(self) -> int:
        # The preferred return address is the next instruction; LR = it + 4 (B1.8.10).
        return self.take_exception("irq", self.uc.reg_read(A.UC_ARM_REG_PC) + 4)

    # -- aborts: Unicorn says only "exception 3/4"; the rest is worked out here

    def translation(self) -> Translation:
        return Translation(self.read_cp(SCTLR), self.read_cp(TTBCR), self.read_cp(TTBR0_SEL),
                           self.read_cp(TTBR1_SEL), self.read_cp(DACR), self._word)

    def _word(self, pa: int) -> int | None:
        try:
            return struct.unpack("<I", self.uc.mem_read(pa, 4))[0]
        except UcError:
            return None

    def is_mapped(self, pa: int) -> bool:
        return any(begin <= pa <= end for begin, end, _ in self.uc.mem_regions())

    def data_abort(self) -> tuple[int, int] | None:
        """(DFSR, DFAR) for the load/store at the PC that aborted, or None if no fault is found.

        The checks run in the architecture's order for each access (B3.12.1):
        alignment, then the walk (translation, domain, permission), then the
        physical address (a synchronous external abort, DFSR FS 0b01000 with
        ExT clear: QEMU's classification of an access that decodes to
        nothing).
        """
        pc = self.uc.reg_read(A.UC_ARM_REG_PC)
        thumb = self.thumb
        mmu = self.translation()
        privileged = (self.cpsr & 0x1F) != MODE_USR
        try:
            code = self.read(pc, 4)
        except (GuestMemoryError, UcError):
            return None
        accesses = memory_accesses(code, pc, thumb, self._named_reg)
        strict = bool(mmu.sctlr & SCTLR_A)
        for access in accesses:
            align = max(access.align, min(access.size, 4) if strict else 1)
            if access.address % align:
                return MmuFault(FS_ALIGNMENT).fsr(access.write), access.address
            kind = WRITE if access.write else READ
            va, end = access.address, access.address + access.size
            while va < end:
                try:
                    pa = mmu.walk(va & 0xFFFFFFFF, kind, privileged and not access.unprivileged)
                except MmuFault as fault:
                    return fault.fsr(access.write), va & 0xFFFFFFFF
                if not self.is_mapped(pa):
                    return MmuFault(FS_EXTERNAL).fsr(access.write), va & 0xFFFFFFFF
                va = (va | 0xFFF) + 1
        return None

    def prefetch_abort(self) -> tuple[int, int] | None:
        """(IFSR, IFAR) for the instruction fetch at the PC that aborted, or None."""
        pc = self.uc.reg_read(A.UC_ARM_REG_PC)
        mmu = self.translation()
        privileged = (self.cpsr & 0x1F) != MODE_USR
        # A 32-bit Thumb instruction may straddle a page: its second half can be the one that faults.
        for va in (pc, pc + 2) if self.thumb else (pc,):
            try:
                pa = mmu.walk(va, EXECUTE, privileged)
            except MmuFault as fault:
                return fault.fsr(), va
            if not self.is_mapped(pa):
                return MmuFault(FS_EXTERNAL).fsr(), va
        return None

    def _named_reg(self, name: str) -> int:
        return self.uc.reg_read(getattr(A, f"UC_ARM_REG_{name.upper()}"))

    # -- guest virtual memory (semihosting arguments, the loop's own reads)
    def translate(self, va: int) -> int:
        """Walk the short-descriptor tables if the MMU is on (ARMv7-A ARM B3.5)."""
        mmu = self.translation()
        mmu.dacr = 0xFFFFFFFF  # the emulator's own reads: every domain as manager, no permission checks
        try:
            return mmu.walk(va, READ, True)
        except MmuFault:
            raise GuestMemoryError(f"guest address {va:#x} is not mapped") from None
        except NotImplementedError:
            raise GuestMemoryError("LPAE (long-descriptor) translation is not supported") from None

    def read(self, va: int, size: int) -> bytes:
        out = bytearray()
        while size > 0:
            chunk = min(size, 0x1000 - (va & 0xFFF))
            out += self.uc.mem_read(self.translate(va), chunk)
            va, size = va + chunk, size - chunk
        return bytes(out)

    def write(self, va: int, data: bytes) -> None:
        while data:
            chunk = min(len(data), 0x1000 - (va & 0xFFF))
            self.uc.mem_write(self.translate(va), data[:chunk])
            va, data = va + chunk, data[chunk:]

    def read_u32(self, va: int) -> int:
        return struct.unpack("<I", self.read(va, 4))[0]

    def read_cstr(self, va: int, limit: int = 1 << 20) -> bytes:
        out = bytearray()
        while len(out) < limit:
            chunk = self.read(va, 0x100 - (va & 0xFF))
            end = chunk.find(0)
            if end >= 0:
                return bytes(out + chunk[:end])
            out += chunk
            va += len(chunk)
        return bytes(out)
