"""32-bit ARM (EABI, little-endian, hard-float): everything that is ARM-specific.

Facts used here, with their sources:
- EABI syscalls: `svc 0`, number in r7, arguments r0-r6, result in r0; 64-bit
  arguments start at an even register (ARM EABI procedure call standard).
- Unicorn delivers `svc` as interrupt 2, data aborts as 4, prefetch aborts
  as 3, undefined instructions as 1, `bkpt` as 7 (QEMU's EXCP_* numbering
  for ARM, measured with this Unicorn build).
- Short-descriptor page tables (ARMv7-A ARM, B3.5): a 16 KiB first-level
  table of 4096 entries each pointing at a 1 KiB second-level table of 256
  small-page descriptors.
- kuser helper page at 0xffff0000 with the helpers at fixed addresses and
  the helper count at 0xffff0ffc (Linux Documentation/arm/kernel_user_helpers).
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from array import array
from typing import TYPE_CHECKING

from unicorn import Uc
from unicorn import arm_const as A

from pyuser.engine import flush_tlb
from pyuser.memory import PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE, GuestFault
from pyuser.targets import arm_cpu
from pyuser.targets.arm_signal import ArmSignalFrames
from pyuser.targets.base import Fault, SyscallConvention, Target
from pyuser.targets.generated import arm_abi

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import CpuHooks

# Guest physical layout outside user space (user space is [0, 0xc0000000),
# mapped 1:1 VA == PA from the host reservation).
PAGE_TABLE_BASE = 0xC0000000
L1_SIZE = 0x4000
L2_TABLE_SIZE = 0x400
PAGE_TABLE_SIZE = L1_SIZE + 4096 * L2_TABLE_SIZE  # every L1 slot gets an L2 table
VECTORS_PAGE = 0xFFFF0000

# Small-page descriptor bits (ARMv7-A ARM, B3.5.1)
_SMALL_PAGE = 0x2
_XN = 0x1
_CACHEABLE = 0xC  # C and B: normal write-back memory
_AP_PL1_ONLY = 0x1 << 4  # AP[2:0] = 001: no user access (PROT_NONE)
_AP_USER_RW = 0x3 << 4  # AP[2:0] = 011
_AP_USER_RO = (0x1 << 9) | (0x3 << 4)  # AP[2:0] = 111
_L1_COARSE = 0x1  # first-level descriptor pointing at a second-level table

# The kuser helpers, hand-assembled (arm-linux-gnueabihf-as) from:
#   cmpxchg64 @0xf60: push {r4-r7}; ldm r0,{r4,r5}; ldm r2,{r6,r7}; eor r3,r4,r6;
#       eor ip,r5,r7; orrs r3,r3,ip; ldmeq r1,{r4,r5}; stmeq r2,{r4,r5};
#       rsbs r0,r3,#0; pop {r4-r7}; bx lr
#   barrier   @0xfa0: dmb ish; bx lr
#   cmpxchg   @0xfc0: ldr r3,[r2]; subs r3,r3,r0; streq r1,[r2]; rsbs r0,r3,#0; bx lr
#   get_tls   @0xfe0: mrc p15,0,r0,c13,c0,3; bx lr
# Each returns 0 with C set on success, as the documented interface says.
# Straight-line code: guest threads only switch between translated blocks.
_KUSER_HELPERS = {
    0xF60: (0xE92D00F0, 0xE8900030, 0xE89200C0, 0xE0243006, 0xE025C007, 0xE193300C,
            0x08910030, 0x08820030, 0xE2730000, 0xE8BD00F0, 0xE12FFF1E),
    0xFA0: (0xF57FF05B, 0xE12FFF1E),
    0xFC0: (0xE5923000, 0xE0533000, 0x05821000, 0xE2730000, 0xE12FFF1E),
    0xFE0: (0xEE1D0F70, 0xE12FFF1E),
}
_KUSER_VERSION = 5  # helpers present: up to and including cmpxchg64
# Signal return trampolines (ARM state) in the same page, where Linux keeps
# its [sigpage]: mov r7, #NR; svc 0.  Used when SA_RESTORER is not given.
SIGRETURN_TRAMPOLINE = VECTORS_PAGE + 0x500
RT_SIGRETURN_TRAMPOLINE = VECTORS_PAGE + 0x508

# Unicorn interrupt numbers for ARM (QEMU's EXCP_*)
_EXCP_UDEF = 1
_EXCP_SWI = 2
_EXCP_PREFETCH_ABORT = 3
_EXCP_DATA_ABORT = 4
_EXCP_BKPT = 7
# `yield` and `wfe` stop Unicorn as *invalid instructions* (its ARM
# stop_interrupt lumps EXCP_YIELD with EXCP_UDEF, qemu/target/arm/unicorn_arm.c);
# they are spin-wait hints, recognised by their encodings with the PC past them.
# CPSR.M values and the names qemu's -d cpu gives them
_MODE_NAMES = {0x10: "usr", 0x11: "fiq", 0x12: "irq", 0x13: "svc", 0x16: "mon", 0x17: "abt",
               0x1A: "hyp", 0x1B: "und", 0x1F: "sys"}
_SPIN_HINTS_ARM = (0xE320F001, 0xE320F002)  # yield, wfe
_SPIN_HINTS_THUMB = (0xBF10, 0xBF20)  # yield, wfe
_SPIN_HINTS_THUMB2 = (0xF3AF8001, 0xF3AF8002)  # yield.w, wfe.w


class ArmPageTables:
    """Keeps the guest MMU's short-descriptor tables in step with GuestMemory.

    One host buffer holds the tables, mapped into the process's engine, so a
    change only needs the engine's TLB flushed.
    """

    def __init__(self, uc: Uc) -> None:
        self._ucs: list[Uc] = []
        # an anonymous mapping, zero until written: the 4 MiB of L2 tables are
        # touched only where pages get mapped (a zeroed ctypes buffer wrote
        # them all: ~1.5 ms of every start)
        self._buffer = mmap.mmap(-1, PAGE_TABLE_SIZE,
                                 flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000)  # NORESERVE
        self._address = ctypes.addressof(ctypes.c_char.from_buffer(self._buffer))
        self.vectors = ctypes.create_string_buffer(PAGE_SIZE)
        words = memoryview(self._buffer).cast("B").cast("I")
        self._l1 = words[: L1_SIZE // 4]
        self._l2 = words[L1_SIZE // 4:]
        l2_base = PAGE_TABLE_BASE + L1_SIZE
        self._l1[:] = array("I", range(l2_base | _L1_COARSE,
                                       l2_base + 4096 * L2_TABLE_SIZE, L2_TABLE_SIZE))
        self._dirty = False
        self.attach(uc)

    def attach(self, uc: Uc) -> None:
        """Map the tables and the vectors page into the process's engine."""
        uc.mem_map_ptr(PAGE_TABLE_BASE, PAGE_TABLE_SIZE, 1 | 2, self._address)
        uc.mem_map_ptr(VECTORS_PAGE, PAGE_SIZE, 1 | 4, ctypes.addressof(self.vectors))
        self._ucs.append(uc)

    @staticmethod
    def descriptor_bits(prot: int) -> int:
        if not prot & (PROT_READ | PROT_WRITE | PROT_EXEC):
            ap = _AP_PL1_ONLY
        elif prot & PROT_WRITE:
            ap = _AP_USER_RW
        else:
            ap = _AP_USER_RO  # ARM cannot express exec-only or write-only
        xn = 0 if prot & PROT_EXEC else _XN
        return _SMALL_PAGE | _CACHEABLE | ap | xn

    def set_pages(self, start: int, end: int, prot: int) -> None:
        bits = self.descriptor_bits(prot)
        self._l2[start >> 12:end >> 12] = array("I", range(start | bits, end | bits, PAGE_SIZE))
        self._dirty = True

    def clear_pages(self, start: int, end: int) -> None:
        self._l2[start >> 12:end >> 12] = array("I", bytes(4 * ((end - start) >> 12)))
        self._dirty = True

    def flush(self) -> None:
        if self._dirty:
            for uc in self._ucs:
                flush_tlb(uc)
            self._dirty = False

    def enable(self, uc: Uc) -> None:
        arm_cpu.write_cp(uc, arm_cpu.TTBR0, PAGE_TABLE_BASE)
        arm_cpu.write_cp(uc, arm_cpu.TTBCR, 0)  # TTBR0 translates everything
        arm_cpu.write_cp(uc, arm_cpu.DACR, 0x1)  # domain 0: client, AP bits apply
        sctlr = arm_cpu.read_cp(uc, arm_cpu.SCTLR)
        arm_cpu.write_cp(uc, arm_cpu.SCTLR, sctlr | arm_cpu.SCTLR_M)


