"""Files, directories and descriptors.

Guest file descriptors are host file descriptors (as in qemu-user): a guest
read() is an os.read() on the same number.  Paths go through the process's
VFS (sysroot, /proc/self) before they reach the host.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import stat as st
import struct
from collections.abc import Callable

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import swap_dirents64, swap_struct, to_guest, to_host
from pyuser.syscalls.flags import FlagMap
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import (
    CStr,
    Fd,
    Id,
    InBuf,
    InPtr,
    Int64,
    Long,
    OutBuf,
    OutPtr,
    Path,
    Ptr,
    SyscallError,
    UInt,
)

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


def _host_order_kind(fd: int) -> str:
    """What a big-endian guest's read or write of `fd` must swap: "counter" for
    an eventfd's or timerfd's u64, "inotify" for inotify event headers, ""
    otherwise (looked up only for such a guest)."""
    try:
        link = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""
    if link in ("anon_inode:[eventfd]", "anon_inode:[timerfd]"):
        return "counter"
    return "inotify" if link == "anon_inode:inotify" else ""


def _swap_inotify_events(data: bytes) -> bytes:
    """struct inotify_event headers (int wd; u32 mask, cookie, len) to big-endian."""
    out = bytearray(data)
    position = 0
    while position + 16 <= len(out):
        fields = struct.unpack_from("<iIII", out, position)
        struct.pack_into(">iIII", out, position, *fields)
        position += 16 + fields[3]
    return bytes(out)


class FileCalls(SyscallFamily):
    # provided by the signal family
    read_signalfd: Callable[[int, int, int], int]

    def setup_family(self) -> None:
        host = _host_constants("O_")
        host.setdefault("O_LARGEFILE", 0)  # implied on 64-bit hosts
        self.open_flags = FlagMap(_OPEN_FLAG_NAMES, self.abi.CONST, host)
        c = self.abi.CONST
        self._at_symlink_nofollow = c["AT_SYMLINK_NOFOLLOW"]
        self._at_removedir = c["AT_REMOVEDIR"]
        self._at_empty_path = c["AT_EMPTY_PATH"]
        self._at_symlink_follow = c["AT_SYMLINK_FOLLOW"]
        self._at_eaccess = c["AT_EACCESS"]
        self._large_stat = getattr(self.abi, "stat64", None) or self.abi.stat

    # ------------------------------------------------------------ open/close
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

    # ------------------------------------------------------------ data
    @syscall
    def read(self, fd: Fd, buf: OutPtr, count: UInt) -> int:
        if fd in self.proc.signals.signalfds:
            return self.read_signalfd(fd, buf, count)
        self.mem.writable(buf, count)
        got = self.blocking(hostcalls.read, fd, self.mem.host_pointer(buf), count)
        if got >= 8 and not self.target.little_endian:
            kind = _host_order_kind(fd)
            if kind == "counter" and got == 8:
                self.mem.write(buf, to_guest(self.target, "Q", self.mem.read(buf, 8)))
            elif kind == "inotify":
                self.mem.write(buf, _swap_inotify_events(self.mem.read(buf, got)))
        return got

    @syscall
    def write(self, fd: Fd, buf: InPtr, count: UInt) -> int:
        self.mem.readable(buf, count)
        if count == 8 and not self.target.little_endian and _host_order_kind(fd) == "counter":
            swapped = ctypes.create_string_buffer(to_host(self.target, "Q", self.mem.read(buf, 8)), 8)
            return self.blocking(hostcalls.write, fd, ctypes.addressof(swapped), 8)
        return self.blocking(hostcalls.write, fd, self.mem.host_pointer(buf), count)

    @syscall
    def pread64(self, fd: Fd, buf: OutBuf, count: UInt, offset: Int64) -> int:
        return os.preadv(fd, [buf], offset) if count else 0

    @syscall
    def pwrite64(self, fd: Fd, buf: InBuf, count: UInt, offset: Int64) -> int:
        return os.pwrite(fd, buf, offset)

    @syscall
    def readv(self, fd: Fd, iov: Ptr, iovcnt: Long) -> int:
        buffers = self.host_iovecs(iov, iovcnt, True)
        return self.blocking(hostcalls.readv, fd, buffers) if buffers else 0

    @syscall
    def writev(self, fd: Fd, iov: Ptr, iovcnt: Long) -> int:
        buffers = self.host_iovecs(iov, iovcnt, False)
        return self.blocking(hostcalls.writev, fd, buffers) if buffers else 0

    @syscall
    def preadv(self, fd: Fd, iov: Ptr, iovcnt: Long, pos_l: UInt, pos_h: UInt) -> int:
        views = self.iovec_views(iov, iovcnt, True)
        return os.preadv(fd, views, pos_l | (pos_h << 32)) if views else 0

    @syscall
    def pwritev(self, fd: Fd, iov: Ptr, iovcnt: Long, pos_l: UInt, pos_h: UInt) -> int:
        views = self.iovec_views(iov, iovcnt, False)
        return os.pwritev(fd, views, pos_l | (pos_h << 32)) if views else 0

    @syscall
    def preadv2(self, fd: Fd, iov: Ptr, iovcnt: Long, pos_l: UInt, pos_h: UInt,
                flags: UInt) -> int:
        views = self.iovec_views(iov, iovcnt, True)
        return os.preadv(fd, views, self._iov_position(pos_l, pos_h), flags) if views else 0

    @syscall
    def pwritev2(self, fd: Fd, iov: Ptr, iovcnt: Long, pos_l: UInt, pos_h: UInt,
                 flags: UInt) -> int:
        views = self.iovec_views(iov, iovcnt, False)
        return os.pwritev(fd, views, self._iov_position(pos_l, pos_h), flags) if views else 0

    def _iov_position(self, low: int, high: int) -> int:
        """preadv2's offset from its two words; -1 is the file position."""
        position = low if self.target.word_size == 8 else low | high << 32
        return -1 if position == 2**64 - 1 else position

    @syscall
    def readahead(self, fd: Fd, offset: Int64, count: UInt) -> int:
        os.posix_fadvise(fd, offset, count, os.POSIX_FADV_WILLNEED)
        return 0

    @syscall
    def memfd_create(self, name: CStr, flags: UInt) -> int:
        # MFD_* have the same values on every architecture
        return os.memfd_create(name, flags)

    # ------------------------------------------------------------ inotify
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
    def lseek(self, fd: Fd, offset: Long, whence: UInt) -> int:
        result = os.lseek(fd, offset, whence)
        if result > 0x7FFFFFFF and self.target.word_size == 4:
            raise SyscallError("EOVERFLOW")
        return result

    @syscall
    def _llseek(self, fd: Fd, high: UInt, low: UInt, result: Ptr, whence: UInt) -> int:
        offset = (high << 32) | low
        if offset & (1 << 63):
            offset -= 1 << 64
        position = os.lseek(fd, offset, whence)
        self.mem.write(result, self.target.pack("q", position))
        return 0

    @syscall
    def sendfile64(self, out_fd: Fd, in_fd: Fd, offset: Ptr, count: UInt) -> int:
        return self._sendfile(out_fd, in_fd, offset, count, "q")

    @syscall
    def sendfile(self, out_fd: Fd, in_fd: Fd, offset: Ptr, count: UInt) -> int:
        return self._sendfile(out_fd, in_fd, offset, count, self.target.long_format)

    def _sendfile(self, out_fd: int, in_fd: int, offset: int, count: int,
                  offset_format: str) -> int:
        # a socket's full buffer makes it wait, maybe for another guest thread
        # to read: the CPU is released meanwhile
        pos = None
        if offset:
            size = struct.calcsize(offset_format)
            pos = self.target.unpack(offset_format, self.mem.read(offset, size))[0]
            limit = 1 << (8 * size - 1)  # the off_t's range (fs/read_write.c do_sendfile)
            if pos >= limit - 1 and size == 4:
                raise SyscallError("EOVERFLOW")
            count = min(count, limit - 1 - pos)
        sent, pos = self.blocking(hostcalls.sendfile, out_fd, in_fd, pos, count)
        if offset:
            self.mem.write(offset, self.target.pack(offset_format, pos))
        return sent

    # splice, tee and vmsplice move data through pipes; they wait on a full or
    # empty pipe, so the CPU is released meanwhile.  Offsets are loff_t on
    # every target.
    def _loff(self, address: int) -> int | None:
        """A loff_t the guest points to (splice, copy_file_range), None for NULL."""
        return self.target.unpack("q", self.mem.read(address, 8))[0] if address else None

    def _put_loff(self, address: int, value: int) -> None:
        if address:
            self.mem.write(address, self.target.pack("q", value))

    @syscall
    def splice(self, fd_in: Fd, off_in: Ptr, fd_out: Fd, off_out: Ptr, length: UInt,
               flags: UInt) -> int:
        moved, pos_in, pos_out = self.blocking(hostcalls.splice, fd_in, self._loff(off_in),
                                               fd_out, self._loff(off_out), length, flags)
        self._put_loff(off_in, pos_in)
        self._put_loff(off_out, pos_out)
        return moved

    @syscall
    def tee(self, fd_in: Fd, fd_out: Fd, length: UInt, flags: UInt) -> int:
        return self.blocking(hostcalls.tee, fd_in, fd_out, length, flags)

    @syscall
    def vmsplice(self, fd: Fd, iov: Ptr, iovcnt: Long, flags: UInt) -> int:
        # the pages are copied into the pipe (SPLICE_F_GIFT is only a hint)
        buffers = self.host_iovecs(iov, iovcnt, False)
        return self.blocking(hostcalls.vmsplice, fd, buffers, flags) if buffers else 0

    @syscall
    def sync_file_range(self, fd: Fd, offset: Int64, nbytes: Int64, flags: UInt) -> int:
        return hostcalls.sync_file_range(fd, offset, nbytes, flags)

    @syscall("sync_file_range2", "arm_sync_file_range")
    def sync_file_range2(self, fd: Fd, flags: UInt, offset: Int64, nbytes: Int64) -> int:
        # ARM's order: flags second, so that the 64-bit values fall on even registers
        return hostcalls.sync_file_range(fd, offset, nbytes, flags)

    @syscall("copy_file_range")
    def copy_file_range(self, fd_in: Fd, off_in: Ptr, fd_out: Fd, off_out: Ptr,
                        length: UInt, flags: UInt) -> int:
        pos_in, pos_out = self._loff(off_in), self._loff(off_out)
        copied = os.copy_file_range(fd_in, fd_out, length, pos_in, pos_out)
        if pos_in is not None:
            self._put_loff(off_in, pos_in + copied)
        if pos_out is not None:
            self._put_loff(off_out, pos_out + copied)
        return copied

    # ------------------------------------------------------------ descriptors
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

    # ------------------------------------------------------------ stat
    def fill_large_stat(self, address: int, s: os.stat_result) -> int:
        """The large-file struct stat: stat64, or a 64-bit ABI's stat (the
        only one it has, already with 64-bit sizes: stat, fstat, newfstatat)."""
        return self.fill_stat(address, s, self._large_stat)

    def fill_stat(self, address: int, s: os.stat_result, layout: type) -> int:
        """stat64 (or a 64-bit target's stat): the fields the layout has."""
        out = layout()
        values = {
            "st_dev": encode_dev(s.st_dev), "__st_ino": s.st_ino & 0xFFFFFFFF,
            "st_ino": s.st_ino, "st_mode": s.st_mode, "st_nlink": s.st_nlink,
            "st_uid": s.st_uid, "st_gid": s.st_gid, "st_rdev": encode_dev(s.st_rdev),
            "st_size": s.st_size, "st_blksize": s.st_blksize, "st_blocks": s.st_blocks,
            "st_atime": s.st_atime_ns // 10**9, "st_atime_nsec": s.st_atime_ns % 10**9,
            "st_mtime": s.st_mtime_ns // 10**9, "st_mtime_nsec": s.st_mtime_ns % 10**9,
            "st_ctime": s.st_ctime_ns // 10**9, "st_ctime_nsec": s.st_ctime_ns % 10**9,
        }
        for name, _ in layout._fields_:
            if name in values:
                setattr(out, name, values[name])
        self.mem.write_struct(address, out)
        return 0

    def _stat_path(self, dirfd: int, path: bytes, flags: int) -> os.stat_result:
        follow = not (flags & self._at_symlink_nofollow)
        if not path and flags & self._at_empty_path:
            return os.fstat(dirfd if dirfd != AT_FDCWD else os.open(".", os.O_RDONLY))
        if not path:
            raise SyscallError("ENOENT")
        return os.stat(path, dir_fd=dir_fd(dirfd), follow_symlinks=follow)

    @syscall
    def stat64(self, path: Path, buf: Ptr) -> int:
        return self.fill_large_stat(buf, os.stat(path))

    @syscall
    def lstat64(self, path: Path, buf: Ptr) -> int:
        return self.fill_large_stat(buf, os.lstat(path))

    @syscall
    def fstat64(self, fd: Fd, buf: Ptr) -> int:
        return self.fill_large_stat(buf, os.fstat(fd))

    @syscall("fstatat64", "newfstatat")
    def fstatat64(self, dirfd: Fd, path: Path, buf: Ptr, flags: UInt) -> int:
        return self.fill_large_stat(buf, self._stat_path(dirfd, path, flags))

    @syscall
    def statx(self, dirfd: Fd, path: Path, flags: UInt, mask: UInt, buf: Ptr) -> int:
        size = ctypes.sizeof(self.abi.statx)
        self.mem.writable(buf, size)
        result = hostcalls.statx(dirfd, path, flags, mask, self.mem.host_pointer(buf))
        if not self.target.little_endian:
            self.mem.write(buf, swap_struct(self.abi.statx, self.mem.read(buf, size)))
        return result

    @syscall
    def statfs64(self, path: Path, size: UInt, buf: Ptr) -> int:
        return self.fill_statfs(buf, os.statvfs(path), self.abi.statfs64)

    @syscall
    def fstatfs64(self, fd: Fd, size: UInt, buf: Ptr) -> int:
        return self.fill_statfs(buf, os.fstatvfs(fd), self.abi.statfs64)

    def fill_statfs(self, address: int, s: os.statvfs_result, layout: type) -> int:
        """statfs64 (or a 64-bit target's statfs): the fields the layout has."""
        out = layout()
        values = {"f_type": 0xEF53, "f_bsize": s.f_bsize, "f_blocks": s.f_blocks,
                  "f_bfree": s.f_bfree, "f_bavail": s.f_bavail, "f_files": s.f_files,
                  "f_ffree": s.f_ffree, "f_namelen": s.f_namemax, "f_frsize": s.f_frsize,
                  "f_flags": s.f_flag}
        for name, _ in out._fields_:
            if name in values:
                setattr(out, name, values[name])
        self.mem.write_struct(address, out)
        return 0

    # ------------------------------------------------------------ directories
    @syscall
    def getdents64(self, fd: Fd, dirp: Ptr, count: UInt) -> int:
        # linux_dirent64 is the same on every architecture: the host fills it in place
        # (a big-endian guest's numbers are swapped afterwards)
        self.mem.writable(dirp, count)
        got = hostcalls.getdents64(fd, self.mem.host_pointer(dirp), count)
        if not self.target.little_endian and got > 0:
            self.mem.write(dirp, swap_dirents64(self.mem.read(dirp, got)))
        return got

    @syscall
    def getcwd(self, buf: Ptr, size: UInt) -> int:
        cwd = self.proc.vfs.guest_view(os.getcwdb()) + b"\0"
        if len(cwd) > size:
            raise SyscallError("ERANGE")
        self.mem.write(buf, cwd)
        return len(cwd)

    @syscall
    def chdir(self, path: Path) -> int:
        os.chdir(path)
        return 0

    @syscall
    def fchdir(self, fd: Fd) -> int:
        os.fchdir(fd)
        return 0

    @syscall
    def mkdir(self, path: Path, mode: UInt) -> int:
        os.mkdir(path, mode)
        return 0

    @syscall
    def mkdirat(self, dirfd: Fd, path: Path, mode: UInt) -> int:
        os.mkdir(path, mode, dir_fd=dir_fd(dirfd))
        return 0

    @syscall
    def rmdir(self, path: Path) -> int:
        os.rmdir(path)
        return 0

    @syscall
    def unlink(self, path: Path) -> int:
        os.unlink(path)
        return 0

    @syscall
    def unlinkat(self, dirfd: Fd, path: Path, flags: UInt) -> int:
        if flags & self._at_removedir:
            os.rmdir(path, dir_fd=dir_fd(dirfd))
        else:
            os.unlink(path, dir_fd=dir_fd(dirfd))
        return 0

    @syscall
    def rename(self, old: Path, new: Path) -> int:
        os.rename(old, new)
        return 0

    @syscall
    def renameat(self, olddirfd: Fd, old: Path, newdirfd: Fd, new: Path) -> int:
        os.rename(old, new, src_dir_fd=dir_fd(olddirfd), dst_dir_fd=dir_fd(newdirfd))
        return 0

    @syscall
    def renameat2(self, olddirfd: Fd, old: Path, newdirfd: Fd, new: Path,
                  flags: UInt) -> int:
        return hostcalls.renameat2(olddirfd, old, newdirfd, new, flags)

    @syscall
    def link(self, old: Path, new: Path) -> int:
        os.link(old, new, follow_symlinks=False)
        return 0

    @syscall
    def linkat(self, olddirfd: Fd, old: Path, newdirfd: Fd, new: Path,
               flags: UInt) -> int:
        os.link(old, new, src_dir_fd=dir_fd(olddirfd), dst_dir_fd=dir_fd(newdirfd),
                follow_symlinks=bool(flags & self._at_symlink_follow))
        return 0

    @syscall
    def symlink(self, target: CStr, linkpath: Path) -> int:
        os.symlink(target, linkpath)
        return 0

    @syscall
    def symlinkat(self, target: CStr, newdirfd: Fd, linkpath: Path) -> int:
        os.symlink(target, linkpath, dir_fd=dir_fd(newdirfd))
        return 0

    @syscall
    def readlink(self, path: CStr, buf: OutBuf, size: UInt) -> int:
        return self.readlinkat(AT_FDCWD, path, buf, size)

    @syscall
    def readlinkat(self, dirfd: Fd, path: CStr, buf: OutBuf, size: UInt) -> int:
        if size == 0 or size > 0x7FFFFFFF:
            raise SyscallError("EINVAL")
        target = self.proc.vfs.readlink_special(path)
        if target is None:
            target = os.readlink(self.resolve_path(path), dir_fd=dir_fd(dirfd))
        n = min(len(target), size)
        buf[:n] = target[:n]
        return n

    # ------------------------------------------------------------ permissions
    @syscall
    def access(self, path: Path, mode: UInt) -> int:
        return self.faccessat2(AT_FDCWD, path, mode, 0)

    @syscall
    def faccessat(self, dirfd: Fd, path: Path, mode: UInt) -> int:
        return self.faccessat2(dirfd, path, mode, 0)

    @syscall
    def faccessat2(self, dirfd: Fd, path: Path, mode: UInt, flags: UInt) -> int:
        if not os.access(path, mode, dir_fd=dir_fd(dirfd),
                         effective_ids=bool(flags & self._at_eaccess),
                         follow_symlinks=not (flags & self._at_symlink_nofollow)):
            # os.access hides the reason: ask the kernel for the exact errno
            return hostcalls.faccessat2(dirfd, path, mode, flags)
        return 0

    @syscall
    def chmod(self, path: Path, mode: UInt) -> int:
        os.chmod(path, mode)
        return 0

    @syscall
    def fchmod(self, fd: Fd, mode: UInt) -> int:
        os.fchmod(fd, mode)
        return 0

    @syscall
    def fchmodat(self, dirfd: Fd, path: Path, mode: UInt) -> int:
        os.chmod(path, mode, dir_fd=dir_fd(dirfd))
        return 0

    @syscall("chown32", "chown")
    def chown32(self, path: Path, uid: Id, gid: Id) -> int:
        os.chown(path, uid, gid)
        return 0

    @syscall("lchown32", "lchown")
    def lchown32(self, path: Path, uid: Id, gid: Id) -> int:
        os.lchown(path, uid, gid)
        return 0

    @syscall("fchown32", "fchown")
    def fchown32(self, fd: Fd, uid: Id, gid: Id) -> int:
        os.fchown(fd, uid, gid)
        return 0

    @syscall
    def fchownat(self, dirfd: Fd, path: Path, uid: Id, gid: Id, flags: UInt) -> int:
        os.chown(path, uid, gid, dir_fd=dir_fd(dirfd),
                 follow_symlinks=not (flags & self._at_symlink_nofollow))
        return 0

    @syscall
    def umask(self, mask: UInt) -> int:
        return os.umask(mask & 0o777)

    # ------------------------------------------------------------ sizes, times, sync
    # truncate, ftruncate and sendfile take an off_t: a C long (32 bits on the
    # 32-bit targets, whose *64 calls take the 64-bit loff_t)
    @syscall
    def truncate(self, path: Path, length: Long) -> int:
        os.truncate(path, length)
        return 0

    @syscall
    def ftruncate(self, fd: Fd, length: Long) -> int:
        os.ftruncate(fd, length)
        return 0

    @syscall
    def truncate64(self, path: Path, length: Int64) -> int:
        os.truncate(path, length)
        return 0

    @syscall
    def ftruncate64(self, fd: Fd, length: Int64) -> int:
        os.ftruncate(fd, length)
        return 0

    @syscall("arm_fadvise64_64", "fadvise64_64")
    def fadvise64_64(self, fd: Fd, advice: int, offset: Int64, length: Int64) -> int:
        # ARM puts the advice second so that the 64-bit values fall on even
        # register pairs; POSIX_FADV_* are the generic numbers
        os.posix_fadvise(fd, offset, length, advice)
        return 0

    @syscall
    def fallocate(self, fd: Fd, mode: int, offset: Int64, length: Int64) -> int:
        if mode:
            raise SyscallError("EOPNOTSUPP")
        os.posix_fallocate(fd, offset, length)
        return 0

    # Every call that sets a file's times goes through the host's utimensat:
    # a NULL `times` means "now" there as in utime, utimes and futimesat, and
    # a NULL path with a real descriptor sets that descriptor's file (the
    # kernel's do_utimes), so no handler passes the guest's NULL on by itself.
    def _set_times(self, dirfd: int, path: int, times_ns: bytes | None,
                   flags: int) -> int:
        host_path = self.resolve_path(self.mem.read_cstr(path)) if path else None
        return hostcalls.utimensat(dirfd, host_path, times_ns, flags)

    @syscall
    def utimensat_time64(self, dirfd: Fd, path: Ptr, times: Ptr, flags: UInt) -> int:
        raw = None
        if times:  # the host's two timespecs (x86_64: little-endian)
            raw = struct.pack("<4q", *self.read_timespecs(times, 2, True))
        return self._set_times(dirfd, path, raw, flags)

    @syscall
    def utimensat(self, dirfd: Fd, path: Ptr, times: Ptr, flags: UInt) -> int:
        # the target's timespec: time64 already on a 64-bit target
        raw = None
        if times:
            raw = struct.pack("<4q", *self.read_timespecs(times, 2, False))
        return self._set_times(dirfd, path, raw, flags)

    def _timevals(self, times: int) -> bytes | None:
        """Two guest struct timevals (access, modification) as the host's timespecs."""
        if not times:
            return None
        raw = self.mem.read(times, 4 * self.target.word_size)
        a_sec, a_usec, m_sec, m_usec = self.target.unpack(4 * self.target.long_format, raw)
        if not (0 <= a_usec < 1_000_000 and 0 <= m_usec < 1_000_000):
            raise SyscallError("EINVAL")
        return struct.pack("<4q", a_sec, a_usec * 1000, m_sec, m_usec * 1000)

    @syscall
    def utimes(self, path: Ptr, times: Ptr) -> int:
        if not path:
            raise SyscallError("EFAULT")
        return self._set_times(AT_FDCWD, path, self._timevals(times), 0)

    @syscall
    def futimesat(self, dirfd: Fd, path: Ptr, times: Ptr) -> int:
        return self._set_times(dirfd, path, self._timevals(times), 0)

    @syscall
    def utime(self, path: Ptr, times: Ptr) -> int:
        """struct utimbuf: two longs, access and modification time in seconds."""
        if not path:
            raise SyscallError("EFAULT")
        raw = None
        if times:
            access, modification = self.target.unpack(
                2 * self.target.long_format, self.mem.read(times, 2 * self.target.word_size))
            raw = struct.pack("<4q", access, 0, modification, 0)
        return self._set_times(AT_FDCWD, path, raw, 0)

    @syscall
    def fsync(self, fd: Fd) -> int:
        os.fsync(fd)
        return 0

    @syscall
    def fdatasync(self, fd: Fd) -> int:
        os.fdatasync(fd)
        return 0

    @syscall
    def sync(self) -> int:
        os.sync()
        return 0

    @syscall
    def syncfs(self, fd: Fd) -> int:
        os.fsync(fd)
        return 0

    @syscall
    def mknod(self, path: Path, mode: UInt, dev: UInt) -> int:
        os.mknod(path, mode, dev)
        return 0

    @syscall
    def mknodat(self, dirfd: Fd, path: Path, mode: UInt, dev: UInt) -> int:
        if st.S_ISFIFO(mode):
            os.mkfifo(path, mode & 0o7777, dir_fd=dir_fd(dirfd))
        else:
            os.mknod(path, mode, dev, dir_fd=dir_fd(dirfd))
        return 0
