"""SysV IPC: shared memory, semaphore sets, message queues, and the `ipc`
multiplexer of i386 and MIPS o32.

Segments, sets and queues are the host kernel's objects, so they are shared
with other processes, emulated or not.  The IPC constants are the same on
every Linux architecture (include/uapi/linux/ipc.h, sem.h, msg.h, shm.h);
struct semid64_ds, msqid64_ds, shmid64_ds, seminfo and msginfo are the
generated per-target layouts, copied to and from the host's by member name.

- Shared memory: shmat attaches the host segment inside the guest
  reservation (SHM_REMAP over the reserved pages) and records a shared guest
  mapping; shmdt unmaps it, which replaces the host attachment.
- Semaphores: SEM_UNDO adjustments are undone when the host process, which
  is the guest process, exits.
- Message queues: a message's type is a C long, 4 bytes on a 32-bit guest
  and 8 on the host, so every message is copied through a host struct msgbuf.

A waiting semop, msgsnd or msgrcv releases the CPU to the guest's other
threads and ends with EINTR when a guest signal arrives: Linux never
restarts them (signal(7)).
"""

from __future__ import annotations

import ctypes
import struct
import time
from collections.abc import Callable

from pyuser.memory import PROT_READ, PROT_WRITE, page_ceil
from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import host_abi
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Long, Ptr, SyscallError, UInt

IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
IPC_64 = 0x100  # glibc asks for the 64-bit layouts on every target here
IPC_NOWAIT = 0o4000

# ipc(2)'s call numbers (include/linux/ipc.h, the kernel's ipc/syscall.c)
_SEMOP, _SEMGET, _SEMCTL, _SEMTIMEDOP = 1, 2, 3, 4
_MSGSND, _MSGRCV, _MSGGET, _MSGCTL = 11, 12, 13, 14
_SHMAT, _SHMDT, _SHMGET, _SHMCTL = 21, 22, 23, 24

# shmat flags and shmctl commands (include/uapi/linux/shm.h)
SHM_RDONLY, SHM_RND, SHM_REMAP = 0o10000, 0o20000, 0o40000
SHM_LOCK, SHM_UNLOCK, SHM_STAT, SHM_STAT_ANY = 11, 12, 13, 15
SHMLBA = 4096  # the guest's page: every target here

# semctl commands (include/uapi/linux/sem.h)
GETPID, GETVAL, GETALL, GETNCNT, GETZCNT, SETVAL, SETALL = 11, 12, 13, 14, 15, 16, 17
SEM_STAT, SEM_INFO, SEM_STAT_ANY = 18, 19, 20
SEMBUF_SIZE = 6  # struct sembuf: u16 sem_num, s16 sem_op, s16 sem_flg, every target
# Linux checks semop's count against kernel.sem's SEMOPM (500 by default) before it
# reads the array; pyuser refuses a count past this ceiling before reading guest
# memory and lets the host judge the rest
SEMOPM_CEILING = 0xFFFF

# msgctl commands (include/uapi/linux/msg.h)
MSG_STAT, MSG_INFO, MSG_STAT_ANY = 11, 12, 13
# Linux's default msgmax is 8192 bytes; a size above it is checked against
# the host's setting before any guest memory is read
DEFAULT_MSGMAX = 8192
# the most msgrcv allocates on the host for one message: no queue holds more
# (msgmnb is 16 KiB by default) unless an administrator raised it that far
RECEIVE_CEILING = 64 << 20

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