# Exclusive accesses need natural alignment whatever SCTLR.A says (ARMv7 ARM
# A3.2.1): a misaligned one is an alignment fault, which Linux's fixup does
# not emulate (arch/arm/mm/alignment.c has no case for ldrex/strex), so
# do_DataAbort sends SIGBUS BUS_ADRALN with the address.  (Unicorn raises it
# for the loads; a store-exclusive with no matching reservation fails without
# touching memory, as in qemu.)
_EXCLUSIVE_PREFIXES = ("ldrex", "strex", "ldaex", "stlex")
_EXCLUSIVE_SIZES = {"b": 1, "h": 2, "d": 8}
BUS_ADRALN = 1


def exclusive_size(mnemonic: str) -> int:
    """The bytes an exclusive access moves (0: not an exclusive access)."""
    base = mnemonic.split(".")[0]
    for prefix in _EXCLUSIVE_PREFIXES:
        if base.startswith(prefix):
            rest = base[len(prefix):]
            # a condition code has two letters, a size suffix one: "ldrexhi" is
            # ldrex if HI, "ldrexhhi" ldrexh if HI
            return _EXCLUSIVE_SIZES.get(rest[0], 4) if len(rest) % 2 else 4
    return 0


def data_abort_fault(uc: Uc, memory: GuestMemory, signals: tuple[int, int]) -> Fault:
    """The signal for a data abort at the PC: SIGBUS for a misaligned
    exclusive access, else SIGSEGV (MAPERR or ACCERR is decided later)."""
    sigsegv, sigbus = signals
    pc = uc.reg_read(A.UC_ARM_REG_PC)
    address, mnemonic = data_abort_address(uc, memory)
    size = exclusive_size(mnemonic)
    if size > 1 and address % size:
        return Fault(sigbus, BUS_ADRALN, address, pc, 14)
    # trap_no 14 is what Linux/arm records for an abort
    return Fault(sigsegv, 1, address, pc, 14)


