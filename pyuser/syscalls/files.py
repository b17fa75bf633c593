"""Descriptors: open, close, dup, pipes, fcntl and locks, and the helpers the
file families share.

Guest file descriptors are host file descriptors (as in qemu-user): a guest
read() is an os.read() on the same number.  Paths go through the process's
VFS (sysroot, /proc/self) before they reach the host.  The other file
families: pyuser.syscalls.file_io (reading and writing), file_status (stat,
permissions, ownership, times) and paths (directories and names).
"""

from __future__ import annotations

import fcntl
import os
import struct

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.flags import FlagMap
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import CStr, Fd, Path, Ptr, SyscallError, UInt

AT_FDCWD = -100
_OPEN_FLAG_NAMES = [
    "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND",
    "O_NONBLOCK", "O_DSYNC", "O_ASYNC", "O_DIRECT", "O_LARGEFILE", "O_DIRECTORY",
    "O_NOFOLLOW", "O_NOATIME", "O_CLOEXEC", "O_PATH", "O_SYNC", "O_TMPFILE",
]


def _host_constants(prefix: str) -> dict[str, int]:
    return {n: getattr(os, n) for n in dir(os) if n.startswith(prefix)}


def dir_fd(fd: int) -> int | None:
    return None if fd == AT_FDCWD else fd


def guest_fd(fd: int, cloexec: bool) -> int:
    """A new host descriptor handed to the guest, close-on-exec as the guest asked.

    Python makes the descriptors it opens close-on-exec (PEP 446); a guest
    descriptor must survive the guest's execve unless the guest said
    otherwise, since pyuser's execve is a host execve (pyuser.syscalls.exec).
    """
    if not cloexec:
        os.set_inheritable(fd, True)
    return fd


def encode_dev(dev: int) -> int:
    """Linux's new_encode_dev: the 32-bit device number of stat64."""
    major, minor = os.major(dev), os.minor(dev)
    return (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12)


