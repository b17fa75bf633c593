"""PowerPC, 32-bit big-endian (ppc): everything that is ppc-specific;
pyuser.targets.ppc64 is the 64-bit ELFv1 port on top of it.

Facts used here, with their sources and measurements:
- Syscalls: `sc`, number in r0, arguments r3-r8, result in r3; on error
  CR0.SO (CR bit 0x10000000) is set and r3 holds the *positive* errno
  (arch/powerpc/kernel/entry_32.S / interrupt.c syscall_exit_prepare,
  glibc's sysdeps/unix/sysv/linux/powerpc/sysdep.h).  Unicorn 2.1.4 raises
  `sc` as interrupt 8 (QEMU's POWERPC_EXCP_SYSCALL) with the PC already
  after it (measured).
- The CPU runs in real mode (MSR IR/DR clear: no guest-walked tables are
  available to build here), so guest addresses are engine addresses and page
  permissions are Unicorn regions, as on MIPS (MemoryProtections); a bad
  access is a failed emu_start (UC_ERR_*_UNMAPPED/_PROT), its address taken
  from a failing-access hook as on s390x.  The reset MSR has FP off: a
  floating-point instruction raised interrupt 7 (FPU unavailable) until
  MSR.FP was set (measured); MSR.VEC enables AltiVec as Linux does lazily.
- Unicorn's reset model for 32-bit PowerPC is the 7457A v1.2 (G4; `mfpvr`
  reads 0x80030102, measured), whose `dcbz` clears 32 bytes (measured): that
  is AT_DCACHEBSIZE, which glibc's memset uses for dcbz.
- auxv: Linux's ARCH_DLINFO (arch/powerpc/include/asm/elf.h) comes first: two
  AT_IGNOREPPC entries, AT_DCACHEBSIZE, AT_ICACHEBSIZE, AT_UCACHEBSIZE 0.
- TLS: r2 (glibc sets it itself; clone(CLONE_SETTLS) sets it from the tls
  argument, arch/powerpc/kernel/process.c copy_thread); clone's order is
  flags, stack, parent_tid, tls, child_tid (CLONE_BACKWARDS).
- 64-bit syscall arguments go in an aligned register pair (r3/r4, r5/r6,
  r7/r8), high word first.
- HWCAP for the 7450 family: PPC_FEATURE_32 | HAS_FPU | HAS_MMU |
  HAS_ALTIVEC (arch/powerpc/kernel/cpu_specs_book3s_32.h, COMMON_USER plus
  ALTIVEC_COMP); no AT_PLATFORM (qemu-ppc passes none either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import UC_ARCH_PPC, UC_MODE_BIG_ENDIAN, UC_MODE_PPC32, Uc
from unicorn import ppc_const as P
from unicorn import unicorn_const as UC

from pyuser.limits import fit_translation_buffer
from pyuser.targets.base import Fault, SyscallConvention, Target
from pyuser.targets.generated import ppc_abi
from pyuser.targets.mipsel import MemoryProtections
from pyuser.targets.pages import FailedAccesses, map_code_page
from pyuser.targets.ppc_signal import PpcSignalFrames

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import CpuHooks

ADDRESS_SPACE = 0xC0000000  # TASK_SIZE of a 32-bit PowerPC kernel: 3 GiB
VDSO_PAGE = 0xBFFF0000
CR0_SO = 0x10000000  # the summary-overflow bit of CR field 0: the syscall error flag
MSR_FP = 1 << 13
MSR_VEC = 1 << 25
GPRS = [P.UC_PPC_REG_0 + i for i in range(32)]

_EXCP_DSI, _EXCP_ISI, _EXCP_ALIGN, _EXCP_PROGRAM, _EXCP_FPU, _EXCP_SYSCALL = 2, 3, 5, 6, 7, 8
_EXCP_HV_EMU = 96  # POWER's "emulation assistance": an illegal instruction on ppc64


def _segv_code(memory: GuestMemory, address: int) -> int:
    """SEGV_ACCERR (2) inside a mapping the access was not allowed in, else
    SEGV_MAPERR (1)."""
    return 2 if memory.find_mapping(address) is not None else 1


def _li_sc(number: int) -> list[int]:
    """li r0, number; sc"""
    return [0x38000000 | number, 0x44000002]


def is_trap(insn: int) -> bool:
    """tw, twi, td, tdi: __builtin_trap's `trap` is tw 31,0,0 (SIGTRAP on Linux)."""
    major = insn >> 26
    return major in (2, 3) or (major == 31 and (insn >> 1) & 0x3FF in (4, 68))


