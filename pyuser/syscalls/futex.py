"""futex: wait queues for guest threads, including priority-inheritance locks.

Every operation runs with the CPU token held (pyuser.threads), so checking a
futex word and queueing the waiter are atomic with respect to other guest
threads, as the kernel's hash-bucket lock makes them; the wait itself hands
the token on.  Priority inheritance has no meaning here (one guest thread
runs at a time), but the PI protocol on the futex word is kept exactly:
owner tid, FUTEX_WAITERS, hand-off on unlock.

A shared futex (no FUTEX_PRIVATE_FLAG) in a MAP_SHARED mapping may have
waiters in other processes -- multiprocessing's semaphores, pshared pthread
objects -- so its WAIT and WAKE go to the host kernel, on the same pages.
"""

from __future__ import annotations

import ctypes
import time
from typing import TYPE_CHECKING

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt
from pyuser.threads import Waiter

if TYPE_CHECKING:
    from pyuser.process import Thread

# include/uapi/linux/futex.h (the same on every architecture)
FUTEX_WAIT, FUTEX_WAKE, FUTEX_FD, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP = range(6)
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI = 6, 7, 8
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_PRIVATE_FLAG = 128
FUTEX_CLOCK_REALTIME = 256
FUTEX_CMD_MASK = ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF
FUTEX_WAITERS = 0x80000000
FUTEX_OWNER_DIED = 0x40000000
FUTEX_TID_MASK = 0x3FFFFFFF
_ROBUST_LIST_LIMIT = 2048
# the operations a futex shared between processes goes to the host for
_HOST_SHAREABLE = (FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET)
_NS = 1_000_000_000


def _sign12(value: int) -> int:
    return value - 0x1000 if value & 0x800 else value


def _waits(regs) -> bool:
    """A futex call that is a WAIT (its op, the second argument, as the
    kernel's 32-bit int): it waits unless the word has changed."""
    return regs[2] & 0xFFFFFFFF & FUTEX_CMD_MASK in (FUTEX_WAIT, FUTEX_WAIT_BITSET)


