"""MIPS's private syscall: set_thread_area, the UserLocal register (rdhwr $29)."""

from __future__ import annotations

from unicorn import mips_const as M

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr


class MipsPrivateCalls(SyscallFamily):
    @syscall
    def set_thread_area(self, address: Ptr) -> int:
        self.cpu.uc.reg_write(M.UC_MIPS_REG_CP0_USERLOCAL, address)
        return 0


FAMILY = MipsPrivateCalls
