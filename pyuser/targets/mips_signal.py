"""MIPS o32 signal frames (mipsel and mips): what a handler finds on its stack, and what
(rt_)sigreturn reads.  The layout is the same in both byte orders.

Layout (Linux arch/mips/kernel/signal.c, uapi asm/sigcontext.h for o32,
asm/ucontext.h, asm/signal.h):

    struct sigframe    { sf_ass[4] @0, sf_pad[2] @16, struct sigcontext sf_sc @24 (592),
                         sigset_t sf_mask @616 (16) }
    struct rt_sigframe { rs_ass[4] @0, rs_pad[2] @16, siginfo rs_info @24 (128),
                         struct ucontext rs_uc @152 }
    struct ucontext    { uc_flags @0, uc_link @4, stack_t uc_stack @8 (ss_sp, ss_size,
                         ss_flags: MIPS order), uc_mcontext @24 (sigcontext),
                         uc_sigmask @616 (16) }
    struct sigcontext  { sc_regmask @0, sc_status @4, sc_pc @8 (u64), sc_regs[32] @16 (u64),
                         sc_fpregs[32] @272 (u64), sc_acx @528, sc_fpc_csr @532,
                         sc_fpc_eir @536, sc_used_math @540, sc_dsp @544,
                         sc_mdhi @552 (u64), sc_mdlo @560 (u64), hi1..lo3 @568 }

The handler gets a0 = signo, a1 = &info (rt) or 0, a2 = &uc (rt) or &sc, and
t9 = pc = handler; it returns through ra, which Linux points at its vDSO's
sigreturn code (MIPS has no SA_RESTORER): pyuser's [vdso] page holds
`li v0, 4119; syscall` and `li v0, 4193; syscall`.  The 32-bit registers are
saved sign-extended to 64 bits, as the kernel does.  FP registers are saved
as Unicorn holds them (64-bit cells) and restored the same way.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import mips_const as M

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import Target

SIGCONTEXT_SIZE = 592
SIGFRAME_SIZE = 632
RT_UC = 152
UC_STACK = 8
UC_MCONTEXT = 24
UC_SIGMASK = 616
RT_SIGFRAME_SIZE = RT_UC + UC_SIGMASK + 16
FCSR_CAUSE = 0x3F << 12  # FCSR's Cause field (MIPS32 FPU, FCSR bits 12-17)

GREGS = [M.UC_MIPS_REG_0 + i for i in range(32)]
FREGS = [M.UC_MIPS_REG_F0 + i for i in range(32)]


def _sext(value: int) -> int:
    value &= 0xFFFFFFFF
    return value | 0xFFFFFFFF00000000 if value & 0x80000000 else value


class MipsSignalFrames:
    def __init__(self, target: Target, sigreturn_code: int, rt_sigreturn_code: int) -> None:
        self.target = target
        self.order = target.byte_order
        self.sigreturn_code = sigreturn_code
        self.rt_sigreturn_code = rt_sigreturn_code

    def frame_size(self, rt: bool) -> int:
        return RT_SIGFRAME_SIZE if rt else SIGFRAME_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(M.UC_MIPS_REG_SP)

    def _sigcontext(self, uc: Uc) -> bytes:
        regs = [_sext(v) for v in uc.reg_read_batch(GREGS)]
        regs[0] = 0
        fregs = [v & 0xFFFFFFFFFFFFFFFF for v in uc.reg_read_batch(FREGS)]
        sc = bytearray(SIGCONTEXT_SIZE)
        o = self.order
        struct.pack_into(o + "Q32Q32Q", sc, 8, _sext(uc.reg_read(M.UC_MIPS_REG_PC)), *regs, *fregs)
        struct.pack_into(o + "II", sc, 532, uc.reg_read(M.UC_MIPS_REG_FCSR) & 0xFFFFFFFF, 0)
        struct.pack_into(o + "I", sc, 540, 1)  # sc_used_math
        struct.pack_into(o + "QQ", sc, 552, _sext(uc.reg_read(M.UC_MIPS_REG_HI)),
                         _sext(uc.reg_read(M.UC_MIPS_REG_LO)))
        return bytes(sc)

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        sc = self._sigcontext(uc)
        mask = self.target.sigset_bytes(old_mask, 16)
        if rt:
            uc_bytes = self.target.pack("IIIII", 0, 0, altstack[0], altstack[2], altstack[1])
            uc_bytes = uc_bytes.ljust(UC_MCONTEXT, b"\0") + sc + mask
            mem.write(frame, bytes(24) + siginfo + uc_bytes)
            uc.reg_write(M.UC_MIPS_REG_A1, frame + 24)
            uc.reg_write(M.UC_MIPS_REG_A2, frame + RT_UC)
            uc.reg_write(M.UC_MIPS_REG_RA, self.rt_sigreturn_code)
        else:
            mem.write(frame, bytes(24) + sc + mask)
            uc.reg_write(M.UC_MIPS_REG_A1, 0)
            uc.reg_write(M.UC_MIPS_REG_A2, frame + 24)
            uc.reg_write(M.UC_MIPS_REG_RA, self.sigreturn_code)
        uc.reg_write(M.UC_MIPS_REG_A0, signo)
        uc.reg_write(M.UC_MIPS_REG_SP, frame)
        uc.reg_write(M.UC_MIPS_REG_T9, handler)
        uc.reg_write(M.UC_MIPS_REG_PC, handler)

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        sp = uc.reg_read(M.UC_MIPS_REG_SP)
        if rt:
            data = mem.read(sp + RT_UC, UC_SIGMASK + 16)
            ss_sp, ss_size, ss_flags = self.target.unpack("IIi", data, UC_STACK)
            sc = data[UC_MCONTEXT:UC_MCONTEXT + SIGCONTEXT_SIZE]
            mask = self.target.sigset_value(data[UC_SIGMASK:UC_SIGMASK + 16])
            altstack = (ss_sp, ss_flags, ss_size)
        else:
            data = mem.read(sp + 24, SIGCONTEXT_SIZE + 16)
            sc = data[:SIGCONTEXT_SIZE]
            mask = self.target.sigset_value(data[SIGCONTEXT_SIZE:SIGCONTEXT_SIZE + 16])
            altstack = (0, 0, 0)
        values = self.target.unpack("Q32Q32Q", sc, 8)
        pc, regs, fregs = values[0], values[1:33], values[33:65]
        (fcsr,) = self.target.unpack("I", sc, 532)
        hi, lo = self.target.unpack("QQ", sc, 552)
        uc.reg_write_batch([(r, v & 0xFFFFFFFF) for r, v in zip(GREGS[1:], regs[1:],
                                                                 strict=True)])
        uc.reg_write_batch(list(zip(FREGS, fregs, strict=True)))
        # Unicorn raises at once when a written FCSR has a cause bit that is also
        # enabled (Linux would raise SIGFPE at the next FP instruction): the
        # cause field (bits 12-17) is left clear
        uc.reg_write(M.UC_MIPS_REG_FCSR, fcsr & ~FCSR_CAUSE)
        uc.reg_write(M.UC_MIPS_REG_HI, hi & 0xFFFFFFFF)
        uc.reg_write(M.UC_MIPS_REG_LO, lo & 0xFFFFFFFF)
        uc.reg_write(M.UC_MIPS_REG_PC, pc & 0xFFFFFFFF)
        return mask, altstack
