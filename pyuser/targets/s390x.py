"""IBM Z, 64-bit (s390x, big-endian): everything that is s390x-specific.

Facts used here, with their sources and measurements:
- Syscalls: `svc NN` with the number in the instruction's byte (NN < 256) or,
  for `svc 0`, in r1; arguments r2-r7, result in r2 (arch/s390/kernel/
  entry.S, glibc's sysdeps/unix/sysv/linux/s390/s390-64/sysdep.h).  Unicorn
  delivers `svc` as interrupt 2 (QEMU's EXCP_SVC) with the PSW address *on*
  the svc (measured): the hook moves it past the 2-byte instruction.  A
  program interruption (invalid opcode, divide, ...) is interrupt 3.
- The CPU runs with DAT off (no guest-walked tables are available to build
  here), in 64-bit addressing mode (PSW mask EA|BA, 0x180000000; at reset
  the mask is 0, 24-bit mode, and addresses wrap: measured), so guest
  addresses are engine addresses and page permissions are Unicorn regions,
  as on MIPS (pyuser.targets.mipsel.MemoryProtections); a fault is a failed
  emu_start, reported as SIGSEGV with the address decoded by capstone.
- TLS: the thread pointer is access registers a0 (high half) and a1 (low
  half); glibc sets them with `sar` itself, clone(CLONE_SETTLS) sets them.
- clone's arguments are (stack, flags, parent_tid, child_tid, tls)
  (CLONE_BACKWARDS2 in arch/s390/Kconfig).
- mmap (90) is old_mmap: one pointer to six longs (arch/s390/kernel/
  syscall.c s390_mmap / sys_old_mmap).
- HWCAP: what qemu-s390x 7.2 reports for its default `qemu` model (0x2b3f,
  measured), no AT_PLATFORM (qemu passes none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import UC_ARCH_S390X, UC_MODE_BIG_ENDIAN, Uc
from unicorn import s390x_const as S
from unicorn import unicorn_const as UC

from pyuser.targets.base import Fault, SyscallConvention, Target
from pyuser.targets.generated import s390x_abi
from pyuser.targets.mipsel import MemoryProtections
from pyuser.targets.pages import FailedAccesses, map_code_page
from pyuser.targets.s390x_signal import S390xSignalFrames

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import CpuHooks

ADDRESS_SPACE = 0x1000000000  # 64 GiB
PSW_MASK_64BIT = 0x180000000  # EA | BA
VDSO_PAGE = ADDRESS_SPACE - 0x1000
# CR0's AFP-register and vector enablement controls (QEMU's CR0_AFP and
# CR0_VECTOR): without them `std %f8` and vector instructions raise a data
# exception (glibc's start-up saves f8-f15)
CR0_AFP_VECTOR = 0x40000 | 0x20000
_EXCP_SVC = 2
_EXCP_PGM = 3


def _accessible(memory: GuestMemory, address: int) -> bool:
    try:
        memory.read(address, 1)
    except Exception:  # noqa: BLE001 - GuestFault: not mapped or PROT_NONE
        return False
    return True


class S390xTarget(Target):
    name = "s390x"
    uname_machine = "s390x"
    platform = ""
    address_space_size = ADDRESS_SPACE
    stack_top = ADDRESS_SPACE - 0x10000
    mmap_top = ADDRESS_SPACE - 0x100000000
    elf_et_dyn_base = 0x555554000
    interp_base = ADDRESS_SPACE - 0x110000000
    default_cpu = "qemu"
    cpu_models = {"qemu": S.UC_CPU_S390X_QEMU, "z196": S.UC_CPU_S390X_Z196,
                  "zEC12": S.UC_CPU_S390X_ZEC12, "z13": S.UC_CPU_S390X_Z13,
                  "z14": S.UC_CPU_S390X_Z14, "max": S.UC_CPU_S390X_MAX}
    abi = s390x_abi
    syscall_number_reg = S.UC_S390X_REG_R1
    syscall_arg_regs = tuple(S.UC_S390X_REG_R2 + i for i in range(6))
    syscall_return_reg = S.UC_S390X_REG_R2
    pc_reg = S.UC_S390X_REG_PC
    sp_reg = S.UC_S390X_REG_R15
    word_size = 8
    clone_tls_before_child_tid = False
    clone_stack_first = True
    ipc_fifth_is_third = True
    syscall_families = ("wide64",)
    syscall_entry_points = {"mmap": "old_mmap"}

    def __init__(self) -> None:
        super().__init__()
        self._failed_accesses = FailedAccesses(S.UC_S390X_REG_PC)

    def create_cpu(self, model: str) -> Uc:
        uc = Uc(UC_ARCH_S390X, UC_MODE_BIG_ENDIAN)
        uc.ctl_set_cpu_model(self.cpu_models[model])
        uc.reg_write(S.UC_S390X_REG_PSWM, PSW_MASK_64BIT)
        uc.reg_write(S.UC_S390X_REG_CR0, uc.reg_read(S.UC_S390X_REG_CR0) | CR0_AFP_VECTOR)
        return uc

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> MemoryProtections:
        return MemoryProtections(uc, memory.host_base, True, scan_code=False)

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: MemoryProtections) -> None:
        # the signal return code, where Linux has its vDSO's (the stack is not
        # executable): svc 119 (sigreturn), svc 173 (rt_sigreturn)
        numbers = self.abi.SYSCALLS
        code = self.pack("HH", 0x0A00 | numbers["sigreturn"], 0x0A00 | numbers["rt_sigreturn"])
        map_code_page(memory, VDSO_PAGE, code, "[vdso]")

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        uc.reg_write(S.UC_S390X_REG_PSWM, PSW_MASK_64BIT)
        uc.reg_write(S.UC_S390X_REG_R15, sp)
        uc.reg_write(S.UC_S390X_REG_R14, 0)  # no rtld_fini for the libc
        uc.reg_write(S.UC_S390X_REG_R2, 0)
        uc.reg_write(S.UC_S390X_REG_PC, entry)

    # svc N: the number is N, or r1 for svc 0; the engine leaves the PSW on
    # the 2-byte svc (arch/s390/kernel/syscall.c: the svc code, or r1)
    syscall_convention = SyscallConvention(interrupt=_EXCP_SVC, number_in_instruction=True,
                                           pc_advance_in_hook=2)

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        c = self.const
        sigill, sigfpe = c("SIGILL"), c("SIGFPE")

        def fault_of(_intno: int) -> Fault:
            pc = uc.reg_read(S.UC_S390X_REG_PC)
            # a program interruption: SIGFPE for the divide instructions, else SIGILL
            try:
                opcode = memory.read(pc, 4)
            except Exception:  # noqa: BLE001 - an unreadable PC: the fetch faulted
                return Fault(c("SIGSEGV"), 1, pc, pc)
            # an access exception at a load or store (Unicorn raises the null
            # page's as a program interruption): SIGSEGV at its address
            failed = self._failed_accesses.take(uc)
            address = failed[0] if failed else self._access_address(uc, memory, pc)
            if address is None and (opcode[0] == 0xE5 or opcode[0] & 0xF0 == 0x90):
                # SI/SIL storage-immediate forms (mvi, mvhi, cli, ...) with base
                # register 0, which capstone shows as an immediate: B1 D1 are
                # the instruction's third and fourth bytes
                base, disp = opcode[2] >> 4, (opcode[2] & 0x0F) << 8 | opcode[3]
                address = disp + (uc.reg_read(S.UC_S390X_REG_R0 + base) if base else 0)
            if address is not None and not _accessible(memory, address):
                return Fault(c("SIGSEGV"), 1, address & ~0xFFF, pc)
            divides = (b"\x1d", b"\x5d")  # dr, d
            if opcode[:1] in divides or (opcode[0] == 0xB9 and opcode[1] in (0x97, 0x87, 0x0D,
                                                                              0x1D)):
                return Fault(sigfpe, 1, pc, pc)
            return Fault(sigill, 1, pc, pc)

        return fault_of

    def install_cpu_hooks(self, cpu: CpuHooks, memory: GuestMemory) -> None:
        # Unicorn's s390x leaves the PSW address at an earlier instruction of
        # the block when a load or store fails (measured: the lgr before the
        # store), so the data address cannot be decoded from the PC.  A hook
        # on failing accesses sees the address and a PC restored to the
        # faulting instruction; stores take the slow path here anyway (no
        # guest MMU), so the hook costs nothing until an access fails.
        self._failed_accesses.install(cpu.uc)

    def engine_fault(self, uc: Uc, error: int, memory: GuestMemory) -> Fault | None:
        pc = uc.reg_read(S.UC_S390X_REG_PC)
        if error in (UC.UC_ERR_INSN_INVALID, UC.UC_ERR_EXCEPTION):
            return Fault(self.const("SIGILL"), 1, pc, pc)
        if error in (UC.UC_ERR_FETCH_UNMAPPED, UC.UC_ERR_FETCH_PROT):
            return Fault(self.const("SIGSEGV"), 1, pc, pc)
        failed = self._failed_accesses.take(uc)
        address = failed[0] if failed else self._access_address(uc, memory, pc) or 0
        # s390 reports the failing page, not the byte (the translation-exception
        # identification holds a page address; qemu-s390x does the same)
        return Fault(self.const("SIGSEGV"), 1, address & ~0xFFF, pc)

    def _access_address(self, uc: Uc, memory: GuestMemory, pc: int) -> int | None:
        """The data address of the load/store at pc (base + index + displacement);
        None for an instruction without a memory operand."""
        import capstone
        from capstone.sysz_const import SYSZ_OP_MEM

        md = capstone.Cs(capstone.CS_ARCH_SYSZ, capstone.CS_MODE_BIG_ENDIAN)
        md.detail = True
        try:
            insn = next(md.disasm(memory.read(pc, 6), pc, 1), None)
        except Exception:  # noqa: BLE001 - an unreadable PC has no data address
            return None
        if insn is None:
            return None
        for op in insn.operands:
            if op.type == SYSZ_OP_MEM:
                total = op.mem.disp
                for reg in (op.mem.base, op.mem.index):
                    if reg:
                        number = int(insn.reg_name(reg).lstrip("%r"))
                        total += uc.reg_read(S.UC_S390X_REG_R0 + number)
                return total & self.word_mask
        return None

    def set_tls(self, uc: Uc, value: int) -> None:
        uc.reg_write(S.UC_S390X_REG_A0, (value >> 32) & 0xFFFFFFFF)
        uc.reg_write(S.UC_S390X_REG_A1, value & 0xFFFFFFFF)

    def get_tls(self, uc: Uc) -> int:
        return uc.reg_read(S.UC_S390X_REG_A0) << 32 | uc.reg_read(S.UC_S390X_REG_A1)

    def signal_frames(self) -> S390xSignalFrames:
        return S390xSignalFrames(self, VDSO_PAGE, VDSO_PAGE + 2)

    def syscall_insn_size(self, uc: Uc) -> int:
        return 2

    def hwcap(self, model: str) -> int:
        return 0x2B3F

    def disassemblers(self) -> dict[str, object]:
        import capstone

        return {"s390x": capstone.Cs(capstone.CS_ARCH_SYSZ, capstone.CS_MODE_BIG_ENDIAN)}

    def disassembly_mode(self, uc: Uc) -> str:
        return "s390x"

    def cpu_dump(self, uc: Uc) -> str:
        """-d cpu, in qemu-s390x's layout: the PSW (mask, address, condition
        code), then r0-r15 four to a line."""
        mask = uc.reg_read(S.UC_S390X_REG_PSWM)
        lines = [f"PSW=mask {mask:016x} addr {uc.reg_read(S.UC_S390X_REG_PC):016x} "
                 f"cc {(mask >> 44) & 3:02x}"]
        for row in range(0, 16, 4):
            lines.append(" ".join(f"R{i:02d}={uc.reg_read(S.UC_S390X_REG_R0 + i):016x}"
                                  for i in range(row, row + 4)))
        return "\n".join(lines)


TARGET = S390xTarget