class SysvIpcCalls(SyscallFamily):
    def ipc_struct_out(self, layout: str, address: int,
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
    def ipc(self, call: UInt, first: int, second: Long, third: Long, ptr: Ptr,
            fifth: Long) -> int:
        """The SysV IPC multiplexer of i386, MIPS o32 and s390x (glibc uses it
        there), as the kernel's ipc/syscall.c decodes it (second and third are
        unsigned longs: third is a pointer for SHMAT)."""
        version, call = call >> 16, call & 0xFFFF
        mask = self.target.word_mask
        word = "I" if self.target.word_size == 4 else "Q"
        if self.target.ipc_fifth_is_third:  # s390's five-argument ipc
            fifth = third
        if call == _SEMOP:
            return self.semtimedop(first, ptr, second & mask, 0)
        if call == _SEMTIMEDOP:
            return self.semtimedop(first, ptr, second & mask, fifth & mask)
        if call == _SEMGET:
            return self.semget(first, second, third)
        if call == _SEMCTL:  # the union semun is read from *ptr
            if not ptr:
                raise SyscallError("EINVAL")
            arg = self.target.unpack(word, self.mem.read(ptr, self.target.word_size))[0]
            return self.semctl(first, second, third, arg)
        if call == _MSGSND:
            return self.msgsnd(first, ptr, second & mask, third)
        if call == _MSGRCV:
            if version == 0:  # struct ipc_kludge { msgp; msgtyp; } at ptr
                if not ptr:
                    raise SyscallError("EINVAL")
                msgp, msgtyp = self.target.unpack(word + word.lower(),
                                                  self.mem.read(ptr, 2 * self.target.word_size))
                return self.msgrcv(first, msgp, second & mask, msgtyp, third)
            return self.msgrcv(first, ptr, second & mask, fifth, third)
        if call == _MSGGET:
            return self.msgget(first, second)
        if call == _MSGCTL:
            return self.msgctl(first, second, ptr)
        if call == _SHMAT:  # the address goes to *third
            address = self.shmat(first, ptr, second)
            self.mem.write(third & mask, self.target.pack(word, address & mask))
            return 0
        if call == _SHMDT:
            return self.shmdt(ptr)
        if call == _SHMGET:
            return self.shmget(first, second & mask, third)
        if call == _SHMCTL:
            return self.shmctl(first, second, ptr)
        raise SyscallError("ENOSYS")

    # ------------------------------------------------------------ shared memory
    def _host_stat(self, shmid: int) -> ctypes.Structure:
        info = host_abi().shmid64_ds()
        _check(_libc.shmctl(shmid, IPC_STAT, ctypes.byref(info)))
        return info

    @syscall
    def shmget(self, key: int, size: UInt, flags: int) -> int:
        return _check(_libc.shmget(key, size, flags))

    @syscall
    def shmat(self, shmid: int, address: Ptr, flags: int) -> int:
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
    def shmdt(self, address: Ptr) -> int:
        mapping = self.mem.find_mapping(address)
        if mapping is None or mapping.start != address or not mapping.name.startswith("/SYSV"):
            raise SyscallError("EINVAL")
        self.mem.unmap(mapping.start, mapping.end - mapping.start)
        return 0

    @syscall
    def shmctl(self, shmid: int, cmd: int, buf: Ptr) -> int:
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

    # ------------------------------------------------------------ semaphores
    @syscall
    def semget(self, key: int, nsems: int, flags: int) -> int:
        return hostcalls.semget(key, nsems, flags)

    @syscall
    def semop(self, semid: int, sops: Ptr, nsops: UInt) -> int:
        return self._semop(semid, sops, nsops, None)

    @syscall
    def semtimedop(self, semid: int, sops: Ptr, nsops: UInt, timeout: Ptr) -> int:
        return self._semop(semid, sops, nsops, self.read_timespec(timeout, False) if timeout else None)

    @syscall
    def semtimedop_time64(self, semid: int, sops: Ptr, nsops: UInt,
                          timeout: Ptr) -> int:
        return self._semop(semid, sops, nsops, self.read_timespec(timeout, True) if timeout else None)

    def _semop(self, semid: int, sops: int, nsops: int, timeout_ns: int | None) -> int:
        if nsops == 0:
            raise SyscallError("EINVAL")
        if nsops > SEMOPM_CEILING:
            raise SyscallError("E2BIG")
        operations = self.target.unpack(f"{3 * nsops}h", self.mem.read(sops, nsops * SEMBUF_SIZE))
        host_sops = struct.pack(f"{3 * nsops}h", *operations)
        if all(flags & IPC_NOWAIT for flags in operations[2::3]):
            return hostcalls.semtimedop(semid, host_sops, timeout_ns)
        deadline = None if timeout_ns is None else time.monotonic_ns() + timeout_ns

        def wait() -> int:  # a retry after an undeliverable kick waits only what is left
            left = None if deadline is None else deadline - time.monotonic_ns()
            return hostcalls.semtimedop(semid, host_sops, left)

        return self.blocking(wait)

    @syscall
    def semctl(self, semid: int, semnum: int, cmd: int, arg: UInt) -> int:
        cmd &= ~IPC_64
        if cmd in (IPC_RMID, GETPID, GETVAL, GETNCNT, GETZCNT):
            return hostcalls.semctl(semid, semnum, cmd, None)
        if cmd == SETVAL:
            # union semun's int: on a 64-bit big-endian guest it is the high
            # half of the register (ipc/sem.c takes arg >> 32 there)
            if self.target.word_size == 8 and not self.target.little_endian:
                arg >>= 32
            return hostcalls.semctl(semid, semnum, cmd, arg)
        if cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY):
            return self.ipc_struct_out("semid64_ds", arg,
                                       lambda host: hostcalls.semctl(semid, semnum, cmd, host))
        if cmd == IPC_SET:
            wanted = self.mem.read_struct(arg, self.abi.semid64_ds)
            host = host_abi().semid64_ds()
            copy_settable_perm(wanted.sem_perm, host.sem_perm)
            return hostcalls.semctl(semid, semnum, cmd, host)
        if cmd in (IPC_INFO, SEM_INFO):
            return self.ipc_struct_out("seminfo", arg,
                                       lambda host: hostcalls.semctl(semid, semnum, cmd, host))
        if cmd in (GETALL, SETALL):
            stat = host_abi().semid64_ds()
            hostcalls.semctl(semid, 0, IPC_STAT, stat)
            count = stat.sem_nsems
            values = (ctypes.c_ushort * count)()
            if cmd == GETALL:
                hostcalls.semctl(semid, 0, GETALL, values)
                self.mem.write(arg, self.target.pack(f"{count}H", *values))
                return 0
            values[:] = self.target.unpack(f"{count}H", self.mem.read(arg, 2 * count))
            return hostcalls.semctl(semid, 0, SETALL, values)
        raise SyscallError("EINVAL")

    # ------------------------------------------------------------ message queues
    @syscall
    def msgget(self, key: int, flags: int) -> int:
        return hostcalls.msgget(key, flags)

    @syscall
    def msgsnd(self, msqid: int, msgp: Ptr, msgsz: UInt, flags: int) -> int:
        if msgsz > DEFAULT_MSGMAX and msgsz > self._host_msginfo().msgmax:
            raise SyscallError("EINVAL")
        word = self.target.word_size
        mtype = self.target.unpack("l" if word == 4 else "q", self.mem.read(msgp, word))[0]
        text = self.mem.read(msgp + word, msgsz)
        if flags & IPC_NOWAIT:
            return hostcalls.msgsnd(msqid, mtype, text, flags)
        return self.blocking(hostcalls.msgsnd, msqid, mtype, text, flags)

    @syscall
    def msgrcv(self, msqid: int, msgp: Ptr, msgsz: UInt, msgtyp: Long,
               flags: int) -> int:
        if msqid < 0 or msgsz >= 1 << (8 * self.target.word_size - 1):  # a negative ssize_t
            raise SyscallError("EINVAL")  # checked first, as ipc/msg.c do_msgrcv does
        # The host buffer is allocated (and zeroed) on every call, so not at
        # the guest's msgsz, which may be megabytes (100 ms a call at the
        # 64 MiB ceiling): no message is larger than the bytes its queue holds
        # or the queue's limit (unless the limit is raised during the wait).
        queue = host_abi().msqid64_ds()
        hostcalls.msgctl(msqid, IPC_STAT, queue)
        size = min(msgsz, RECEIVE_CEILING, max(queue.msg_qbytes, queue.msg_cbytes))
        if flags & IPC_NOWAIT:
            mtype, text = hostcalls.msgrcv(msqid, size, msgtyp, flags)
        else:
            mtype, text = self.blocking(hostcalls.msgrcv, msqid, size, msgtyp, flags)
        # as in Linux, the message has left the queue: a bad buffer loses it
        word = self.target.word_size
        self.mem.write(msgp, self.target.pack("l" if word == 4 else "q", mtype) + text)
        return len(text)

    def _host_msginfo(self):
        info = host_abi().msginfo()
        hostcalls.msgctl(0, IPC_INFO, info)
        return info

    @syscall
    def msgctl(self, msqid: int, cmd: int, buf: Ptr) -> int:
        cmd &= ~IPC_64
        if cmd == IPC_RMID:
            return hostcalls.msgctl(msqid, cmd, None)
        if cmd in (IPC_STAT, MSG_STAT, MSG_STAT_ANY):
            return self.ipc_struct_out("msqid64_ds", buf,
                                       lambda host: hostcalls.msgctl(msqid, cmd, host))
        if cmd == IPC_SET:
            wanted = self.mem.read_struct(buf, self.abi.msqid64_ds)
            host = host_abi().msqid64_ds()
            copy_settable_perm(wanted.msg_perm, host.msg_perm)
            host.msg_qbytes = wanted.msg_qbytes
            return hostcalls.msgctl(msqid, cmd, host)
        if cmd in (IPC_INFO, MSG_INFO):
            return self.ipc_struct_out("msginfo", buf,
                                       lambda host: hostcalls.msgctl(msqid, cmd, host))
        raise SyscallError("EINVAL")
