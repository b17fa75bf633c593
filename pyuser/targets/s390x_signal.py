"""s390x signal frames: what a handler finds on its stack, and what
(rt_)sigreturn reads.

Layout (arch/s390/kernel/signal.c, uapi asm/sigcontext.h, asm/ucontext.h):

    _sigregs        { psw {mask, addr} @0, gprs[16] @16, acrs[16] (u32) @144,
                      fpregs {fpc (u32), pad, fprs[16]} @208 }        344 bytes
    struct sigframe { callee_used_stack[160] @0, sigcontext {oldmask, sregs *} @160,
                      _sigregs @176, int signo @520, _sigregs_ext @528, ... }
    struct rt_sigframe { callee_used_stack[160] @0, u16 svc_insn @160,
                      siginfo @168 (128), ucontext_extended @296 }
    ucontext_extended { uc_flags @0, uc_link @8, stack_t @16 (sp, flags, size),
                      _sigregs @40, sigset_t @384 (8), __unused[120], _sigregs_ext @512 }

The handler gets r2 = signo, r3 = &siginfo (rt) or &sigcontext, r4 = &ucontext
(rt), r15 = the frame (its back chain 0) and r14 = the return address: glibc
passes SA_RESTORER with SA_SIGINFO (its __restore_rt does `svc 173`);
without it Linux returns through its vDSO (the stack is not executable):
pyuser's [vdso] page holds `svc 119` and `svc 173`.  The frame's svc_insn
is written too, as the kernel does.  The PSW mask is kept (the guest cannot change its
addressing mode).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import s390x_const as S

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import Target

FRAME_STACK = 160  # __SIGNAL_FRAMESIZE: the callee's register save area
SIGREGS_SIZE = 344
GPRS = [S.UC_S390X_REG_R0 + i for i in range(16)]
ACRS = [S.UC_S390X_REG_A0 + i for i in range(16)]
FPRS = [S.UC_S390X_REG_F0 + i for i in range(16)]
# sigframe
SF_SC = FRAME_STACK
SF_SREGS = SF_SC + 16
SF_SIGNO = SF_SREGS + SIGREGS_SIZE
SF_SVC = SF_SIGNO + 8 + 128 + 8  # after the _sigregs_ext (vector high halves + regs)
SIGFRAME_SIZE = SF_SVC + 8
# rt_sigframe
RT_SVC = FRAME_STACK
RT_INFO = FRAME_STACK + 8
RT_UC = RT_INFO + 128
UC_STACK = 16
UC_MCONTEXT = 40
UC_SIGMASK = UC_MCONTEXT + SIGREGS_SIZE
UC_EXT = UC_SIGMASK + 128
RT_SIGFRAME_SIZE = RT_UC + UC_EXT + 8 + 128 + 16 * 16
U64 = 0xFFFFFFFFFFFFFFFF


class S390xSignalFrames:
    def __init__(self, target: Target, sigreturn_code: int, rt_sigreturn_code: int) -> None:
        self.target = target
        self.sigreturn_code = sigreturn_code
        self.rt_sigreturn_code = rt_sigreturn_code

    def frame_size(self, rt: bool) -> int:
        return RT_SIGFRAME_SIZE if rt else SIGFRAME_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(S.UC_S390X_REG_R15)

    def _sigregs(self, uc: Uc) -> bytes:
        pack = self.target.pack
        gprs = [v & U64 for v in uc.reg_read_batch(GPRS)]
        acrs = [v & 0xFFFFFFFF for v in uc.reg_read_batch(ACRS)]
        fprs = [v & U64 for v in uc.reg_read_batch(FPRS)]
        return (pack("QQ", uc.reg_read(S.UC_S390X_REG_PSWM) & U64,
                     uc.reg_read(S.UC_S390X_REG_PC) & U64)
                + pack("16Q", *gprs) + pack("16I", *acrs)
                + pack("II", uc.reg_read(S.UC_S390X_REG_FPC) & 0xFFFFFFFF, 0)
                + pack("16Q", *fprs))

    def _load_sigregs(self, uc: Uc, data: bytes) -> None:
        unpack = self.target.unpack
        (pc,) = unpack("Q", data, 8)
        gprs = unpack("16Q", data, 16)
        acrs = unpack("16I", data, 144)
        (fpc,) = unpack("I", data, 208)
        fprs = unpack("16Q", data, 216)
        uc.reg_write_batch(list(zip(GPRS, gprs, strict=True)))
        uc.reg_write_batch(list(zip(ACRS, acrs, strict=True)))
        uc.reg_write_batch(list(zip(FPRS, fprs, strict=True)))
        uc.reg_write(S.UC_S390X_REG_FPC, fpc)
        uc.reg_write(S.UC_S390X_REG_PC, pc)

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        target = self.target
        numbers = target.abi.SYSCALLS
        sigregs = self._sigregs(uc)
        mask = target.sigset_bytes(old_mask, 8)
        if rt:
            svc = 0x0A00 | numbers["rt_sigreturn"]
            ucontext = (target.pack("QQQiiQ", 0, 0, altstack[0], altstack[1], 0, altstack[2])
                        + sigregs + mask).ljust(UC_EXT + 8 + 128 + 256, b"\0")
            data = (bytes(FRAME_STACK) + target.pack("H", svc).ljust(8, b"\0")
                    + siginfo.ljust(128, b"\0")[:128] + ucontext)
            mem.write(frame, data)
            uc.reg_write(S.UC_S390X_REG_R3, frame + RT_INFO)
            uc.reg_write(S.UC_S390X_REG_R4, frame + RT_UC)
            svc_at = self.rt_sigreturn_code
        else:
            svc = 0x0A00 | numbers["sigreturn"]
            data = (bytes(FRAME_STACK) + mask + target.pack("Q", frame + SF_SREGS) + sigregs
                    + target.pack("i", signo)).ljust(SF_SVC, b"\0")
            data += target.pack("H", svc).ljust(8, b"\0")
            mem.write(frame, data)
            uc.reg_write(S.UC_S390X_REG_R3, frame + SF_SC)
            svc_at = self.sigreturn_code
        uc.reg_write(S.UC_S390X_REG_R2, signo)
        uc.reg_write(S.UC_S390X_REG_R14, restorer or svc_at)
        uc.reg_write(S.UC_S390X_REG_R15, frame)
        uc.reg_write(S.UC_S390X_REG_PC, handler)

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        target = self.target
        sp = uc.reg_read(S.UC_S390X_REG_R15)
        if rt:
            data = mem.read(sp + RT_UC, UC_SIGMASK + 8)
            ss_sp, ss_flags, _pad, ss_size = target.unpack("QiiQ", data, UC_STACK)
            self._load_sigregs(uc, data[UC_MCONTEXT:UC_MCONTEXT + SIGREGS_SIZE])
            mask = target.sigset_value(data[UC_SIGMASK:UC_SIGMASK + 8])
            return mask, (ss_sp, ss_flags, ss_size)
        data = mem.read(sp + SF_SC, 16)
        mask = target.sigset_value(data[:8])
        (sregs,) = target.unpack("Q", data, 8)
        self._load_sigregs(uc, mem.read(sregs, SIGREGS_SIZE))
        return mask, (0, 0, 0)
