"""FreeBSD/arm64: the AArch64 CPU with FreeBSD's syscall convention and frames.

Facts, with their sources:
- Syscalls: `svc #0`, number in x8, arguments x0-x7; on error PSTATE.C is
  set and x0 holds the positive errno, x1 carries a second result
  (sys/arm64/arm64/vm_machdep.c cpu_set_syscall_retval).
- Entry (sys/arm64/arm64/exec_machdep.c exec_setregs): x0 = the address of
  argc, sp = that address aligned down to 16, pc = lr = the entry point.
- Signals (exec_machdep.c sendsig): struct sigframe { siginfo_t sf_si @0;
  ucontext_t sf_uc @80 } (sys/arm64/include/frame.h), 16-aligned below sp;
  x0 = signo, x1 = &sf_si, x2 = &sf_uc, x8 = the handler, pc = the signal
  trampoline (sys/arm64/arm64/sigtramp.S: blr x8, then sigreturn(&sf_uc)).
  mcontext: gp_x[30], gp_lr, gp_sp, gp_elr, gp_spsr, then fp_q[32], fp_sr,
  fp_cr, fp_flags; mc_flags _MC_FP_VALID (1) (sys/arm64/include/ucontext.h;
  offsets from the generated LAYOUTS, Go's runtime/defs_freebsd_arm64.go).
- Threads (vm_machdep.c cpu_set_upcall, cpu_set_user_tls): pc = entry,
  x0 = arg, sp = the stack top aligned to 16, tpidr_el0 = tls_base.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import arm64_const as A

from pyuser.targets.aarch64 import (
    _EXCP_BKPT,
    _EXCP_DATA_ABORT,
    _EXCP_PREFETCH_ABORT,
    _EXCP_SWI,
    _PSTATE_EL1H,
    _RUN_MODE,
    Aarch64Target,
    data_abort_fault,
)
from pyuser.targets.base import Fault, SyscallConvention
from pyuser.targets.freebsd import (
    FREEBSD_IGNORED_BY_DEFAULT,
    FREEBSD_MAY_BLOCK,
    encode_freebsd_siginfo,
)
from pyuser.targets.generated import aarch64_abi, freebsd_aarch64_abi

if TYPE_CHECKING:
    from collections.abc import Callable

    from unicorn import Uc

    from pyuser.memory import GuestMemory
    from pyuser.targets.siginfo import SigInfo

_CARRY = 1 << 29
_LAYOUT = freebsd_aarch64_abi.LAYOUTS
UCONTEXT_SIZE = _LAYOUT["ucontext"][0]
_UC = _LAYOUT["ucontext"][1]
SF_UC = 80  # sizeof(siginfo_t)
SIGFRAME_SIZE = (SF_UC + UCONTEXT_SIZE + 15) & ~15
_X_REGS = [A.UC_ARM64_REG_X0 + i for i in range(29)] + [A.UC_ARM64_REG_X29]
_V_REGS = [A.UC_ARM64_REG_Q0 + i for i in range(32)]
_MC_FP_VALID = 1
_PSTATE_MODE, _PSTATE_DAIF = 0xF, 0x3C0


def _at(name: str) -> int:
    return _UC[f"uc_mcontext.{name}"][0]


def _sigcode() -> bytes:
    """sys/arm64/arm64/sigtramp.S, the same instructions."""
    sigreturn = freebsd_aarch64_abi.SYSCALLS["sigreturn"]
    words = [0xD63F0100,                      # blr x8
             0x910003E0,                      # mov x0, sp
             0x91000000 | (SF_UC << 10),      # add x0, x0, #SF_UC
             0xD2800008 | (sigreturn << 5),   # mov x8, #SYS_sigreturn
             0xD4000001,                      # svc #0
             0xD2800028,                      # mov x8, #SYS_exit
             0xD4000001,                      # svc #0
             0x14000000]                      # b .
    return struct.pack(f"<{len(words)}I", *words)


class FreeBsdArm64Frames:
    ucontext_size = UCONTEXT_SIZE

    def __init__(self, sigcode: int) -> None:
        self.sigcode = sigcode

    def frame_size(self, rt: bool) -> int:
        return SIGFRAME_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(A.UC_ARM64_REG_SP)

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        ucb = bytearray(UCONTEXT_SIZE)
        struct.pack_into("<QQ", ucb, 0, old_mask & (2**64 - 1), old_mask >> 64)
        struct.pack_into("<30Q", ucb, _at("mc_gpregs.gp_x"), *uc.reg_read_batch(_X_REGS))
        lr, sp, pc, pstate = uc.reg_read_batch([A.UC_ARM64_REG_X30, A.UC_ARM64_REG_SP,
                                                A.UC_ARM64_REG_PC, A.UC_ARM64_REG_PSTATE])
        struct.pack_into("<4Q", ucb, _at("mc_gpregs.gp_lr"), lr, sp, pc,
                         pstate & ~(_PSTATE_MODE | _PSTATE_DAIF))
        fp = _at("mc_fpregs.fp_q")
        for i, value in enumerate(uc.reg_read_batch(_V_REGS)):
            struct.pack_into("<QQ", ucb, fp + 16 * i, value & (2**64 - 1), value >> 64)
        struct.pack_into("<II", ucb, _at("mc_fpregs.fp_sr"), uc.reg_read(A.UC_ARM64_REG_FPSR),
                         uc.reg_read(A.UC_ARM64_REG_FPCR))
        struct.pack_into("<i", ucb, _at("mc_flags"), _MC_FP_VALID)
        ss_sp, ss_flags, ss_size = altstack
        struct.pack_into("<QQi", ucb, _UC["uc_stack.ss_sp"][0], ss_sp, ss_size,
                         4 if ss_flags == 2 else ss_flags)
        mem.write(frame, siginfo + bytes(ucb))
        uc.reg_write_batch([(A.UC_ARM64_REG_X0, signo), (A.UC_ARM64_REG_X1, frame),
                            (A.UC_ARM64_REG_X2, frame + SF_UC), (A.UC_ARM64_REG_X8, handler),
                            (A.UC_ARM64_REG_SP, frame), (A.UC_ARM64_REG_PC, self.sigcode)])

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        ucontext = uc.reg_read(A.UC_ARM64_REG_X0)  # sigreturn's argument
        data = mem.read(ucontext, UCONTEXT_SIZE)
        low, high = struct.unpack_from("<QQ", data, 0)
        x = struct.unpack_from("<30Q", data, _at("mc_gpregs.gp_x"))
        lr, sp, pc, pstate = struct.unpack_from("<4Q", data, _at("mc_gpregs.gp_lr"))
        (flags,) = struct.unpack_from("<i", data, _at("mc_flags"))
        if flags & _MC_FP_VALID:
            halves = struct.unpack_from("<64Q", data, _at("mc_fpregs.fp_q"))
            for i, reg in enumerate(_V_REGS):
                uc.reg_write(reg, halves[2 * i] | (halves[2 * i + 1] << 64))
            fpsr, fpcr = struct.unpack_from("<II", data, _at("mc_fpregs.fp_sr"))
            uc.reg_write(A.UC_ARM64_REG_FPSR, fpsr)
            uc.reg_write(A.UC_ARM64_REG_FPCR, fpcr)
        uc.reg_write_batch(list(zip(_X_REGS, x, strict=True)) + [(A.UC_ARM64_REG_X30, lr)])
        uc.reg_write(A.UC_ARM64_REG_PSTATE,
                     (pstate & ~(_PSTATE_MODE | _PSTATE_DAIF) & 0xFFFFFFFF) | _RUN_MODE)
        uc.reg_write(A.UC_ARM64_REG_SP, sp)
        uc.reg_write(A.UC_ARM64_REG_PC, pc)
        ss_sp, ss_size, ss_flags = struct.unpack_from("<QQi", data, _UC["uc_stack.ss_sp"][0])
        return low | high << 64, (ss_sp, ss_flags, ss_size)


class FreeBsdAarch64Target(Aarch64Target):
    name = "freebsd-aarch64"
    ignored_by_default = FREEBSD_IGNORED_BY_DEFAULT
    may_block_syscalls = FREEBSD_MAY_BLOCK
    abi = freebsd_aarch64_abi
    uname_machine = "arm64"
    platform = ""
    syscall_arg_regs = (*Aarch64Target.syscall_arg_regs, A.UC_ARM64_REG_X6, A.UC_ARM64_REG_X7)
    syscall_families = ()  # not Linux arm64's
    sigcode = _sigcode()
    shared_page = Aarch64Target.stack_top

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables) -> None:
        tables.enable()  # no Linux [vdso] page: the loader maps FreeBSD's shared page

    def encode_siginfo(self, info: SigInfo) -> bytes:
        return encode_freebsd_siginfo(info, self.const("SIGCHLD"))

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        uc.reg_write(A.UC_ARM64_REG_PSTATE, _PSTATE_EL1H)
        uc.reg_write(A.UC_ARM64_REG_X0, sp)
        uc.reg_write(A.UC_ARM64_REG_SP, sp & ~15)
        uc.reg_write(A.UC_ARM64_REG_X30, entry)
        uc.reg_write(A.UC_ARM64_REG_PC, entry)

    def set_thread_entry(self, uc: Uc, pc: int, sp: int, arg: int, tls: int | None) -> None:
        uc.reg_write(A.UC_ARM64_REG_SP, sp & ~15)
        uc.reg_write(A.UC_ARM64_REG_PC, pc)
        uc.reg_write(A.UC_ARM64_REG_X30, pc)
        uc.reg_write(A.UC_ARM64_REG_X0, arg)
        if tls is not None:
            uc.reg_write(A.UC_ARM64_REG_TPIDR_EL0, tls)

    def set_second_result(self, uc: Uc, value: int) -> None:
        uc.reg_write(A.UC_ARM64_REG_X1, value)

    def signal_frames(self) -> FreeBsdArm64Frames:
        return FreeBsdArm64Frames(self.shared_page)

    # svc, with the carry (NZCV's C) for an error (sys/arm64/arm64/trap.c)
    syscall_convention = SyscallConvention(interrupt=_EXCP_SWI, error_reg=A.UC_ARM64_REG_NZCV,
                                           error_bit=_CARRY)

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        sigsegv, sigill, sigtrap, sigbus = (
            self.const(n) for n in ("SIGSEGV", "SIGILL", "SIGTRAP", "SIGBUS"))

        def fault_of(intno: int) -> Fault:
            pc = uc.reg_read(A.UC_ARM64_REG_PC)
            if intno == _EXCP_DATA_ABORT:
                # SIGBUS (BUS_ADRALN, 1 as on Linux: sys/sys/signal.h) for a
                # misaligned exclusive access, else SIGSEGV
                return data_abort_fault(uc, memory, (sigsegv, sigbus))
            if intno == _EXCP_PREFETCH_ABORT:
                return Fault(sigsegv, 1, pc, pc)
            if intno == _EXCP_BKPT:
                return Fault(sigtrap, 1, pc, pc)  # TRAP_BRKPT
            return Fault(sigill, 1, pc, pc)  # ILL_ILLOPC

        return fault_of

    def hwcap(self, model: str) -> int:
        # FreeBSD/arm64's HWCAP_* bits are Linux's (sys/arm64/include/elf.h)
        bits = 0
        for n in ("FP", "ASIMD", "AES", "PMULL", "SHA1", "SHA2", "CRC32", "CPUID"):
            bits |= aarch64_abi.HWCAP.get(f"HWCAP_{n}", 0)
        return bits

    def hwcap2(self, model: str) -> int:
        return 0


TARGET = FreeBsdAarch64Target
