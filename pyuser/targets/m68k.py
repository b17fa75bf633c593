"""Motorola 68k (m68k, big-endian, Debian's m68k port): everything that is
m68k-specific.

Facts used here, with their sources and measurements:
- CPU: Unicorn 2.1.4's default m68k CPU is a ColdFire (cfv4e), which stops
  in glibc's start-up; its M68040 lacks the 64-bit `mulu.l` glibc's vfprintf
  uses (SIGILL, measured) and its M68060 faulted, so the default is the
  M68020, Debian's m68k baseline.  The reset SR is 0x0004 (user state).  The MMU is off: guest addresses are engine addresses
  and page permissions Unicorn regions, as on MIPS (MemoryProtections); a bad
  access is a failed emu_start, its address from a failing-access hook.
- Syscalls: `trap #0`, number in d0, arguments d1-d5 and a0, result in d0
  (arch/m68k/kernel/entry.S, glibc's sysdeps/unix/sysv/linux/m68k/sysdep.h).
  Unicorn raises it as interrupt 32 with the PC *on* the 2-byte trap
  (measured): the hook moves it past.  `illegal` (__builtin_trap) is
  interrupt 4 with the PC on it: SIGILL, as on Linux.
- TLS: there is no thread register; set_thread_area (334) stores the pointer
  in the kernel and glibc reads it back with get_thread_area (333)
  (arch/m68k/kernel/sys_m68k.c).  pyuser keeps it in the CPU's master stack
  pointer (MSP), which the CPU never uses in user state (measured: it keeps
  its value and A7 is unaffected) and which is saved with each thread's
  registers.
- clone's order is the generic one: flags, stack, parent_tid, child_tid, tls.
- Signal frames: arch/m68k/kernel/signal.c sigframe and rt_sigframe (below).
  The return code is `move.l #119, d0; trap #0` / `move.l #173, d0; trap #0`,
  in pyuser's [vdso] page (the stack is not executable here).  Unicorn exposes
  no FPU registers for m68k: frames carry the integer registers only.
- No HWCAP and no AT_PLATFORM (Linux/m68k passes none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import UC_ARCH_M68K, UC_MODE_BIG_ENDIAN, Uc
from unicorn import m68k_const as K
from unicorn import unicorn_const as UC

from pyuser.limits import fit_translation_buffer
from pyuser.targets.base import Fault, SyscallConvention, Target
from pyuser.targets.generated import m68k_abi
from pyuser.targets.m68k_signal import M68kSignalFrames
from pyuser.targets.mipsel import MemoryProtections
from pyuser.targets.pages import FailedAccesses, map_code_page

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import CpuHooks

ADDRESS_SPACE = 0xC0000000
VDSO_PAGE = 0xBFFF0000
TLS_REG = K.UC_M68K_REG_CR_MSP
_EXCP_BUS, _EXCP_ADDRESS, _EXCP_ILLEGAL, _EXCP_DIV0 = 2, 3, 4, 5
_EXCP_CHK, _EXCP_TRAPV, _EXCP_PRIVILEGE, _EXCP_LINEA, _EXCP_LINEF = 6, 7, 8, 10, 11
_EXCP_TRAP0 = 32


def _move_trap(number: int) -> tuple[int, int, int]:
    """move.l #number, d0; trap #0 (as Linux's rt retcode: 173 is too big for moveq)"""
    return 0x203C, number, 0x4E40


def _register(uc: Uc, name: str) -> int:
    if name == "sp":
        name = "a7"
    base = K.UC_M68K_REG_A0 if name[0] == "a" else K.UC_M68K_REG_D0
    return uc.reg_read(base + int(name[1:])) & 0xFFFFFFFF


