"""Which memory a faulting instruction was accessing, decoded with capstone.

Unicorn stops a guest load or store that faults with the PC on the
instruction and every register as it was before it (measured: also for an
access to an unmapped physical address, where emu_start returns
UC_ERR_READ_UNMAPPED or UC_ERR_WRITE_UNMAPPED), but it does not say which
address faulted.  :func:`memory_accesses` lists the accesses the instruction
makes, in the order the architecture makes them (ascending addresses for
multiple loads and stores, ARMv7-A ARM A8.8.57 LDM), so the caller can find
the first one that faults by walking the tables (mmu.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import capstone
from capstone import arm_const as C

SHIFTS = {
    C.ARM_SFT_LSL: lambda v, n: v << n,
    C.ARM_SFT_LSR: lambda v, n: v >> n,
    C.ARM_SFT_ASR: lambda v, n: (v - (1 << 32) if v & 0x80000000 else v) >> n,
    C.ARM_SFT_ROR: lambda v, n: ((v >> n) | (v << (32 - n))) & 0xFFFFFFFF,
}
ALIASES = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12"}


@dataclass(frozen=True)
class Access:
    address: int
    size: int
    write: bool
    unprivileged: bool = False  # LDRT/STRT and friends check as User mode
    align: int = 1  # required alignment whatever SCTLR.A says (exclusives, LDM/STM)


@lru_cache(maxsize=2)
def _disassembler(thumb: bool) -> capstone.Cs:
    cs = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB if thumb else capstone.CS_MODE_ARM)
    cs.detail = True
    return cs


def memory_accesses(code: bytes, pc: int, thumb: bool, read_reg: Callable[[str], int]) -> list[Access]:
    """The accesses of the instruction at `pc` (its bytes in `code`); [] if it makes none."""
    insn = next(_disassembler(thumb).disasm(code, pc, 1), None)
    if insn is None:
        return []
    mnemonic = insn.mnemonic.split(".")[0]

    def reg(cs_reg: int) -> int:
        if cs_reg == C.ARM_REG_PC:
            return ((pc + 4) & ~3) if thumb else pc + 8
        name = insn.reg_name(cs_reg)
        return read_reg(ALIASES.get(name, name))

    regs = [op.reg for op in insn.operands if op.type == C.ARM_OP_REG]
    mem = next((op for op in insn.operands if op.type == C.ARM_OP_MEM), None)
    if mnemonic in ("push", "pop", "vpush", "vpop") or mnemonic[:3] in ("ldm", "stm") \
            or mnemonic[:4] in ("vldm", "vstm"):
        return _multiple(insn, mnemonic, regs, reg)
    if mem is None:
        return []
    write = mnemonic.startswith(("st", "vst"))
    if mnemonic.startswith(("pld", "pli")):
        return []
    if mnemonic in ("tbb", "tbh"):
        base = reg(mem.mem.base) + _index(mem, reg) * (2 if mnemonic == "tbh" else 1)
        return [Access(base & 0xFFFFFFFF, 2 if mnemonic == "tbh" else 1, False)]
    base = reg(mem.mem.base)
    address = base if insn.post_index else base + mem.mem.disp + _index(mem, reg)
    size = _size(mnemonic, insn)
    exclusive = "ex" in mnemonic
    unprivileged = mnemonic.endswith("t") and mnemonic[:3] in ("ldr", "str") and not exclusive
    return [Access(address & 0xFFFFFFFF, size, write, unprivileged, size if exclusive else 1)]


def _index(op, reg: Callable[[int], int]) -> int:
    if not op.mem.index:
        return 0
    value = reg(op.mem.index)
    if op.shift.type in SHIFTS and op.shift.value:
        value = SHIFTS[op.shift.type](value, op.shift.value) & 0xFFFFFFFF
    return -value if op.subtracted else value


def _size(mnemonic: str, insn) -> int:
    if mnemonic.startswith(("vldr", "vstr")):
        return 8 if insn.reg_name(insn.operands[0].reg).startswith("d") else 4
    if mnemonic.startswith(("vld", "vst")):  # NEON element/structure loads: the registers' bytes
        return 8 * max(1, sum(1 for op in insn.operands if op.type == C.ARM_OP_REG))
    stem = mnemonic[3:].removesuffix("t").removeprefix("ex").removeprefix("aex")
    if mnemonic.startswith(("lda", "stl")):
        stem = mnemonic[3:].removeprefix("ex")
    if stem.endswith("d"):
        return 8
    if stem.endswith("h"):
        return 2
    if stem.endswith("b"):
        return 1
    return 4


def _multiple(insn, mnemonic: str, regs: list[int], reg: Callable[[int], int]) -> list[Access]:
    write = mnemonic.startswith(("st", "push", "vst", "vpush"))
    if mnemonic in ("push", "pop", "vpush", "vpop"):
        base = reg(C.ARM_REG_SP)
        listed = regs
        mode = "db" if mnemonic in ("push", "vpush") else "ia"
    else:
        base = reg(regs[0])
        listed = regs[1:]
        suffix = mnemonic.removeprefix("v")[3:]
        mode = {"": "ia", "fd": "ia", "ea": "db"}.get(suffix, suffix) if suffix else "ia"
        if mnemonic.startswith("st") and suffix in ("fd", "ea", "fa", "ed"):
            mode = {"fd": "db", "ea": "ia", "fa": "da", "ed": "ib"}[suffix]
        elif suffix in ("fa", "ed"):
            mode = {"fa": "da", "ed": "ib"}[suffix]
    vector = mnemonic.startswith("v")
    width = 4
    if vector and listed and insn.reg_name(listed[0]).startswith("d"):
        width = 8
    total = width * len(listed)
    start = {"ia": base, "ib": base + 4, "da": base - total + 4, "db": base - total}.get(mode, base)
    return [Access((start + i * width) & 0xFFFFFFFF, width, write, False, 4) for i in range(len(listed))]
