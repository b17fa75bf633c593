"""Extended attributes: the host's, by path (sysroot first), link or descriptor.

Names and values are bytes the kernel does not interpret, the same on every
architecture; the XATTR_CREATE/XATTR_REPLACE flags too.  `ls -l` asks for
the ACL and SELinux attributes of every file it lists.
"""

from __future__ import annotations

import os

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import CStr, Fd, OutBuf, Path, Ptr, SyscallError, UInt

FileRef = bytes | int  # a host path or a descriptor


def _copy_out(data: bytes, buf: memoryview, size: int) -> int:
    """The size query (size 0) or the copy, with ERANGE when it does not fit."""
    if size == 0:
        return len(data)
    if len(data) > size:
        raise SyscallError("ERANGE")
    buf[:len(data)] = data
    return len(data)


class XattrCalls(SyscallFamily):
    def _get(self, where: FileRef, name: bytes, buf: memoryview, size: int,
             follow: bool) -> int:
        value = os.getxattr(where, name, follow_symlinks=follow)
        return _copy_out(value, buf, size)

    def _list(self, where: FileRef, buf: memoryview, size: int, follow: bool) -> int:
        names = os.listxattr(where, follow_symlinks=follow)
        return _copy_out(b"".join(os.fsencode(n) + b"\0" for n in names), buf, size)

    def _set(self, where: FileRef, name: bytes, value: int, size: int, flags: int,
             follow: bool) -> int:
        data = self.mem.read(value, size) if size else b""
        os.setxattr(where, name, data, flags, follow_symlinks=follow)
        return 0

    # a NULL buffer is fine for the size query: OutBuf of length 0 is empty
    @syscall
    def getxattr(self, path: Path, name: CStr, value: OutBuf, size: UInt) -> int:
        return self._get(path, name, value, size, True)

    @syscall
    def lgetxattr(self, path: Path, name: CStr, value: OutBuf, size: UInt) -> int:
        return self._get(path, name, value, size, False)

    @syscall
    def fgetxattr(self, fd: Fd, name: CStr, value: OutBuf, size: UInt) -> int:
        return self._get(fd, name, value, size, True)

    @syscall
    def listxattr(self, path: Path, names: OutBuf, size: UInt) -> int:
        return self._list(path, names, size, True)

    @syscall
    def llistxattr(self, path: Path, names: OutBuf, size: UInt) -> int:
        return self._list(path, names, size, False)

    @syscall
    def flistxattr(self, fd: Fd, names: OutBuf, size: UInt) -> int:
        return self._list(fd, names, size, True)

    @syscall
    def setxattr(self, path: Path, name: CStr, value: Ptr, size: UInt,
                 flags: int) -> int:
        return self._set(path, name, value, size, flags, True)

    @syscall
    def lsetxattr(self, path: Path, name: CStr, value: Ptr, size: UInt,
                  flags: int) -> int:
        return self._set(path, name, value, size, flags, False)

    @syscall
    def fsetxattr(self, fd: Fd, name: CStr, value: Ptr, size: UInt, flags: int) -> int:
        return self._set(fd, name, value, size, flags, True)

    @syscall
    def removexattr(self, path: Path, name: CStr) -> int:
        os.removexattr(path, name)
        return 0

    @syscall
    def lremovexattr(self, path: Path, name: CStr) -> int:
        os.removexattr(path, name, follow_symlinks=False)
        return 0

    @syscall
    def fremovexattr(self, fd: Fd, name: CStr) -> int:
        os.removexattr(fd, name)
        return 0