def faulting_instruction(uc: Uc, memory: GuestMemory, block_pc: int, address: int) -> int:
    """The address of the instruction whose memory operand is `address`,
    searching from block_pc: Unicorn's m68k leaves the PC at the start of the
    translation block when an access fails (measured: signals.c's siginfo
    scenario got the `move.l #0x1234, a0` before the store), while the
    registers are those the faulting instruction saw.  block_pc if none
    matches."""
    import capstone
    from capstone import m68k_const as C

    md = capstone.Cs(capstone.CS_ARCH_M68K, capstone.CS_MODE_M68K_020)
    md.detail = True
    try:
        code = memory.read(block_pc, 256)
    except Exception:  # noqa: BLE001 - the block runs off the mapping: search less
        code = b""
        for size in (128, 64, 32, 16):
            try:
                code = memory.read(block_pc, size)
                break
            except Exception:  # noqa: BLE001
                continue
    for insn in md.disasm(code, block_pc):
        for op in insn.operands:
            if op.type != C.M68K_OP_MEM:
                continue
            mode = op.address_mode
            if mode in (C.M68K_AM_REGI_ADDR, C.M68K_AM_REGI_ADDR_POST_INC,
                        C.M68K_AM_REGI_ADDR_PRE_DEC):
                ea = _register(uc, insn.reg_name(op.reg))
            elif mode == C.M68K_AM_REGI_ADDR_DISP:
                ea = _register(uc, insn.reg_name(op.mem.base_reg)) + op.mem.disp
            elif mode in (C.M68K_AM_ABSOLUTE_DATA_SHORT, C.M68K_AM_ABSOLUTE_DATA_LONG):
                ea = op.imm
            else:
                continue
            if -16 <= address - (ea & 0xFFFFFFFF) < 16:
                return insn.address
    return block_pc


