"""Directories and names: reading directories, the working directory,
making and removing, renaming, hard and symbolic links, device nodes."""

from __future__ import annotations

import os
import stat as st

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import swap_dirents64
from pyuser.syscalls.files import AT_FDCWD, dir_fd
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import CStr, Fd, OutBuf, Path, Ptr, SyscallError, UInt


class PathCalls(SyscallFamily):
    """The calls that change or read the tree of names."""

    def setup_family(self) -> None:
        c = self.abi.CONST
        self._at_removedir = c["AT_REMOVEDIR"]
        self._at_symlink_follow = c["AT_SYMLINK_FOLLOW"]

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
