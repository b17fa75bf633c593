"""Argument types a syscall handler declares in its signature.

A handler reads like its man page::

    @syscall
    def openat(self, dirfd: Fd, path: Path, flags: UInt, mode: UInt) -> int:

and the marshaller (pyuser.syscalls.table) turns raw registers into these
values once per call: strings and buffers are read from guest memory (EFAULT
when the pointer is bad), 64-bit values are joined from register pairs.
The same declarations drive `-strace`.
"""

from __future__ import annotations

from typing import Annotated

from pyuser.errors import NoReturn  # noqa: F401 - the handlers' vocabulary


class Arg:
    """How a parameter is taken from the registers and shown by strace."""

    def __init__(self, kind: str, wide: bool = False) -> None:
        self.kind = kind
        # registers consumed (2 for a 64-bit value on a 32-bit target)
        self.wide = wide

    def __repr__(self) -> str:
        return f"Arg({self.kind!r}, wide={self.wide})"


# A plain `int` parameter is a C int: on 64-bit targets only the register's
# low half counts, as the kernel's syscall wrappers cast it (x86_64's
# `mov $-1, %esi` leaves the upper half zero).  `Long` is a C long or off_t:
# the whole register.
SIGNED = Arg("signed")
LONG = Arg("long")
UNSIGNED = Arg("unsigned")
POINTER = Arg("pointer")
FD = Arg("fd")
CSTRING = Arg("cstring")
PATH = Arg("path")
IN_BUFFER = Arg("in_buffer")  # bytes; its length is the next argument
OUT_BUFFER = Arg("out_buffer")  # writable memoryview; length is the next argument
INT64 = Arg("int64", wide=True)
ID = Arg("id")
ID16 = Arg("id16")
# Raw guest addresses of buffers whose length is the next argument: passed as
# ints (the handler hands the host pointer to libc) yet shown by -strace as
# the bytes they hold.
IN_POINTER = Arg("in_pointer")
OUT_POINTER = Arg("out_pointer")

UInt = Annotated[int, UNSIGNED]
Long = Annotated[int, LONG]
Ptr = Annotated[int, POINTER]
Fd = Annotated[int, FD]
CStr = Annotated[bytes, CSTRING]
# A guest path, already mapped to the host path it means (sysroot, /proc/self)
Path = Annotated[bytes, PATH]
InBuf = Annotated[bytes, IN_BUFFER]
OutBuf = Annotated[memoryview, OUT_BUFFER]
InPtr = Annotated[int, IN_POINTER]
OutPtr = Annotated[int, OUT_POINTER]
# A 64-bit value passed in two registers on 32-bit targets (one on 64-bit)
Int64 = Annotated[int, INT64]
# A uid_t or gid_t: 32 bits unsigned, where (uid_t)-1 is -1 ("leave unchanged"),
# as Python's os functions take it
Id = Annotated[int, ID]
# The old_uid_t of arm's and i386's 16-bit calls (chown, setuid, ... beside
# their *32 twins): the low 16 bits, where 0xffff is -1 (include/linux/highuid.h)
Id16 = Annotated[int, ID16]


class SyscallError(Exception):
    """A syscall fails with the target errno named here (e.g. "EINVAL")."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


