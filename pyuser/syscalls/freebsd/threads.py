"""Threads (thr_new, thr_self, thr_exit) and the umtx wait/wake operations.

sys/kern/kern_thr.c: thr_new(struct thr_param *, size) starts a thread at
start_func(arg) on [stack_base, stack_base + stack_size) with tls_base as
its thread pointer, and stores its id (a long) at child_tid and parent_tid.
Thread ids are the host's (a guest thread runs on its own host thread),
as on Linux targets.  sys/kern/kern_umtx.c: _umtx_op(obj, op, val, uaddr1,
uaddr2); the waits compare the word with val and sleep only if they are
equal (else return 0 at once), with an optional timeout at uaddr2 whose
size is in uaddr1 (a struct timespec, or a struct _umtx_time {timeout,
flags, clockid}).
"""

from __future__ import annotations

import os
import struct
import time

from pyuser.process import Thread
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.processes import ThreadExit
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Long, Ptr, SyscallError, UInt
from pyuser.threads import Waiter

_NS = 1_000_000_000
_ALL = 0xFFFFFFFF


class FreeBsdThreadCalls(SyscallFamily):
    @syscall
    def thr_new(self, param: Ptr, size: int) -> int:
        if size < 104 and size != 0:
            raise SyscallError("EINVAL")
        raw = self.mem.read(param, 104)
        (start, arg, stack_base, stack_size, tls_base, _tls_size, child_tid,
         parent_tid) = struct.unpack_from("<8Q", raw)
        target = self.target
        child = self.cpu.start_thread(0, None, entry=lambda uc: target.set_thread_entry(
            uc, start, stack_base + stack_size, arg, tls_base))
        for where in (child_tid, parent_tid):
            if where:
                self.mem.write(where, struct.pack("<q", child.tid))
        return 0

    @syscall
    def thr_self(self, id_: Ptr) -> int:
        self.mem.write(id_, struct.pack("<q", self.proc.current_tid()))
        return 0

    @syscall
    def thr_exit(self, state: Ptr) -> int:
        if state:
            try:
                self.mem.write(state, struct.pack("<q", 1))
                self.proc.futexes.wake(state, 0x7FFFFFFF)
            except Exception:  # noqa: BLE001 - a bad pointer: the thread ends anyway
                pass
        raise ThreadExit(0)

    @syscall
    def thr_set_name(self, id_: Long, name: Ptr) -> int:
        thread = self.proc.threads.get(id_)
        if thread is None:
            raise SyscallError("ESRCH")
        thread.name = self.mem.read_cstr(name)[:19] if name else b""
        return 0

    @syscall
    def sched_yield(self) -> int:
        scheduler = self.proc.scheduler
        if scheduler.active:
            scheduler.yield_cpu(self.proc.current_thread())
        else:
            os.sched_yield()
        return 0

    # what Process.exit_thread asks of every personality
    def release_robust_list(self, thread: Thread) -> None:
        """FreeBSD's robust mutexes are libthr's business (UMTX_OP_ROBUST_LISTS): none here."""

    def futex_wake_address(self, address: int, count: int, bitset: int = _ALL) -> int:
        return self.proc.futexes.wake(address, count, bitset)

    # ------------------------------------------------------------ umtx
    def _umtx_deadline(self, size: int, address: int) -> float | None:
        if not address:
            return None
        if size > 16:
            sec, nsec, flags, clock = struct.unpack("<qqII", self.mem.read(address, 24))
        else:
            (sec, nsec), flags, clock = struct.unpack("<qq", self.mem.read(address, 16)), 0, 0
        if sec < 0 or not 0 <= nsec < _NS:
            raise SyscallError("EINVAL")
        ns = sec * _NS + nsec
        if not flags & self.abi.CONST["UMTX_ABSTIME"]:
            return time.monotonic() + ns / _NS
        host = time.CLOCK_REALTIME if clock in (0, 9, 10, 13) else time.CLOCK_MONOTONIC
        return time.monotonic() + (ns - time.clock_gettime_ns(host)) / _NS

    def _umtx_wait(self, address: int, expected: int, wide: bool,
                   deadline: float | None) -> int:
        current = struct.unpack("<q" if wide else "<I", self.mem.read(address, 8 if wide else 4))[0]
        if current != expected:
            return 0
        # it waits: from outside the engine, asked before the waiter is
        # queued (a handler stopped at its blocking point is served again
        # from the start, and a waiter queued by the first try would stay
        # behind and take a later wake-up meant for a real one).  A wait
        # that need not wait, and the wakes, stay inside the engine.
        self.need_stopped_engine()
        waiter = Waiter(self.proc.current_thread(), address, _ALL)
        table = self.proc.futexes
        table.enqueue(waiter)
        outcome = self.proc.block(lambda: waiter.woken, deadline)
        if outcome == "ready" or waiter.woken:
            return 0
        table.dequeue(waiter)
        raise SyscallError("ETIMEDOUT" if outcome == "timeout" else "EINTR")

    @syscall("_umtx_op")
    def umtx_op(self, obj: Ptr, op: int, val: UInt, uaddr1: UInt, uaddr2: Ptr) -> int:
        c = self.abi.CONST
        if op in (c["UMTX_OP_WAIT"], c["UMTX_OP_WAIT_UINT"], c["UMTX_OP_WAIT_UINT_PRIVATE"]):
            wide = op == c["UMTX_OP_WAIT"]
            expected = val if wide else val & 0xFFFFFFFF
            if wide and expected >= 1 << 63:
                expected -= 1 << 64
            return self._umtx_wait(obj, expected, wide, self._umtx_deadline(uaddr1, uaddr2))
        if op in (c["UMTX_OP_WAKE"], c["UMTX_OP_WAKE_PRIVATE"]):
            self.proc.futexes.wake(obj, min(val, 0x7FFFFFFF))
            return 0
        if op == c["UMTX_OP_NWAKE_PRIVATE"]:
            for i in range(val):
                (address,) = struct.unpack("<Q", self.mem.read(obj + 8 * i, 8))
                self.proc.futexes.wake(address, 0x7FFFFFFF)
            return 0
        if self.log.enabled("unimp"):
            self.log.write(f"Unsupported _umtx_op operation: {op}")
        raise SyscallError("EINVAL")

    # ------------------------------------------------------------ CPU sets
    @syscall
    def cpuset_getaffinity(self, level: int, which: int, id_: Long, setsize: UInt,
                           mask: Ptr) -> int:
        cpus = os.sched_getaffinity(0 if id_ == -1 else id_)
        if setsize < 32 or setsize > 1024 or setsize % 8:
            raise SyscallError("ERANGE")
        bits = sum(1 << cpu for cpu in cpus)
        self.mem.write(mask, bits.to_bytes(setsize, "little"))
        return 0

    @syscall
    def cpuset_setaffinity(self, level: int, which: int, id_: Long, setsize: UInt,
                           mask: Ptr) -> int:
        bits = int.from_bytes(self.mem.read(mask, setsize), "little")
        os.sched_setaffinity(0 if id_ == -1 else id_,
                             [i for i in range(8 * setsize) if bits >> i & 1])
        return 0
