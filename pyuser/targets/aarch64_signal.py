"""AArch64 signal frames: what a handler finds on its stack, and what rt_sigreturn reads.

Layout (Linux arch/arm64/kernel/signal.c; offsets checked by compiling against
aarch64-linux-gnu's <ucontext.h> and <asm/sigcontext.h>):

    struct rt_sigframe { siginfo_t info (128); struct ucontext uc (4560); }
    then a frame record {x29, x30} just above it, which x29 points at
    struct ucontext  { uc_flags @0, uc_link @8, uc_stack @16 (sp, flags, size),
                       uc_sigmask @40 (8 bytes of a 128-byte slot),
                       uc_mcontext @176 (struct sigcontext, 16-aligned) }
    struct sigcontext { fault_address @0, regs[31] @8, sp @256, pc @264, pstate @272,
                        __reserved[4096] @288: records {magic, size} ended by a 0 record }
    fpsimd_context   { magic 0x46508001, size 528, fpsr, fpcr, vregs[32] (128-bit) }

There is only rt_sigreturn on arm64; the handler returns through SA_RESTORER
or through pyuser's trampoline (`mov x8, #rt_sigreturn; svc #0`) in the
[vdso] page, where Linux has its vDSO sigreturn.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import arm64_const as A

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory

SIGINFO_SIZE = 128
UCONTEXT_SIZE = 4560
RT_SIGFRAME_SIZE = SIGINFO_SIZE + UCONTEXT_SIZE
FRAME_RECORD = 16
UC_STACK = 16
UC_SIGMASK = 40
UC_MCONTEXT = 176
SC_RESERVED = 288
FPSIMD_MAGIC = 0x46508001
FPSIMD_SIZE = 528

X_REGS = [A.UC_ARM64_REG_X0 + i for i in range(29)] + [A.UC_ARM64_REG_X29, A.UC_ARM64_REG_X30]
V_REGS = [A.UC_ARM64_REG_Q0 + i for i in range(32)]
# PSTATE bits user code may not set through sigreturn: M[3:0] (back to the
# level pyuser runs guests at), and D, A, I, F
_PSTATE_MODE = 0xF
_PSTATE_DAIF = 0x3C0


class Aarch64SignalFrames:
    """Builds and unwinds arm64 signal frames for one process."""

    def __init__(self, trampoline: int, run_mode: int) -> None:
        self.trampoline = trampoline
        self.run_mode = run_mode  # PSTATE.M the guest runs with (see aarch64.py)

    def frame_size(self, rt: bool) -> int:
        return RT_SIGFRAME_SIZE + FRAME_RECORD

    def interrupted_sp(self, uc: Uc) -> int:
        return uc.reg_read(A.UC_ARM64_REG_SP)

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        x = uc.reg_read_batch(X_REGS)
        sp = uc.reg_read(A.UC_ARM64_REG_SP)
        pc = uc.reg_read(A.UC_ARM64_REG_PC)
        pstate = uc.reg_read(A.UC_ARM64_REG_PSTATE)
        vregs = uc.reg_read_batch(V_REGS)
        fpsr = uc.reg_read(A.UC_ARM64_REG_FPSR)
        fpcr = uc.reg_read(A.UC_ARM64_REG_FPCR)

        uc_bytes = bytearray(UCONTEXT_SIZE)
        struct.pack_into("<QiiQ", uc_bytes, UC_STACK, altstack[0], altstack[1], 0, altstack[2])
        struct.pack_into("<Q", uc_bytes, UC_SIGMASK, old_mask)
        sc = UC_MCONTEXT
        struct.pack_into("<Q31QQQQ", uc_bytes, sc, fault_address, *x, sp, pc, pstate & ~_PSTATE_MODE)
        fp = sc + SC_RESERVED
        struct.pack_into("<IIII", uc_bytes, fp, FPSIMD_MAGIC, FPSIMD_SIZE, fpsr, fpcr)
        for i, value in enumerate(vregs):
            struct.pack_into("<QQ", uc_bytes, fp + 16 + 16 * i, value & (2**64 - 1), value >> 64)
        # the terminating {0, 0} record after it is already zero

        mem.write(frame, siginfo)
        mem.write(frame + SIGINFO_SIZE, bytes(uc_bytes))
        record = frame + RT_SIGFRAME_SIZE
        mem.write(record, struct.pack("<QQ", x[29], x[30]))

        uc.reg_write(A.UC_ARM64_REG_X0, signo)
        uc.reg_write(A.UC_ARM64_REG_X1, frame)
        uc.reg_write(A.UC_ARM64_REG_X2, frame + SIGINFO_SIZE)
        uc.reg_write(A.UC_ARM64_REG_SP, frame)
        uc.reg_write(A.UC_ARM64_REG_X29, record)
        uc.reg_write(A.UC_ARM64_REG_X30, restorer or self.trampoline)
        uc.reg_write(A.UC_ARM64_REG_PC, handler)

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        frame = uc.reg_read(A.UC_ARM64_REG_SP)
        data = mem.read(frame + SIGINFO_SIZE, UCONTEXT_SIZE)
        ss_sp, ss_flags, _pad, ss_size = struct.unpack_from("<QiiQ", data, UC_STACK)
        (mask,) = struct.unpack_from("<Q", data, UC_SIGMASK)
        values = struct.unpack_from("<Q31QQQQ", data, UC_MCONTEXT)
        x, sp, pc, pstate = values[1:32], values[32], values[33], values[34]
        fp = UC_MCONTEXT + SC_RESERVED
        magic, _size, fpsr, fpcr = struct.unpack_from("<IIII", data, fp)
        if magic == FPSIMD_MAGIC:
            halves = struct.unpack_from("<64Q", data, fp + 16)
            for i, reg in enumerate(V_REGS):
                uc.reg_write(reg, halves[2 * i] | (halves[2 * i + 1] << 64))
            uc.reg_write(A.UC_ARM64_REG_FPSR, fpsr)
            uc.reg_write(A.UC_ARM64_REG_FPCR, fpcr)
        uc.reg_write_batch(list(zip(X_REGS, x, strict=True)))
        safe = (pstate & ~(_PSTATE_MODE | _PSTATE_DAIF)) | self.run_mode
        uc.reg_write(A.UC_ARM64_REG_PSTATE, safe)
        uc.reg_write(A.UC_ARM64_REG_SP, sp)
        uc.reg_write(A.UC_ARM64_REG_PC, pc)
        return mask, (ss_sp, ss_flags, ss_size)
