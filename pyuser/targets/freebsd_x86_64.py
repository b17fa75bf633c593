"""FreeBSD/amd64: the x86_64 CPU with FreeBSD's syscall convention and frames.

Facts, with their sources:
- Syscalls: `syscall`, number in rax, arguments rdi rsi rdx r10 r8 r9; on
  error the carry flag is set and rax holds the positive errno (sys/amd64/
  amd64/vm_machdep.c cpu_set_syscall_retval); rdx carries a second result
  (fork: 1 in the child).
- Entry (sys/amd64/amd64/exec_machdep.c exec_setregs): rdi = the address of
  argc, rsp = ((rdi - 8) & ~15) + 8.
- Signals (exec_machdep.c sendsig): 128 bytes of red zone are skipped; the
  16-aligned struct sigframe { handler @0; ucontext_t sf_uc @16; siginfo_t
  sf_si @896 } (sys/amd64/include/sigframe.h; ucontext and mcontext as Go's
  runtime/defs_freebsd_amd64.go has them, via the generated LAYOUTS) goes
  below; rsp = the frame, rip = the signal trampoline in the shared page,
  rdi = signo, rsi = &sf_si, rdx = &sf_uc, rcx = the fault address.  The
  trampoline (sys/amd64/amd64/sigtramp.S) calls the handler through the
  frame's first word, then sigreturn(&sf_uc).
- Faults (sys/amd64/amd64/trap.c): #PF is SIGSEGV (or SIGBUS for ...),
  #GP is SIGBUS/BUS_OBJERR, #DE is SIGFPE/FPE_INTDIV (2), #UD SIGILL/ILL_PRVOPC,
  #BP SIGTRAP/TRAP_BRKPT; mc_trapno holds FreeBSD's T_* number (machine/trap.h).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import x86_const as X

from pyuser.targets.base import Fault, SyscallConvention
from pyuser.targets.freebsd import (
    FREEBSD_IGNORED_BY_DEFAULT,
    FREEBSD_MAY_BLOCK,
    encode_freebsd_siginfo,
)
from pyuser.targets.generated import freebsd_x86_64_abi
from pyuser.targets.x86_64 import ExceptionLatch, X86_64Target

if TYPE_CHECKING:
    from collections.abc import Callable

    from unicorn import Uc

    from pyuser.memory import GuestMemory
    from pyuser.targets.siginfo import SigInfo

_CF = 1
_LAYOUT = freebsd_x86_64_abi.LAYOUTS
UCONTEXT_SIZE = _LAYOUT["ucontext"][0]
_UC = _LAYOUT["ucontext"][1]
SF_UC = 16
SF_SI = SF_UC + UCONTEXT_SIZE
SIGFRAME_SIZE = (SF_SI + 80 + 15) & ~15
_MC = _UC["uc_mcontext.mc_onstack"][0]
_FPSTATE = _UC["uc_mcontext.mc_fpstate"][0]
# mcontext's general registers from mc_rdi on, in their order (struct trapframe)
_GREG_NAMES = ("rdi", "rsi", "rdx", "rcx", "r8", "r9", "rax", "rbx", "rbp", "r10", "r11",
               "r12", "r13", "r14", "r15")
_GREGS = [getattr(X, f"UC_X86_REG_{n.upper()}") for n in _GREG_NAMES]
_XMM = [getattr(X, f"UC_X86_REG_XMM{i}") for i in range(16)]
_MC_FPFMT_XMM, _MC_FPOWNED_FPU, _MC_HASSEGS, _MC_HASBASES = 0x10002, 0x20001, 1, 2
_EFLAGS_USER = 0x40DD5  # CF PF AF ZF SF TF DF OF AC: what sigreturn may change
# FreeBSD trap numbers (sys/x86/include/trap.h)
_T_PRIVINFLT, _T_BPTFLT, _T_PROTFLT, _T_PAGEFLT, _T_DIVIDE = 1, 3, 9, 12, 18

# sys/amd64/amd64/sigtramp.S, the same instructions:
#   call *0(%rsp); lea 16(%rsp),%rdi; pushq $0; mov $SYS_sigreturn,%eax; syscall; hlt; jmp .-1
SIGCODE = (b"\xff\x14\x24" + b"\x48\x8d\x7c\x24" + bytes([SF_UC]) + b"\x6a\x00"
           + b"\xb8" + struct.pack("<I", freebsd_x86_64_abi.SYSCALLS["sigreturn"])
           + b"\x0f\x05" + b"\xf4\xeb\xfd")


def _field(name: str) -> int:
    return _UC[f"uc_mcontext.{name}"][0]


class FreeBsdAmd64Frames:
    """struct sigframe of FreeBSD/amd64, and sigreturn(ucontext_t *)."""

    ucontext_size = UCONTEXT_SIZE

    def __init__(self, sigcode: int) -> None:
        self.sigcode = sigcode

    def frame_size(self, rt: bool) -> int:
        return SIGFRAME_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(X.UC_X86_REG_RSP) - 128

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        ucb = bytearray(UCONTEXT_SIZE)
        struct.pack_into("<QQ", ucb, 0, old_mask & (2**64 - 1), old_mask >> 64)
        struct.pack_into("<15Q", ucb, _field("mc_rdi"), *uc.reg_read_batch(_GREGS))
        struct.pack_into("<IHH", ucb, _field("mc_trapno"), trap_no, 0, 0)
        struct.pack_into("<Q", ucb, _field("mc_addr"), fault_address)
        struct.pack_into("<I", ucb, _field("mc_flags"), _MC_HASSEGS | _MC_HASBASES)
        rip, rflags, rsp = uc.reg_read_batch([X.UC_X86_REG_RIP, X.UC_X86_REG_EFLAGS,
                                              X.UC_X86_REG_RSP])
        struct.pack_into("<6Q", ucb, _field("mc_rip"), rip, 0x43, rflags, rsp, 0x3B, 800)
        struct.pack_into("<QQ", ucb, _field("mc_fpformat"), _MC_FPFMT_XMM, _MC_FPOWNED_FPU)
        fx = _FPSTATE
        struct.pack_into("<HH", ucb, fx, uc.reg_read(X.UC_X86_REG_FPCW), 0)
        struct.pack_into("<II", ucb, fx + 24, uc.reg_read(X.UC_X86_REG_MXCSR), 0xFFFF)
        for i, value in enumerate(uc.reg_read_batch(_XMM)):
            struct.pack_into("<QQ", ucb, fx + 160 + 16 * i, value & (2**64 - 1), value >> 64)
        struct.pack_into("<QQ", ucb, _field("mc_fsbase"), uc.reg_read(X.UC_X86_REG_FS_BASE),
                         uc.reg_read(X.UC_X86_REG_GS_BASE))
        ss_sp, ss_flags, ss_size = altstack
        # stack_t: ss_sp, ss_size, ss_flags (SS_DISABLE is 4 on FreeBSD, not Linux's 2)
        struct.pack_into("<QQi", ucb, _UC["uc_stack.ss_sp"][0], ss_sp, ss_size,
                         4 if ss_flags == 2 else ss_flags)
        mem.write(frame, struct.pack("<QQ", handler, 0) + bytes(ucb) + siginfo)
        uc.reg_write_batch([(X.UC_X86_REG_RDI, signo), (X.UC_X86_REG_RSI, frame + SF_SI),
                            (X.UC_X86_REG_RDX, frame + SF_UC), (X.UC_X86_REG_RCX, fault_address),
                            (X.UC_X86_REG_RSP, frame), (X.UC_X86_REG_RIP, self.sigcode),
                            (X.UC_X86_REG_EFLAGS, rflags & ~((1 << 8) | (1 << 10)))])

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        ucontext = uc.reg_read(X.UC_X86_REG_RDI)  # sigreturn's argument
        data = mem.read(ucontext, UCONTEXT_SIZE)
        low, high = struct.unpack_from("<QQ", data, 0)
        gregs = struct.unpack_from("<15Q", data, _field("mc_rdi"))
        rip, _cs, rflags, rsp = struct.unpack_from("<4Q", data, _field("mc_rip"))
        fx = _FPSTATE
        (mxcsr,) = struct.unpack_from("<I", data, fx + 24)
        uc.reg_write(X.UC_X86_REG_MXCSR, mxcsr & 0xFFFF)
        for i, reg in enumerate(_XMM):
            lo, hi = struct.unpack_from("<QQ", data, fx + 160 + 16 * i)
            uc.reg_write(reg, lo | (hi << 64))
        fsbase, gsbase = struct.unpack_from("<QQ", data, _field("mc_fsbase"))
        current = uc.reg_read(X.UC_X86_REG_EFLAGS)
        uc.reg_write_batch(list(zip(_GREGS, gregs, strict=True)) + [
            (X.UC_X86_REG_RSP, rsp), (X.UC_X86_REG_RIP, rip), (X.UC_X86_REG_FS_BASE, fsbase),
            (X.UC_X86_REG_GS_BASE, gsbase),
            (X.UC_X86_REG_EFLAGS, (current & ~_EFLAGS_USER) | (rflags & _EFLAGS_USER))])
        ss_sp, ss_size, ss_flags = struct.unpack_from("<QQi", data, _UC["uc_stack.ss_sp"][0])
        return low | high << 64, (ss_sp, ss_flags, ss_size)


class FreeBsdX86_64Target(X86_64Target):  # noqa: N801 - the architecture's name
    name = "freebsd-x86_64"
    ignored_by_default = FREEBSD_IGNORED_BY_DEFAULT
    may_block_syscalls = FREEBSD_MAY_BLOCK
    abi = freebsd_x86_64_abi
    uname_machine = "amd64"
    platform = ""
    syscall_families = ("freebsd_amd64",)
    sigcode = SIGCODE
    # the shared page (signal trampoline) sits at the top of user space, the
    # stack right below it, as on FreeBSD (SHAREDPAGE, USRSTACK)
    shared_page = X86_64Target.stack_top

    def encode_siginfo(self, info: SigInfo) -> bytes:
        return encode_freebsd_siginfo(info, self.const("SIGCHLD"))

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        uc.reg_write(X.UC_X86_REG_RDI, sp)
        uc.reg_write(X.UC_X86_REG_RSP, ((sp - 8) & ~15) + 8)
        uc.reg_write(X.UC_X86_REG_RIP, entry)

    def set_thread_entry(self, uc: Uc, pc: int, sp: int, arg: int, tls: int | None) -> None:
        """A thr_new thread (sys/amd64/amd64/vm_machdep.c cpu_set_upcall)."""
        uc.reg_write(X.UC_X86_REG_RSP, (sp & ~15) - 8)
        uc.reg_write(X.UC_X86_REG_RIP, pc)
        uc.reg_write(X.UC_X86_REG_RDI, arg)
        if tls is not None:
            uc.reg_write(X.UC_X86_REG_FS_BASE, tls)

    def set_second_result(self, uc: Uc, value: int) -> None:
        uc.reg_write(X.UC_X86_REG_RDX, value)

    def signal_frames(self) -> FreeBsdAmd64Frames:
        return FreeBsdAmd64Frames(self.shared_page)

    # `syscall`, with FreeBSD's carry flag for an error (sys/amd64/amd64/trap.c)
    syscall_convention = SyscallConvention(interrupt=None, instruction=X.UC_X86_INS_SYSCALL,
                                           error_reg=X.UC_X86_REG_EFLAGS, error_bit=_CF)

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        latch = ExceptionLatch(uc)
        c = self.const
        sigsegv, sigbus, sigill, sigtrap, sigfpe = (
            c(n) for n in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGTRAP", "SIGFPE"))

        def fault_of(intno: int) -> Fault:
            latch.clear()  # else the next fault is a double fault
            pc = uc.reg_read(X.UC_X86_REG_RIP)
            if intno == 14:
                return Fault(sigsegv, 1, uc.reg_read(X.UC_X86_REG_CR2), pc, _T_PAGEFLT)
            if intno == 13:
                return Fault(sigbus, 3, pc, pc, _T_PROTFLT)  # BUS_OBJERR
            if intno == 0:
                return Fault(sigfpe, 2, pc, pc, _T_DIVIDE)  # FPE_INTDIV
            if intno in (1, 3):
                return Fault(sigtrap, 1, pc, pc, _T_BPTFLT)  # TRAP_BRKPT
            return Fault(sigill, 2, pc, pc, _T_PRIVINFLT)  # ILL_ILLOPN

        return fault_of

    def hwcap(self, model: str) -> int:
        return 0  # FreeBSD/amd64 passes no AT_HWCAP; programs use CPUID


TARGET = FreeBsdX86_64Target