class PpcTarget(Target):
    name = "ppc"
    uname_machine = "ppc"
    platform = ""
    address_space_size = ADDRESS_SPACE
    stack_top = 0xBF000000
    mmap_top = 0xB7000000
    elf_et_dyn_base = 0x00400000
    interp_base = 0xB7F00000
    default_cpu = "7457a"
    cpu_models = {"7457a": P.UC_CPU_PPC32_7457A_V1_2, "7400": P.UC_CPU_PPC32_7400_V2_9,
                  "7448": P.UC_CPU_PPC32_7448_V2_1, "e600": P.UC_CPU_PPC32_E600}
    abi = ppc_abi
    syscall_number_reg = P.UC_PPC_REG_0
    syscall_arg_regs = tuple(P.UC_PPC_REG_3 + i for i in range(6))
    syscall_return_reg = P.UC_PPC_REG_3
    pc_reg = P.UC_PPC_REG_PC
    sp_reg = P.UC_PPC_REG_1
    tls_reg = P.UC_PPC_REG_2
    word_size = 4
    pairs_aligned = True
    mode = UC_MODE_PPC32
    msr_bits = MSR_FP | MSR_VEC
    # L1 cache block size of the CPU model (dcbz clears this many bytes)
    cache_block = 32
    vdso_page = VDSO_PAGE

    def __init__(self) -> None:
        super().__init__()
        self._failed_accesses = FailedAccesses(P.UC_PPC_REG_PC)

    # ------------------------------------------------------------ CPU
    def create_cpu(self, model: str) -> Uc:
        uc = Uc(UC_ARCH_PPC, self.mode | UC_MODE_BIG_ENDIAN)
        uc.ctl_set_cpu_model(self.cpu_models[model])
        fit_translation_buffer(uc)
        uc.reg_write(P.UC_PPC_REG_MSR, uc.reg_read(P.UC_PPC_REG_MSR) | self.msr_bits)
        return uc

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> MemoryProtections:
        return MemoryProtections(uc, memory.host_base, True, scan_code=False)

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: MemoryProtections) -> None:
        # the signal return code, where Linux has its vDSO's sigtramps
        numbers = self.abi.SYSCALLS
        code = self.pack("4I", *_li_sc(numbers["sigreturn"]), *_li_sc(numbers["rt_sigreturn"]))
        map_code_page(memory, self.vdso_page, code, "[vdso]")

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        uc.reg_write_batch([(r, 0) for r in GPRS])
        uc.reg_write(P.UC_PPC_REG_1, sp)
        uc.reg_write(P.UC_PPC_REG_LR, 0)
        uc.reg_write(P.UC_PPC_REG_CR, 0)
        uc.reg_write(P.UC_PPC_REG_PC, entry)

    def arch_auxv(self) -> list[tuple[str, int]]:
        """ARCH_DLINFO's entries, before the generic ones."""
        return [("AT_IGNOREPPC", self.abi.AUXV["AT_IGNOREPPC"])] * 2 + [
            ("AT_DCACHEBSIZE", self.cache_block), ("AT_ICACHEBSIZE", self.cache_block),
            ("AT_UCACHEBSIZE", 0)]

    # ------------------------------------------------------------ syscalls
    # sc: the result in r3, and for an error (-4095..-1) the positive errno
    # with CR0.SO set.  The flag is written as the whole CR0 field (SO is its
    # low bit), not as a read-modify-write of CR: cr0 is volatile across a
    # syscall (glibc's syscall asm clobbers it), and one register access less
    # is 0.3-1.5 us less per call (measured, idle and loaded)
    syscall_convention = SyscallConvention(interrupt=_EXCP_SYSCALL, error_reg=P.UC_PPC_REG_CR0)

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        c = self.const
        sigsegv, sigill, sigtrap, sigbus = (c(n) for n in ("SIGSEGV", "SIGILL", "SIGTRAP",
                                                           "SIGBUS"))
        mask = self.word_mask

        def fault_of(intno: int) -> Fault:
            pc = uc.reg_read(P.UC_PPC_REG_PC)
            if intno in (_EXCP_PROGRAM, _EXCP_HV_EMU):
                # Unicorn leaves the PC after the trapping or illegal instruction
                # (measured); Linux reports it on the instruction
                pc = (pc - 4) & mask
                uc.reg_write(P.UC_PPC_REG_PC, pc)
                try:
                    (insn,) = self.unpack("I", memory.read(pc, 4))
                except Exception:  # noqa: BLE001 - an unreadable PC: the fetch faulted
                    return Fault(sigsegv, 1, pc, pc, intno)
                if is_trap(insn):
                    return Fault(sigtrap, 1, pc, pc, intno)
                return Fault(sigill, 1, pc, pc, intno)
            if intno == _EXCP_ALIGN:
                return Fault(sigbus, 1, pc, pc, intno)
            if intno in (_EXCP_DSI, _EXCP_ISI):
                failed = self._failed_accesses.take(uc)
                address = failed[0] if failed else pc
                return Fault(sigsegv, _segv_code(memory, address), address, pc, intno)
            return Fault(sigill, 1, pc, pc, intno)

        return fault_of

    def install_cpu_hooks(self, cpu: CpuHooks, memory: GuestMemory) -> None:
        # the address of a failing load or store, which the DSI does not carry
        self._failed_accesses.install(cpu.uc)

    def engine_fault(self, uc: Uc, error: int, memory: GuestMemory) -> Fault | None:
        pc = uc.reg_read(P.UC_PPC_REG_PC)
        if error in (UC.UC_ERR_INSN_INVALID, UC.UC_ERR_EXCEPTION):
            return Fault(self.const("SIGILL"), 1, pc, pc)
        if error in (UC.UC_ERR_FETCH_UNMAPPED, UC.UC_ERR_FETCH_PROT):
            return Fault(self.const("SIGSEGV"), 1, pc, pc)
        failed = self._failed_accesses.take(uc)
        address = failed[0] if failed else 0
        return Fault(self.const("SIGSEGV"), _segv_code(memory, address), address, pc)

    def set_clone_child_result(self, uc: Uc) -> None:
        uc.reg_write(P.UC_PPC_REG_3, 0)
        uc.reg_write(P.UC_PPC_REG_CR, uc.reg_read(P.UC_PPC_REG_CR) & ~CR0_SO)

    def set_tls(self, uc: Uc, value: int) -> None:
        uc.reg_write(self.tls_reg, value)

    def get_tls(self, uc: Uc) -> int:
        return uc.reg_read(self.tls_reg)

    def signal_frames(self) -> PpcSignalFrames:
        return PpcSignalFrames(self, self.vdso_page, self.vdso_page + 8)

    def syscall_insn_size(self, uc: Uc) -> int:
        return 4

    def hwcap(self, model: str) -> int:
        h = self.abi.HWCAP
        return (h["PPC_FEATURE_32"] | h["PPC_FEATURE_HAS_FPU"] | h["PPC_FEATURE_HAS_MMU"]
                | h["PPC_FEATURE_HAS_ALTIVEC"])

    def disassemblers(self) -> dict[str, object]:
        import capstone

        mode = (capstone.CS_MODE_64 if self.word_size == 8 else capstone.CS_MODE_32) \
            | capstone.CS_MODE_BIG_ENDIAN
        return {"ppc": capstone.Cs(capstone.CS_ARCH_PPC, mode)}

    def disassembly_mode(self, uc: Uc) -> str:
        return "ppc"

    def cpu_dump(self, uc: Uc) -> str:
        """-d cpu, in qemu-ppc's layout: NIP/LR/CTR/XER, MSR, then GPR00-31
        four (ppc64) or eight (ppc) to a line, CR."""
        w = 2 * self.word_size
        lines = [f"NIP {uc.reg_read(P.UC_PPC_REG_PC):0{w}x}   "
                 f"LR {uc.reg_read(P.UC_PPC_REG_LR):0{w}x} "
                 f"CTR {uc.reg_read(P.UC_PPC_REG_CTR):0{w}x} "
                 f"XER {uc.reg_read(P.UC_PPC_REG_XER):08x}",
                 f"MSR {uc.reg_read(P.UC_PPC_REG_MSR):0{w}x}"]
        per_line = 4 if self.word_size == 8 else 8
        values = uc.reg_read_batch(GPRS)
        for row in range(0, 32, per_line):
            lines.append(f"GPR{row:02d} " + " ".join(
                f"{values[i] & self.word_mask:0{w}x}" for i in range(row, row + per_line)))
        lines.append(f"CR {uc.reg_read(P.UC_PPC_REG_CR):08x}")
        return "\n".join(lines)


TARGET = PpcTarget
