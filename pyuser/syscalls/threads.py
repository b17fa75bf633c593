"""Creating guest threads (clone with CLONE_VM) and yielding the CPU.

A new thread gets a copy of the parent's registers (returning 0 from clone
on the new stack), kept while another thread has the process's one engine,
and its own host thread, whose native id is the guest's tid: unique within
the process and valid wherever a tid is (tgkill, /proc/self/task).  The CPU
loop creates it (pyuser.cpu.CpuLoop.start_thread); see pyuser.threads for
how threads share the CPU.
"""

from __future__ import annotations

import os

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import SyscallError, UInt


class ThreadCalls(SyscallFamily):
    def clone_thread(self, flags: int, newsp: int, parent_tid: int, tls: int,
                     child_tid: int) -> int:
        """clone with CLONE_VM (and, as glibc and Go pass, CLONE_THREAD|CLONE_SIGHAND...)."""
        c = self.abi.CONST
        child = self.cpu.start_thread(newsp, tls if flags & c["CLONE_SETTLS"] else None)
        if self.proc.instruments is not None:
            self.proc.instruments.thread_started(child)
        tid_bytes = child.tid.to_bytes(4, self.target.byteorder)
        if flags & c["CLONE_PARENT_SETTID"]:
            self.mem.write(parent_tid, tid_bytes)
        if flags & c["CLONE_CHILD_SETTID"]:
            self.mem.write(child_tid, tid_bytes)
        if flags & c["CLONE_CHILD_CLEARTID"]:
            child.clear_child_tid = child_tid
        return child.tid

    @syscall
    def membarrier(self, cmd: int, flags: UInt, cpu_id: int) -> int:
        """Guest threads run one at a time, so every barrier already holds.

        MEMBARRIER_CMD_QUERY (0) answers the commands of include/uapi/linux/
        membarrier.h that need no registration semantics beyond that: GLOBAL
        (1), PRIVATE_EXPEDITED (8) and its REGISTER (16), as a kernel would."""
        supported = 1 | 8 | 16
        if cmd == 0:
            return supported
        if cmd & supported != cmd or bin(cmd).count("1") != 1:
            raise SyscallError("EINVAL")
        return 0

    @syscall
    def sched_yield(self) -> int:
        scheduler = self.proc.scheduler
        if scheduler.active:
            scheduler.yield_cpu(self.proc.current_thread())
        else:
            os.sched_yield()
        return 0
