"""Syscalls only 64-bit ABIs have: struct stat without a stat64 twin, byte offsets.

On 64-bit Linux (arm64, x86_64, riscv64, mips64, s390x) `struct stat` /
`struct statfs` are already the large-file layouts, the syscalls drop their
64 suffixes (fstat, newfstatat, statfs, truncate, fadvise64, sendfile,
select), and offsets travel in one register.  (Their timespec, timeval and
itimerval are two longs: the shared handlers use `Target.long_format` and
the time64 layouts.)  The 64-bit targets name this family "wide64".
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Long, Path, Ptr, UInt


class Wide64Calls(SyscallFamily):
    """Handlers with the 64-bit ABI's names and struct layouts."""

    # provided by the file status and polling families
    fill_large_stat: Callable[[int, os.stat_result], int]
    fill_statfs: Callable[[int, os.statvfs_result, type], int]
    newselect: Callable[[int, int, int, int, int], int]

    @syscall
    def stat(self, path: Path, buf: Ptr) -> int:
        return self.fill_large_stat(buf, os.stat(path))

    @syscall
    def lstat(self, path: Path, buf: Ptr) -> int:
        return self.fill_large_stat(buf, os.lstat(path))

    @syscall
    def fstat(self, fd: Fd, buf: Ptr) -> int:
        return self.fill_large_stat(buf, os.fstat(fd))

    @syscall
    def statfs(self, path: Path, buf: Ptr) -> int:
        return self.fill_statfs(buf, os.statvfs(path), self.abi.statfs)

    @syscall
    def fstatfs(self, fd: Fd, buf: Ptr) -> int:
        return self.fill_statfs(buf, os.fstatvfs(fd), self.abi.statfs)

    @syscall
    def fadvise64(self, fd: Fd, offset: Long, length: Long, advice: UInt) -> int:
        os.fstat(fd)  # EBADF for a bad descriptor; the advice itself is only a hint
        return 0

    @syscall
    def select(self, n: int, readfds: Ptr, writefds: Ptr, exceptfds: Ptr,
               timeout: Ptr) -> int:
        # the 64-bit targets' select is the 32-bit ones' _newselect (i386's
        # "select" number is old_select, which takes an argument block)
        return self.newselect(n, readfds, writefds, exceptfds, timeout)


FAMILY = Wide64Calls
