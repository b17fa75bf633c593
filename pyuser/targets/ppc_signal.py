"""PowerPC signal frames (ppc and ppc64): what a handler finds on its stack,
and what (rt_)sigreturn reads.

32-bit (arch/powerpc/kernel/signal_32.c, uapi asm/ucontext.h, asm/sigcontext.h,
asm/elf.h):

    mcontext        { mc_gregs[48] (u32) @0, mc_fregs[33] (f64, fpscr last) @192,
                      mc_pad[2] @456, mc_vregs (16-aligned) @464 }       992 bytes
    ucontext        { uc_flags @0, uc_link @4, uc_stack @8 (sp, flags, size),
                      uc_pad[7] @20, uc_regs (-> uc_mcontext) @48, uc_sigmask @52,
                      uc_maskext[30], uc_pad2[3], uc_mcontext @192 }    1184 bytes
    rt_sigframe     { siginfo @0, ucontext @128, abigap[56] }
    sigframe        { sigcontext {_unused[4] (_unused[3]: mask's high word),
                      signal @16, handler @20, oldmask @24, regs @28} @0,
                      mcontext @32, abigap[56] }

The handler's stack pointer is the frame minus __SIGNAL_FRAMESIZE (64), plus
16 more for the rt frame, with the interrupted r1 stored there as the back
chain; r3 = signo, r4 = &siginfo and r5 = &ucontext (rt) or r4 = &sigcontext.
rt_sigreturn finds the frame at r1 + 80 and loads the mcontext uc_regs points
to; sigreturn finds the sigcontext at r1 + 64 and loads the mcontext its
`regs` points to.

64-bit (arch/powerpc/kernel/signal_64.c): one rt frame, for handlers with and
without SA_SIGINFO:

    sigcontext      { _unused[4] @0, signal @32, handler @40, oldmask @48,
                      regs (-> gp_regs) @56, gp_regs[48] @64, fp_regs[33] @448,
                      v_regs @712, vmx_reserve[101] @720 }              1528 bytes
    ucontext        { uc_flags @0, uc_link @8, uc_stack @16 (sp, flags, size),
                      uc_sigmask @40, __unused[15], uc_mcontext @168 }  1696 bytes
    rt_sigframe     { ucontext @0, _unused[2] @1696, tramp[7] @1712, pinfo @1744,
                      puc @1752, siginfo @1760, abigap[512] }           2400 bytes

The handler's r1 is the frame minus 128; r3 = signo, r4 = &siginfo, r5 =
&ucontext, r6 = the frame (SA_SIGINFO) or r4 = &uc_mcontext.  With ELFv1 the
handler is a function descriptor: the entry is its first word and r2 (TOC)
its second.  rt_sigreturn finds the ucontext at r1 + 128.

Both return through the link register: PowerPC has no SA_RESTORER (Linux
returns through its vDSO's trampolines), so LR is pyuser's [vdso] page's
`li r0, 119; sc` / `li r0, 172; sc`.  gregs: r0-r31, then nip (32), msr, orig_gpr3,
ctr, link, xer, ccr (38), mq/softe, trap (40), dar, dsisr, result (asm/ptrace.h
PT_*).  The MSR is not restored (a guest cannot change its mode);
AltiVec/VSX registers are not saved (Unicorn 2.1.4 exposes none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import ppc_const as P

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import Target

GPRS = [P.UC_PPC_REG_0 + i for i in range(32)]
FPRS = [P.UC_PPC_REG_FPR0 + i for i in range(32)]
PT_NIP, PT_MSR, PT_ORIG_R3, PT_CTR, PT_LNK, PT_XER, PT_CCR = 32, 33, 34, 35, 36, 37, 38
PT_SOFTE, PT_TRAP, PT_DAR = 39, 40, 41
NGREG = 48
# 32-bit
MC_SIZE = 992
MC_FREGS = NGREG * 4
UC32_STACK, UC32_REGS, UC32_SIGMASK, UC32_MCONTEXT = 8, 48, 52, 192
RT32_UC = 128
RT32_SIZE = RT32_UC + UC32_MCONTEXT + MC_SIZE + 224
RT32_BELOW = 64 + 16
SF32_MCONTEXT = 32
SF32_SIZE = SF32_MCONTEXT + MC_SIZE + 224
SF32_BELOW = 64
# 64-bit
SC64_GREGS, SC64_FREGS, SC64_VREGS = 64, 448, 712
SC64_SIZE = 1528
UC64_STACK, UC64_SIGMASK, UC64_MCONTEXT = 16, 40, 168
RT64_PINFO, RT64_INFO = 1744, 1760
RT64_SIZE = 2400
RT64_BELOW = 128


class PpcSignalFrames:
    def __init__(self, target: Target, sigreturn_code: int, rt_sigreturn_code: int) -> None:
        self.target = target
        self.wide = target.word_size == 8
        self.sigreturn_code = sigreturn_code
        self.rt_sigreturn_code = rt_sigreturn_code

    def frame_size(self, rt: bool) -> int:
        if self.wide:
            return RT64_SIZE + RT64_BELOW
        return RT32_SIZE + RT32_BELOW if rt else SF32_SIZE + SF32_BELOW

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(P.UC_PPC_REG_1)

    # ------------------------------------------------------------ registers
    def _gregs(self, uc: Uc, fault_address: int, trap_no: int) -> list[int]:
        mask = self.target.word_mask
        gregs = [v & mask for v in uc.reg_read_batch(GPRS)] + [0] * (NGREG - 32)
        gregs[PT_NIP] = uc.reg_read(P.UC_PPC_REG_PC) & mask
        gregs[PT_MSR] = uc.reg_read(P.UC_PPC_REG_MSR) & mask
        gregs[PT_CTR] = uc.reg_read(P.UC_PPC_REG_CTR) & mask
        gregs[PT_LNK] = uc.reg_read(P.UC_PPC_REG_LR) & mask
        gregs[PT_XER] = uc.reg_read(P.UC_PPC_REG_XER) & 0xFFFFFFFF
        gregs[PT_CCR] = uc.reg_read(P.UC_PPC_REG_CR) & 0xFFFFFFFF
        gregs[PT_SOFTE] = 1 if self.wide else 0
        gregs[PT_TRAP] = trap_no
        gregs[PT_DAR] = fault_address & mask
        return gregs

    def _fregs(self, uc: Uc) -> bytes:
        values = [v & 0xFFFFFFFFFFFFFFFF for v in uc.reg_read_batch(FPRS)]
        return self.target.pack("33Q", *values, uc.reg_read(P.UC_PPC_REG_FPSCR) & 0xFFFFFFFF)

    def _load(self, uc: Uc, gregs: tuple, fregs: bytes) -> None:
        uc.reg_write_batch(list(zip(GPRS, gregs[:32], strict=True)))
        uc.reg_write(P.UC_PPC_REG_CTR, gregs[PT_CTR])
        uc.reg_write(P.UC_PPC_REG_LR, gregs[PT_LNK])
        uc.reg_write(P.UC_PPC_REG_XER, gregs[PT_XER] & 0xFFFFFFFF)
        uc.reg_write(P.UC_PPC_REG_CR, gregs[PT_CCR] & 0xFFFFFFFF)
        values = self.target.unpack("33Q", fregs)
        uc.reg_write_batch(list(zip(FPRS, values[:32], strict=True)))
        uc.reg_write(P.UC_PPC_REG_FPSCR, values[32] & 0xFFFFFFFF)
        uc.reg_write(P.UC_PPC_REG_PC, gregs[PT_NIP])

    # ------------------------------------------------------------ frames
    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        target = self.target
        pack = target.pack
        old_sp = uc.reg_read(P.UC_PPC_REG_1) & target.word_mask
        gregs = self._gregs(uc, fault_address, trap_no)
        fregs = self._fregs(uc)
        mask = target.sigset_bytes(old_mask, 8)
        info = siginfo.ljust(128, b"\0")[:128]
        if self.wide:
            sf = frame + RT64_BELOW
            uc_at = sf
            sc_at = uc_at + UC64_MCONTEXT
            sigcontext = (bytes(32) + pack("iiQQQ", signo, 0, handler, old_mask & 0xFFFFFFFFFFFFFFFF,
                                           sc_at + SC64_GREGS)
                          + pack("48Q", *gregs) + fregs).ljust(SC64_SIZE, b"\0")
            ucontext = (pack("QQQiiQ", 0, 0, altstack[0], altstack[1], 0, altstack[2])
                        + mask).ljust(UC64_MCONTEXT, b"\0") + sigcontext
            data = ucontext.ljust(RT64_PINFO, b"\0") + pack("QQ", sf + RT64_INFO, uc_at) + info
            mem.write(sf, data)
            # the handler: an ELFv1 function descriptor (entry, TOC)
            entry, toc = target.unpack("QQ", mem.read(handler, 16))
            uc.reg_write(P.UC_PPC_REG_2, toc)
            if rt:
                uc.reg_write(P.UC_PPC_REG_4, sf + RT64_INFO)
                uc.reg_write(P.UC_PPC_REG_5, uc_at)
                uc.reg_write(P.UC_PPC_REG_6, sf)
            else:
                uc.reg_write(P.UC_PPC_REG_4, sc_at)
            tramp = self.rt_sigreturn_code
        elif rt:
            sf = frame + RT32_BELOW
            uc_at = sf + RT32_UC
            mcontext = (pack("48I", *gregs) + fregs).ljust(MC_SIZE, b"\0")
            ucontext = (pack("IIIiI", 0, 0, altstack[0], altstack[1], altstack[2])
                        .ljust(UC32_REGS, b"\0") + pack("I", uc_at + UC32_MCONTEXT)
                        + mask).ljust(UC32_MCONTEXT, b"\0") + mcontext
            mem.write(sf, info + ucontext)
            uc.reg_write(P.UC_PPC_REG_4, sf)
            uc.reg_write(P.UC_PPC_REG_5, uc_at)
            uc.reg_write(P.UC_PPC_REG_6, sf)
            entry, tramp = handler, self.rt_sigreturn_code
        else:
            sf = frame + SF32_BELOW
            high, low = (old_mask >> 32) & 0xFFFFFFFF, old_mask & 0xFFFFFFFF
            sigcontext = pack("4IiIII", 0, 0, 0, high, signo, handler, low, sf + SF32_MCONTEXT)
            mcontext = (pack("48I", *gregs) + fregs).ljust(MC_SIZE, b"\0")
            mem.write(sf, sigcontext + mcontext)
            uc.reg_write(P.UC_PPC_REG_4, sf)
            entry, tramp = handler, self.sigreturn_code
        mem.write(frame, pack("Q" if self.wide else "I", old_sp))  # the back chain
        uc.reg_write(P.UC_PPC_REG_1, frame)
        uc.reg_write(P.UC_PPC_REG_3, signo)
        uc.reg_write(P.UC_PPC_REG_LR, tramp)
        uc.reg_write(P.UC_PPC_REG_PC, entry)

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        target = self.target
        unpack = target.unpack
        sp = uc.reg_read(P.UC_PPC_REG_1) & target.word_mask
        if self.wide:
            uc_at = sp + RT64_BELOW
            data = mem.read(uc_at, UC64_MCONTEXT + SC64_VREGS)
            ss_sp, ss_flags, _pad, ss_size = unpack("QiiQ", data, UC64_STACK)
            mask = target.sigset_value(data[UC64_SIGMASK:UC64_SIGMASK + 8])
            gregs = unpack("48Q", data, UC64_MCONTEXT + SC64_GREGS)
            fregs = data[UC64_MCONTEXT + SC64_FREGS:UC64_MCONTEXT + SC64_FREGS + 264]
            self._load(uc, gregs, fregs)
            return mask, (ss_sp, ss_flags, ss_size)
        if rt:
            uc_at = sp + RT32_BELOW + RT32_UC
            data = mem.read(uc_at, UC32_MCONTEXT)
            ss_sp, ss_flags, ss_size = unpack("IiI", data, UC32_STACK)
            (regs,) = unpack("I", data, UC32_REGS)
            mask = target.sigset_value(data[UC32_SIGMASK:UC32_SIGMASK + 8])
            altstack = (ss_sp, ss_flags, ss_size)
        else:
            sc = mem.read(sp + SF32_BELOW, 32)
            high, _signo, _handler, low, regs = unpack("IiIII", sc, 12)
            mask = high << 32 | low
            altstack = (0, 0, 0)
        mcontext = mem.read(regs, MC_FREGS + 264)
        self._load(uc, unpack("48I", mcontext), mcontext[MC_FREGS:])
        return mask, altstack
