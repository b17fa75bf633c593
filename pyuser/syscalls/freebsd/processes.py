"""The process: exit, ids, limits, fork, wait4/wait6 (sys/kern/kern_exit.c, kern_fork.c).

Wait statuses have Linux's encoding on FreeBSD too (sys/sys/wait.h), with
the signal numbers translated; options differ (WCONTINUED 4, WNOWAIT 8,
WEXITED 16).  fork returns the child's pid in the parent and 0 in the
child, with the second result register (rdx / x1) 0 in the parent and 1
in the child (sys/amd64/amd64/vm_machdep.c cpu_fork).
"""

from __future__ import annotations

import os
import resource
import struct
import sys

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.processes import ProcessExit
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Id, Long, Ptr, SyscallError, UInt

# FreeBSD RLIMIT_* (sys/sys/resource.h) -> the host's
_RLIMITS = {0: resource.RLIMIT_CPU, 1: resource.RLIMIT_FSIZE, 2: resource.RLIMIT_DATA,
            3: resource.RLIMIT_STACK, 4: resource.RLIMIT_CORE, 5: resource.RLIMIT_RSS,
            6: resource.RLIMIT_MEMLOCK, 7: resource.RLIMIT_NPROC, 8: resource.RLIMIT_NOFILE,
            10: resource.RLIMIT_AS}
_RLIM_INFINITY = (1 << 63) - 1
_WNOHANG, _WUNTRACED, _WCONTINUED, _WNOWAIT, _WEXITED = 1, 2, 4, 8, 16
_P_PID, _P_PGID, _P_ALL = 0, 2, 7


def pack_rusage(usage: resource.struct_rusage) -> bytes:
    """struct rusage: two timevals, then fourteen longs (Go's ztypes Rusage)."""
    def timeval(seconds: float) -> tuple[int, int]:
        whole = int(seconds)
        return whole, int(round((seconds - whole) * 1e6))

    rest = (usage.ru_maxrss, usage.ru_ixrss, usage.ru_idrss, usage.ru_isrss, usage.ru_minflt,
            usage.ru_majflt, usage.ru_nswap, usage.ru_inblock, usage.ru_oublock, usage.ru_msgsnd,
            usage.ru_msgrcv, usage.ru_nsignals, usage.ru_nvcsw, usage.ru_nivcsw)
    return struct.pack("<4q14q", *timeval(usage.ru_utime), *timeval(usage.ru_stime), *rest)


