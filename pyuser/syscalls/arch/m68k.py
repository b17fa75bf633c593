"""m68k's private syscalls: the thread pointer kept by the kernel.

m68k has no user-readable thread register; Linux keeps the pointer per thread
and glibc reads it back with get_thread_area (arch/m68k/kernel/sys_m68k.c).
pyuser keeps it in a register the guest cannot reach in user mode (MSP), so
it travels with the thread's saved context.
"""

from __future__ import annotations

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr
from pyuser.targets.m68k import TLS_REG


class M68kPrivateCalls(SyscallFamily):
    """set_thread_area / get_thread_area."""

    @syscall
    def set_thread_area(self, address: Ptr) -> int:
        self.cpu.uc.reg_write(TLS_REG, address & 0xFFFFFFFF)
        return 0

    @syscall
    def get_thread_area(self) -> int:
        return self.cpu.uc.reg_read(TLS_REG) & 0xFFFFFFFF


FAMILY = M68kPrivateCalls
