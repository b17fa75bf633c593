"""A file's status and attributes: the stat and statfs families, access,
permissions, ownership, the umask and the time stamps."""

from __future__ import annotations

import ctypes
import os
import struct

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import swap_struct
from pyuser.syscalls.files import AT_FDCWD, dir_fd, encode_dev
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Id, Path, Ptr, SyscallError, UInt


class FileStatusCalls(SyscallFamily):
    """stat, statfs, access, chmod, chown and utimes, and their *at forms."""

    def setup_family(self) -> None:
        c = self.abi.CONST
        self._at_symlink_nofollow = c["AT_SYMLINK_NOFOLLOW"]
        self._at_empty_path = c["AT_EMPTY_PATH"]
        self._at_eaccess = c["AT_EACCESS"]
        self._large_stat = getattr(self.abi, "stat64", None) or self.abi.stat

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
