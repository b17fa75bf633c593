"""SysV semaphore sets: semget, semop, semtimedop, semctl.

The sets are the host kernel's (see sysv_ipc); SEM_UNDO adjustments are
undone when the host process, which is the guest process, exits.  A waiting
semop releases the CPU to the guest's other threads and ends with EINTR when
a guest signal arrives: Linux never restarts it (signal(7)).
"""

from __future__ import annotations

import ctypes
import struct
import time
from typing import TYPE_CHECKING

from pyuser.syscalls import hostcalls
from pyuser.syscalls.byteorder import host_abi
from pyuser.syscalls.sysv_ipc import (
    IPC_64,
    IPC_INFO,
    IPC_RMID,
    IPC_SET,
    IPC_STAT,
    copy_settable_perm,
)
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

# semctl commands (include/uapi/linux/sem.h)
GETPID, GETVAL, GETALL, GETNCNT, GETZCNT, SETVAL, SETALL = 11, 12, 13, 14, 15, 16, 17
SEM_STAT, SEM_INFO, SEM_STAT_ANY = 18, 19, 20
IPC_NOWAIT = 0o4000
SEMBUF_SIZE = 6  # struct sembuf: u16 sem_num, s16 sem_op, s16 sem_flg, every target
# Linux checks semop's count against kernel.sem's SEMOPM (500 by default) before it
# reads the array; pyuser refuses a count past this ceiling before reading guest
# memory and lets the host judge the rest
SEMOPM_CEILING = 0xFFFF


class SysvSemCalls:
    @syscall
    def semget(self: Kernel, key: int, nsems: int, flags: int) -> int:
        return hostcalls.semget(key, nsems, flags)

    @syscall
    def semop(self: Kernel, semid: int, sops: Ptr, nsops: UInt) -> int:
        return self._semop(semid, sops, nsops, None)

    @syscall
    def semtimedop(self: Kernel, semid: int, sops: Ptr, nsops: UInt, timeout: Ptr) -> int:
        return self._semop(semid, sops, nsops, self._read_ts(timeout, False) if timeout else None)

    @syscall
    def semtimedop_time64(self: Kernel, semid: int, sops: Ptr, nsops: UInt,
                          timeout: Ptr) -> int:
        return self._semop(semid, sops, nsops, self._read_ts(timeout, True) if timeout else None)

    def _semop(self: Kernel, semid: int, sops: int, nsops: int, timeout_ns: int | None) -> int:
        if nsops == 0:
            raise SyscallError("EINVAL")
        if nsops > SEMOPM_CEILING:
            raise SyscallError("E2BIG")
        operations = self.target.unpack(f"{3 * nsops}h", self.mem.read(sops, nsops * SEMBUF_SIZE))
        host_sops = struct.pack(f"{3 * nsops}h", *operations)
        if all(flags & IPC_NOWAIT for flags in operations[2::3]):
            return hostcalls.semtimedop(semid, host_sops, timeout_ns)
        deadline = None if timeout_ns is None else time.monotonic_ns() + timeout_ns

        def wait() -> int:  # a retry after an undeliverable kick waits only what is left
            left = None if deadline is None else deadline - time.monotonic_ns()
            return hostcalls.semtimedop(semid, host_sops, left)

        return self.blocking(wait)

    @syscall
    def semctl(self: Kernel, semid: int, semnum: int, cmd: int, arg: UInt) -> int:
        cmd &= ~IPC_64
        if cmd in (IPC_RMID, GETPID, GETVAL, GETNCNT, GETZCNT):
            return hostcalls.semctl(semid, semnum, cmd, None)
        if cmd == SETVAL:
            return hostcalls.semctl(semid, semnum, cmd, arg)
        if cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY):
            return self.ipc_struct_out("semid64_ds", arg,
                                       lambda host: hostcalls.semctl(semid, semnum, cmd, host))
        if cmd == IPC_SET:
            wanted = self.mem.read_struct(arg, self.abi.semid64_ds)
            host = host_abi().semid64_ds()
            copy_settable_perm(wanted.sem_perm, host.sem_perm)
            return hostcalls.semctl(semid, semnum, cmd, host)
        if cmd in (IPC_INFO, SEM_INFO):
            return self.ipc_struct_out("seminfo", arg,
                                       lambda host: hostcalls.semctl(semid, semnum, cmd, host))
        if cmd in (GETALL, SETALL):
            stat = host_abi().semid64_ds()
            hostcalls.semctl(semid, 0, IPC_STAT, stat)
            count = stat.sem_nsems
            values = (ctypes.c_ushort * count)()
            if cmd == GETALL:
                hostcalls.semctl(semid, 0, GETALL, values)
                self.mem.write(arg, self.target.pack(f"{count}H", *values))
                return 0
            values[:] = self.target.unpack(f"{count}H", self.mem.read(arg, 2 * count))
            return hostcalls.semctl(semid, 0, SETALL, values)
        raise SyscallError("EINVAL")
