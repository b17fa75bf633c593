"""Host syscalls the stdlib does not wrap, through ctypes.

Several kernel structs are the same on every Linux architecture (statx,
linux_dirent64, the 64-bit timespec): for little-endian targets those calls
write straight into guest memory, with no copy and no conversion.
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# x86_64 host syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl)
SYS_getdents64 = 217
SYS_statx = 332
SYS_renameat2 = 316
SYS_faccessat2 = 439
SYS_utimensat = 280
SYS_getrandom = 318


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def getdents64(fd: int, host_address: int, count: int) -> int:
    return _check(_syscall(SYS_getdents64, ctypes.c_int(fd), ctypes.c_void_p(host_address),
                           ctypes.c_uint(count)))


def statx(dirfd: int, path: bytes, flags: int, mask: int, host_address: int) -> int:
    return _check(_syscall(SYS_statx, ctypes.c_int(dirfd), ctypes.c_char_p(path),
                           ctypes.c_int(flags), ctypes.c_uint(mask),
                           ctypes.c_void_p(host_address)))


def renameat2(olddirfd: int, old: bytes, newdirfd: int, new: bytes, flags: int) -> int:
    return _check(_syscall(SYS_renameat2, ctypes.c_int(olddirfd), ctypes.c_char_p(old),
                           ctypes.c_int(newdirfd), ctypes.c_char_p(new), ctypes.c_uint(flags)))


def faccessat2(dirfd: int, path: bytes, mode: int, flags: int) -> int:
    return _check(_syscall(SYS_faccessat2, ctypes.c_int(dirfd), ctypes.c_char_p(path),
                           ctypes.c_int(mode), ctypes.c_int(flags)))


def utimensat(dirfd: int, path: bytes | None, times: bytes | None, flags: int) -> int:
    """times: two 64-bit timespecs (16 bytes each) or None for 'now'."""
    buf = ctypes.create_string_buffer(times, 32) if times is not None else None
    return _check(_syscall(SYS_utimensat, ctypes.c_int(dirfd),
                           ctypes.c_char_p(path) if path is not None else None,
                           buf, ctypes.c_int(flags)))
