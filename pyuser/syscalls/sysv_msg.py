"""SysV message queues: msgget, msgsnd, msgrcv, msgctl.

The queues are the host kernel's (see sysv_ipc).  A message's type is a C
long, 4 bytes on a 32-bit guest and 8 on the host, so every message is
copied through a host struct msgbuf.  A waiting msgsnd or msgrcv releases
the CPU to the guest's other threads and ends with EINTR when a guest signal
arrives: Linux never restarts them (signal(7)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyuser.syscalls import hostcalls
from pyuser.syscalls.byteorder import host_abi
from pyuser.syscalls.sysv_ipc import (
    IPC_64,
    IPC_INFO,
    IPC_RMID,
    IPC_SET,
    IPC_STAT,
    copy_settable_perm,
)
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

# msgctl commands and msgrcv flags (include/uapi/linux/msg.h, ipc.h)
MSG_STAT, MSG_INFO, MSG_STAT_ANY = 11, 12, 13
IPC_NOWAIT = 0o4000
# Linux's default msgmax is 8192 bytes; a size above it is checked against
# the host's setting before any guest memory is read
DEFAULT_MSGMAX = 8192
# the most msgrcv allocates on the host for one message: no queue holds more
# (msgmnb is 16 KiB by default) unless an administrator raised it that far
RECEIVE_CEILING = 64 << 20


class SysvMsgCalls:
    @syscall
    def msgget(self: Kernel, key: int, flags: int) -> int:
        return hostcalls.msgget(key, flags)

    @syscall
    def msgsnd(self: Kernel, msqid: int, msgp: Ptr, msgsz: UInt, flags: int) -> int:
        if msgsz > DEFAULT_MSGMAX and msgsz > self._host_msginfo().msgmax:
            raise SyscallError("EINVAL")
        word = self.target.word_size
        mtype = self.target.unpack("l" if word == 4 else "q", self.mem.read(msgp, word))[0]
        text = self.mem.read(msgp + word, msgsz)
        if flags & IPC_NOWAIT:
            return hostcalls.msgsnd(msqid, mtype, text, flags)
        return self.blocking(hostcalls.msgsnd, msqid, mtype, text, flags)

    @syscall
    def msgrcv(self: Kernel, msqid: int, msgp: Ptr, msgsz: UInt, msgtyp: int,
               flags: int) -> int:
        if msgsz >= 1 << (8 * self.target.word_size - 1):  # a negative ssize_t
            raise SyscallError("EINVAL")
        size = min(msgsz, RECEIVE_CEILING)
        if flags & IPC_NOWAIT:
            mtype, text = hostcalls.msgrcv(msqid, size, msgtyp, flags)
        else:
            mtype, text = self.blocking(hostcalls.msgrcv, msqid, size, msgtyp, flags)
        # as in Linux, the message has left the queue: a bad buffer loses it
        word = self.target.word_size
        self.mem.write(msgp, self.target.pack("l" if word == 4 else "q", mtype) + text)
        return len(text)

    def _host_msginfo(self: Kernel):
        info = host_abi().msginfo()
        hostcalls.msgctl(0, IPC_INFO, info)
        return info

    @syscall
    def msgctl(self: Kernel, msqid: int, cmd: int, buf: Ptr) -> int:
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
