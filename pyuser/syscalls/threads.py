"""Creating guest threads (clone with CLONE_VM) and yielding the CPU.

A new thread gets its own engine, attached to the process's memory and page
tables, a copy of the parent's registers (returning 0 from clone on the new
stack), and its own host thread, whose native id is the guest's tid: unique
within the process and valid wherever a tid is (tgkill, /proc/self/task).
See pyuser.threads for how threads share the CPU.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import TYPE_CHECKING

from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel


class ThreadCalls:
    def clone_thread(self: Kernel, flags: int, newsp: int, parent_tid: int, tls: int,
                     child_tid: int) -> int:
        """clone with CLONE_VM (and, as glibc and Go pass, CLONE_THREAD|CLONE_SIGHAND...)."""
        from pyuser.cpu import CpuLoop
        from pyuser.process import Thread
        from pyuser.syscalls.processes import ProcessExit

        c = self.abi.CONST
        proc = self.proc
        target = self.target
        parent = proc.current_thread()
        proc.want_async_stops()  # threads are preempted at block boundaries
        uc = target.create_cpu(proc.options.cpu)
        target.attach_cpu(uc, proc.memory, proc.page_tables)
        target.copy_thread_state(parent.cpu.uc, uc)  # the PC is past the svc already
        uc.reg_write(target.syscall_return_reg, 0)
        if newsp:
            uc.reg_write(target.sp_reg, newsp)
        if flags & c["CLONE_SETTLS"]:
            target.set_tls(uc, tls)
        child = Thread(tid=0, name=parent.name)
        child.signals.mask = parent.signals.mask  # the alternate stack is not inherited
        child.cpu = CpuLoop(proc, child, uc)
        started = threading.Event()

        def host_main() -> None:
            child.tid = threading.get_native_id()
            child.host_thread = threading.get_ident()
            started.set()
            try:
                child.cpu.run()
            except ProcessExit as end:  # embedded (pyuser.Emulator): died of a signal
                proc.exit_process(end.status)
            except BaseException:  # noqa: BLE001 - an emulator bug: report, end the process
                sys.stderr.write("pyuser: internal error in a guest thread\n")
                traceback.print_exc()
                sys.stderr.flush()
                os._exit(70)

        proc.scheduler.activate()
        threading.Thread(target=host_main, name="pyuser-guest", daemon=True).start()
        started.wait()
        proc.threads[child.tid] = child
        if proc.instruments is not None:
            proc.instruments.thread_started(child)
        tid_bytes = child.tid.to_bytes(4, self.target.byteorder)
        if flags & c["CLONE_PARENT_SETTID"]:
            self.mem.write(parent_tid, tid_bytes)
        if flags & c["CLONE_CHILD_SETTID"]:
            self.mem.write(child_tid, tid_bytes)
        if flags & c["CLONE_CHILD_CLEARTID"]:
            child.clear_child_tid = child_tid
        return child.tid

    @syscall
    def membarrier(self: Kernel, cmd: int, flags: UInt, cpu_id: int) -> int:
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
    def sched_yield(self: Kernel) -> int:
        scheduler = self.proc.scheduler
        if scheduler.active:
            scheduler.yield_cpu(self.proc.current_thread())
        else:
            os.sched_yield()
        return 0
