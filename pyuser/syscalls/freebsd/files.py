"""Files and descriptors with FreeBSD's flags and layouts.

open flags, fcntl commands and AT_* flags are FreeBSD's (sys/sys/fcntl.h),
translated to the host's by name; struct stat is FreeBSD 12's with 64-bit
inodes and struct dirent its variable-length record (sys/sys/stat.h,
sys/sys/dirent.h; layouts from the generated tables).
"""

from __future__ import annotations

import ctypes
import fcntl as host_fcntl
import os
import stat as host_stat
import struct
import termios
from collections.abc import Callable

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.files import dir_fd, guest_fd
from pyuser.syscalls.flags import FlagMap
from pyuser.syscalls.freebsd.layout import layout
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import CStr, Fd, InPtr, Long, OutPtr, Path, Ptr, SyscallError, UInt

_libc = ctypes.CDLL(None, use_errno=True)
_libc.poll.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int]

AT_FDCWD = -100
_OPEN_NAMES = ["O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND",
               "O_NONBLOCK", "O_DSYNC", "O_ASYNC", "O_DIRECT", "O_DIRECTORY", "O_NOFOLLOW",
               "O_CLOEXEC", "O_PATH", "O_SYNC"]
_AT_SYMLINK_NOFOLLOW, _AT_REMOVEDIR, _AT_SYMLINK_FOLLOW, _AT_EACCESS = 0x200, 0x800, 0x400, 0x100
_AT_EMPTY_PATH = 0x4000
_F_DUPFD, _F_GETFD, _F_SETFD, _F_GETFL, _F_SETFL = 0, 1, 2, 3, 4
_F_GETOWN, _F_SETOWN, _F_DUP2FD, _F_GETLK, _F_SETLK, _F_SETLKW = 5, 6, 10, 11, 12, 13
_F_DUPFD_CLOEXEC, _F_DUP2FD_CLOEXEC = 17, 18
# ioctls (sys/sys/filio.h, sys/sys/ttycom.h)
_FIOCLEX, _FIONCLEX, _FIONBIO, _FIONREAD = 0x20006601, 0x20006602, 0x8004667E, 0x4004667F
_TIOCGETA, _TIOCGWINSZ = 0x402C7413, 0x40087468
# DT_* are the same numbers on both (sys/sys/dirent.h)


