"""AArch64 (arm64, little-endian): everything that is arm64-specific.

Facts used here, with their sources:
- Syscalls: `svc #0`, number in x8, arguments x0-x5, result in x0 (Linux
  arch/arm64, syscall(2)).  Unicorn delivers `svc` as interrupt 2, data
  aborts as 4, prefetch aborts as 3, undefined instructions as 1, `brk` as 7
  (QEMU's EXCP_* numbering, measured with this Unicorn build).
- VMSAv8-64 translation tables, 4 KiB granule (ARMv8-A ARM, D5): level 1
  entries cover 1 GiB, level 2 2 MiB, level 3 page descriptors 4 KiB; a
  page descriptor is bits[1:0] = 0b11 with AttrIndx[4:2], AP[7:6], SH[9:8],
  AF[10], PXN[53], UXN[54].
- Measured with Unicorn 2.1.4: the table walk fails (prefetch abort on the
  first fetch) for any TCR_EL1.T0SZ below 32, i.e. virtual address spaces
  larger than 4 GiB, and TCR_EL1.TG1 must hold a valid granule even with
  EPD1 set.  So the guest address space is 4 GiB, with the MMU on: stores
  then take Unicorn's fast path (3.7 ns per store vs 29 ns with the MMU off).
- Guests run at EL1 (Unicorn's reset level): the same walk at EL0 faulted
  on this build.  Permissions are therefore the EL1 ones: AP[2] read-only,
  PXN no-execute.
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from array import array
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, Uc
from unicorn import arm64_const as A

from pyuser.limits import fit_translation_buffer
from pyuser.memory import PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE
from pyuser.targets.aarch64_signal import Aarch64SignalFrames
from pyuser.targets.base import Fault, SyscallConvention, Target
from pyuser.targets.generated import aarch64_abi
from pyuser.targets.pages import SharedTables, map_code_page

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyuser.memory import GuestMemory

ADDRESS_SPACE = 1 << 32
PAGE_TABLE_BASE = ADDRESS_SPACE  # guest-physical, right above user space (PA == VA below)
_L1_ENTRIES = ADDRESS_SPACE >> 30
_L2_BASE = PAGE_TABLE_BASE + PAGE_SIZE
_L3_BASE = _L2_BASE + _L1_ENTRIES * PAGE_SIZE
PAGE_TABLE_SIZE = PAGE_SIZE + _L1_ENTRIES * PAGE_SIZE + (ADDRESS_SPACE >> 12) * 8
VDSO_PAGE = ADDRESS_SPACE - PAGE_SIZE

CPU_MODELS = {"cortex-a53": A.UC_CPU_ARM64_A53, "cortex-a57": A.UC_CPU_ARM64_A57,
              "cortex-a72": A.UC_CPU_ARM64_A72, "max": A.UC_CPU_ARM64_MAX}

# descriptor bits
_TABLE = 0x3
_PAGE = 0x3
_AF = 1 << 10
_SH_INNER = 3 << 8
_AP_RO = 1 << 7  # AP[2]: read-only (AP[1] = 0: EL1 only, so no implicit PXN)
_PXN = 1 << 53
_UXN = 1 << 54
# system registers as (crn, crm, op0, op1, op2) for UC_ARM64_REG_CP_REG
_SCTLR_EL1 = (1, 0, 3, 0, 0)
_TCR_EL1 = (2, 0, 3, 0, 2)
_SCTLR_M = 1 << 0
_SCTLR_A = 1 << 1
_SCTLR_SA = 1 << 3
# TCR_EL1: T0SZ = 32, inner/outer write-back, inner shareable, TG0 4K, EPD1,
# TG1 4K, IPS 40 bits (page tables live above 4 GiB)
_TCR = 32 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (2 << 30) | (2 << 32)
_PSTATE_EL1H = 0x3C5  # EL1 with SP_EL1, DAIF masked: Unicorn's reset state
_RUN_MODE = 0x5

_EXCP_UDEF = 1
_EXCP_SWI = 2
_EXCP_PREFETCH_ABORT = 3
_EXCP_DATA_ABORT = 4
_EXCP_BKPT = 7


def _map_zeroed(size: int) -> tuple[mmap.mmap, int]:
    """Host memory that reads as zero and costs nothing until touched."""
    buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000)
    return buffer, ctypes.addressof(ctypes.c_char.from_buffer(buffer))


class Aarch64PageTables(SharedTables):
    """Keeps the guest's VMSAv8-64 tables (3 levels, 4 KiB pages) in step with GuestMemory."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._buffer, address = _map_zeroed(PAGE_TABLE_SIZE)
        self._ucs, self._table_base = [], PAGE_TABLE_BASE
        self._table_size, self._table_address = PAGE_TABLE_SIZE, address
        self.attach(uc)
        words = memoryview(self._buffer).cast("Q")
        l1 = words[:_L1_ENTRIES]
        l2 = words[PAGE_SIZE // 8:(PAGE_SIZE + _L1_ENTRIES * PAGE_SIZE) // 8]
        self._l3 = words[(_L3_BASE - PAGE_TABLE_BASE) // 8:]
        l1[:] = array("Q", range(_L2_BASE | _TABLE, _L3_BASE, PAGE_SIZE))
        l2[:] = array("Q", range(_L3_BASE | _TABLE, _L3_BASE + len(l2) * PAGE_SIZE, PAGE_SIZE))
        self._dirty = False

    @staticmethod
    def descriptor_bits(prot: int) -> int:
        if not prot & (PROT_READ | PROT_WRITE | PROT_EXEC):
            return 0  # invalid: any access faults
        bits = _PAGE | _AF | _SH_INNER
        if not prot & PROT_WRITE:
            bits |= _AP_RO
        if not prot & PROT_EXEC:
            bits |= _PXN | _UXN
        return bits

    def set_pages(self, start: int, end: int, prot: int) -> None:
        bits = self.descriptor_bits(prot)
        if bits:
            self._l3[start >> 12:end >> 12] = array("Q", range(start | bits, end | bits, PAGE_SIZE))
        else:
            self.clear_pages(start, end)
        self._dirty = True

    def clear_pages(self, start: int, end: int) -> None:
        self._l3[start >> 12:end >> 12] = array("Q", bytes(8 * ((end - start) >> 12)))
        self._dirty = True

    def enable(self, uc: Uc | None = None) -> None:
        uc = uc or self._uc
        uc.reg_write(A.UC_ARM64_REG_MAIR_EL1, 0xFF)  # attr 0: normal write-back memory
        uc.reg_write(A.UC_ARM64_REG_CP_REG, (*_TCR_EL1, _TCR))
        uc.reg_write(A.UC_ARM64_REG_TTBR0_EL1, PAGE_TABLE_BASE)
        sctlr = uc.reg_read(A.UC_ARM64_REG_CP_REG, _SCTLR_EL1)
        sctlr = (sctlr | _SCTLR_M) & ~(_SCTLR_A | _SCTLR_SA)
        uc.reg_write(A.UC_ARM64_REG_CP_REG, (*_SCTLR_EL1, sctlr))


# Exclusive, acquire/release and atomic accesses need natural alignment
# (ARMv8.0; the pairs the size of both registers): a misaligned one is an
# alignment fault, which Linux sends as SIGBUS BUS_ADRALN with the address
# (arch/arm64/mm/fault.c do_alignment_fault).  Unicorn raises it for the
# exclusive loads; a store-exclusive with no matching reservation fails
# without touching memory, as in qemu.
_ALIGNED_PREFIXES = ("ldxr", "ldaxr", "stxr", "stlxr", "ldxp", "ldaxp", "stxp", "stlxp",
                     "ldar", "stlr", "ldapr")
BUS_ADRALN = 1


def aligned_access_size(insn) -> int:
    """The natural alignment an exclusive or acquire/release access needs (0: none)."""
    mnemonic = insn.mnemonic
    if not mnemonic.startswith(_ALIGNED_PREFIXES):
        return 0
    if mnemonic.endswith("b"):
        return 1
    if mnemonic.endswith("h"):
        return 2
    from capstone import arm64_const as C

    # the data register: after the status register of a store-exclusive
    regs = [op for op in insn.operands if op.type == C.ARM64_OP_REG]
    data = regs[1] if mnemonic.startswith(("stxr", "stlxr", "stxp", "stlxp")) else regs[0]
    width = 8 if insn.reg_name(data.reg).startswith("x") else 4
    return 2 * width if mnemonic[-1] == "p" else width


def data_abort_fault(uc: Uc, memory: GuestMemory, signals: tuple[int, int]) -> Fault:
    """The signal for a data abort at the PC: SIGBUS for a misaligned access
    that needs alignment, else SIGSEGV (MAPERR or ACCERR is decided later)."""
    sigsegv, sigbus = signals
    pc = uc.reg_read(A.UC_ARM64_REG_PC)
    address, insn = data_abort_address(uc, memory)
    size = aligned_access_size(insn) if insn is not None else 0
    if size > 1 and address % size:
        return Fault(sigbus, BUS_ADRALN, address, pc)
    return Fault(sigsegv, 1, address, pc)


def data_abort_address(uc: Uc, memory: GuestMemory) -> tuple[int, object]:
    """The data address the load/store at the PC was accessing, and the
    decoded instruction (capstone; None when the PC cannot be read).

    Unicorn does not fill in FAR_EL1 when the interrupt hook takes the abort.
    """
    import capstone
    from capstone import arm64_const as C

    pc = uc.reg_read(A.UC_ARM64_REG_PC)
    try:
        code = memory.read(pc, 4)
    except Exception:  # noqa: BLE001 - an unreadable PC has no data address
        return 0, None
    disassembler = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    disassembler.detail = True
    for insn in disassembler.disasm(code, pc, 1):
        for op in insn.operands:
            if op.type != C.ARM64_OP_MEM:
                continue
            base = _read_cs_reg(uc, insn, op.mem.base)
            if insn.post_index:
                return base & 0xFFFFFFFFFFFFFFFF, insn
            index = _read_cs_reg(uc, insn, op.mem.index) if op.mem.index else 0
            if op.ext in (C.ARM64_EXT_UXTW, C.ARM64_EXT_SXTW):
                index &= 0xFFFFFFFF
                if op.ext == C.ARM64_EXT_SXTW and index & 0x80000000:
                    index -= 1 << 32
            if op.shift.type == C.ARM64_SFT_LSL and op.shift.value:
                index <<= op.shift.value
            return (base + op.mem.disp + index) & 0xFFFFFFFFFFFFFFFF, insn
    return 0, None


def _read_cs_reg(uc: Uc, insn, cs_reg: int) -> int:
    name = insn.reg_name(cs_reg).upper()
    if name in ("SP", "WSP"):
        return uc.reg_read(A.UC_ARM64_REG_SP)
    if name.startswith("W"):
        return uc.reg_read(getattr(A, f"UC_ARM64_REG_X{name[1:]}")) & 0xFFFFFFFF
    return uc.reg_read(getattr(A, f"UC_ARM64_REG_{name}"))


class Aarch64Target(Target):
    name = "aarch64"
    uname_machine = "aarch64"
    platform = "aarch64"
    address_space_size = ADDRESS_SPACE
    stack_top = 0xFFFF0000
    mmap_top = 0xFF000000
    elf_et_dyn_base = 0x55550000
    interp_base = 0xF7000000
    # under a low ulimit -v: room for the PIE base (elf_et_dyn_base) and above
    min_address_space = 2 << 30
    default_cpu = "cortex-a72"
    cpu_models = CPU_MODELS
    abi = aarch64_abi
    syscall_number_reg = A.UC_ARM64_REG_X8
    syscall_arg_regs = (A.UC_ARM64_REG_X0, A.UC_ARM64_REG_X1, A.UC_ARM64_REG_X2,
                        A.UC_ARM64_REG_X3, A.UC_ARM64_REG_X4, A.UC_ARM64_REG_X5)
    syscall_return_reg = A.UC_ARM64_REG_X0
    pc_reg = A.UC_ARM64_REG_PC
    sp_reg = A.UC_ARM64_REG_SP
    word_size = 8
    syscall_families = ("wide64",)

    @property
    def vdso_page(self) -> int:
        """The last page of user space (VDSO_PAGE unless the space was shrunk)."""
        return self.address_space_size - PAGE_SIZE

    def create_cpu(self, model: str) -> Uc:
        uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
        uc.ctl_set_cpu_model(CPU_MODELS[model])
        fit_translation_buffer(uc)  # before the engine allocates it (ulimit -v)
        uc.ctl_set_page_size(PAGE_SIZE)
        # FP/SIMD: CPACR_EL1.FPEN = 0b11 (no trapping at EL0 or EL1)
        uc.reg_write(A.UC_ARM64_REG_CPACR_EL1, uc.reg_read(A.UC_ARM64_REG_CPACR_EL1) | (3 << 20))
        return uc

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> Aarch64PageTables:
        tables = Aarch64PageTables(uc)
        uc.mem_map_ptr(0, memory.size, 7, memory.host_base)
        return tables

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: Aarch64PageTables) -> None:
        tables.enable()
        # the signal return trampoline, where Linux has its vDSO's sigreturn
        number = self.abi.SYSCALLS["rt_sigreturn"]
        mov_x8 = 0xD2800008 | (number << 5)  # movz x8, #number
        code = struct.pack("<II", mov_x8, 0xD4000001)  # svc #0
        map_code_page(memory, self.vdso_page, code, "[vdso]")

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        uc.reg_write(A.UC_ARM64_REG_PSTATE, _PSTATE_EL1H)
        uc.reg_write(A.UC_ARM64_REG_SP, sp)
        uc.reg_write(A.UC_ARM64_REG_PC, entry)
        uc.reg_write(A.UC_ARM64_REG_X0, 0)  # no atexit function for the libc

    syscall_convention = SyscallConvention(interrupt=_EXCP_SWI)

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        sigsegv, sigill, sigtrap, sigbus = (self.const(n) for n in (
            "SIGSEGV", "SIGILL", "SIGTRAP", "SIGBUS"))

        def fault_of(intno: int) -> Fault:
            pc = uc.reg_read(A.UC_ARM64_REG_PC)
            if intno == _EXCP_DATA_ABORT:
                return data_abort_fault(uc, memory, (sigsegv, sigbus))
            if intno == _EXCP_PREFETCH_ABORT:
                return Fault(sigsegv, 1, pc, pc)
            if intno == _EXCP_BKPT:
                return Fault(sigtrap, 1, pc, pc)  # TRAP_BRKPT
            return Fault(sigill, 1, pc, pc)  # ILL_ILLOPC

        return fault_of

    def set_tls(self, uc: Uc, value: int) -> None:
        uc.reg_write(A.UC_ARM64_REG_TPIDR_EL0, value)

    def get_tls(self, uc: Uc) -> int:
        return uc.reg_read(A.UC_ARM64_REG_TPIDR_EL0)

    def signal_frames(self) -> Aarch64SignalFrames:
        return Aarch64SignalFrames(self.vdso_page, _RUN_MODE)

    def syscall_insn_size(self, uc: Uc) -> int:
        return 4

    def hwcap(self, model: str) -> int:
        names = ["FP", "ASIMD", "AES", "PMULL", "SHA1", "SHA2", "CRC32", "CPUID"]
        if model == "cortex-a53":
            names = ["FP", "ASIMD", "AES", "PMULL", "SHA1", "SHA2", "CRC32", "CPUID"]
        bits = 0
        for n in names:
            bits |= self.abi.HWCAP.get(f"HWCAP_{n}", 0)
        return bits

    def disassemblers(self) -> dict[str, object]:
        import capstone

        return {"aarch64": capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)}

    def disassembly_mode(self, uc: Uc) -> str:
        return "aarch64"

    def gdb_description(self):
        from pyuser.targets.aarch64_gdb import DESCRIPTION

        return DESCRIPTION

    def cpu_dump(self, uc: Uc) -> str:
        """-d cpu, in qemu-aarch64's layout: PC, X00-X30, SP three to a line, PSTATE."""
        items = [("PC", uc.reg_read(A.UC_ARM64_REG_PC))]
        items += [(f"X{i:02d}", uc.reg_read(getattr(A, f"UC_ARM64_REG_X{i}"))) for i in range(31)]
        items.append(("SP", uc.reg_read(A.UC_ARM64_REG_SP)))
        cells = [f"{name:>3}={value:016x}" for name, value in items]
        lines = [" ".join(cells[i:i + 3]) for i in range(0, len(cells), 3)]
        pstate = uc.reg_read(A.UC_ARM64_REG_PSTATE)
        flags = "".join(c if pstate >> bit & 1 else "-" for c, bit in zip("NZCV", (31, 30, 29, 28),
                                                                        strict=True))
        lines.append(f"PSTATE={pstate:08x} {flags} EL{pstate >> 2 & 3}{'h' if pstate & 1 else 't'}")
        return "\n".join(lines)


TARGET = Aarch64Target
