"""RISC-V 64 signal frames: what a handler finds on its stack, and what rt_sigreturn reads.

Layout (Linux arch/riscv/kernel/signal.c, uapi asm/sigcontext.h and
asm/ptrace.h; offsets checked by compiling against riscv64-linux-gnu's
<ucontext.h>):

    struct rt_sigframe { siginfo_t info (128); struct ucontext uc (960); }
    struct ucontext  { uc_flags @0, uc_link @8, uc_stack @16 (sp, flags, size),
                       uc_sigmask @40 (8 bytes of a 128-byte slot),
                       uc_mcontext @176 (struct sigcontext, 16-aligned) }
    struct sigcontext { user_regs_struct @0: pc, then x1..x31 (32 x 8);
                        __riscv_fp_state @256: d_ext f[32] (64-bit), fcsr @512 }

The handler gets a0 = signo, a1 = &info, a2 = &uc, and returns through ra,
which Linux points at its vDSO's rt_sigreturn (RISC-V has no SA_RESTORER):
pyuser's trampoline page holds `li a7, 139; ecall`.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import riscv_const as R

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory

SIGINFO_SIZE = 128
UCONTEXT_SIZE = 960
RT_SIGFRAME_SIZE = SIGINFO_SIZE + UCONTEXT_SIZE
UC_STACK = 16
UC_SIGMASK = 40
UC_MCONTEXT = 176
SC_FP = UC_MCONTEXT + 256

X_REGS = [R.UC_RISCV_REG_X1 + i for i in range(31)]  # x1..x31
F_REGS = [R.UC_RISCV_REG_F0 + i for i in range(32)]


class Riscv64SignalFrames:
    """Builds and unwinds riscv64 signal frames for one process."""

    def __init__(self, trampoline: int) -> None:
        self.trampoline = trampoline

    def frame_size(self, rt: bool) -> int:
        return RT_SIGFRAME_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(R.UC_RISCV_REG_SP)

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        x = uc.reg_read_batch(X_REGS)
        pc = uc.reg_read(R.UC_RISCV_REG_PC)
        f = uc.reg_read_batch(F_REGS)
        fcsr = uc.reg_read(R.UC_RISCV_REG_FCSR)

        uc_bytes = bytearray(UCONTEXT_SIZE)
        struct.pack_into("<QiiQ", uc_bytes, UC_STACK, altstack[0], altstack[1], 0, altstack[2])
        struct.pack_into("<Q", uc_bytes, UC_SIGMASK, old_mask)
        struct.pack_into("<32Q", uc_bytes, UC_MCONTEXT, pc, *x)
        struct.pack_into("<32QI", uc_bytes, SC_FP - 0, *f, fcsr & 0xFF)
        mem.write(frame, siginfo)
        mem.write(frame + SIGINFO_SIZE, bytes(uc_bytes))

        uc.reg_write(R.UC_RISCV_REG_A0, signo)
        uc.reg_write(R.UC_RISCV_REG_A1, frame)
        uc.reg_write(R.UC_RISCV_REG_A2, frame + SIGINFO_SIZE)
        uc.reg_write(R.UC_RISCV_REG_SP, frame)
        uc.reg_write(R.UC_RISCV_REG_RA, restorer or self.trampoline)
        uc.reg_write(R.UC_RISCV_REG_PC, handler)

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        frame = uc.reg_read(R.UC_RISCV_REG_SP)
        data = mem.read(frame + SIGINFO_SIZE, UCONTEXT_SIZE)
        ss_sp, ss_flags, _pad, ss_size = struct.unpack_from("<QiiQ", data, UC_STACK)
        (mask,) = struct.unpack_from("<Q", data, UC_SIGMASK)
        regs = struct.unpack_from("<32Q", data, UC_MCONTEXT)
        fp = struct.unpack_from("<32QI", data, SC_FP)
        uc.reg_write_batch(list(zip(F_REGS, fp[:32], strict=True)))
        uc.reg_write(R.UC_RISCV_REG_FCSR, fp[32] & 0xFF)
        uc.reg_write_batch(list(zip(X_REGS, regs[1:], strict=True)))
        uc.reg_write(R.UC_RISCV_REG_PC, regs[0])
        return mask, (ss_sp, ss_flags, ss_size)