def _timespec_fields(prefix: str, ns: int) -> dict[str, int]:
    return {f"{prefix}.Sec": ns // 10**9, f"{prefix}.Nsec": ns % 10**9}


class FreeBsdFileCalls(SyscallFamily):
    # provided by the kqueue family
    forget_kqueue: Callable[[int], bool]
    fd_closed: Callable[[int], None]

    def setup_family(self) -> None:
        host = {n: getattr(os, n) for n in dir(os) if n.startswith("O_")}
        self.open_flags = FlagMap(_OPEN_NAMES, self.abi.CONST, host)
        self._cloexec = self.abi.CONST["O_CLOEXEC"]

    # ------------------------------------------------------------ reading and writing
    @syscall
    def read(self, fd: Fd, buf: OutPtr, count: UInt) -> int:
        self.mem.writable(buf, count)
        return self.blocking(hostcalls.read, fd, self.mem.host_pointer(buf), count)

    @syscall
    def write(self, fd: Fd, buf: InPtr, count: UInt) -> int:
        self.mem.readable(buf, count)
        return self.blocking(hostcalls.write, fd, self.mem.host_pointer(buf), count)

    @syscall
    def readv(self, fd: Fd, iov: Ptr, iovcnt: int) -> int:
        buffers = self.host_iovecs(iov, iovcnt, True)
        return self.blocking(hostcalls.readv, fd, buffers) if buffers else 0

    @syscall
    def writev(self, fd: Fd, iov: Ptr, iovcnt: int) -> int:
        buffers = self.host_iovecs(iov, iovcnt, False)
        return self.blocking(hostcalls.writev, fd, buffers) if buffers else 0

    @syscall
    def pread(self, fd: Fd, buf: OutPtr, count: UInt, offset: Long) -> int:
        return os.preadv(fd, [self.mem.writable(buf, count)], offset) if count else 0

    @syscall
    def pwrite(self, fd: Fd, buf: InPtr, count: UInt, offset: Long) -> int:
        return os.pwrite(fd, self.mem.read(buf, count), offset)

    @syscall
    def lseek(self, fd: Fd, offset: Long, whence: int) -> int:
        return os.lseek(fd, offset, whence)

    # ------------------------------------------------------------ opening
    def _open(self, dirfd: int, path: bytes, flags: int, mode: int) -> int:
        host = self.open_flags.to_host(flags, 3)
        if flags & 0x40000:  # O_EXEC: opened for execution only, read it here
            host &= ~3
        fd = os.open(path, host | os.O_CLOEXEC, mode & 0o7777, dir_fd=dir_fd(dirfd))
        return guest_fd(fd, bool(flags & self._cloexec))

    @syscall
    def open(self, path: Path, flags: int, mode: UInt) -> int:
        return self._open(AT_FDCWD, path, flags, mode)

    @syscall
    def openat(self, dirfd: Fd, path: Path, flags: int, mode: UInt) -> int:
        return self._open(dirfd, path, flags, mode)

    @syscall
    def close(self, fd: Fd) -> int:
        if self.proc.is_reserved_fd(fd):
            raise SyscallError("EBADF")
        if not self.forget_kqueue(fd):
            self.fd_closed(fd)
            os.close(fd)
        return 0

    @syscall
    def close_range(self, low: UInt, high: UInt, flags: int) -> int:
        for fd in range(low, min(high, 65535) + 1):
            if not self.proc.is_reserved_fd(fd):
                try:
                    if flags & 4:  # CLOSE_RANGE_CLOEXEC
                        os.set_inheritable(fd, False)
                    else:
                        os.close(fd)
                except OSError:
                    pass
        return 0

    @syscall
    def dup(self, fd: Fd) -> int:
        return guest_fd(os.dup(fd), False)

    @syscall
    def dup2(self, fd: Fd, fd2: Fd) -> int:
        if self.proc.is_reserved_fd(fd2):
            raise SyscallError("EBADF")
        if fd != fd2:
            self.fd_closed(fd2)
        return os.dup2(fd, fd2, inheritable=True)

    @syscall
    def pipe2(self, fds: Ptr, flags: int) -> int:
        read_end, write_end = os.pipe2(os.O_CLOEXEC | (os.O_NONBLOCK if flags & 4 else 0))
        cloexec = bool(flags & self._cloexec)
        self.mem.write(fds, struct.pack("<ii", guest_fd(read_end, cloexec),
                                        guest_fd(write_end, cloexec)))
        return 0

    @syscall
    def fcntl(self, fd: Fd, cmd: int, arg: Long) -> int:
        if cmd in (_F_DUPFD, _F_DUPFD_CLOEXEC):
            new = host_fcntl.fcntl(fd, host_fcntl.F_DUPFD_CLOEXEC, arg)
            return guest_fd(new, cmd == _F_DUPFD_CLOEXEC)
        if cmd in (_F_DUP2FD, _F_DUP2FD_CLOEXEC):
            return os.dup2(fd, arg, inheritable=cmd == _F_DUP2FD)
        if cmd == _F_GETFD:
            return 0 if os.get_inheritable(fd) else 1
        if cmd == _F_SETFD:
            os.set_inheritable(fd, not arg & 1)
            return 0
        if cmd == _F_GETFL:
            host = host_fcntl.fcntl(fd, host_fcntl.F_GETFL)
            return self.open_flags.to_target(host & ~os.O_LARGEFILE, 3)
        if cmd == _F_SETFL:
            host_fcntl.fcntl(fd, host_fcntl.F_SETFL, self.open_flags.to_host(arg))
            return 0
        if cmd == _F_GETOWN:
            return host_fcntl.fcntl(fd, host_fcntl.F_GETOWN)
        if cmd == _F_SETOWN:
            host_fcntl.fcntl(fd, host_fcntl.F_SETOWN, arg)
            return 0
        if cmd in (_F_GETLK, _F_SETLK, _F_SETLKW):
            return self._record_lock(fd, cmd, arg)
        raise SyscallError("EINVAL")

    def _record_lock(self, fd: int, cmd: int, arg: int) -> int:
        # struct flock: off_t l_start, l_len; pid_t l_pid; short l_type, l_whence; int l_sysid
        start, length, pid, kind, whence = struct.unpack("<qqihh", self.mem.read(arg, 24))
        # FreeBSD F_RDLCK 1, F_UNLCK 2, F_WRLCK 3; Linux 0, 2, 1
        host_kind = {1: 0, 2: 2, 3: 1}.get(kind)
        if host_kind is None:
            raise SyscallError("EINVAL")
        host_cmd = {_F_GETLK: 5, _F_SETLK: 6, _F_SETLKW: 7}[cmd]
        raw = struct.pack("<hhqqi4x", host_kind, whence, start, length, pid)
        if cmd == _F_SETLKW:
            out = self.blocking(hostcalls.fcntl_lock, fd, host_cmd, raw)
        else:
            out = hostcalls.fcntl_lock(fd, host_cmd, raw)
        if cmd == _F_GETLK:
            k, w, s, n, p = struct.unpack("<hhqqi", out[:28])
            self.mem.write(arg, struct.pack("<qqihh", s, n, p, {0: 1, 2: 2, 1: 3}[k], w))
        return 0

    @syscall
    def flock(self, fd: Fd, operation: int) -> int:
        return self.blocking(hostcalls.flock, fd, operation)  # LOCK_* are the same

    @syscall
    def ioctl(self, fd: Fd, request: UInt, arg: Ptr) -> int:
        request &= 0xFFFFFFFF
        if request == _FIOCLEX:
            os.set_inheritable(fd, False)
            return 0
        if request == _FIONCLEX:
            os.set_inheritable(fd, True)
            return 0
        if request == _FIONBIO:
            os.set_blocking(fd, not struct.unpack("<i", self.mem.read(arg, 4))[0])
            return 0
        if request == _FIONREAD:
            out = host_fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4)
            self.mem.write(arg, out)
            return 0
        if request == _TIOCGWINSZ:
            self.mem.write(arg, host_fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
            return 0
        if request == _TIOCGETA:
            os.fstat(fd)
            if not os.isatty(fd):
                raise SyscallError("ENOTTY")
            # struct termios (sys/sys/_termios.h): c_iflag, c_oflag, c_cflag, c_lflag,
            # c_cc[20], c_ispeed, c_ospeed; only "is a terminal" is answered for now
            self.mem.write(arg, bytes(44))
            return 0
        os.fstat(fd)
        if self.log.enabled("unimp"):
            self.log.write(f"Unsupported ioctl: {request:#x}")
        raise SyscallError("ENOTTY")

    # ------------------------------------------------------------ stat
    def _fill_stat(self, address: int, s: os.stat_result) -> int:
        birth = getattr(s, "st_birthtime_ns", s.st_ctime_ns)
        fields = {"Dev": s.st_dev, "Ino": s.st_ino, "Nlink": s.st_nlink, "Mode": s.st_mode,
                  "Uid": s.st_uid, "Gid": s.st_gid, "Rdev": s.st_rdev, "Size": s.st_size,
                  "Blocks": s.st_blocks, "Blksize": s.st_blksize,
                  **_timespec_fields("Atimespec", s.st_atime_ns),
                  **_timespec_fields("Mtimespec", s.st_mtime_ns),
                  **_timespec_fields("Ctimespec", s.st_ctime_ns),
                  **_timespec_fields("Birthtimespec", birth)}
        stat_layout = layout(self.abi, "Stat_t")
        buf = bytearray(stat_layout.size)
        for name, value in fields.items():
            offset, code = stat_layout.fields[name]
            struct.pack_into("<" + code, buf, offset, value)
        self.mem.write(address, bytes(buf))
        return 0

    @syscall
    def fstat(self, fd: Fd, buf: Ptr) -> int:
        return self._fill_stat(buf, os.fstat(fd))

    @syscall
    def fstatat(self, dirfd: Fd, path: Path, buf: Ptr, flags: int) -> int:
        if not path:
            if not flags & _AT_EMPTY_PATH:
                raise SyscallError("ENOENT")
            return self._fill_stat(buf, os.fstat(dirfd))
        s = os.stat(path, dir_fd=dir_fd(dirfd),
                    follow_symlinks=not flags & _AT_SYMLINK_NOFOLLOW)
        return self._fill_stat(buf, s)

    def _fill_statfs(self, address: int, v: os.statvfs_result, path: bytes) -> int:
        # struct statfs (sys/sys/mount.h): f_version @0 (STATFS_VERSION 0x20140518),
        # f_type, f_flags, f_bsize, f_iosize, f_blocks, f_bfree, f_bavail, f_files,
        # f_ffree ...; f_fstypename @0x128-ish, from the generated layout
        statfs = layout(self.abi, "Statfs_t")
        buf = bytearray(statfs.size)
        values = {"Version": 0x20140518, "Bsize": v.f_frsize, "Iosize": v.f_bsize,
                  "Blocks": v.f_blocks, "Bfree": v.f_bfree, "Bavail": v.f_bavail,
                  "Files": v.f_files, "Ffree": v.f_ffree, "Namemax": v.f_namemax}
        for name, value in values.items():
            if name in statfs.fields:
                offset, code = statfs.fields[name]
                struct.pack_into("<" + code, buf, offset, value)
        name_at = statfs.fields.get("Fstypename", (None,))[0]
        if name_at is not None:
            buf[name_at:name_at + 4] = b"ufs\0"
        self.mem.write(address, bytes(buf))
        return 0

    @syscall
    def statfs(self, path: Path, buf: Ptr) -> int:
        return self._fill_statfs(buf, os.statvfs(path), path)

    @syscall
    def fstatfs(self, fd: Fd, buf: Ptr) -> int:
        return self._fill_statfs(buf, os.fstatvfs(fd), b"")

    @syscall
    def getdirentries(self, fd: Fd, buf: Ptr, count: UInt, basep: Ptr) -> int:
        """Linux getdents64 records re-packed as FreeBSD's struct dirent
        {d_fileno u64, d_off i64, d_reclen u16, d_type u8, pad, d_namlen u16,
        pad, d_name[] NUL-terminated, 8-aligned}; what does not fit is read
        again next time (the host offset of the last entry given is sought)."""
        out = self.mem.writable(buf, count)
        start = os.lseek(fd, 0, os.SEEK_CUR)
        host = ctypes.create_string_buffer(max(count, 512))
        got = hostcalls.getdents64(fd, ctypes.addressof(host), max(count, 512))
        raw = host.raw[:got]
        written = 0
        position = 0
        last_off = start
        while position < got:
            ino, off, reclen, kind = struct.unpack_from("<QqHB", raw, position)
            name = raw[position + 19:position + reclen].split(b"\0", 1)[0]
            size = (24 + len(name) + 1 + 7) & ~7
            if written + size > count:
                break
            record = struct.pack("<QqHBxHxx", ino, off, size, kind, len(name)) + name
            out[written:written + size] = record.ljust(size, b"\0")
            written += size
            position += reclen
            last_off = off
        if position < got:
            if written == 0:
                os.lseek(fd, start, os.SEEK_SET)
                raise SyscallError("EINVAL")  # count too small for one entry
            os.lseek(fd, last_off, os.SEEK_SET)
        if basep:
            self.mem.write(basep, struct.pack("<q", start))
        return written

    # ------------------------------------------------------------ names
    @syscall
    def access(self, path: Path, mode: int) -> int:
        if not os.access(path, mode):
            raise SyscallError("EACCES") if os.path.lexists(path) else SyscallError("ENOENT")
        return 0

    @syscall
    def faccessat(self, dirfd: Fd, path: Path, mode: int, flags: int) -> int:
        if not os.access(path, mode, dir_fd=dir_fd(dirfd), effective_ids=bool(flags & _AT_EACCESS),
                         follow_symlinks=not flags & _AT_SYMLINK_NOFOLLOW):
            os.stat(path, dir_fd=dir_fd(dirfd))  # ENOENT first
            raise SyscallError("EACCES")
        return 0

    @syscall
    def readlink(self, path: Path, buf: Ptr, size: UInt) -> int:
        return self.readlinkat(AT_FDCWD, path, buf, size)

    @syscall
    def readlinkat(self, dirfd: Fd, path: Path, buf: Ptr, size: UInt) -> int:
        target = os.readlink(path, dir_fd=dir_fd(dirfd))
        data = os.fsencode(target)[:size]
        self.mem.write(buf, data)
        return len(data)

    @syscall
    def unlink(self, path: Path) -> int:
        os.unlink(path)
        return 0

    @syscall
    def unlinkat(self, dirfd: Fd, path: Path, flags: int) -> int:
        if flags & _AT_REMOVEDIR:
            os.rmdir(path, dir_fd=dir_fd(dirfd))
        else:
            os.unlink(path, dir_fd=dir_fd(dirfd))
        return 0

    @syscall
    def rmdir(self, path: Path) -> int:
        os.rmdir(path)
        return 0

    @syscall
    def mkdir(self, path: Path, mode: UInt) -> int:
        os.mkdir(path, mode & 0o7777)
        return 0

    @syscall
    def mkdirat(self, dirfd: Fd, path: Path, mode: UInt) -> int:
        os.mkdir(path, mode & 0o7777, dir_fd=dir_fd(dirfd))
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
    def symlink(self, target: CStr, path: Path) -> int:
        os.symlink(target, path)
        return 0

    @syscall
    def symlinkat(self, target: CStr, dirfd: Fd, path: Path) -> int:
        os.symlink(target, path, dir_fd=dir_fd(dirfd))
        return 0

    @syscall
    def link(self, old: Path, new: Path) -> int:
        os.link(old, new)
        return 0

    @syscall
    def linkat(self, olddirfd: Fd, old: Path, newdirfd: Fd, new: Path, flags: int) -> int:
        os.link(old, new, src_dir_fd=dir_fd(olddirfd), dst_dir_fd=dir_fd(newdirfd),
                follow_symlinks=bool(flags & _AT_SYMLINK_FOLLOW))
        return 0

    @syscall
    def chdir(self, path: Path) -> int:
        os.chdir(path)
        return 0

    @syscall
    def fchdir(self, fd: Fd) -> int:
        os.fchdir(fd)
        return 0

    @syscall("__getcwd")
    def getcwd(self, buf: Ptr, size: UInt) -> int:
        cwd = self.proc.vfs.guest_view(os.fsencode(os.getcwd()))
        if len(cwd) + 1 > size:
            raise SyscallError("ERANGE")
        self.mem.write(buf, cwd + b"\0")
        return 0

    @syscall
    def fsync(self, fd: Fd) -> int:
        os.fsync(fd)
        return 0

    @syscall
    def fdatasync(self, fd: Fd) -> int:
        os.fdatasync(fd)
        return 0

    @syscall
    def ftruncate(self, fd: Fd, length: Long) -> int:
        os.ftruncate(fd, length)
        return 0

    @syscall
    def truncate(self, path: Path, length: Long) -> int:
        os.truncate(path, length)
        return 0

    @syscall
    def chmod(self, path: Path, mode: UInt) -> int:
        os.chmod(path, mode & 0o7777)
        return 0

    @syscall
    def fchmod(self, fd: Fd, mode: UInt) -> int:
        os.fchmod(fd, mode & 0o7777)
        return 0

    @syscall
    def fchmodat(self, dirfd: Fd, path: Path, mode: UInt, flags: int) -> int:
        os.chmod(path, mode & 0o7777, dir_fd=dir_fd(dirfd))
        return 0

    @syscall
    def fchown(self, fd: Fd, uid: int, gid: int) -> int:
        os.fchown(fd, uid, gid)
        return 0

    @syscall
    def fchownat(self, dirfd: Fd, path: Path, uid: int, gid: int, flags: int) -> int:
        os.chown(path, uid, gid, dir_fd=dir_fd(dirfd),
                 follow_symlinks=not flags & _AT_SYMLINK_NOFOLLOW)
        return 0

    @syscall
    def utimensat(self, dirfd: Fd, path: Path, times: Ptr, flags: int) -> int:
        data = self.mem.read(times, 32) if times else None
        if data is not None:  # UTIME_NOW -1, UTIME_OMIT -2 on FreeBSD; Linux's are others
            words = list(struct.unpack("<4q", data))
            for i in (1, 3):
                words[i] = {-1: (1 << 30) - 1, -2: (1 << 30) - 2}.get(words[i], words[i])
            data = struct.pack("<4q", *words)
        host_flags = 0x100 if flags & _AT_SYMLINK_NOFOLLOW else 0
        hostcalls.utimensat(AT_FDCWD if dirfd == AT_FDCWD else dirfd, path, data, host_flags)
        return 0

    @syscall
    def futimens(self, fd: Fd, times: Ptr) -> int:
        return self.utimensat(fd, b"", times, _AT_EMPTY_PATH)

    @syscall
    def posix_fadvise(self, fd: Fd, offset: Long, length: Long, advice: int) -> int:
        os.fstat(fd)
        return 0

    @syscall
    def mknodat(self, dirfd: Fd, path: Path, mode: UInt, dev: Long) -> int:
        if not host_stat.S_ISFIFO(mode):
            raise SyscallError("EPERM")
        os.mkfifo(path, mode & 0o7777, dir_fd=dir_fd(dirfd))
        return 0

    # ------------------------------------------------------------ polling
    def _poll(self, fds: int, nfds: int, timeout_ms: int) -> int:
        """struct pollfd {int fd; short events, revents} and POLL* bits are
        the same on FreeBSD as on Linux for POLLIN..POLLNVAL (sys/sys/poll.h)."""
        if nfds > 65536:
            raise SyscallError("EINVAL")
        table = (ctypes.c_uint8 * (8 * nfds))()
        if nfds:
            ctypes.memmove(table, self.mem.read(fds, 8 * nfds), 8 * nfds)

        def wait() -> int:
            n = _libc.poll(table, nfds, timeout_ms)
            if n < 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
            return n

        ready = self.blocking(wait)
        if nfds:
            self.mem.write(fds, bytes(table))
        return ready

    @syscall
    def poll(self, fds: Ptr, nfds: UInt, timeout: int) -> int:
        return self._poll(fds, nfds, timeout)

    @syscall
    def ppoll(self, fds: Ptr, nfds: UInt, ts: Ptr, sigmask: Ptr) -> int:
        timeout = -1
        if ts:
            sec, nsec = struct.unpack("<qq", self.mem.read(ts, 16))
            if sec < 0 or not 0 <= nsec < 10**9:
                raise SyscallError("EINVAL")
            timeout = sec * 1000 + (nsec + 999_999) // 1_000_000
        return self._poll(fds, nfds, timeout)

    @syscall
    def getrandom(self, buf: Ptr, count: UInt, flags: UInt) -> int:
        data = self.proc.random_bytes(min(count, 1 << 20))
        self.mem.write(buf, data)
        return len(data)
