"""ARM's private syscalls: the TLS register, cache flushes, breakpoints."""

from __future__ import annotations

from collections.abc import Callable

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, UInt


class ArmPrivateCalls(SyscallFamily):
    """The ARM-private syscalls (__ARM_NR_*, from 0xf0000)."""

    # provided by the signal family
    raise_in_guest: Callable[[int], None]

    @syscall("ARM_set_tls")
    def arm_set_tls(self, value: Ptr) -> int:
        self.target.set_tls(self.cpu.uc, value)
        return 0

    @syscall("ARM_get_tls")
    def arm_get_tls(self) -> int:
        return self.target.get_tls(self.cpu.uc)

    @syscall("ARM_cacheflush")
    def arm_cacheflush(self, start: Ptr, end: Ptr, flags: UInt) -> int:
        # the guest wrote code: drop what Unicorn translated from that range
        if end > start:
            self.cpu.uc.ctl_remove_cache(start, end)
        return 0

    @syscall("ARM_breakpoint")
    def arm_breakpoint(self) -> int:
        self.raise_in_guest(self.abi.CONST["SIGTRAP"])
        return 0


FAMILY = ArmPrivateCalls
