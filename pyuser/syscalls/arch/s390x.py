"""s390x's own form of a syscall: mmap (90) is old_mmap, one pointer to six
longs (arch/s390/kernel/syscall.c s390_mmap / sys_old_mmap); the target's
syscall_entry_points sends the number here."""

from __future__ import annotations

from collections.abc import Callable

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError


class S390xPrivateCalls(SyscallFamily):
    # provided by the memory family
    do_mmap: Callable[[int, int, int, int, int, int], int]

    @syscall
    def old_mmap(self, args: Ptr) -> int:
        """old_mmap: addr, len, prot, flags, fd, offset as six longs in memory."""
        addr, length, prot, flags, fd, offset = self.target.unpack(
            "6Q", self.mem.read(args, 48))
        fd = self.target.to_signed(fd)
        fd = ((fd & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000
        if offset & 0xFFF:
            raise SyscallError("EINVAL")
        return self.do_mmap(addr, length, prot, flags, fd, offset)


FAMILY = S390xPrivateCalls
