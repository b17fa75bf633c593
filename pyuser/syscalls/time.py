"""Clocks, sleeping and time of day.

Clock ids are the same numbers on every Linux architecture.  32-bit targets
have two families: the old calls with a 32-bit time_t and the *_time64 calls
with the 64-bit __kernel_timespec.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pyuser.memory import GuestFault
from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Ptr, SyscallError, UInt

_NS = 1_000_000_000
TIMER_ABSTIME = 1


# Clocks Linux cannot sleep on (kernel/time/posix-timers.c: no nsleep in
# their k_clock, so EOPNOTSUPP): CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW,
# CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE (include/uapi/linux/time.h);
# pyuser would wait on them forever.  And the per-thread bit of a CPU clock
# id made from a tid (include/linux/posix-timers.h CPUCLOCK_PERTHREAD_MASK).
CLOCKS_WITHOUT_SLEEP = frozenset({3, 4, 5, 6})
CPUCLOCK_PERTHREAD = 4


def _clock_ns(clock: int) -> int:
    try:
        return time.clock_gettime_ns(clock)
    except OSError:
        raise SyscallError("EINVAL") from None


class TimeCalls(SyscallFamily):
    # provided by the signal family
    read_itimerspec: Callable[[int, bool], tuple[int, int, int, int]]
    write_itimerspec: Callable[[int, tuple[int, int, int, int], bool], None]

    @syscall
    def clock_gettime(self, clock: int, tp: Ptr) -> int:
        self.write_timespec(tp, _clock_ns(clock), False)
        return 0

    @syscall
    def clock_gettime64(self, clock: int, tp: Ptr) -> int:
        self.write_timespec(tp, _clock_ns(clock), True)
        return 0

    @syscall
    def clock_getres(self, clock: int, res: Ptr) -> int:
        value = time.clock_getres(clock) if clock >= 0 else 1e-9
        if res:
            self.write_timespec(res, round(value * _NS), False)
        return 0

    @syscall
    def clock_getres_time64(self, clock: int, res: Ptr) -> int:
        value = time.clock_getres(clock) if clock >= 0 else 1e-9
        if res:
            self.write_timespec(res, round(value * _NS), True)
        return 0

    @syscall
    def gettimeofday(self, tv: Ptr, tz: Ptr) -> int:
        if tv:
            sec, nsec = divmod(time.time_ns(), _NS)
            self.mem.write(tv, self.target.pack(2 * self.target.long_format, sec,
                                                nsec // 1000))
        if tz:
            self.mem.write(tz, self.target.pack("ii", 0, 0))
        return 0

    # Setting the clock is the host's: as under qemu-user, a privileged guest
    # sets the machine's clock, and the host kernel checks values and privilege
    @syscall
    def settimeofday(self, tv: Ptr, tz: Ptr) -> int:
        timeval = (self.target.unpack(2 * self.target.long_format,
                                      self.mem.read(tv, 2 * self.target.word_size))
                   if tv else None)
        timezone = self.target.unpack("ii", self.mem.read(tz, 8)) if tz else None
        return hostcalls.settimeofday(timeval, timezone)

    @syscall
    def clock_settime(self, clock: int, tp: Ptr) -> int:
        return self._clock_settime(clock, tp, False)

    @syscall
    def clock_settime64(self, clock: int, tp: Ptr) -> int:
        return self._clock_settime(clock, tp, True)

    def _clock_settime(self, clock: int, tp: int, wide: bool) -> int:
        try:
            value = self.read_timespecs(tp, 1, wide)
        except GuestFault:  # NULL to the host: a clock that cannot be set is EINVAL first
            value = None
        return hostcalls.clock_settime(clock, value)

    @syscall
    def time(self, tloc: Ptr) -> int:
        now = int(time.time())
        if tloc:
            self.mem.write(tloc, self.target.pack(self.target.long_format, now))
        return now

    def _sleep(self, clock: int, deadline_ns: int, remain: int, wide: bool) -> int:
        """Sleep until the clock reaches deadline_ns; EINTR leaves the rest in `remain`."""
        while True:
            left = deadline_ns - _clock_ns(clock)
            if left <= 0:
                return 0
            interrupted = self.proc.sleep(left / _NS)
            if interrupted:
                if remain:
                    self.write_timespec(remain, max(0, deadline_ns - _clock_ns(clock)), wide)
                raise SyscallError("EINTR")

    @syscall
    def nanosleep(self, req: Ptr, rem: Ptr) -> int:
        duration = self.read_timespec(req, False)
        return self._sleep(time.CLOCK_MONOTONIC, _clock_ns(time.CLOCK_MONOTONIC) + duration,
                           rem, False)

    @syscall
    def clock_nanosleep(self, clock: int, flags: UInt, req: Ptr, rem: Ptr) -> int:
        return self._clock_nanosleep(clock, flags, req, rem, False)

    @syscall
    def clock_nanosleep_time64(self, clock: int, flags: UInt, req: Ptr, rem: Ptr) -> int:
        return self._clock_nanosleep(clock, flags, req, rem, True)

    def _clock_nanosleep(self, clock: int, flags: int, req: int, rem: int,
                         wide: bool) -> int:
        if clock in CLOCKS_WITHOUT_SLEEP:
            raise SyscallError("EOPNOTSUPP")
        if clock < 0 and clock & CPUCLOCK_PERTHREAD:
            raise SyscallError("EINVAL")  # a thread's CPU clock (posix_cpu_nsleep)
        value = self.read_timespec(req, wide)
        if flags & TIMER_ABSTIME:
            return self._sleep(clock, value, 0, wide)
        return self._sleep(clock, _clock_ns(clock) + value, rem, wide)

    # ------------------------------------------------------------ timerfd
    # A guest timerfd is a host one: its expirations are read as a u64
    # (swapped for a big-endian guest in `read`); TFD_NONBLOCK/TFD_CLOEXEC
    # are the target's O_NONBLOCK/O_CLOEXEC.
    @syscall
    def timerfd_create(self, clock: int, flags: UInt) -> int:
        from pyuser.syscalls import hostcalls

        return hostcalls.timerfd_create(clock, self.open_flags.to_host(flags))

    def _timerfd_settime(self, fd: int, flags: int, new: int, old: int,
                         wide: bool) -> int:
        from pyuser.syscalls import hostcalls

        previous = hostcalls.timerfd_settime(fd, flags, self.read_itimerspec(new, wide))
        if old:
            self.write_itimerspec(old, previous, wide)
        return 0

    @syscall
    def timerfd_settime(self, fd: Fd, flags: int, new: Ptr, old: Ptr) -> int:
        return self._timerfd_settime(fd, flags, new, old, False)

    @syscall
    def timerfd_settime64(self, fd: Fd, flags: int, new: Ptr, old: Ptr) -> int:
        return self._timerfd_settime(fd, flags, new, old, True)

    @syscall
    def timerfd_gettime(self, fd: Fd, value: Ptr) -> int:
        from pyuser.syscalls import hostcalls

        self.write_itimerspec(value, hostcalls.timerfd_gettime(fd), False)
        return 0

    @syscall
    def timerfd_gettime64(self, fd: Fd, value: Ptr) -> int:
        from pyuser.syscalls import hostcalls

        self.write_itimerspec(value, hostcalls.timerfd_gettime(fd), True)
        return 0