class M68kTarget(Target):
    name = "m68k"
    uname_machine = "m68k"
    platform = ""
    address_space_size = ADDRESS_SPACE
    stack_top = 0xBF000000
    mmap_top = 0xB7000000
    elf_et_dyn_base = 0x00400000
    interp_base = 0xB7F00000
    default_cpu = "m68020"
    cpu_models = {"m68020": K.UC_CPU_M68K_M68020, "m68030": K.UC_CPU_M68K_M68030,
                  "m68040": K.UC_CPU_M68K_M68040}
    abi = m68k_abi
    syscall_number_reg = K.UC_M68K_REG_D0
    syscall_arg_regs = (K.UC_M68K_REG_D1, K.UC_M68K_REG_D2, K.UC_M68K_REG_D3,
                        K.UC_M68K_REG_D4, K.UC_M68K_REG_D5, K.UC_M68K_REG_A0)
    syscall_return_reg = K.UC_M68K_REG_D0
    pc_reg = K.UC_M68K_REG_PC
    sp_reg = K.UC_M68K_REG_A7
    word_size = 4
    clone_tls_before_child_tid = False
    syscall_families = ("m68k",)

    def __init__(self) -> None:
        super().__init__()
        # id(uc) -> the failed access's address and PC
        self._failed_accesses = FailedAccesses(K.UC_M68K_REG_PC)

    def create_cpu(self, model: str) -> Uc:
        uc = Uc(UC_ARCH_M68K, UC_MODE_BIG_ENDIAN)
        uc.ctl_set_cpu_model(self.cpu_models[model])
        fit_translation_buffer(uc)
        # an SR write settles which stack pointer A7 is (QEMU's current_sp),
        # before A7 and the TLS word in MSP are set: a later one swaps nothing
        uc.reg_write(K.UC_M68K_REG_SR, uc.reg_read(K.UC_M68K_REG_SR))
        return uc

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> MemoryProtections:
        return MemoryProtections(uc, memory.host_base, True, scan_code=False)

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: MemoryProtections) -> None:
        numbers = self.abi.SYSCALLS
        code = self.pack("HIHHIH", *_move_trap(numbers["sigreturn"]),
                         *_move_trap(numbers["rt_sigreturn"]))
        map_code_page(memory, VDSO_PAGE, code, "[vdso]")

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        uc.reg_write(K.UC_M68K_REG_A7, sp)
        uc.reg_write(K.UC_M68K_REG_A1, 0)  # no rtld_fini for the libc
        uc.reg_write(K.UC_M68K_REG_PC, entry)

    # trap #0: the result (value or -errno) in d0; the engine leaves the PC on
    # the 2-byte trap (measured), the hook moves it past
    syscall_convention = SyscallConvention(interrupt=_EXCP_TRAP0, pc_advance_in_hook=2)

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        c = self.const
        sigsegv, sigill, sigtrap, sigfpe = (c(n) for n in ("SIGSEGV", "SIGILL", "SIGTRAP",
                                                           "SIGFPE"))

        def fault_of(intno: int) -> Fault:
            pc = uc.reg_read(K.UC_M68K_REG_PC)
            if intno in (_EXCP_BUS, _EXCP_ADDRESS):
                address, pc = self._failed_accesses.take(uc) or (pc, pc)
                pc = faulting_instruction(uc, memory, pc, address)
                uc.reg_write(K.UC_M68K_REG_PC, pc)
                code = 2 if memory.find_mapping(address) is not None else 1
                return Fault(sigsegv, code, address, pc, intno)
            if intno in (_EXCP_DIV0, _EXCP_CHK, _EXCP_TRAPV):
                return Fault(sigfpe, 1, pc, pc, intno)
            if intno == 47:  # trap #15: a breakpoint (arch/m68k/kernel/traps.c)
                return Fault(sigtrap, 1, pc, pc, intno)
            return Fault(sigill, 1, pc, pc, intno)

        return fault_of

    def install_cpu_hooks(self, cpu: CpuHooks, memory: GuestMemory) -> None:
        # a failing access: its address, and the PC of its instruction (the PC
        # a failed emu_start leaves can be an earlier one of the block, as on
        # s390x: signals.c's siginfo scenario saw it)
        self._failed_accesses.install(cpu.uc)

    def engine_fault(self, uc: Uc, error: int, memory: GuestMemory) -> Fault | None:
        pc = uc.reg_read(K.UC_M68K_REG_PC)
        if error in (UC.UC_ERR_INSN_INVALID, UC.UC_ERR_EXCEPTION):
            return Fault(self.const("SIGILL"), 1, pc, pc)
        if error in (UC.UC_ERR_FETCH_UNMAPPED, UC.UC_ERR_FETCH_PROT):
            return Fault(self.const("SIGSEGV"), 1, pc, pc)
        address, pc = self._failed_accesses.take(uc) or (0, pc)
        pc = faulting_instruction(uc, memory, pc, address)
        uc.reg_write(K.UC_M68K_REG_PC, pc)
        code = 2 if memory.find_mapping(address) is not None else 1
        return Fault(self.const("SIGSEGV"), code, address, pc)

    def set_tls(self, uc: Uc, value: int) -> None:
        uc.reg_write(TLS_REG, value & 0xFFFFFFFF)

    def get_tls(self, uc: Uc) -> int:
        return uc.reg_read(TLS_REG)

    def signal_frames(self) -> M68kSignalFrames:
        return M68kSignalFrames(self, VDSO_PAGE, VDSO_PAGE + 8)

    def syscall_insn_size(self, uc: Uc) -> int:
        return 2

    def disassemblers(self) -> dict[str, object]:
        import capstone

        return {"m68k": capstone.Cs(capstone.CS_ARCH_M68K, capstone.CS_MODE_M68K_040)}

    def disassembly_mode(self, uc: Uc) -> str:
        return "m68k"

    def cpu_dump(self, uc: Uc) -> str:
        """-d cpu, in qemu-m68k's layout: D0-D7 and A0-A7 two to a line, PC, SR."""
        lines = []
        for i in range(8):
            lines.append(f"D{i} = {uc.reg_read(K.UC_M68K_REG_D0 + i):08x}   "
                         f"A{i} = {uc.reg_read(K.UC_M68K_REG_A0 + i):08x}")
        lines.append(f"PC = {uc.reg_read(K.UC_M68K_REG_PC):08x}   "
                     f"SR = {uc.reg_read(K.UC_M68K_REG_SR):04x}")
        return "\n".join(lines)


TARGET = M68kTarget
