"""x86_64 signal frames: what a handler finds on its stack, and what rt_sigreturn reads.

Layout (Linux arch/x86/kernel/signal.c, arch/x86/include/uapi/asm/sigcontext.h,
asm-generic/ucontext.h):

    struct rt_sigframe { char *pretcode @0; struct ucontext uc @8; siginfo_t info @312; }
    struct ucontext    { uc_flags @0, uc_link @8, uc_stack @16 (sp, flags, size),
                         uc_mcontext @40 (struct sigcontext, 256 bytes), uc_sigmask @296 }
    struct sigcontext  { r8-r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags,
                         cs, gs, fs, ss (16 bits each), err, trapno, oldmask, cr2,
                         fpstate (pointer), reserved[8] }
    fpstate            the 512-byte FXSAVE image (mxcsr @24, xmm0-15 @160), 64-aligned

The handler starts with rsp at pretcode, as if called: (rsp + 8) is 16-aligned.
Its `ret` pops pretcode (glibc's __restore_rt, always given as SA_RESTORER), so
rt_sigreturn finds the ucontext at rsp.  128 bytes of red zone are skipped.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import x86_const as X

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory

RED_ZONE = 128
UC_OFFSET = 8
UCONTEXT_SIZE = 304
INFO_OFFSET = UC_OFFSET + UCONTEXT_SIZE
RT_SIGFRAME_SIZE = INFO_OFFSET + 128
FXSAVE_SIZE = 512
UC_STACK = 16
UC_MCONTEXT = 40
UC_SIGMASK = 296

GREGS = [X.UC_X86_REG_R8, X.UC_X86_REG_R9, X.UC_X86_REG_R10, X.UC_X86_REG_R11,
         X.UC_X86_REG_R12, X.UC_X86_REG_R13, X.UC_X86_REG_R14, X.UC_X86_REG_R15,
         X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RBP, X.UC_X86_REG_RBX,
         X.UC_X86_REG_RDX, X.UC_X86_REG_RAX, X.UC_X86_REG_RCX, X.UC_X86_REG_RSP,
         X.UC_X86_REG_RIP, X.UC_X86_REG_EFLAGS]
XMM = [getattr(X, f"UC_X86_REG_XMM{i}") for i in range(16)]
# EFLAGS a handler starts without (TF, DF, RF) and those sigreturn may set
_EFLAGS_CLEAR_ON_ENTRY = (1 << 8) | (1 << 10) | (1 << 16)
_EFLAGS_USER = 0x40DD5  # CF PF AF ZF SF TF DF OF AC: FIX_EFLAGS of the kernel


class X86_64SignalFrames:  # noqa: N801 - the architecture's name
    def frame_size(self, rt: bool) -> int:
        return 16 + RT_SIGFRAME_SIZE + 64 + FXSAVE_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(X.UC_X86_REG_RSP) - RED_ZONE

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        base = frame + 8  # (base + 8) is 16-aligned, as after a call
        fpstate = (base + RT_SIGFRAME_SIZE + 63) & ~63
        gregs = uc.reg_read_batch(GREGS)
        fx = bytearray(FXSAVE_SIZE)
        struct.pack_into("<HH", fx, 0, 0x37F, 0)  # x87 control word default
        struct.pack_into("<II", fx, 24, uc.reg_read(X.UC_X86_REG_MXCSR), 0xFFFF)
        for i, value in enumerate(uc.reg_read_batch(XMM)):
            struct.pack_into("<QQ", fx, 160 + 16 * i, value & (2**64 - 1), value >> 64)

        ucb = bytearray(UCONTEXT_SIZE)
        struct.pack_into("<QiiQ", ucb, UC_STACK, altstack[0], altstack[1], 0, altstack[2])
        struct.pack_into("<18Q", ucb, UC_MCONTEXT, *gregs)
        struct.pack_into("<HHHH", ucb, UC_MCONTEXT + 144, 0x33, 0, 0, 0x2B)
        struct.pack_into("<5Q", ucb, UC_MCONTEXT + 152, 0, trap_no, old_mask & 2**64 - 1,
                         fault_address, fpstate)
        struct.pack_into("<Q", ucb, UC_SIGMASK, old_mask)

        mem.write(base, struct.pack("<Q", restorer))
        mem.write(base + UC_OFFSET, bytes(ucb))
        mem.write(base + INFO_OFFSET, siginfo)
        mem.write(fpstate, bytes(fx))

        uc.reg_write(X.UC_X86_REG_RDI, signo)
        uc.reg_write(X.UC_X86_REG_RSI, base + INFO_OFFSET)
        uc.reg_write(X.UC_X86_REG_RDX, base + UC_OFFSET)
        uc.reg_write(X.UC_X86_REG_RAX, 0)
        uc.reg_write(X.UC_X86_REG_RSP, base)
        uc.reg_write(X.UC_X86_REG_EFLAGS, gregs[17] & ~_EFLAGS_CLEAR_ON_ENTRY)
        uc.reg_write(X.UC_X86_REG_RIP, handler)

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        ucontext = uc.reg_read(X.UC_X86_REG_RSP)
        data = mem.read(ucontext, UCONTEXT_SIZE)
        ss_sp, ss_flags, _pad, ss_size = struct.unpack_from("<QiiQ", data, UC_STACK)
        gregs = list(struct.unpack_from("<18Q", data, UC_MCONTEXT))
        fpstate = struct.unpack_from("<Q", data, UC_MCONTEXT + 152 + 32)[0]
        (mask,) = struct.unpack_from("<Q", data, UC_SIGMASK)
        if fpstate:
            fx = mem.read(fpstate, FXSAVE_SIZE)
            (mxcsr,) = struct.unpack_from("<I", fx, 24)
            uc.reg_write(X.UC_X86_REG_MXCSR, mxcsr)
            for i, reg in enumerate(XMM):
                low, high = struct.unpack_from("<QQ", fx, 160 + 16 * i)
                uc.reg_write(reg, low | (high << 64))
        current = uc.reg_read(X.UC_X86_REG_EFLAGS)
        gregs[17] = (current & ~_EFLAGS_USER) | (gregs[17] & _EFLAGS_USER)
        uc.reg_write_batch(list(zip(GREGS, gregs, strict=True)))
        return mask, (ss_sp, ss_flags, ss_size)
