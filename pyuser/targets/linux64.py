"""Syscalls only 64-bit ABIs have: struct stat without a stat64 twin, byte offsets.

On 64-bit Linux (arm64, x86_64, riscv64) `struct stat` / `struct statfs` are
already the large-file layouts, the syscalls drop their 64 suffixes (fstat,
newfstatat, statfs, truncate, fadvise64, sendfile), and offsets travel in one
register.  The 64-bit targets list this class in `syscall_mixins`.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from pyuser.syscalls.signals import SignalCalls
from pyuser.syscalls.table import syscall
from pyuser.syscalls.time import TimeCalls
from pyuser.syscalls.types import Fd, Path, Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel


class Wide64Calls:
    """Handlers with the 64-bit ABI's names and struct layouts."""

    def _fill_stat64(self: Kernel, address: int, s: os.stat_result) -> int:
        """struct stat (the only stat a 64-bit ABI has), also for newfstatat."""
        return self.fill_stat(address, s, self.abi.stat)

    @syscall
    def stat(self: Kernel, path: Path, buf: Ptr) -> int:
        return self._fill_stat64(buf, os.stat(path))

    @syscall
    def lstat(self: Kernel, path: Path, buf: Ptr) -> int:
        return self._fill_stat64(buf, os.lstat(path))

    @syscall
    def fstat(self: Kernel, fd: Fd, buf: Ptr) -> int:
        return self._fill_stat64(buf, os.fstat(fd))

    @syscall
    def statfs(self: Kernel, path: Path, buf: Ptr) -> int:
        return self.fill_statfs(buf, os.statvfs(path), self.abi.statfs)

    @syscall
    def fstatfs(self: Kernel, fd: Fd, buf: Ptr) -> int:
        return self.fill_statfs(buf, os.fstatvfs(fd), self.abi.statfs)

    @syscall
    def truncate(self: Kernel, path: Path, length: int) -> int:
        os.truncate(path, length)
        return 0

    @syscall
    def ftruncate(self: Kernel, fd: Fd, length: int) -> int:
        os.ftruncate(fd, length)
        return 0

    @syscall
    def fadvise64(self: Kernel, fd: Fd, offset: int, length: int, advice: UInt) -> int:
        os.fstat(fd)  # EBADF for a bad descriptor; the advice itself is only a hint
        return 0

    @syscall
    def sendfile(self: Kernel, out_fd: Fd, in_fd: Fd, offset: Ptr, count: UInt) -> int:
        if offset:
            (pos,) = self.target.unpack("q", self.mem.read(offset, 8))
            sent = os.sendfile(out_fd, in_fd, pos, count)
            self.mem.write(offset, self.target.pack("q", pos + sent))
            return sent
        return os.sendfile(out_fd, in_fd, None, count)

    @syscall
    def utimensat(self: Kernel, dirfd: Fd, path: Ptr, times: Ptr, flags: UInt) -> int:
        return self.utimensat_time64(dirfd, path, times, flags)

    # ------------------------------------------------------------ time
    # A 64-bit ABI's timespec/timeval are two longs: the "old" calls are the
    # time64 ones.  Overriding the helpers covers every caller in TimeCalls.
    def _write_ts(self: Kernel, address: int, ns: int, wide: bool) -> None:
        TimeCalls._write_ts(self, address, ns, True)

    def _read_ts(self: Kernel, address: int, wide: bool) -> int:
        return TimeCalls._read_ts(self, address, True)

    @syscall
    def gettimeofday(self: Kernel, tv: Ptr, tz: Ptr) -> int:
        if tv:
            sec, nsec = divmod(time.time_ns(), 10**9)
            self.mem.write(tv, self.target.pack("qq", sec, nsec // 1000))
        if tz:
            self.mem.write(tz, self.target.pack("ii", 0, 0))
        return 0

    @syscall
    def time(self: Kernel, tloc: Ptr) -> int:
        now = int(time.time())
        if tloc:
            self.mem.write(tloc, self.target.pack("q", now))
        return now

    # ------------------------------------------------------------ timers
    def _read_itimerspec(self: Kernel, address: int, wide: bool) -> tuple[int, int, int, int]:
        return SignalCalls._read_itimerspec(self, address, True)

    def _write_itimerspec(self: Kernel, address: int, spec: tuple[int, int, int, int],
                          wide: bool) -> None:
        SignalCalls._write_itimerspec(self, address, spec, True)

    def _write_itimerval(self: Kernel, address: int, value: tuple[float, float]) -> None:
        fields = []
        for seconds in value:
            whole = int(seconds)
            fields += [whole, int(round((seconds - whole) * 1e6))]
        self.mem.write(address, self.target.pack("4q", *fields))

    @syscall
    def setitimer(self: Kernel, which: int, new: Ptr, old: Ptr) -> int:
        import signal as host_signal

        host_which = self._itimer_which(which)
        i_sec, i_usec, v_sec, v_usec = self.target.unpack("4q", self.mem.read(new, 32))
        if not (0 <= i_usec < 1_000_000 and 0 <= v_usec < 1_000_000):
            raise SyscallError("EINVAL")
        previous = host_signal.setitimer(host_which, v_sec + v_usec / 1e6, i_sec + i_usec / 1e6)
        if old:
            self._write_itimerval(old, (previous[1], previous[0]))
        return 0

    @syscall
    def select(self: Kernel, n: int, readfds: Ptr, writefds: Ptr, exceptfds: Ptr,
               timeout: Ptr) -> int:
        # the 64-bit targets' select is the 32-bit ones' _newselect (i386's
        # "select" number is old_select, which takes an argument block)
        return self.newselect(n, readfds, writefds, exceptfds, timeout)
