"""MIPS n64 signal frames (mips64el and mips64): what a handler finds on its
stack, and what rt_sigreturn reads.  The layout is the same in both byte orders.

n64 has only the rt frame: Linux builds it for every handler, SA_SIGINFO or
not (the traditional sigframe is o32's; arch/mips/kernel/signal.c sets up
`setup_rt_frame` for the native 64-bit ABI), and there is no sigreturn
syscall, only rt_sigreturn (5211).  Layout (arch/mips/kernel/signal.c,
uapi asm/sigcontext.h for _MIPS_SIM_ABI64, asm/ucontext.h; the offsets were
checked with the cross compiler's offsetof on glibc's ucontext_t, whose
first 640 bytes are the kernel's):

    struct rt_sigframe { u32 rs_ass[4] @0, u32 rs_pad[2] @16, siginfo rs_info @24 (128),
                         struct ucontext rs_uc @152 }
    struct ucontext    { uc_flags @0, uc_link @8, stack_t uc_stack @16 (ss_sp, ss_size,
                         ss_flags: MIPS order, 24 bytes), uc_mcontext @40 (600),
                         uc_sigmask @640 (16) }
    struct sigcontext  { sc_regs[32] @0, sc_fpregs[32] @256, sc_mdhi @512, sc_hi1..3,
                         sc_mdlo @544, sc_lo1..3, sc_pc @576, sc_fpc_csr @584 (u32),
                         sc_used_math @588, sc_dsp @592, sc_reserved @596 }

The handler gets a0 = signo, a1 = &info, a2 = &uc and t9 = pc = handler, and
returns through ra, which points at `li v0, 5211; syscall` in pyuser's
[vdso] page (MIPS has no SA_RESTORER).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import mips_const as M

from pyuser.targets.mips_signal import FCSR_CAUSE, FREGS, GREGS

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import Target

SIGCONTEXT_SIZE = 600
RT_INFO = 24
RT_UC = 152
UC_STACK = 16
UC_MCONTEXT = 40
UC_SIGMASK = 640
RT_SIGFRAME_SIZE = RT_UC + UC_SIGMASK + 16
SC_MDHI = 512
SC_MDLO = 544
SC_PC = 576
SC_FPC_CSR = 584
U64 = 0xFFFFFFFFFFFFFFFF


class Mips64SignalFrames:
    def __init__(self, target: Target, rt_sigreturn_code: int) -> None:
        self.target = target
        self.rt_sigreturn_code = rt_sigreturn_code

    def frame_size(self, rt: bool) -> int:
        return RT_SIGFRAME_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(M.UC_MIPS_REG_SP)

    def _sigcontext(self, uc: Uc) -> bytes:
        regs = [v & U64 for v in uc.reg_read_batch(GREGS)]
        regs[0] = 0
        fregs = [v & U64 for v in uc.reg_read_batch(FREGS)]
        pack = self.target.pack
        sc = bytearray(SIGCONTEXT_SIZE)
        sc[0:512] = pack("64Q", *regs, *fregs)
        sc[SC_MDHI:SC_MDHI + 8] = pack("Q", uc.reg_read(M.UC_MIPS_REG_HI) & U64)
        sc[SC_MDLO:SC_MDLO + 8] = pack("Q", uc.reg_read(M.UC_MIPS_REG_LO) & U64)
        sc[SC_PC:SC_PC + 16] = pack("QII", uc.reg_read(M.UC_MIPS_REG_PC) & U64,
                                    uc.reg_read(M.UC_MIPS_REG_FCSR) & 0xFFFFFFFF, 1)
        return bytes(sc)

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        target = self.target
        ucontext = target.pack("QQQQi", 0, 0, altstack[0], altstack[2], altstack[1])
        ucontext = (ucontext.ljust(UC_MCONTEXT, b"\0") + self._sigcontext(uc)
                    + target.sigset_bytes(old_mask, 16))
        mem.write(frame, bytes(RT_INFO) + siginfo.ljust(RT_UC - RT_INFO, b"\0") + ucontext)
        uc.reg_write(M.UC_MIPS_REG_A0, signo)
        uc.reg_write(M.UC_MIPS_REG_A1, frame + RT_INFO)
        uc.reg_write(M.UC_MIPS_REG_A2, frame + RT_UC)
        uc.reg_write(M.UC_MIPS_REG_RA, self.rt_sigreturn_code)
        uc.reg_write(M.UC_MIPS_REG_SP, frame)
        uc.reg_write(M.UC_MIPS_REG_T9, handler)
        uc.reg_write(M.UC_MIPS_REG_PC, handler)

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        target = self.target
        sp = uc.reg_read(M.UC_MIPS_REG_SP)
        data = mem.read(sp + RT_UC, UC_SIGMASK + 16)
        ss_sp, ss_size, ss_flags = target.unpack("QQi", data, UC_STACK)
        sc = data[UC_MCONTEXT:UC_MCONTEXT + SIGCONTEXT_SIZE]
        mask = target.sigset_value(data[UC_SIGMASK:UC_SIGMASK + 8])
        values = target.unpack("64Q", sc)
        regs, fregs = values[:32], values[32:]
        (hi,) = target.unpack("Q", sc, SC_MDHI)
        (lo,) = target.unpack("Q", sc, SC_MDLO)
        pc, fcsr = target.unpack("QI", sc, SC_PC)
        uc.reg_write_batch(list(zip(GREGS[1:], regs[1:], strict=True)))
        uc.reg_write_batch(list(zip(FREGS, fregs, strict=True)))
        # a cause bit that is also enabled would raise at once in Unicorn
        # (mips_signal.py): the cause field is left clear
        uc.reg_write(M.UC_MIPS_REG_FCSR, fcsr & ~FCSR_CAUSE)
        uc.reg_write(M.UC_MIPS_REG_HI, hi)
        uc.reg_write(M.UC_MIPS_REG_LO, lo)
        uc.reg_write(M.UC_MIPS_REG_PC, pc)
        return mask, (ss_sp, ss_flags, ss_size)
