"""kqueue and kevent on the host's epoll (sys/sys/event.h, sys/kern/kern_event.c).

A kqueue is a host epoll descriptor (so the guest's close, dup and fork
see a real descriptor) plus the registrations, kept here by (ident,
filter):

- EVFILT_READ / EVFILT_WRITE: the descriptor in the epoll set, EPOLLET when
  every filter on it has EV_CLEAR (Go's poller); `data` is FIONREAD's count
  for reads; EV_EOF when the peer hung up.
- EVFILT_TIMER: a deadline kept here (the epoll wait's timeout is cut to the
  nearest); `data` counts expirations; periodic unless EV_ONESHOT.
- EVFILT_SIGNAL: a count of the signal's arrivals (handled, blocked or
  ignored), from a watcher of pyuser's SignalState.
- EVFILT_PROC with NOTE_EXIT: a pidfd in the epoll set; `data` is the wait
  status.
- EVFILT_USER: NOTE_TRIGGER fires it.
Timer, signal and user events wake a blocked kevent through an eventfd in
the epoll set.  Both struct kevent layouts are served: FreeBSD 12's (560,
with ext[4]) and the older one Go's runtime calls (363, freebsd11_kevent).
"""

from __future__ import annotations

import ctypes
import errno as host_errno
import fcntl
import os
import select
import struct
import termios
import time
from dataclasses import dataclass

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.files import guest_fd
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Ptr, SyscallError

EVFILT_READ, EVFILT_WRITE, EVFILT_PROC, EVFILT_SIGNAL, EVFILT_TIMER, EVFILT_USER = \
    -1, -2, -5, -6, -7, -11
EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE, EV_ONESHOT, EV_CLEAR, EV_RECEIPT, EV_DISPATCH = \
    0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80
EV_ERROR, EV_EOF = 0x4000, 0x8000
NOTE_TRIGGER, NOTE_FFCTRLMASK, NOTE_FFLAGSMASK = 0x01000000, 0xC0000000, 0x00FFFFFF
NOTE_EXIT = 0x80000000
_UNITS = {0x1: 1.0, 0x2: 1e-3, 0x4: 1e-6, 0x8: 1e-9}  # NOTE_SECONDS ... NOTE_NSECONDS
_NOTE_ABSTIME = 0x10

_libc = ctypes.CDLL(None, use_errno=True)
_libc.epoll_wait.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]


@dataclass
class Knote:
    ident: int
    filter: int
    flags: int
    fflags: int
    data: int
    udata: int
    enabled: bool = True
    fired: int = 0  # timer expirations, signal arrivals, user triggers
    deadline: float = 0.0  # timers
    period: float = 0.0
    pidfd: int = -1


class KQueue:
    def __init__(self) -> None:
        self.epoll = select.epoll()
        self.fd = self.epoll.fileno()
        self.wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.epoll.register(self.wake, select.EPOLLIN)
        self.knotes: dict[tuple[int, int], Knote] = {}
        self.fd_masks: dict[int, int] = {}
        self.pidfds: dict[int, Knote] = {}

    def poke(self) -> None:
        os.eventfd_write(self.wake, 1)

    def close(self) -> None:
        for note in self.pidfds.values():
            os.close(note.pidfd)
        os.close(self.wake)
        self.epoll.close()