class DescriptorCalls(SyscallFamily):
    """Making, duplicating and closing descriptors; their flags and locks."""

    def setup_family(self) -> None:
        host = _host_constants("O_")
        host.setdefault("O_LARGEFILE", 0)  # implied on 64-bit hosts
        self.open_flags = FlagMap(_OPEN_FLAG_NAMES, self.abi.CONST, host)

    @syscall
    def open(self, path: Path, flags: UInt, mode: UInt) -> int:
        return self.openat(AT_FDCWD, path, flags, mode)

    @syscall
    def openat(self, dirfd: Fd, path: Path, flags: UInt, mode: UInt) -> int:
        host_flags = self.open_flags.to_host(flags)
        fd = self.proc.vfs.open_special(path, flags)
        if fd is None:
            fd = self._open_waiting(dirfd, path, host_flags, mode)
        return guest_fd(fd, bool(host_flags & os.O_CLOEXEC))

    def _open_waiting(self, dirfd: int, path: bytes, host_flags: int, mode: int) -> int:
        """The host open, which may wait: a FIFO's open waits for its other
        end (another guest thread may be about to open it: the CPU is
        released meanwhile), and a guest signal ends the wait with EINTR, as
        in Linux (os.open would retry it)."""
        return self.blocking(hostcalls.openat, dirfd, path, host_flags, mode & 0o7777)

    @syscall
    def creat(self, path: Path, mode: UInt) -> int:
        flags = os.O_CREAT | os.O_WRONLY | os.O_TRUNC
        return guest_fd(self._open_waiting(AT_FDCWD, path, flags, mode), False)

    @syscall
    def close(self, fd: Fd) -> int:
        if self.proc.is_reserved_fd(fd):
            raise SyscallError("EBADF")
        os.close(fd)
        self.proc.signals.signalfds.pop(fd, None)
        return 0

    @syscall
    def close_range(self, first: UInt, last: UInt, flags: UInt) -> int:
        c = self.abi.CONST
        cloexec = c["CLOSE_RANGE_CLOEXEC"]
        if first > last or flags & ~(cloexec | c["CLOSE_RANGE_UNSHARE"]):
            raise SyscallError("EINVAL")
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if not first <= fd <= last or self.proc.is_reserved_fd(fd):
                continue
            try:
                if flags & cloexec:
                    os.set_inheritable(fd, False)
                else:
                    os.close(fd)
                    self.proc.signals.signalfds.pop(fd, None)
            except OSError:
                pass  # the listing's own descriptor, already closed
        return 0

    @syscall
    def memfd_create(self, name: CStr, flags: UInt) -> int:
        # MFD_* have the same values on every architecture
        return os.memfd_create(name, flags)

    @syscall
    def inotify_init1(self, flags: UInt) -> int:
        return hostcalls.inotify_init1(self.open_flags.to_host(flags))

    @syscall
    def inotify_init(self) -> int:
        return hostcalls.inotify_init1(0)

    @syscall
    def inotify_add_watch(self, fd: Fd, path: Path, mask: UInt) -> int:
        return hostcalls.inotify_add_watch(fd, path, mask)

    @syscall
    def inotify_rm_watch(self, fd: Fd, wd: int) -> int:
        return hostcalls.inotify_rm_watch(fd, wd)

    @syscall
    def dup(self, fd: Fd) -> int:
        return fcntl.fcntl(fd, fcntl.F_DUPFD, 0)  # os.dup would set close-on-exec

    @syscall
    def dup2(self, oldfd: Fd, newfd: Fd) -> int:
        if self.proc.is_reserved_fd(newfd):
            raise SyscallError("EBADF")
        if oldfd == newfd:
            os.fstat(oldfd)  # EBADF if not open
            return newfd
        return os.dup2(oldfd, newfd)

    @syscall
    def dup3(self, oldfd: Fd, newfd: Fd, flags: UInt) -> int:
        if oldfd == newfd:
            raise SyscallError("EINVAL")
        if self.proc.is_reserved_fd(newfd):
            raise SyscallError("EBADF")
        cloexec = bool(flags & self.abi.CONST["O_CLOEXEC"])
        return os.dup2(oldfd, newfd, inheritable=not cloexec)

    @syscall
    def pipe(self, fds: Ptr) -> int:
        return self.pipe2(fds, 0)

    @syscall
    def pipe2(self, fds: Ptr, flags: UInt) -> int:
        r, w = os.pipe2(self.open_flags.to_host(flags))
        try:
            self.mem.write(fds, self.target.pack("ii", r, w))
        except Exception:
            os.close(r)
            os.close(w)
            raise
        return 0

    @syscall("fcntl64", "fcntl")
    def fcntl64(self, fd: Fd, cmd: int, arg: UInt) -> int:
        c = self.abi.CONST
        if cmd == c["F_GETFL"]:
            return self.open_flags.to_target(fcntl.fcntl(fd, fcntl.F_GETFL))
        if cmd == c["F_SETFL"]:
            return fcntl.fcntl(fd, fcntl.F_SETFL, self.open_flags.to_host(arg))
        if cmd in (c["F_GETFD"], c["F_SETFD"]):
            return fcntl.fcntl(fd, fcntl.F_GETFD if cmd == c["F_GETFD"] else fcntl.F_SETFD,
                               arg & 1)
        if cmd == c["F_DUPFD"]:
            return fcntl.fcntl(fd, fcntl.F_DUPFD, arg)
        if cmd == c["F_DUPFD_CLOEXEC"]:
            return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, arg)
        lock_cmds = {c.get("F_GETLK64"): fcntl.F_GETLK, c.get("F_SETLK64"): fcntl.F_SETLK,
                     c.get("F_SETLKW64"): fcntl.F_SETLKW,
                     c.get("F_OFD_GETLK"): getattr(fcntl, "F_OFD_GETLK", 36),
                     c.get("F_OFD_SETLK"): getattr(fcntl, "F_OFD_SETLK", 37),
                     c.get("F_OFD_SETLKW"): getattr(fcntl, "F_OFD_SETLKW", 38)}
        if cmd in lock_cmds and cmd is not None:
            return self._lock(fd, lock_cmds[cmd], arg, self.abi.flock64)
        # struct flock: 32-bit offsets on 32-bit targets (glibc uses the 64-bit
        # commands there), the only lock commands on 64-bit targets
        plain_cmds = {c.get("F_GETLK"): fcntl.F_GETLK, c.get("F_SETLK"): fcntl.F_SETLK,
                      c.get("F_SETLKW"): fcntl.F_SETLKW}
        if cmd in plain_cmds and cmd is not None:
            return self._lock(fd, plain_cmds[cmd], arg, self.abi.flock)
        simple = {"F_GETOWN": fcntl.F_GETOWN, "F_SETOWN": fcntl.F_SETOWN,
                  "F_SETPIPE_SZ": 1031, "F_GETPIPE_SZ": 1032,
                  "F_ADD_SEALS": 1033, "F_GET_SEALS": 1034}
        for name, host_cmd in simple.items():
            if cmd == c.get(name):
                return fcntl.fcntl(fd, host_cmd, arg)
        raise SyscallError("EINVAL")

    def _lock(self, fd: int, host_cmd: int, address: int, layout: type) -> int:
        guest = self.mem.read_struct(address, layout)
        host = struct.pack("hhxxxxqqixxxx", guest.l_type, guest.l_whence, guest.l_start,
                           guest.l_len, guest.l_pid)
        # F_SETLKW may wait for another process's lock: a signal interrupts it
        result = self.blocking(hostcalls.fcntl_lock, fd, host_cmd, host)
        l_type, l_whence, l_start, l_len, l_pid = struct.unpack("hhxxxxqqixxxx", result)
        guest.l_type, guest.l_whence, guest.l_start = l_type, l_whence, l_start
        guest.l_len, guest.l_pid = l_len, l_pid
        self.mem.write_struct(address, guest)
        return 0

    @syscall
    def flock(self, fd: Fd, operation: UInt) -> int:
        # it may wait for another holder, another guest thread among them
        return self.blocking(hostcalls.flock, fd, operation)
