"""What the SysV IPC families share: the control commands, the copies of the
kernel's *id64_ds structs between host and guest, and the `ipc` multiplexer.

Semaphore sets, message queues and shared-memory segments are the host
kernel's objects, so they are shared with other processes, emulated or not.
The IPC constants are the same on every Linux architecture
(include/uapi/linux/ipc.h, sem.h, msg.h, shm.h); the structs are the
generated per-target layouts.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyuser.syscalls.byteorder import host_abi
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
IPC_64 = 0x100  # glibc asks for the 64-bit layouts on every target here

# ipc(2)'s call numbers (include/linux/ipc.h, the kernel's ipc/syscall.c)
_SEMOP, _SEMGET, _SEMCTL, _SEMTIMEDOP = 1, 2, 3, 4
_MSGSND, _MSGRCV, _MSGGET, _MSGCTL = 11, 12, 13, 14
_SHMAT, _SHMDT, _SHMGET, _SHMCTL = 21, 22, 23, 24


def copy_to_guest(host: ctypes.Structure, guest: ctypes.Structure) -> None:
    """Copy a host struct into the guest's layout by member name: nested
    structs member by member, a 64-bit time the guest splits as NAME and
    NAME_high in two words.  Padding (names with a leading _) is left zero."""
    guest_names = {field[0] for field in guest._fields_}
    for name, *_ in host._fields_:
        if name.startswith("_") or name not in guest_names:
            continue
        value = getattr(host, name)
        if isinstance(value, ctypes.Structure):
            copy_to_guest(value, getattr(guest, name))
        elif f"{name}_high" in guest_names:
            setattr(guest, name, value & 0xFFFFFFFF)
            setattr(guest, f"{name}_high", value >> 32)
        else:
            setattr(guest, name, value)


def copy_settable_perm(guest: ctypes.Structure, host: ctypes.Structure) -> None:
    """What IPC_SET changes of a struct ipc64_perm: owner and mode."""
    for name in ("uid", "gid", "mode"):
        setattr(host, name, getattr(guest, name))


class SysvIpcCalls:
    def ipc_struct_out(self: Kernel, layout: str, address: int,
                       call: Callable[[ctypes.Structure], int]) -> int:
        """Run `call` on a host struct `layout` (semid64_ds, msginfo, ...), copy
        what it filled into the guest's layout at `address`; call's result."""
        host = getattr(host_abi(), layout)()
        result = call(host)
        guest = getattr(self.abi, layout)()
        copy_to_guest(host, guest)
        self.mem.write_struct(address, guest)
        return result

    @syscall
    def ipc(self: Kernel, call: UInt, first: int, second: int, third: int, ptr: Ptr,
            fifth: int) -> int:
        """The SysV IPC multiplexer of i386 and MIPS o32 (glibc uses it there),
        as the kernel's ipc/syscall.c decodes it."""
        version, call = call >> 16, call & 0xFFFF
        mask = self.target.word_mask
        if call == _SEMOP:
            return self.semtimedop(first, ptr, second & mask, 0)
        if call == _SEMTIMEDOP:
            return self.semtimedop(first, ptr, second & mask, fifth & mask)
        if call == _SEMGET:
            return self.semget(first, second, third)
        if call == _SEMCTL:  # the union semun is read from *ptr
            if not ptr:
                raise SyscallError("EINVAL")
            arg = self.target.unpack("I", self.mem.read(ptr, 4))[0]
            return self.semctl(first, second, third, arg)
        if call == _MSGSND:
            return self.msgsnd(first, ptr, second & mask, third)
        if call == _MSGRCV:
            if version == 0:  # struct ipc_kludge { msgp; msgtyp; } at ptr
                if not ptr:
                    raise SyscallError("EINVAL")
                msgp, msgtyp = self.target.unpack("Ii", self.mem.read(ptr, 8))
                return self.msgrcv(first, msgp, second & mask, msgtyp, third)
            return self.msgrcv(first, ptr, second & mask, fifth, third)
        if call == _MSGGET:
            return self.msgget(first, second)
        if call == _MSGCTL:
            return self.msgctl(first, second, ptr)
        if call == _SHMAT:  # the address goes to *third
            address = self.shmat(first, ptr, second)
            self.mem.write(third & mask, self.target.pack("I", address))
            return 0
        if call == _SHMDT:
            return self.shmdt(ptr)
        if call == _SHMGET:
            return self.shmget(first, second & mask, third)
        if call == _SHMCTL:
            return self.shmctl(first, second, ptr)
        raise SyscallError("ENOSYS")