def data_abort_address(uc: Uc, memory: GuestMemory) -> tuple[int, str]:
    """The data address an aborted load/store at the PC was accessing, and the
    instruction's mnemonic (capstone)."""
    import capstone
    from capstone import arm_const as C

    pc = uc.reg_read(A.UC_ARM_REG_PC)
    thumb = uc.reg_read(A.UC_ARM_REG_CPSR) & arm_cpu.CPSR_THUMB
    mode = capstone.CS_MODE_THUMB if thumb else capstone.CS_MODE_ARM
    disassembler = capstone.Cs(capstone.CS_ARCH_ARM, mode)
    disassembler.detail = True
    try:
        code = memory.read(pc, 4)
    except Exception:  # noqa: BLE001 - an unreadable PC has no data address
        return 0, ""
    for insn in disassembler.disasm(code, pc, 1):
        for op in insn.operands:
            if op.type == C.ARM_OP_MEM:
                base = _read_cs_reg(uc, insn, op.mem.base, pc, thumb)
                index = _read_cs_reg(uc, insn, op.mem.index, pc, thumb) if op.mem.index else 0
                if op.subtracted:
                    index = -index
                if op.shift.type == C.ARM_SFT_LSL and op.shift.value:
                    index <<= op.shift.value
                # post-indexed forms access the base itself
                address = base if insn.post_index else base + op.mem.disp + index
                return address & 0xFFFFFFFF, insn.mnemonic
        if insn.mnemonic.startswith(("push", "stmdb", "vpush")):
            count = len([op for op in insn.operands if op.type == C.ARM_OP_REG])
            return (uc.reg_read(A.UC_ARM_REG_SP) - 4 * count) & 0xFFFFFFFF, insn.mnemonic
        regs = [op for op in insn.operands if op.type == C.ARM_OP_REG]
        if regs:  # ldm/stm/pop: the base register
            return _read_cs_reg(uc, insn, regs[0].reg, pc, thumb), insn.mnemonic
    return 0, ""