class FutexCalls(SyscallFamily):
    def setup_family(self) -> None:
        numbers = self.target.syscall_numbers
        for name in ("futex", "futex_time64"):
            if name in numbers:
                self.waits_when[numbers[name]] = _waits

    # ------------------------------------------------------------ words
    def _word(self, address: int) -> int:
        if address & 3:
            raise SyscallError("EINVAL")
        return self.target.unpack("I", self.mem.read(address, 4))[0]

    def _set_word(self, address: int, value: int) -> None:
        self.mem.write(address, self.target.pack("I", value & 0xFFFFFFFF))

    def _deadline(self, timeout: int, wide: bool, absolute: bool,
                  realtime: bool) -> float | None:
        """A monotonic deadline for our waits, from the guest's timespec."""
        if not timeout:
            return None
        ns = self.read_timespec(timeout, wide)
        if not absolute:
            return time.monotonic() + ns / _NS
        clock = time.CLOCK_REALTIME if realtime else time.CLOCK_MONOTONIC
        return time.monotonic() + (ns - time.clock_gettime_ns(clock)) / _NS

    # ------------------------------------------------------------ operations
    def _wait(self, address: int, expected: int, deadline: float | None,
              bitset: int) -> int:
        if bitset == 0:
            raise SyscallError("EINVAL")
        if self._word(address) != expected:
            raise SyscallError("EAGAIN")
        # it waits: from outside the engine (a futex that need not wait, and
        # FUTEX_WAKE, are served inside it)
        self.need_stopped_engine()
        waiter = Waiter(self.proc.current_thread(), address, bitset)
        table = self.proc.futexes
        table.enqueue(waiter)
        outcome = self.proc.block(lambda: waiter.woken, deadline)
        if outcome == "ready" or waiter.woken:
            return 0
        table.dequeue(waiter)
        raise SyscallError("ETIMEDOUT" if outcome == "timeout" else "EINTR")

    def futex_wake_address(self, address: int, count: int,
                           bitset: int = FUTEX_BITSET_MATCH_ANY) -> int:
        if bitset == 0:
            raise SyscallError("EINVAL")
        return self.proc.futexes.wake(address, count, bitset)

    def _wake_op(self, uaddr: int, count: int, count2: int, uaddr2: int,
                 encoded: int) -> int:
        op, cmp = (encoded >> 28) & 0xF, (encoded >> 24) & 0xF
        oparg, cmparg = _sign12((encoded >> 12) & 0xFFF), _sign12(encoded & 0xFFF)
        if op & 8:
            oparg = 1 << (oparg & 31)
            op &= 7
        old = self._word(uaddr2)
        new = {0: oparg, 1: old + oparg, 2: old | oparg, 3: old & ~oparg,
               4: old ^ oparg}.get(op)
        if new is None:
            raise SyscallError("ENOSYS")
        self._set_word(uaddr2, new)
        signed_old = old - (1 << 32) if old & 0x80000000 else old
        matches = {0: signed_old == cmparg, 1: signed_old != cmparg, 2: signed_old < cmparg,
                   3: signed_old <= cmparg, 4: signed_old > cmparg, 5: signed_old >= cmparg}
        if cmp not in matches:
            raise SyscallError("ENOSYS")
        woken = self.proc.futexes.wake(uaddr, count)
        if matches[cmp]:
            woken += self.proc.futexes.wake(uaddr2, count2)
        return woken

    def _lock_pi(self, address: int, deadline: float | None, try_only: bool) -> int:
        thread = self.proc.current_thread()
        table = self.proc.futexes
        while True:
            word = self._word(address)
            owner = word & FUTEX_TID_MASK
            if owner == thread.tid:
                raise SyscallError("EDEADLK")
            if owner == 0:
                waiting = FUTEX_WAITERS if table.waiters(address, pi=True) else 0
                self._set_word(address, thread.tid | waiting | (word & FUTEX_OWNER_DIED))
                return 0
            if try_only:
                raise SyscallError("EAGAIN")
            self.need_stopped_engine()  # it waits (see _wait)
            self._set_word(address, word | FUTEX_WAITERS)
            waiter = Waiter(thread, address, FUTEX_BITSET_MATCH_ANY, pi=True)
            table.enqueue(waiter)
            # the kernel restarts an interrupted LOCK_PI: wait through signals
            outcome = self.proc.block(lambda w=waiter: w.woken, deadline, interruptible=False)
            if waiter.woken:
                return 0  # unlock handed the lock over: the word names us
            table.dequeue(waiter)
            if outcome == "timeout":
                raise SyscallError("ETIMEDOUT")

    def _unlock_pi(self, address: int) -> int:
        thread = self.proc.current_thread()
        word = self._word(address)
        if word & FUTEX_TID_MASK != thread.tid:
            raise SyscallError("EPERM")
        waiters = self.proc.futexes.waiters(address, pi=True)
        if not waiters:
            self._set_word(address, 0)
            return 0
        heir = waiters[0]
        more = FUTEX_WAITERS if len(waiters) > 1 else 0
        self._set_word(address, heir.thread.tid | more)
        self.proc.futexes.wake(address, 1, pi=True)
        return 0

    def _across_processes(self, address: int, op: int) -> bool:
        if op & FUTEX_PRIVATE_FLAG:
            return False
        mapping = self.mem.find_mapping(address)
        return mapping is not None and mapping.shared

    def _host_futex(self, address: int, op: int, val: int, timeout: int,
                    val3: int, wide: bool) -> int:
        """WAIT/WAKE (and their BITSET forms) on the host kernel's futex for the
        guest page, which other processes map too."""
        if address & 3:
            raise SyscallError("EINVAL")
        host = self.mem.host_pointer(address)
        if op & FUTEX_CMD_MASK in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
            return hostcalls.futex(host, op, val, None, 0, val3)
        if not self.target.little_endian:  # the host compares the word as it reads it
            val = int.from_bytes(val.to_bytes(4, "big"), "little")
        host_timeout = None
        if timeout:  # relative for WAIT, absolute for WAIT_BITSET: the host's the same
            host_timeout = (ctypes.c_int64 * 2)(*divmod(self.read_timespec(timeout, wide), _NS))
        self.need_stopped_engine()
        return self.blocking(hostcalls.futex, host, op, val, host_timeout, 0, val3)

    def _futex(self, uaddr: int, op: int, val: int, timeout: int, uaddr2: int,
               val3: int, wide: bool) -> int:
        cmd = op & FUTEX_CMD_MASK
        realtime = bool(op & FUTEX_CLOCK_REALTIME)
        table = self.proc.futexes
        if cmd in _HOST_SHAREABLE and self._across_processes(uaddr, op):
            return self._host_futex(uaddr, op, val, timeout, val3, wide)
        if cmd == FUTEX_WAIT:
            return self._wait(uaddr, val, self._deadline(timeout, wide, False, realtime),
                              FUTEX_BITSET_MATCH_ANY)
        if cmd == FUTEX_WAIT_BITSET:
            return self._wait(uaddr, val, self._deadline(timeout, wide, True, realtime), val3)
        if cmd == FUTEX_WAKE:
            return self.futex_wake_address(uaddr, val)
        if cmd == FUTEX_WAKE_BITSET:
            return self.futex_wake_address(uaddr, val, val3)
        if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
            # the timeout argument carries the number to requeue
            if cmd == FUTEX_CMP_REQUEUE and self._word(uaddr) != val3:
                raise SyscallError("EAGAIN")
            woken = table.wake(uaddr, val)
            return woken + table.requeue(uaddr, uaddr2, timeout)
        if cmd == FUTEX_WAKE_OP:
            return self._wake_op(uaddr, val, timeout, uaddr2, val3)
        if cmd == FUTEX_LOCK_PI:
            return self._lock_pi(uaddr, self._deadline(timeout, wide, True, True), False)
        if cmd == FUTEX_TRYLOCK_PI:
            return self._lock_pi(uaddr, None, True)
        if cmd == FUTEX_UNLOCK_PI:
            return self._unlock_pi(uaddr)
        raise SyscallError("ENOSYS")

    @syscall
    def futex(self, uaddr: Ptr, op: int, val: UInt, timeout: Ptr, uaddr2: Ptr,
              val3: UInt) -> int:
        return self._futex(uaddr, op, val, timeout, uaddr2, val3, False)

    @syscall
    def futex_time64(self, uaddr: Ptr, op: int, val: UInt, timeout: Ptr, uaddr2: Ptr,
                     val3: UInt) -> int:
        return self._futex(uaddr, op, val, timeout, uaddr2, val3, True)

    # ------------------------------------------------------------ robust lists
    def release_robust_list(self, thread: Thread) -> None:
        """A dying thread's robust futexes: mark them OWNER_DIED and wake one waiter
        (struct robust_list_head: next, futex_offset, list_op_pending)."""
        head = thread.robust_list
        if not head:
            return
        w = self.target.word_size
        fmt = "I" if w == 4 else "Q"
        try:
            entry = self.target.unpack(fmt, self.mem.read(head, w))[0]
            offset = self.target.to_signed(self.target.unpack(fmt, self.mem.read(head + w, w))[0])
            pending = self.target.unpack(fmt, self.mem.read(head + 2 * w, w))[0]
            visited = 0
            entries = []
            while entry != head and entry and visited < _ROBUST_LIST_LIMIT:
                entries.append(entry)
                entry = self.target.unpack(fmt, self.mem.read(entry, w))[0]
                visited += 1
            if pending:
                entries.append(pending)
            for item in entries:
                address = (item + offset) & self.target.word_mask
                word = self._word(address)
                if word & FUTEX_TID_MASK == thread.tid:
                    self._set_word(address, (word & FUTEX_WAITERS) | FUTEX_OWNER_DIED)
                    self.proc.futexes.wake(address, 1)
        except Exception:  # noqa: BLE001 - a corrupt list is the guest's problem
            return
