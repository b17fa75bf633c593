"""futex: the single-threaded subset (a wait whose value changed, wakes).

With one guest thread nobody else can wake a waiter, so FUTEX_WAIT either
fails with EAGAIN (the value changed) or sleeps out its timeout.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

_CMD_MASK = 0x7F  # without FUTEX_PRIVATE_FLAG (128) and FUTEX_CLOCK_REALTIME (256)
FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX_WAIT_BITSET = 9
FUTEX_WAKE_BITSET = 10


class FutexCalls:
    def _futex(self: Kernel, uaddr: int, op: int, val: int, timeout: int, wide: bool) -> int:
        cmd = op & _CMD_MASK
        if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
            (current,) = struct.unpack("<I", self.mem.read(uaddr, 4))
            if current != val:
                raise SyscallError("EAGAIN")
            if not timeout:
                raise SyscallError("EDEADLK")  # nobody could ever wake us
            self._sleep(1, self._deadline(timeout, wide, cmd == FUTEX_WAIT), 0, wide)
            raise SyscallError("ETIMEDOUT")
        if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
            self.mem.read(uaddr, 4)
            return 0
        raise SyscallError("ENOSYS")

    def _deadline(self: Kernel, timeout: int, wide: bool, relative: bool) -> int:
        import time

        value = self._read_ts(timeout, wide)
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC) + value if relative else value

    @syscall
    def futex(self: Kernel, uaddr: Ptr, op: int, val: UInt, timeout: Ptr, uaddr2: Ptr,
              val3: UInt) -> int:
        return self._futex(uaddr, op, val, timeout, False)

    @syscall
    def futex_time64(self: Kernel, uaddr: Ptr, op: int, val: UInt, timeout: Ptr, uaddr2: Ptr,
                     val3: UInt) -> int:
        return self._futex(uaddr, op, val, timeout, True)
