"""ARM signal frames: what a handler finds on its stack, and what sigreturn reads back.

Layouts (Linux arch/arm/kernel/signal.c and the armhf glibc headers; the
offsets were checked by compiling against arm-linux-gnueabihf's ucontext.h):

    struct sigframe    { struct ucontext uc; unsigned long retcode[2]; }     752 bytes
    struct rt_sigframe { siginfo_t info; struct sigframe sig; }              880 bytes
    struct ucontext    { uc_flags @0, uc_link @4, uc_stack @8 (sp, flags, size),
                         uc_mcontext @20 (struct sigcontext, 21 words),
                         uc_sigmask @104 (128 bytes reserved),
                         uc_regspace @232 (512 bytes: the VFP block, then a 0 end magic) }
    struct sigcontext  { trap_no, error_code, oldmask, r0-r10, fp, ip, sp, lr, pc, cpsr,
                         fault_address }
    VFP block          { magic 0x56465001, size 288, d0-d31, fpscr, pad, fpexc, fpinst,
                         fpinst2, pad }

The handler returns through a trampoline (`mov r7, #NR; svc 0`) that pyuser
keeps in its vectors page, unless the program gave SA_RESTORER.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import arm_const as A

from pyuser.targets import arm_cpu

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory

UCONTEXT_SIZE = 744
SIGINFO_SIZE = 128
SIGFRAME_SIZE = UCONTEXT_SIZE + 8
RT_SIGFRAME_SIZE = SIGINFO_SIZE + SIGFRAME_SIZE
MCONTEXT = 20
SIGMASK = 104
REGSPACE = 232
VFP_MAGIC = 0x56465001
VFP_BLOCK_SIZE = 288

CORE_REGS = [A.UC_ARM_REG_R0 + i for i in range(13)] + [
    A.UC_ARM_REG_SP, A.UC_ARM_REG_LR, A.UC_ARM_REG_PC, A.UC_ARM_REG_CPSR]
VFP_REGS = [A.UC_ARM_REG_D0 + i for i in range(32)]

# CPSR bits a signal handler starts without, or that sigreturn may not set
_IT_BITS = 0x0600FC00
_MODE_MASK = 0x1F
_AIF = 0x1C0


class ArmSignalFrames:
    """Builds and unwinds ARM signal frames for one process."""

    def __init__(self, trampoline_sigreturn: int, trampoline_rt_sigreturn: int) -> None:
        self.sigreturn_code = trampoline_sigreturn
        self.rt_sigreturn_code = trampoline_rt_sigreturn

    def frame_size(self, rt: bool) -> int:
        return RT_SIGFRAME_SIZE if rt else SIGFRAME_SIZE

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(A.UC_ARM_REG_SP)

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        """Write the frame at `frame` and point the CPU at the handler."""
        core = uc.reg_read_batch(CORE_REGS)
        vfp = uc.reg_read_batch(VFP_REGS)
        fpscr = uc.reg_read(A.UC_ARM_REG_FPSCR)
        fpexc = uc.reg_read(A.UC_ARM_REG_FPEXC)
        uc_base = frame + (SIGINFO_SIZE if rt else 0)

        ucontext = bytearray(UCONTEXT_SIZE)
        struct.pack_into("<III", ucontext, 8, *altstack)
        r = core  # r0..r12, sp, lr, pc, cpsr
        sigcontext = [trap_no, 0, old_mask & 0xFFFFFFFF, *r[:13], r[13], r[14], r[15], r[16],
                      fault_address]
        struct.pack_into("<21I", ucontext, MCONTEXT, *sigcontext)
        struct.pack_into("<Q", ucontext, SIGMASK, old_mask)
        struct.pack_into("<II32QI", ucontext, REGSPACE, VFP_MAGIC, VFP_BLOCK_SIZE, *vfp, fpscr)
        struct.pack_into("<III", ucontext, REGSPACE + 8 + 8 * 32 + 8, fpexc, 0, 0)
        # the end magic (0) after the VFP block is already zero

        if rt:
            mem.write(frame, siginfo)
        mem.write(uc_base, bytes(ucontext))
        retcode = uc_base + UCONTEXT_SIZE
        mem.write(retcode, bytes(8))

        return_to = restorer if restorer else (self.rt_sigreturn_code if rt
                                               else self.sigreturn_code)
        thumb = handler & 1
        cpsr = (r[16] & ~(_IT_BITS | arm_cpu.CPSR_THUMB)) | (arm_cpu.CPSR_THUMB if thumb else 0)
        uc.reg_write(A.UC_ARM_REG_R0, signo)
        if rt:
            uc.reg_write(A.UC_ARM_REG_R1, frame)
            uc.reg_write(A.UC_ARM_REG_R2, uc_base)
        uc.reg_write(A.UC_ARM_REG_SP, frame)
        uc.reg_write(A.UC_ARM_REG_LR, return_to)
        # PC first (its bit 0 selects Thumb in Unicorn), then the CPSR
        uc.reg_write(A.UC_ARM_REG_PC, handler)
        uc.reg_write(A.UC_ARM_REG_CPSR, cpsr)

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        """sigreturn: registers back from the frame at sp; returns (mask, altstack)."""
        frame = uc.reg_read(A.UC_ARM_REG_SP)
        uc_base = frame + (SIGINFO_SIZE if rt else 0)
        ucontext = mem.read(uc_base, UCONTEXT_SIZE)
        altstack = struct.unpack_from("<III", ucontext, 8)
        sc = struct.unpack_from("<21I", ucontext, MCONTEXT)
        (mask,) = struct.unpack_from("<Q", ucontext, SIGMASK)
        magic, _size = struct.unpack_from("<II", ucontext, REGSPACE)
        if magic == VFP_MAGIC:
            values = struct.unpack_from("<32QI", ucontext, REGSPACE + 8)
            uc.reg_write_batch(list(zip(VFP_REGS, values[:32], strict=True)))
            uc.reg_write(A.UC_ARM_REG_FPSCR, values[32])
        regs = sc[3:16]  # r0..r12
        sp, lr, pc, cpsr = sc[16], sc[17], sc[18], sc[19]
        uc.reg_write_batch(list(zip(CORE_REGS[:13], regs, strict=True)))
        uc.reg_write(A.UC_ARM_REG_SP, sp)
        uc.reg_write(A.UC_ARM_REG_LR, lr)
        thumb = cpsr & arm_cpu.CPSR_THUMB
        uc.reg_write(A.UC_ARM_REG_PC, (pc & ~1) | (1 if thumb else 0))
        safe_cpsr = (cpsr & ~(_MODE_MASK | _AIF)) | arm_cpu.CPSR_MODE_USR
        uc.reg_write(A.UC_ARM_REG_CPSR, safe_cpsr)
        return mask, altstack
