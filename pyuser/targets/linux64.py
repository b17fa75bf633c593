"""Syscalls only 64-bit ABIs have: struct stat without a stat64 twin, byte offsets.

On 64-bit Linux (arm64, x86_64, riscv64) `struct stat` / `struct statfs` are
already the large-file layouts, the syscalls drop their 64 suffixes (fstat,
newfstatat, statfs, truncate, fadvise64, sendfile, select), and offsets
travel in one register.  (Their timespec, timeval and itimerval are two
longs: the shared handlers use `Target.long_format` and the time64 layouts.)
The 64-bit targets list this class in `syscall_mixins`.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Protocol

from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Long, Path, Ptr, UInt


class Kernel(Protocol):
    """What these handlers use of the kernel they are mixed into
    (pyuser.syscalls.kernel, a layer above the targets)."""

    abi: ModuleType

    def fill_stat(self, address: int, s: os.stat_result, layout: type) -> int: ...
    def fill_statfs(self, address: int, s: os.statvfs_result, layout: type) -> int: ...
    def utimensat_time64(self, dirfd: int, path: int, times: int, flags: int) -> int: ...
    def newselect(self, n: int, readfds: int, writefds: int, exceptfds: int,
                  timeout: int) -> int: ...
    def _fill_stat64(self, address: int, s: os.stat_result) -> int: ...


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
    def fadvise64(self: Kernel, fd: Fd, offset: Long, length: Long, advice: UInt) -> int:
        os.fstat(fd)  # EBADF for a bad descriptor; the advice itself is only a hint
        return 0

    @syscall
    def utimensat(self: Kernel, dirfd: Fd, path: Ptr, times: Ptr, flags: UInt) -> int:
        return self.utimensat_time64(dirfd, path, times, flags)

    @syscall
    def select(self: Kernel, n: int, readfds: Ptr, writefds: Ptr, exceptfds: Ptr,
               timeout: Ptr) -> int:
        # the 64-bit targets' select is the 32-bit ones' _newselect (i386's
        # "select" number is old_select, which takes an argument block)
        return self.newselect(n, readfds, writefds, exceptfds, timeout)
