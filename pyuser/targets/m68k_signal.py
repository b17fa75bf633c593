"""m68k signal frames: what a handler finds on its stack, and what
(rt_)sigreturn reads.

Layout (arch/m68k/kernel/signal.c, uapi asm/sigcontext.h, asm/ucontext.h;
m68k aligns longs to 2 bytes):

    sigcontext      { sc_mask @0, sc_usp @4, sc_d0 @8, sc_d1 @12, sc_a0 @16,
                      sc_a1 @20, sc_sr (u16) @24, sc_pc @26, sc_formatvec (u16)
                      @30, sc_fpregs[6] @32, sc_fpcntl[3] @56, sc_fpstate[216]
                      @68 }                                           284 bytes
    struct sigframe { pretcode @0, sig @4, code @8, psc @12, retcode[8] @16,
                      extramask[1] @24, sigcontext @28 }
    mcontext        { version (2) @0, gregs[18] (d0-d7, a0-a7, pc, sr) @4,
                      fpregs {f_fpcntl[3], f_fpregs[24]} @76 }         184 bytes
    ucontext        { uc_flags @0, uc_link @4, uc_stack @8 (sp, flags, size),
                      mcontext @20, uc_filler[80] @204, uc_sigmask @524 }
    struct rt_sigframe { pretcode @0, sig @4, pinfo @8, puc @12, retcode[8] @16,
                      siginfo @24, ucontext @152 }

The handler is called as a C function: the frame's first word is its return
address (pretcode, pointing at the return code) and its arguments follow
(sig, code, &sigcontext or sig, &siginfo, &ucontext).  When it returns, the
return code runs with the stack pointer 4 above the frame: (rt_)sigreturn
finds the frame at usp - 4.  The old frame restores d0, d1, a0, a1, the stack
pointer, the PC and the condition codes (d2-d7 and a2-a6 are callee-saved:
the handler keeps them); the rt frame restores all of gregs.  Only the
condition codes of SR are taken back (the guest cannot change its state).
Unicorn exposes no m68k FPU registers: the FP parts are zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import m68k_const as K

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import Target

DREGS = [K.UC_M68K_REG_D0 + i for i in range(8)]
AREGS = [K.UC_M68K_REG_A0 + i for i in range(8)]
SC_SIZE = 284
SF_SC = 28
SF_SIZE = SF_SC + SC_SIZE
RT_INFO, RT_UC = 24, 152
UC_STACK, UC_MCONTEXT, UC_SIGMASK = 8, 20, 524
RT_SIZE = RT_UC + UC_SIGMASK + 8
MCONTEXT_VERSION = 2
CCR = 0x1F  # the condition codes, the user byte of SR


class M68kSignalFrames:
    def __init__(self, target: Target, sigreturn_code: int, rt_sigreturn_code: int) -> None:
        self.target = target
        self.sigreturn_code = sigreturn_code
        self.rt_sigreturn_code = rt_sigreturn_code

    def frame_size(self, rt: bool) -> int:
        return RT_SIZE if rt else SF_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(K.UC_M68K_REG_A7)

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        pack = self.target.pack
        d = [v & 0xFFFFFFFF for v in uc.reg_read_batch(DREGS)]
        a = [v & 0xFFFFFFFF for v in uc.reg_read_batch(AREGS)]
        pc = uc.reg_read(K.UC_M68K_REG_PC) & 0xFFFFFFFF
        sr = uc.reg_read(K.UC_M68K_REG_SR) & 0xFFFF
        low, high = old_mask & 0xFFFFFFFF, (old_mask >> 32) & 0xFFFFFFFF
        if rt:
            mcontext = pack("i18I", MCONTEXT_VERSION, *d, *a, pc, sr).ljust(184, b"\0")
            ucontext = (pack("IIIiI", 0, 0, altstack[0], altstack[1], altstack[2]) + mcontext)
            ucontext = ucontext.ljust(UC_SIGMASK, b"\0") + self.target.sigset_bytes(old_mask, 8)
            data = (pack("IiII", self.rt_sigreturn_code, signo, frame + RT_INFO, frame + RT_UC)
                    + bytes(8) + siginfo.ljust(128, b"\0")[:128] + ucontext)
        else:
            sigcontext = pack("6IHIH", low, a[7], d[0], d[1], a[0], a[1], sr, pc,
                              trap_no * 4).ljust(SC_SIZE, b"\0")
            data = (pack("IiII", self.sigreturn_code, signo, trap_no, frame + SF_SC)
                    + bytes(8) + pack("I", high) + sigcontext)
        mem.write(frame, data)
        uc.reg_write(K.UC_M68K_REG_A7, frame)
        uc.reg_write(K.UC_M68K_REG_PC, handler)

    def _set_sr(self, uc: Uc, sr: int) -> None:
        """The condition codes.  A write of SR makes QEMU switch stack
        pointers (m68k_switch_sp), which loaded a stale one into A7 when the
        stack pointer had been written before it (measured: A7 became 0), so
        SR is written before the other registers."""
        now = uc.reg_read(K.UC_M68K_REG_SR)
        uc.reg_write(K.UC_M68K_REG_SR, (now & ~CCR) | (sr & CCR))

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        unpack = self.target.unpack
        frame = (uc.reg_read(K.UC_M68K_REG_A7) - 4) & 0xFFFFFFFF
        if rt:
            data = mem.read(frame + RT_UC, UC_SIGMASK + 8)
            ss_sp, ss_flags, ss_size = unpack("IiI", data, UC_STACK)
            gregs = unpack("18I", data, UC_MCONTEXT + 4)
            self._set_sr(uc, gregs[17])  # first: see _set_sr
            uc.reg_write_batch(list(zip(DREGS + AREGS, gregs[:16], strict=True)))
            uc.reg_write(K.UC_M68K_REG_PC, gregs[16])
            mask = self.target.sigset_value(data[UC_SIGMASK:UC_SIGMASK + 8])
            return mask, (ss_sp, ss_flags, ss_size)
        data = mem.read(frame, SF_SIZE)
        (high,) = unpack("I", data, 24)
        low, usp, d0, d1, a0, a1, sr, pc = unpack("6IHI", data, SF_SC)
        self._set_sr(uc, sr)  # first: see _set_sr
        uc.reg_write_batch([(K.UC_M68K_REG_D0, d0), (K.UC_M68K_REG_D1, d1),
                            (K.UC_M68K_REG_A0, a0), (K.UC_M68K_REG_A1, a1),
                            (K.UC_M68K_REG_A7, usp), (K.UC_M68K_REG_PC, pc)])
        return high << 32 | low, (0, 0, 0)
