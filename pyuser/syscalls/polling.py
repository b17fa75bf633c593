"""Waiting on descriptors: poll, select, epoll, eventfd.

struct pollfd and fd_set have the same bytes on every little-endian Linux
target as on the host, so the host fills the guest's arrays in place.
struct epoll_event differs (ARM EABI aligns its 64-bit data to 8 bytes; the
x86_64 host packs it), so it is converted.  Waits go through libc directly,
so a guest signal ends them with EINTR (see Kernel.blocking).
"""

from __future__ import annotations

import ctypes
import os
import struct
import time
from collections.abc import Callable

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import to_guest, to_host
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Ptr, SyscallError, UInt

_libc = ctypes.CDLL(None, use_errno=True)
_libc.poll.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int]
_libc.select.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_void_p]
_libc.epoll_wait.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
_libc.epoll_ctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
_NS = 1_000_000_000


class _Timeval(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long)]


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


class PollingCalls(SyscallFamily):
    # provided by the signal family
    read_sigset: Callable[[int, int], int]

    # ------------------------------------------------------------ helpers
    def _timeout_ms(self, deadline: float | None) -> int:
        if deadline is None:
            return -1
        return max(0, int((deadline - time.monotonic()) * 1000 + 0.999))

    def _with_mask(self, sigmask: int, size: int, wait):
        """Run `wait` with the thread's signal mask replaced, as ppoll/pselect do."""
        if not sigmask:
            return wait()
        thread = self.proc.current_thread()
        saved = thread.signals.mask
        thread.signals.mask = self.read_sigset(sigmask, size) & ~self.proc.signals.unblockable
        try:
            return wait()
        except SyscallError as e:
            if e.name == "EINTR":  # the handler runs with the temporary mask
                self.proc.current.restore_mask_after_delivery = saved
                saved = thread.signals.mask
            raise
        finally:
            thread.signals.mask = saved

    # ------------------------------------------------------------ poll
    def _poll(self, fds: int, nfds: int, deadline: float | None) -> int:
        if nfds > 65536:
            raise SyscallError("EINVAL")
        if nfds:
            self.mem.writable(fds, 8 * nfds)
        if self.target.little_endian or not nfds:  # struct pollfd is the host's
            host = self.mem.host_pointer(fds) if nfds else None
            return self.blocking(
                lambda: _check(_libc.poll(host, nfds, self._timeout_ms(deadline))))
        # a big-endian guest's pollfds (int fd; short events, revents), swapped
        layout = "ihh" * nfds
        buffer = ctypes.create_string_buffer(
            to_host(self.target, layout, self.mem.read(fds, 8 * nfds)), 8 * nfds)
        ready = self.blocking(
            lambda: _check(_libc.poll(buffer, nfds, self._timeout_ms(deadline))))
        self.mem.write(fds, to_guest(self.target, layout, buffer.raw))
        return ready

    @syscall
    def poll(self, fds: Ptr, nfds: UInt, timeout: int) -> int:
        deadline = None if timeout < 0 else time.monotonic() + timeout / 1000
        return self._poll(fds, nfds, deadline)

    def _ppoll(self, fds: int, nfds: int, tsp: int, sigmask: int, size: int,
               wide: bool) -> int:
        deadline = time.monotonic() + self.read_timespec(tsp, wide) / _NS if tsp else None
        return self._with_mask(sigmask, size, lambda: self._poll(fds, nfds, deadline))

    @syscall
    def ppoll(self, fds: Ptr, nfds: UInt, tsp: Ptr, sigmask: Ptr, size: UInt) -> int:
        return self._ppoll(fds, nfds, tsp, sigmask, size, False)

    @syscall
    def ppoll_time64(self, fds: Ptr, nfds: UInt, tsp: Ptr, sigmask: Ptr,
                     size: UInt) -> int:
        return self._ppoll(fds, nfds, tsp, sigmask, size, True)

    # ------------------------------------------------------------ select
    def _select(self, n: int, sets: tuple[int, int, int], deadline: float | None) -> int:
        if n < 0 or n > 1024:
            raise SyscallError("EINVAL")
        # an array of longs (the kernel's FDS_BYTES): on a 64-bit big-endian
        # guest fd 0 is bit 0 of a 64-bit word, in that word's last byte
        word = self.target.word_size
        size = (n + 8 * word - 1) // (8 * word) * word
        words = f"{size // word}{'I' if word == 4 else 'Q'}"
        pointers = []
        for address in sets:
            if address and size:
                self.mem.writable(address, size)
                # an array of 32-bit words (fd n: bit n % 32 of word n // 32) the
                # host reads whole 64-bit words of: a copy it may over-read
                pointers.append((address, ctypes.create_string_buffer(
                    to_host(self.target, words, self.mem.read(address, size)),
                    (size + 7) // 8 * 8)))
            else:
                pointers.append((0, None))

        def wait() -> int:
            timeout = None
            if deadline is not None:
                left = max(0.0, deadline - time.monotonic())
                timeout = _Timeval(int(left), int((left % 1) * 1e6))
            return _check(_libc.select(n, *(buf for _, buf in pointers),
                                       ctypes.byref(timeout) if timeout else None))

        ready = self.blocking(wait)
        for address, buf in pointers:
            if buf is not None:
                self.mem.write(address, to_guest(self.target, words, buf.raw[:size]))
        return ready

    @syscall("_newselect")
    def newselect(self, n: int, readfds: Ptr, writefds: Ptr, exceptfds: Ptr,
                  timeout: Ptr) -> int:
        """select(2) with a struct timeval of the target's two longs, which the
        call updates to the time left."""
        timeval = 2 * self.target.long_format
        deadline = None
        if timeout:
            sec, usec = self.target.unpack(timeval,
                                           self.mem.read(timeout, 2 * self.target.word_size))
            if sec < 0 or not 0 <= usec < 1_000_000:
                raise SyscallError("EINVAL")
            deadline = time.monotonic() + sec + usec / 1e6
        result = self._select(n, (readfds, writefds, exceptfds), deadline)
        if timeout:
            left = max(0.0, deadline - time.monotonic())
            self.mem.write(timeout, self.target.pack(timeval, int(left), int((left % 1) * 1e6)))
        return result

    def _pselect(self, n: int, sets: tuple[int, int, int], tsp: int, sigdata: int,
                 wide: bool) -> int:
        deadline = time.monotonic() + self.read_timespec(tsp, wide) / _NS if tsp else None
        mask, size = 0, 8
        if sigdata:
            w = self.target.word_size
            mask, size = self.target.unpack("II" if w == 4 else "QQ", self.mem.read(sigdata, 2 * w))
        return self._with_mask(mask, size, lambda: self._select(n, sets, deadline))

    @syscall
    def pselect6(self, n: int, r: Ptr, w: Ptr, e: Ptr, tsp: Ptr, sig: Ptr) -> int:
        return self._pselect(n, (r, w, e), tsp, sig, False)

    @syscall
    def pselect6_time64(self, n: int, r: Ptr, w: Ptr, e: Ptr, tsp: Ptr, sig: Ptr) -> int:
        return self._pselect(n, (r, w, e), tsp, sig, True)

    # ------------------------------------------------------------ epoll
    @syscall
    def epoll_create1(self, flags: UInt) -> int:
        cloexec = flags & self.abi.CONST["O_CLOEXEC"]
        return _check(_libc.epoll_create1(os.O_CLOEXEC if cloexec else 0))

    @syscall
    def epoll_create(self, size: int) -> int:
        if size <= 0:
            raise SyscallError("EINVAL")
        return _check(_libc.epoll_create1(0))

    def _guest_event_format(self) -> str:
        # ARM EABI and other 32-bit ABIs align the 64-bit data member
        return "I4xQ" if ctypes.sizeof(self.abi.epoll_event) == 16 else "IQ"

    @syscall
    def epoll_ctl(self, epfd: Fd, op: int, fd: Fd, event: Ptr) -> int:
        host = None
        if event:
            fmt = self._guest_event_format()
            events, data = self.target.unpack(fmt, self.mem.read(event, struct.calcsize("<" + fmt)))
            host = struct.pack("<IQ", events, data)  # x86_64's packed epoll_event
        return _check(_libc.epoll_ctl(epfd, op, fd, host))

    def _epoll_wait(self, epfd: int, events: int, maxevents: int,
                    deadline: float | None) -> int:
        if maxevents <= 0 or maxevents > 65536:
            raise SyscallError("EINVAL")
        fmt = self._guest_event_format()
        size = struct.calcsize("<" + fmt)
        self.mem.writable(events, size * maxevents)
        buffer = ctypes.create_string_buffer(12 * maxevents)
        count = self.blocking(lambda: _check(_libc.epoll_wait(
            epfd, buffer, maxevents, self._timeout_ms(deadline))))
        raw = buffer.raw
        out = b"".join(self.target.pack(fmt, *struct.unpack_from("<IQ", raw, 12 * i))
                       for i in range(count))
        self.mem.write(events, out)
        return count

    @syscall
    def epoll_wait(self, epfd: Fd, events: Ptr, maxevents: int, timeout: int) -> int:
        deadline = None if timeout < 0 else time.monotonic() + timeout / 1000
        return self._epoll_wait(epfd, events, maxevents, deadline)

    @syscall
    def epoll_pwait(self, epfd: Fd, events: Ptr, maxevents: int, timeout: int,
                    sigmask: Ptr, size: UInt) -> int:
        deadline = None if timeout < 0 else time.monotonic() + timeout / 1000
        return self._with_mask(sigmask, size,
                               lambda: self._epoll_wait(epfd, events, maxevents, deadline))

    # ------------------------------------------------------------ eventfd
    @syscall
    def eventfd2(self, initval: UInt, flags: UInt) -> int:
        c = self.abi.CONST
        host = 0
        if flags & c["O_NONBLOCK"]:
            host |= os.EFD_NONBLOCK
        if flags & c["O_CLOEXEC"]:
            host |= os.EFD_CLOEXEC
        if flags & c.get("EFD_SEMAPHORE", 1):
            host |= os.EFD_SEMAPHORE
        return os.eventfd(initval, host)

    @syscall
    def eventfd(self, initval: UInt) -> int:
        return os.eventfd(initval, 0)
