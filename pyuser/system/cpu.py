"""The Cortex-A15 in system mode: exception entry and guest-virtual memory access.

Unicorn never enters the guest's vector table by itself (shared
UNICORN_FACTS.md), so exceptions are entered here, at a safe point between
emu_start slices, following the ARMv7-A ARM's pseudocode for taking an
exception to a PL1 mode (B1.8): switch mode (Unicorn then banks SP/LR/SPSR),
save the old CPSR in the new mode's SPSR, set LR, mask, and jump to the
vector.  Reset state matches QEMU's virt for a bare-metal ELF: SVC mode with
A, I and F masked (measured CPSR 0x1d3), no security or virtualization
extensions (SCR access is undefined on this Unicorn model).
"""

from __future__ import annotations

import struct

from unicorn import Uc
from unicorn import arm_const as A

from ..targets.arm_cpu import SCTLR, TTBCR, VBAR, create_arm_cpu, read_cp

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
    def take_exception(self, kind: str, lr: int) -> int:
        """Enter `kind`'s vector with LR = `lr`; returns the address to resume at."""
        mode, offset = EXCEPTIONS[kind]
        old = self.cpsr
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

    def take_irq(self) -> int:
        # The preferred return address is the next instruction; LR = it + 4 (B1.8.10).
        return self.take_exception("irq", self.uc.reg_read(A.UC_ARM_REG_PC) + 4)

    # -- guest virtual memory (semihosting arguments)
    def translate(self, va: int) -> int:
        """Walk the short-descriptor tables if the MMU is on (ARMv7-A ARM B3.5)."""
        if not self.read_cp(SCTLR) & SCTLR_M:
            return va
        ttbcr = self.read_cp(TTBCR)
        if ttbcr & (1 << 31):
            raise GuestMemoryError("LPAE (long-descriptor) translation is not supported")
        n = ttbcr & 7
        if n and va >> (32 - n):
            table = self.read_cp(TTBR1_SEL) & 0xFFFFC000
        else:
            table = self.read_cp(TTBR0_SEL) & (0xFFFFFFFF << (14 - n)) & 0xFFFFFFFF
        first = self._word(table | ((va >> 20) << 2))
        kind = first & 3
        if kind == 2:
            if first & (1 << 18):  # supersection
                return (first & 0xFF000000) | (va & 0x00FFFFFF)
            return (first & 0xFFF00000) | (va & 0x000FFFFF)
        if kind == 1:
            second = self._word((first & 0xFFFFFC00) | (((va >> 12) & 0xFF) << 2))
            if second & 2:
                return (second & 0xFFFFF000) | (va & 0xFFF)
            if second & 1:
                return (second & 0xFFFF0000) | (va & 0xFFFF)
        raise GuestMemoryError(f"guest address {va:#x} is not mapped")

    def _word(self, pa: int) -> int:
        return struct.unpack("<I", self.uc.mem_read(pa, 4))[0]

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