class FreeBsdProcessCalls(SyscallFamily):
    @syscall
    def exit(self, status: int) -> int:
        raise ProcessExit(status & 0xFF)

    @syscall
    def getpid(self) -> int:
        return os.getpid()

    @syscall
    def getppid(self) -> int:
        return os.getppid()

    @syscall
    def getuid(self) -> int:
        return os.getuid()

    @syscall
    def geteuid(self) -> int:
        return os.geteuid()

    @syscall
    def getgid(self) -> int:
        return os.getgid()

    @syscall
    def getegid(self) -> int:
        return os.getegid()

    @syscall
    def issetugid(self) -> int:
        return 0

    @syscall
    def getgroups(self, size: int, groups: Ptr) -> int:
        ids = os.getgroups()
        if size == 0:
            return len(ids)
        if size < len(ids):
            raise SyscallError("EINVAL")
        self.mem.write(groups, struct.pack(f"<{len(ids)}I", *ids))
        return len(ids)

    @syscall
    def setuid(self, uid: Id) -> int:
        os.setuid(uid)
        return 0

    @syscall
    def setgid(self, gid: Id) -> int:
        os.setgid(gid)
        return 0

    @syscall
    def getpgrp(self) -> int:
        return os.getpgrp()

    @syscall
    def getpgid(self, pid: int) -> int:
        return os.getpgid(pid)

    @syscall
    def setpgid(self, pid: int, pgid: int) -> int:
        os.setpgid(pid, pgid)
        return 0

    @syscall
    def getsid(self, pid: int) -> int:
        return os.getsid(pid)

    @syscall
    def setsid(self) -> int:
        return os.setsid()

    @syscall
    def umask(self, mask: UInt) -> int:
        return os.umask(mask & 0o777)

    @syscall
    def getrlimit(self, which: UInt, rlp: Ptr) -> int:
        host = _RLIMITS.get(which)
        if host is None:
            value = (_RLIM_INFINITY, _RLIM_INFINITY)
        else:
            value = tuple(_RLIM_INFINITY if v == resource.RLIM_INFINITY else v
                          for v in resource.getrlimit(host))
        self.mem.write(rlp, struct.pack("<qq", *value))
        return 0

    @syscall
    def setrlimit(self, which: UInt, rlp: Ptr) -> int:
        soft, hard = struct.unpack("<qq", self.mem.read(rlp, 16))
        host = _RLIMITS.get(which)
        if host is None:
            return 0  # FreeBSD-only limits (sbsize, swap, kqueues...): nothing to limit
        def to_host(v: int) -> int:
            return resource.RLIM_INFINITY if v >= _RLIM_INFINITY or v < 0 else v
        resource.setrlimit(host, (to_host(soft), to_host(hard)))
        return 0

    @syscall
    def getrusage(self, who: int, usage: Ptr) -> int:
        hosts = {0: resource.RUSAGE_SELF, -1: resource.RUSAGE_CHILDREN, 1: resource.RUSAGE_THREAD}
        if who not in hosts:
            raise SyscallError("EINVAL")
        self.mem.write(usage, pack_rusage(resource.getrusage(hosts[who])))
        return 0

    @syscall
    def getpriority(self, which: int, who: int) -> int:
        return os.getpriority(which, who)

    # ------------------------------------------------------------ fork
    @syscall
    def fork(self) -> int:
        for stream in (sys.stdout, sys.stderr, self.log._stream):
            if stream is not None:
                stream.flush()
        pid = os.fork()
        uc = self.cpu.uc
        if pid == 0:
            self.proc.after_fork_child()
            self.target.set_second_result(uc, 1)
            return 0
        self.target.set_second_result(uc, 0)
        return pid

    @syscall
    def vfork(self) -> int:
        return self.fork()  # a copy instead of a shared address space: what vfork allows

    # ------------------------------------------------------------ waiting
    def _freebsd_status(self, status: int) -> int:
        to_target = self.target.signal_from_host
        low = status & 0x7F
        if low == 0 or status == 0xFFFF:
            return 0x13 if status == 0xFFFF else status  # WIFCONTINUED is 0x13 (sys/sys/wait.h)
        if (status & 0xFF) == 0x7F:
            signo = (status >> 8) & 0xFF
            return (status & ~0xFF00) | (to_target.get(signo, signo) << 8)
        return (status & ~0x7F) | to_target.get(low, low)

    @syscall
    def wait4(self, pid: int, status: Ptr, options: int, rusage: Ptr) -> int:
        host = (os.WNOHANG if options & _WNOHANG else 0) | \
            (os.WUNTRACED if options & _WUNTRACED else 0) | \
            (os.WCONTINUED if options & _WCONTINUED else 0)
        child, raw, usage = self.blocking(os.wait4, pid, host)
        if child and status:
            self.mem.write(status, struct.pack("<i", self._freebsd_status(raw)))
        if child and rusage:
            self.mem.write(rusage, pack_rusage(usage))
        return child

    @syscall
    def wait6(self, idtype: int, id_: Long, status: Ptr, options: int, wrusage: Ptr,
              info: Ptr) -> int:
        """wait6 through the host's waitid (what Go's os.Process.Wait uses first,
        with WEXITED|WNOWAIT); the rusage pair is left zero."""
        types = {_P_PID: os.P_PID, _P_PGID: os.P_PGID, _P_ALL: os.P_ALL}
        if idtype not in types:
            raise SyscallError("EINVAL")
        host = (os.WNOHANG if options & _WNOHANG else 0) | \
            (os.WEXITED if options & _WEXITED else 0) | \
            (os.WSTOPPED if options & _WUNTRACED else 0) | \
            (os.WCONTINUED if options & _WCONTINUED else 0) | \
            (os.WNOWAIT if options & _WNOWAIT else 0)
        result = self.blocking(os.waitid, types[idtype], id_, host)
        if result is None:
            return 0
        if status:
            code = result.si_code
            if code == os.CLD_EXITED:
                raw = (result.si_status & 0xFF) << 8
            elif code in (os.CLD_KILLED, os.CLD_DUMPED):
                raw = self.target.signal_from_host.get(result.si_status, result.si_status) | \
                    (0x80 if code == os.CLD_DUMPED else 0)
            else:
                raw = self.target.signal_from_host.get(result.si_status, 0) << 8 | 0x7F
            self.mem.write(status, struct.pack("<i", raw))
        if wrusage:
            self.mem.write(wrusage, bytes(2 * 144))
        if info:
            signo = self.target.const("SIGCHLD")
            self.mem.write(info, struct.pack("<6i", signo, 0, result.si_code, result.si_pid,
                                             result.si_uid, result.si_status) + bytes(56))
        return result.si_pid
