"""SysV shared memory: shmget, shmat, shmdt, shmctl.

Segments are the host kernel's, so they are shared with other processes,
emulated or native.  shmat attaches the host segment inside the guest
reservation (SHM_REMAP over the reserved pages) and records a shared guest
mapping; shmdt unmaps it, which replaces the host attachment.  The IPC
constants are the same on every Linux architecture (include/uapi/linux/ipc.h,
shm.h); struct shmid64_ds is the generated per-target layout.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from pyuser.memory import PROT_READ, PROT_WRITE, page_ceil
from pyuser.syscalls.byteorder import host_abi
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

IPC_RMID, IPC_SET, IPC_STAT = 0, 1, 2
IPC_64 = 0x100
SHM_RDONLY, SHM_RND, SHM_REMAP = 0o10000, 0o20000, 0o40000
SHMLBA = 4096  # the guest's page: every target here
# ipc(2)'s call numbers (include/linux/ipc.h's SHMAT.., the kernel's ipc/syscall.c)
_SHMAT, _SHMDT, _SHMGET, _SHMCTL = 21, 22, 23, 24

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
    def ipc(self: Kernel, call: UInt, first: int, second: int, third: int, ptr: Ptr,
            fifth: int) -> int:
        """The SysV IPC multiplexer of i386 and MIPS o32 (glibc uses it there):
        the shared-memory calls; semaphores and message queues are ENOSYS."""
        call &= 0xFFFF  # the high half is the interface version
        if call == _SHMAT:  # the address goes to *third
            address = self.shmat(first, ptr, second)
            self.mem.write(third & self.target.word_mask, self.target.pack("I", address))
            return 0
        if call == _SHMDT:
            return self.shmdt(ptr)
        if call == _SHMGET:
            return self.shmget(first, second & self.target.word_mask, third)
        if call == _SHMCTL:
            return self.shmctl(first, second, ptr)
        raise SyscallError("ENOSYS")

    @syscall
    def shmdt(self: Kernel, address: Ptr) -> int:
        mapping = self.mem.find_mapping(address)
        if mapping is None or mapping.start != address or not mapping.name.startswith("/SYSV"):
            raise SyscallError("EINVAL")
        self.mem.unmap(mapping.start, mapping.end - mapping.start)
        return 0

    @syscall
    def shmctl(self: Kernel, shmid: int, cmd: int, buf: Ptr) -> int:
        cmd &= ~IPC_64  # glibc asks for the 64-bit layout on every target here
        if cmd == IPC_RMID:
            return _check(_libc.shmctl(shmid, IPC_RMID, None))
        if cmd == IPC_STAT:
            host = self._host_stat(shmid)
            guest = self.abi.shmid64_ds()
            for name in ("key", "uid", "gid", "cuid", "cgid", "mode", "seq"):
                setattr(guest.shm_perm, name, getattr(host.shm_perm, name))
            for name in ("shm_segsz", "shm_cpid", "shm_lpid", "shm_nattch"):
                setattr(guest, name, getattr(host, name))
            for name in ("shm_atime", "shm_dtime", "shm_ctime"):
                value = getattr(host, name)
                setattr(guest, name, value & self.target.word_mask)
                if hasattr(guest, f"{name}_high"):
                    setattr(guest, f"{name}_high", value >> 32)
            self.mem.write_struct(buf, guest)
            return 0
        raise SyscallError("EINVAL")
