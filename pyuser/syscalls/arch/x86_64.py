"""x86_64's private syscall: arch_prctl, the FS and GS bases.

The codes are arch/x86/include/uapi/asm/prctl.h's: ARCH_SET_GS 0x1001,
ARCH_SET_FS 0x1002, ARCH_GET_FS 0x1003, ARCH_GET_GS 0x1004.
"""

from __future__ import annotations

from unicorn import x86_const as X

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError

ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004


class X86_64PrivateCalls(SyscallFamily):  # noqa: N801 - the architecture's name
    """arch_prctl: the FS/GS bases (thread pointers)."""

    @syscall
    def arch_prctl(self, code: int, address: Ptr) -> int:
        uc = self.cpu.uc  # the current thread's CPU
        if code == ARCH_SET_FS:
            uc.reg_write(X.UC_X86_REG_FS_BASE, address)
            return 0
        if code == ARCH_SET_GS:
            uc.reg_write(X.UC_X86_REG_GS_BASE, address)
            return 0
        if code in (ARCH_GET_FS, ARCH_GET_GS):
            reg = X.UC_X86_REG_FS_BASE if code == ARCH_GET_FS else X.UC_X86_REG_GS_BASE
            self.mem.write(address, uc.reg_read(reg).to_bytes(8, "little"))
            return 0
        raise SyscallError("EINVAL")


FAMILY = X86_64PrivateCalls
