"""SysV shared memory: shmget, shmat, shmdt, shmctl.

Segments are the host kernel's (see sysv_ipc).  shmat attaches the host
segment inside the guest reservation (SHM_REMAP over the reserved pages) and
records a shared guest mapping; shmdt unmaps it, which replaces the host
attachment.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from pyuser.memory import PROT_READ, PROT_WRITE, page_ceil
from pyuser.syscalls.byteorder import host_abi
from pyuser.syscalls.sysv_ipc import (
    IPC_64,
    IPC_RMID,
    IPC_SET,
    IPC_STAT,
    copy_settable_perm,
)
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

SHM_RDONLY, SHM_RND, SHM_REMAP = 0o10000, 0o20000, 0o40000
# shmctl commands (include/uapi/linux/shm.h)
SHM_LOCK, SHM_UNLOCK, SHM_STAT, SHM_STAT_ANY = 11, 12, 13, 15
SHMLBA = 4096  # the guest's page: every target here

_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
_libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
_libc.shmat.restype = ctypes.c_void_p
_libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]


def _check(result: int) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, "")
    return result


class SysvShmCalls:
    def _host_stat(self: Kernel, shmid: int) -> ctypes.Structure:
        info = host_abi().shmid64_ds()
        _check(_libc.shmctl(shmid, IPC_STAT, ctypes.byref(info)))
        return info

    @syscall
    def shmget(self: Kernel, key: int, size: UInt, flags: int) -> int:
        return _check(_libc.shmget(key, size, flags))

    @syscall
    def shmat(self: Kernel, shmid: int, address: Ptr, flags: int) -> int:
        size = page_ceil(self._host_stat(shmid).shm_segsz)
        if address:
            if flags & SHM_RND:
                address &= ~(SHMLBA - 1)
            elif address & (SHMLBA - 1):
                raise SyscallError("EINVAL")
            if not flags & SHM_REMAP and not self.mem.is_free(address, address + size):
                raise SyscallError("EINVAL")
        else:
            address = self.mem.find_free(size)
        prot = PROT_READ | (0 if flags & SHM_RDONLY else PROT_WRITE)

        def attach(host_address: int) -> None:
            result = _libc.shmat(shmid, host_address, (flags & SHM_RDONLY) | SHM_REMAP)
            if result in (None, ctypes.c_void_p(-1).value):
                err = ctypes.get_errno()
                raise OSError(err, "")

        try:
            self.mem.map_host(address, size, prot, attach, name=f"/SYSV{shmid:08x}")
        except OSError:
            self.mem.unmap(address, size)  # what SHM_REMAP replaced is gone, as in Linux
            raise
        return address

    @syscall
    def shmdt(self: Kernel, address: Ptr) -> int:
        mapping = self.mem.find_mapping(address)
        if mapping is None or mapping.start != address or not mapping.name.startswith("/SYSV"):
            raise SyscallError("EINVAL")
        self.mem.unmap(mapping.start, mapping.end - mapping.start)
        return 0

    @syscall
    def shmctl(self: Kernel, shmid: int, cmd: int, buf: Ptr) -> int:
        cmd &= ~IPC_64
        if cmd in (IPC_RMID, SHM_LOCK, SHM_UNLOCK):
            return _check(_libc.shmctl(shmid, cmd, None))
        if cmd in (IPC_STAT, SHM_STAT, SHM_STAT_ANY):
            return self.ipc_struct_out(
                "shmid64_ds", buf, lambda host: _check(_libc.shmctl(shmid, cmd, ctypes.byref(host))))
        if cmd == IPC_SET:
            wanted = self.mem.read_struct(buf, self.abi.shmid64_ds)
            host = host_abi().shmid64_ds()
            copy_settable_perm(wanted.shm_perm, host.shm_perm)
            return _check(_libc.shmctl(shmid, cmd, ctypes.byref(host)))
        raise SyscallError("EINVAL")
