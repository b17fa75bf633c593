"""POSIX message queues (the kernel's ipc/mqueue.c): mq_open, mq_unlink,
mq_timedsend, mq_timedreceive, mq_notify, mq_getsetattr.

The queues are the host kernel's (a queue descriptor is a host descriptor),
so they are shared with any other process.  struct mq_attr is eight longs
(include/uapi/linux/mqueue.h), 4 or 8 bytes each on the guest; timeouts are
absolute CLOCK_REALTIME timespecs, old or time64.  A send to a full queue or
a receive from an empty one lets the other guest threads run and ends with
EINTR on a guest signal.
"""

from __future__ import annotations

from collections.abc import Callable

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import CStr, Fd, Ptr, SyscallError, UInt

_NS = 1_000_000_000


class MqueueCalls(SyscallFamily):
    # provided by the signal family
    guest_sigevent: Callable[[int], tuple[int, int, int, int]]

    # mq_flags holds O_NONBLOCK, which is 0x80 on MIPS
    def _mq_attr_in(self, address: int) -> hostcalls.MqAttr:
        raw = self.mem.read(address, 8 * self.target.word_size)
        flags, *rest = self.target.unpack(f"8{self.target.long_format}", raw)
        return hostcalls.MqAttr(self.open_flags.to_host(flags), *rest)

    def _mq_attr_out(self, address: int, attr: hostcalls.MqAttr) -> None:
        mask = self.target.word_mask
        values = [self.open_flags.to_target(attr[0]), *attr[1:]]
        self.mem.write(address, self.target.pack(f"8{self.target.long_format.upper()}",
                                                 *(value & mask for value in values)))

    def _mq_timeout(self, address: int, wide: bool) -> int | None:
        if not address:
            return None
        sec, nsec = self.read_timespecs(address, 1, wide)
        if not 0 <= nsec < _NS:
            raise SyscallError("EINVAL")
        return sec * _NS + nsec

    @syscall
    def mq_open(self, name: CStr, flags: UInt, mode: UInt, attr: Ptr) -> int:
        host_attr = self._mq_attr_in(attr) if attr and flags & self.abi.CONST["O_CREAT"] else None
        return hostcalls.mq_open(name, self.open_flags.to_host(flags), mode, host_attr)

    @syscall
    def mq_unlink(self, name: CStr) -> int:
        return hostcalls.mq_unlink(name)

    def _mq_send(self, mqd: int, msg: int, length: int, priority: int,
                 timeout: int, wide: bool) -> int:
        when = self._mq_timeout(timeout, wide)
        if length:
            self.mem.readable(msg, length)
        return self.blocking(hostcalls.mq_timedsend, mqd, self.mem.host_pointer(msg), length,
                             priority, when)

    @syscall
    def mq_timedsend(self, mqd: Fd, msg: Ptr, length: UInt, priority: UInt,
                     timeout: Ptr) -> int:
        return self._mq_send(mqd, msg, length, priority, timeout, False)

    @syscall
    def mq_timedsend_time64(self, mqd: Fd, msg: Ptr, length: UInt, priority: UInt,
                            timeout: Ptr) -> int:
        return self._mq_send(mqd, msg, length, priority, timeout, True)

    def _mq_receive(self, mqd: int, msg: int, length: int, priority: int,
                    timeout: int, wide: bool) -> int:
        when = self._mq_timeout(timeout, wide)
        if length:
            self.mem.writable(msg, length)
        got, prio = self.blocking(hostcalls.mq_timedreceive, mqd, self.mem.host_pointer(msg),
                                  length, when)
        if priority:
            self.mem.write(priority, self.target.pack("I", prio))
        return got

    @syscall
    def mq_timedreceive(self, mqd: Fd, msg: Ptr, length: UInt, priority: Ptr,
                        timeout: Ptr) -> int:
        return self._mq_receive(mqd, msg, length, priority, timeout, False)

    @syscall
    def mq_timedreceive_time64(self, mqd: Fd, msg: Ptr, length: UInt, priority: Ptr,
                               timeout: Ptr) -> int:
        return self._mq_receive(mqd, msg, length, priority, timeout, True)

    @syscall
    def mq_notify(self, mqd: Fd, event: Ptr) -> int:
        if not event:
            return hostcalls.mq_notify(mqd, None)
        value, signo, notify, _tid = self.guest_sigevent(event)
        c = self.abi.CONST
        if notify == c.get("SIGEV_SIGNAL", 0):
            signo = self.target.signal_to_host.get(signo, signo)
        elif notify != c.get("SIGEV_NONE", 1):
            # SIGEV_THREAD's netlink cookie is not carried over
            raise SyscallError("EINVAL")
        return hostcalls.mq_notify(mqd, (value, signo, notify))

    @syscall
    def mq_getsetattr(self, mqd: Fd, new: Ptr, old: Ptr) -> int:
        previous = hostcalls.mq_getsetattr(mqd, self._mq_attr_in(new) if new else None)
        if old:
            self._mq_attr_out(old, previous)
        return 0