class KeventCalls(SyscallFamily):
    def setup_family(self) -> None:
        self.kqueues: dict[int, KQueue] = {}
        self.proc.signals.arrival_watchers.append(self._signal_arrived)

    def forget_kqueue(self, fd: int) -> bool:
        """close(2) of a kqueue: True when it was one (and is now closed)."""
        kq = self.kqueues.pop(fd, None)
        if kq is None:
            return False
        kq.close()
        return True

    def fd_closed(self, fd: int) -> None:
        """A descriptor's close removes its knotes from every kqueue (kqueue(2));
        Go's poller relies on it, and a later descriptor of the same number
        must be registered afresh."""
        for kq in self.kqueues.values():
            for key in [k for k in kq.knotes if k[0] == fd and k[1] in (EVFILT_READ,
                                                                         EVFILT_WRITE)]:
                del kq.knotes[key]
            if kq.fd_masks.pop(fd, None) is not None:
                try:
                    kq.epoll.unregister(fd)
                except OSError:
                    pass  # already gone with its last descriptor

    def _signal_arrived(self, signo: int) -> None:
        for kq in list(self.kqueues.values()):
            note = kq.knotes.get((signo, EVFILT_SIGNAL))
            if note is not None:
                note.fired += 1
                kq.poke()

    @syscall
    def kqueue(self) -> int:
        kq = KQueue()
        self.kqueues[kq.fd] = kq
        return guest_fd(kq.fd, True)  # kqueues are not inherited across fork either

    @syscall
    def kqueuex(self, flags: int) -> int:
        return self.kqueue()

    def _kq(self, fd: int) -> KQueue:
        kq = self.kqueues.get(fd)
        if kq is None:
            os.fstat(fd)  # EBADF for a closed one
            raise SyscallError("EBADF")
        return kq

    # ------------------------------------------------------------ changes
    def _update_fd(self, kq: KQueue, fd: int) -> None:
        notes = [n for (ident, f), n in kq.knotes.items()
                 if ident == fd and f in (EVFILT_READ, EVFILT_WRITE) and n.enabled]
        mask = 0
        for n in notes:
            mask |= select.EPOLLIN | select.EPOLLRDHUP if n.filter == EVFILT_READ \
                else select.EPOLLOUT
        if notes and all(n.flags & EV_CLEAR for n in notes):
            mask |= select.EPOLLET
        old = kq.fd_masks.get(fd)
        if mask == old or (not mask and old is None):
            return
        if not mask:
            kq.epoll.unregister(fd)
            del kq.fd_masks[fd]
        elif old is None:
            kq.epoll.register(fd, mask)
            kq.fd_masks[fd] = mask
        else:
            kq.epoll.modify(fd, mask)
            kq.fd_masks[fd] = mask

    def _apply(self, kq: KQueue, ident: int, filt: int, flags: int, fflags: int,
               data: int, udata: int) -> None:
        key = (ident, filt)
        note = kq.knotes.get(key)
        if filt not in (EVFILT_READ, EVFILT_WRITE, EVFILT_TIMER, EVFILT_SIGNAL, EVFILT_PROC,
                        EVFILT_USER):
            raise SyscallError("EINVAL")
        if flags & EV_DELETE:
            if note is None:
                raise SyscallError("ENOENT")
            self._drop(kq, note)
            return
        if note is None:
            if not flags & EV_ADD:
                raise SyscallError("ENOENT")
            note = Knote(ident, filt, flags, 0, 0, udata)
            if filt in (EVFILT_READ, EVFILT_WRITE):
                os.fstat(ident)  # EBADF
            elif filt == EVFILT_SIGNAL and not 1 <= ident <= self.proc.signals.max_signal:
                raise SyscallError("EINVAL")
            elif filt == EVFILT_PROC:
                note.pidfd = os.pidfd_open(ident)
                kq.pidfds[note.pidfd] = note
                kq.epoll.register(note.pidfd, select.EPOLLIN)
            kq.knotes[key] = note
        if flags & EV_ADD:
            note.flags = flags
            note.udata = udata
            note.enabled = True
            if filt == EVFILT_TIMER:
                self._arm_timer(note, fflags, data)
            elif filt == EVFILT_USER:
                note.fflags = fflags & NOTE_FFLAGSMASK
            elif filt == EVFILT_PROC:
                note.fflags = fflags
        if flags & EV_DISABLE:
            note.enabled = False
        if flags & EV_ENABLE:
            note.enabled = True
        if filt == EVFILT_USER and fflags & NOTE_TRIGGER:
            note.fired += 1
            kq.poke()
        if filt in (EVFILT_READ, EVFILT_WRITE):
            self._update_fd(kq, ident)

    def _arm_timer(self, note: Knote, fflags: int, data: int) -> None:
        unit = _UNITS.get(fflags & 0xF, 1e-3)  # milliseconds by default
        if data < 0:
            raise SyscallError("EINVAL")
        if fflags & _NOTE_ABSTIME:
            note.deadline = time.monotonic() + (data * unit - time.time())
            note.period = 0.0
        else:
            note.period = max(data * unit, 1e-6)
            note.deadline = time.monotonic() + note.period
        note.fflags = fflags
        note.fired = 0

    def _drop(self, kq: KQueue, note: Knote) -> None:
        kq.knotes.pop((note.ident, note.filter), None)
        if note.filter in (EVFILT_READ, EVFILT_WRITE):
            try:
                self._update_fd(kq, note.ident)
            except OSError:
                kq.fd_masks.pop(note.ident, None)  # the descriptor was closed meanwhile
        if note.pidfd >= 0:
            kq.pidfds.pop(note.pidfd, None)
            kq.epoll.unregister(note.pidfd)
            os.close(note.pidfd)

    # ------------------------------------------------------------ collecting
    def _collect(self, kq: KQueue, ready: list[tuple[int, int]], room: int
                 ) -> list[tuple]:
        """Events to report: (ident, filter, flags, fflags, data, udata)."""
        out: list[tuple] = []
        now = time.monotonic()
        fd_events = {}
        for fd, events in ready:
            if fd == kq.wake:
                try:
                    os.eventfd_read(kq.wake)
                except BlockingIOError:
                    pass
            elif fd in kq.pidfds:
                note = kq.pidfds[fd]
                note.fired = 1
            else:
                fd_events[fd] = events
        for note in list(kq.knotes.values()):
            if len(out) >= room:
                break
            if not note.enabled:
                continue
            event = self._event_of(note, fd_events, now)
            if event is None:
                continue
            out.append(event)
            if note.flags & EV_ONESHOT:
                self._drop(kq, note)
            elif note.flags & EV_DISPATCH:
                note.enabled = False
                if note.filter in (EVFILT_READ, EVFILT_WRITE):
                    self._update_fd(kq, note.ident)
        return out

    def _event_of(self, note: Knote, fd_events: dict[int, int], now: float
                  ) -> tuple | None:
        filt = note.filter
        flags = note.flags & (EV_ADD | EV_ONESHOT | EV_CLEAR | EV_DISPATCH)
        if filt in (EVFILT_READ, EVFILT_WRITE):
            events = fd_events.get(note.ident)
            if events is None:
                return None
            hangup = events & (select.EPOLLHUP | select.EPOLLRDHUP | select.EPOLLERR)
            if filt == EVFILT_READ:
                if not events & (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP
                                 | select.EPOLLERR):
                    return None
                data = _readable_bytes(note.ident)
            else:
                if not events & (select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR):
                    return None
                data = 65536
            return (note.ident, filt, flags | (EV_EOF if hangup else 0), 0, data, note.udata)
        if filt == EVFILT_TIMER:
            if now < note.deadline:
                return None
            if note.period and not note.flags & EV_ONESHOT:
                count = 1 + int((now - note.deadline) // note.period)
                note.deadline += count * note.period
            else:
                count = 1
                note.deadline = float("inf")
            return (note.ident, filt, flags, 0, count, note.udata)
        if note.fired:
            count, note.fired = note.fired, 0
            if filt == EVFILT_PROC:
                return (note.ident, filt, flags | EV_EOF, NOTE_EXIT,
                        self._exit_status(note.ident), note.udata)
            if filt == EVFILT_USER:
                if not note.flags & EV_CLEAR:
                    note.fired = count  # stays triggered until cleared
                return (note.ident, filt, flags, note.fflags, 0, note.udata)
            return (note.ident, filt, flags, 0, count, note.udata)
        return None

    def _exit_status(self, pid: int) -> int:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:
            return 0
        if info is None:
            return 0
        if info.si_code == os.CLD_EXITED:
            return (info.si_status & 0xFF) << 8
        return self.target.signal_from_host.get(info.si_status, info.si_status)

    def _next_timer(self, kq: KQueue) -> float | None:
        deadlines = [n.deadline for n in kq.knotes.values()
                     if n.filter == EVFILT_TIMER and n.enabled]
        return min(deadlines) if deadlines else None

    def _wait(self, kq: KQueue, deadline: float | None) -> list[tuple[int, int]]:
        """One epoll_wait, until the deadline or the next timer; the CPU is released."""
        timer = self._next_timer(kq)
        until = min(d for d in (deadline, timer) if d is not None) \
            if deadline is not None or timer is not None else None
        timeout = -1 if until is None else max(0, int((until - time.monotonic()) * 1000 + 0.999))
        events = (ctypes.c_uint8 * (12 * 64))()

        def wait() -> int:
            n = _libc.epoll_wait(kq.fd, events, 64, timeout)
            if n < 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
            return n

        count = self.blocking(wait)
        raw = bytes(events)
        return [(struct.unpack_from("<IQ", raw, 12 * i)[1] & 0xFFFFFFFF,
                 struct.unpack_from("<I", raw, 12 * i)[0]) for i in range(count)]

    # ------------------------------------------------------------ the call
    def _kevent(self, kq_fd: int, changes: int, nchanges: int, events: int,
                nevents: int, timeout: int, size: int) -> int:
        kq = self._kq(kq_fd)
        if nchanges < 0 or nevents < 0:
            raise SyscallError("EINVAL")
        fmt = "<QhHIqQ" + ("4Q" if size == 64 else "")
        out: list[tuple] = []
        for i in range(nchanges):
            ident, filt, flags, fflags, data, udata, *_ext = struct.unpack(
                fmt, self.mem.read(changes + size * i, size))
            try:
                self._apply(kq, ident, filt, flags, fflags, data, udata)
                error = 0
            except SyscallError as e:
                error = self.abi.ERRNO[e.name]
            except OSError as e:
                error = self.errno_from_host.get(e.errno or host_errno.EINVAL, 22)
            if error or flags & EV_RECEIPT:
                if len(out) >= nevents:
                    if error:
                        return -error
                    continue
                out.append((ident, filt, EV_ERROR, 0, error, udata))
        if not out and nevents:
            deadline = None
            if timeout:
                sec, nsec = struct.unpack("<qq", self.mem.read(timeout, 16))
                if sec < 0 or not 0 <= nsec < 1_000_000_000:
                    raise SyscallError("EINVAL")
                deadline = time.monotonic() + sec + nsec / 1e9
            while True:
                expired = deadline is not None and time.monotonic() >= deadline
                ready = self._wait(kq, time.monotonic() if expired else deadline)
                out = self._collect(kq, ready, nevents)
                if out or expired or (deadline is not None and time.monotonic() >= deadline):
                    break
        for i, event in enumerate(out[:nevents]):
            record = struct.pack("<QhHIqQ", *event)
            self.mem.write(events + size * i, record.ljust(size, b"\0"))
        return len(out[:nevents])

    @syscall
    def kevent(self, kq: Fd, changes: Ptr, nchanges: int, events: Ptr, nevents: int,
               timeout: Ptr) -> int:
        return self._kevent(kq, changes, nchanges, events, nevents, timeout, 64)

    @syscall
    def freebsd11_kevent(self, kq: Fd, changes: Ptr, nchanges: int, events: Ptr,
                         nevents: int, timeout: Ptr) -> int:
        return self._kevent(kq, changes, nchanges, events, nevents, timeout, 32)


def _readable_bytes(fd: int) -> int:
    try:
        return struct.unpack("<i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
    except OSError:
        return 1
