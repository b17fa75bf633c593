"""i386 signal frames: what a handler finds on its stack, and what (rt_)sigreturn reads.

Layout (Linux arch/x86/include/asm/sigframe.h, uapi asm/sigcontext.h; the
kernel uses the old frame unless the handler has SA_SIGINFO):

    struct sigframe    { pretcode @0, sig @4, struct sigcontext sc @8 (88),
                         extramask[1] @96, retcode[8] @100 }
    struct rt_sigframe { pretcode @0, sig @4, pinfo @8, puc @12, siginfo @16 (128),
                         struct ucontext uc @144 (116), retcode[8] @260 }
    struct ucontext    { uc_flags @0, uc_link @4, uc_stack @8 (sp, flags, size),
                         uc_mcontext @20 (sigcontext), uc_sigmask @108 (8) }
    struct sigcontext  { gs, fs, es, ds (16-bit, padded), edi, esi, ebp, esp, ebx,
                         edx, ecx, eax, trapno, err, eip, cs, eflags,
                         esp_at_signal, ss, fpstate (pointer), oldmask, cr2 }
    fpstate            struct _fpstate_32: a 112-byte fsave header whose magic
                       (@110) 0 says an FXSAVE image follows at +112
                       (mxcsr @+24, xmm0-7 @+160)

The handler starts with esp at pretcode, as if called ((esp + 4) 16-aligned);
its `ret` pops pretcode (glibc's __restore or __restore_rt, always passed as
SA_RESTORER).  __restore pops the signal number too, so sigreturn finds the
sigcontext at esp; rt_sigreturn finds the rt_sigframe minus pretcode at esp.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import x86_const as X

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory

SIGCONTEXT_SIZE = 88
SIGFRAME_SIZE = 108
RT_SIGFRAME_SIZE = 268
RT_UC = 144
UC_STACK = 8
UC_MCONTEXT = 20
UC_SIGMASK = 108
FPSTATE_SIZE = 624
FXSAVE_OFFSET = 112

# sigcontext words 4..11 (edi .. eax), eip @56, eflags @64
GREGS = [X.UC_X86_REG_EDI, X.UC_X86_REG_ESI, X.UC_X86_REG_EBP, X.UC_X86_REG_ESP,
         X.UC_X86_REG_EBX, X.UC_X86_REG_EDX, X.UC_X86_REG_ECX, X.UC_X86_REG_EAX]
XMM = [getattr(X, f"UC_X86_REG_XMM{i}") for i in range(8)]
_EFLAGS_CLEAR_ON_ENTRY = (1 << 8) | (1 << 10) | (1 << 16)  # TF DF RF
_EFLAGS_USER = 0x40DD5  # FIX_EFLAGS of the kernel


class I386SignalFrames:
    def frame_size(self, rt: bool) -> int:
        return 16 + (RT_SIGFRAME_SIZE if rt else SIGFRAME_SIZE) + 64 + FPSTATE_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(X.UC_X86_REG_ESP)

    def _sigcontext(self, uc: Uc, mem: GuestMemory, fpstate: int, old_mask: int,
                    trap_no: int, fault_address: int) -> bytes:
        gregs = uc.reg_read_batch(GREGS)
        eip = uc.reg_read(X.UC_X86_REG_EIP)
        eflags = uc.reg_read(X.UC_X86_REG_EFLAGS)
        segs = [uc.reg_read(r) for r in (X.UC_X86_REG_GS, X.UC_X86_REG_FS, X.UC_X86_REG_ES,
                                         X.UC_X86_REG_DS)]
        cs, ss = uc.reg_read(X.UC_X86_REG_CS), uc.reg_read(X.UC_X86_REG_SS)
        fx = bytearray(FPSTATE_SIZE)
        struct.pack_into("<I", fx, 0, 0xFFFF037F)  # fsave control word
        struct.pack_into("<HH", fx, 108, 0, 0)  # status, magic 0: FXSR data follows
        struct.pack_into("<HH", fx, FXSAVE_OFFSET, 0x37F, 0)
        struct.pack_into("<II", fx, FXSAVE_OFFSET + 24, uc.reg_read(X.UC_X86_REG_MXCSR), 0xFFFF)
        for i, value in enumerate(uc.reg_read_batch(XMM)):
            struct.pack_into("<QQ", fx, FXSAVE_OFFSET + 160 + 16 * i, value & (2**64 - 1),
                             value >> 64)
        mem.write(fpstate, bytes(fx))
        return struct.pack("<4I8I2II3I4I", *segs, *gregs, trap_no, 0, eip, cs, eflags,
                           gregs[3], ss, fpstate, old_mask & 0xFFFFFFFF, fault_address)

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        base = frame + 12  # (base + 4) is 16-aligned, as after a call
        size = RT_SIGFRAME_SIZE if rt else SIGFRAME_SIZE
        fpstate = (base + size + 63) & ~63
        sc = self._sigcontext(uc, mem, fpstate, old_mask, trap_no, fault_address)
        eflags = uc.reg_read(X.UC_X86_REG_EFLAGS)
        if rt:
            ucb = struct.pack("<IIIiI", 0, 0, altstack[0], altstack[1], altstack[2]) + sc \
                + struct.pack("<Q", old_mask)
            mem.write(base, struct.pack("<IiII", restorer, signo, base + 16, base + RT_UC))
            mem.write(base + 16, siginfo)
            mem.write(base + RT_UC, ucb)
            uc.reg_write(X.UC_X86_REG_EDX, base + 16)
            uc.reg_write(X.UC_X86_REG_ECX, base + RT_UC)
        else:
            mem.write(base, struct.pack("<Ii", restorer, signo) + sc
                      + struct.pack("<I", old_mask >> 32))
            uc.reg_write(X.UC_X86_REG_EDX, 0)
            uc.reg_write(X.UC_X86_REG_ECX, 0)
        uc.reg_write(X.UC_X86_REG_EAX, signo)
        uc.reg_write(X.UC_X86_REG_ESP, base)
        uc.reg_write(X.UC_X86_REG_EFLAGS, eflags & ~_EFLAGS_CLEAR_ON_ENTRY)
        uc.reg_write(X.UC_X86_REG_EIP, handler)

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        esp = uc.reg_read(X.UC_X86_REG_ESP)
        if rt:
            ucontext = esp - 4 + RT_UC
            data = mem.read(ucontext, UC_SIGMASK + 8)
            ss_sp, ss_flags, ss_size = struct.unpack_from("<IiI", data, UC_STACK)
            sc = data[UC_MCONTEXT:UC_MCONTEXT + SIGCONTEXT_SIZE]
            (mask,) = struct.unpack_from("<Q", data, UC_SIGMASK)
            altstack = (ss_sp, ss_flags, ss_size)
        else:
            data = mem.read(esp, SIGCONTEXT_SIZE + 4)
            sc = data[:SIGCONTEXT_SIZE]
            (high,) = struct.unpack_from("<I", data, SIGCONTEXT_SIZE)
            mask = struct.unpack_from("<I", sc, 80)[0] | (high << 32)
            altstack = (0, 0, 0)
        words = struct.unpack("<22I", sc)
        gregs, eip, eflags, fpstate = list(words[4:12]), words[14], words[16], words[19]
        if fpstate:
            fx = mem.read(fpstate + FXSAVE_OFFSET, 512)
            uc.reg_write(X.UC_X86_REG_MXCSR, struct.unpack_from("<I", fx, 24)[0])
            for i, reg in enumerate(XMM):
                low, high = struct.unpack_from("<QQ", fx, 160 + 16 * i)
                uc.reg_write(reg, low | (high << 64))
        current = uc.reg_read(X.UC_X86_REG_EFLAGS)
        uc.reg_write(X.UC_X86_REG_EFLAGS, (current & ~_EFLAGS_USER) | (eflags & _EFLAGS_USER))
        uc.reg_write_batch(list(zip(GREGS, gregs, strict=True)))
        uc.reg_write(X.UC_X86_REG_EIP, eip)
        return mask, altstack