def _read_cs_reg(uc: Uc, insn, cs_reg: int, pc: int, thumb: int) -> int:
    from capstone import arm_const as C

    if cs_reg == C.ARM_REG_PC:
        return (pc + (4 if thumb else 8)) & ~3
    name = insn.reg_name(cs_reg).upper()
    aliases = {"SB": "R9", "SL": "R10", "FP": "R11", "IP": "R12"}
    name = aliases.get(name, name)
    return uc.reg_read(getattr(A, f"UC_ARM_REG_{name}"))


class ArmTarget(Target):
    name = "arm"
    uname_machine = "armv7l"
    platform = "v7l"
    address_space_size = 0xC0000000
    # Linux/arm's TASK_SIZE is 0xbf000000; the stack sits just below it.
    stack_top = 0xBF000000
    mmap_top = 0xB6000000
    elf_et_dyn_base = 0x00400000
    interp_base = 0xB6F00000
    default_cpu = arm_cpu.DEFAULT_CPU_MODEL
    cpu_models = arm_cpu.CPU_MODELS
    abi = arm_abi
    syscall_number_reg = A.UC_ARM_REG_R7
    syscall_arg_regs = (A.UC_ARM_REG_R0, A.UC_ARM_REG_R1, A.UC_ARM_REG_R2, A.UC_ARM_REG_R3,
                        A.UC_ARM_REG_R4, A.UC_ARM_REG_R5, A.UC_ARM_REG_R6)
    syscall_return_reg = A.UC_ARM_REG_R0
    pc_reg = A.UC_ARM_REG_PC
    sp_reg = A.UC_ARM_REG_SP
    pairs_aligned = True
    word_size = 4
    syscall_families = ("arm",)

    def create_cpu(self, model: str) -> Uc:
        return arm_cpu.create_arm_cpu(model)

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> ArmPageTables:
        tables = ArmPageTables(uc)
        uc.mem_map_ptr(0, memory.size, 7, memory.host_base)
        return tables

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: ArmPageTables) -> None:
        self._fill_vectors_page(tables)
        tables.enable(uc)

    def _fill_vectors_page(self, tables: ArmPageTables) -> None:
        page = bytearray(PAGE_SIZE)
        for offset, words in _KUSER_HELPERS.items():
            struct.pack_into(f"<{len(words)}I", page, offset, *words)
        struct.pack_into("<I", page, 0xFFC, _KUSER_VERSION)
        for address, name in ((SIGRETURN_TRAMPOLINE, "sigreturn"),
                              (RT_SIGRETURN_TRAMPOLINE, "rt_sigreturn")):
            number = self.abi.SYSCALLS[name]
            assert number < 256  # encodable as an ARM immediate
            struct.pack_into("<II", page, address - VECTORS_PAGE, 0xE3A07000 | number, 0xEF000000)
        ctypes.memmove(tables.vectors, bytes(page), PAGE_SIZE)
        tables.set_pages(VECTORS_PAGE, VECTORS_PAGE + PAGE_SIZE, PROT_READ | PROT_EXEC)
        tables.flush()

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        thumb = arm_cpu.CPSR_THUMB if entry & 1 else 0
        # Unicorn takes the Thumb state from bit 0 of a PC write, so the PC
        # goes first and the CPSR (with the same T bit) after it.
        uc.reg_write(A.UC_ARM_REG_PC, entry)
        uc.reg_write(A.UC_ARM_REG_CPSR, arm_cpu.CPSR_MODE_USR | thumb)
        uc.reg_write(A.UC_ARM_REG_SP, sp)
        # Linux starts a process with r0 = 0 (no atexit function for the libc).
        uc.reg_write(A.UC_ARM_REG_R0, 0)

    def resume_registers(self) -> tuple[int, ...]:
        return (A.UC_ARM_REG_PC, A.UC_ARM_REG_CPSR)

    def resume_address_from(self, values) -> int:
        """The PC, with the Thumb state in bit 0."""
        return values[0] | (1 if values[1] & arm_cpu.CPSR_THUMB else 0)

    syscall_convention = SyscallConvention(interrupt=_EXCP_SWI)

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        sigsegv, sigill, sigtrap, sigbus = (self.const(n) for n in (
            "SIGSEGV", "SIGILL", "SIGTRAP", "SIGBUS"))

        def fault_of(intno: int) -> Fault:
            pc = uc.reg_read(A.UC_ARM_REG_PC)
            if intno == _EXCP_DATA_ABORT:
                # Unicorn does not fill in the fault address or status
                # registers: both are derived from the faulting instruction
                return data_abort_fault(uc, memory, (sigsegv, sigbus))
            if intno == _EXCP_PREFETCH_ABORT:
                return Fault(sigsegv, 1, pc, pc, 14)
            if intno == _EXCP_BKPT:
                return Fault(sigtrap, 1, pc, pc, 6)  # TRAP_BRKPT
            return Fault(sigill, 1 if intno == _EXCP_UDEF else 0, pc, pc, 6)  # ILL_ILLOPC

        return fault_of

    def install_cpu_hooks(self, cpu: CpuHooks, memory: GuestMemory) -> None:
        uc = cpu.uc

        def after_spin_hint() -> bool:
            """True when the instruction just before the PC is yield/wfe."""
            pc = uc.reg_read(A.UC_ARM_REG_PC)
            try:
                if uc.reg_read(A.UC_ARM_REG_CPSR) & arm_cpu.CPSR_THUMB:
                    narrow = struct.unpack("<H", memory.read(pc - 2, 2))[0]
                    hw1, hw2 = struct.unpack("<HH", memory.read(pc - 4, 4))
                    return narrow in _SPIN_HINTS_THUMB or (hw1 << 16 | hw2) in _SPIN_HINTS_THUMB2
                return struct.unpack("<I", memory.read(pc - 4, 4))[0] in _SPIN_HINTS_ARM
            except GuestFault:
                return False

        cpu.hooks.on_invalid_instruction(cpu.spin_hint_hook(after_spin_hint))

    def set_tls(self, uc: Uc, value: int) -> None:
        uc.reg_write(A.UC_ARM_REG_C13_C0_3, value)

    def signal_frames(self) -> ArmSignalFrames:
        return ArmSignalFrames(SIGRETURN_TRAMPOLINE, RT_SIGRETURN_TRAMPOLINE)

    def syscall_insn_size(self, uc: Uc) -> int:
        return 2 if uc.reg_read(A.UC_ARM_REG_CPSR) & arm_cpu.CPSR_THUMB else 4

    def repair_after_stop(self, uc: Uc, memory: GuestMemory) -> None:
        """A stop right after a strex's store leaves the PC on the strex; run
        again, it would fail (the monitor is gone) and the guest's loop would
        store twice.  If memory already holds what it stores, finish it: status
        0, PC past it.  (Any other ARM instruction stopped after a memory
        access can run again, except ldrd whose first register is its base.)"""
        import capstone
        from capstone import arm_const as C

        pc = uc.reg_read(A.UC_ARM_REG_PC)
        thumb = bool(uc.reg_read(A.UC_ARM_REG_CPSR) & arm_cpu.CPSR_THUMB)
        disassembler = capstone.Cs(capstone.CS_ARCH_ARM,
                                   capstone.CS_MODE_THUMB if thumb else capstone.CS_MODE_ARM)
        disassembler.detail = True
        try:
            insn = next(disassembler.disasm(memory.read(pc, 4), pc, 1), None)
        except GuestFault:
            return
        if insn is None or not insn.mnemonic.startswith("strex"):
            return
        regs = [op.reg for op in insn.operands if op.type == C.ARM_OP_REG]
        mems = [op for op in insn.operands if op.type == C.ARM_OP_MEM]
        if len(regs) < 2 or not mems:
            return
        address = _read_cs_reg(uc, insn, mems[0].mem.base, pc, thumb)
        suffix = insn.mnemonic[5:6]
        size = {"b": 1, "h": 2, "d": 8}.get(suffix, 4)
        stored = _read_cs_reg(uc, insn, regs[1], pc, thumb)
        if size == 8 and len(regs) >= 3:
            stored |= _read_cs_reg(uc, insn, regs[2], pc, thumb) << 32
        try:
            current = int.from_bytes(memory.read(address, size), "little")
        except GuestFault:
            return
        if current == stored & ((1 << (8 * size)) - 1):
            status = insn.reg_name(regs[0]).upper()
            status = {"SB": "R9", "SL": "R10", "FP": "R11", "IP": "R12"}.get(status, status)
            uc.reg_write(getattr(A, f"UC_ARM_REG_{status}"), 0)
            self.set_pc(uc, pc + insn.size)

    def set_pc(self, uc: Uc, pc: int) -> None:
        thumb = uc.reg_read(A.UC_ARM_REG_CPSR) & arm_cpu.CPSR_THUMB
        uc.reg_write(A.UC_ARM_REG_PC, pc | (1 if thumb else 0))

    def get_tls(self, uc: Uc) -> int:
        return uc.reg_read(A.UC_ARM_REG_C13_C0_3)

    def hwcap(self, model: str) -> int:
        # What cortex-a15 implements (qemu-arm reports the same set for it).
        names = ["SWP", "HALF", "THUMB", "FAST_MULT", "VFP", "EDSP", "NEON", "VFPv3",
                 "TLS", "VFPv4", "IDIVA", "IDIVT", "VFPD32", "LPAE"]
        if model in ("cortex-a8", "cortex-a9"):
            names = [n for n in names if n not in ("VFPv4", "IDIVA", "IDIVT", "LPAE")]
        bits = 0
        for n in names:
            bits |= self.abi.HWCAP.get(f"HWCAP_{n}", 0)
        return bits

    def disassemblers(self) -> dict[str, object]:
        import capstone

        return {"arm": capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_ARM),
                "thumb": capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB)}

    def disassembly_mode(self, uc: Uc) -> str:
        return "thumb" if uc.reg_read(A.UC_ARM_REG_CPSR) & arm_cpu.CPSR_THUMB else "arm"

    def extra_maps(self) -> list[str]:
        return ["ffff0000-ffff1000 r-xp 00000000 00:00 0" + " " * 34 + "[vectors]"]

    def cpuinfo(self, uc: Uc, model: str) -> bytes:
        """/proc/cpuinfo for the emulated CPU (pyuser.procfs)."""
        from pyuser.targets.arm_procfs import cpuinfo

        return cpuinfo(uc, self.hwcap(model), self.hwcap2(model), self.platform)

    def gdb_description(self):
        from pyuser.targets.arm_gdb import DESCRIPTION

        return DESCRIPTION

    def cpu_dump(self, uc: Uc) -> str:
        """-d cpu, in qemu-arm's layout: R00-R15, then PSR, its NZCV, T/A, mode."""
        values = [uc.reg_read(getattr(A, f"UC_ARM_REG_R{i}")) for i in range(13)]
        values += [uc.reg_read(A.UC_ARM_REG_SP), uc.reg_read(A.UC_ARM_REG_LR),
                   uc.reg_read(A.UC_ARM_REG_PC)]
        lines = [" ".join(f"R{i:02d}={values[i]:08x}" for i in range(row, row + 4))
                 for row in range(0, 16, 4)]
        psr = uc.reg_read(A.UC_ARM_REG_CPSR)
        flags = "".join(c if psr >> bit & 1 else "-" for c, bit in zip("NZCV", (31, 30, 29, 28),
                                                                      strict=True))
        mode = _MODE_NAMES.get(psr & 0x1F, "???")
        lines.append(f"PSR={psr:08x} {flags} {'T' if psr & 0x20 else 'A'} {mode}32")
        return "\n".join(lines)


TARGET = ArmTarget
