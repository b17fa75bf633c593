"""Clocks, sleeping and time of day.

Clock ids are the same numbers on every Linux architecture.  32-bit targets
have two families: the old calls with a 32-bit time_t and the *_time64 calls
with the 64-bit __kernel_timespec.
"""

from __future__ import annotations

import struct
import time
from typing import TYPE_CHECKING

from pyuser.memory import GuestFault
from pyuser.syscalls import hostcalls
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

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


class TimeCalls:
    def setup_family(self: Kernel) -> None:
        # struct timespec as the guest lays it out: 32-bit and time64; on a
        # 64-bit target the "old" calls' timespec is already the 64-bit one
        self._ts32 = struct.Struct(self.target.byte_order + "iI")
        self._ts64 = struct.Struct(self.target.byte_order + "qq")
        self._time_is_64 = self.target.word_size == 8

    def _write_ts(self: Kernel, address: int, ns: int, wide: bool) -> None:
        sec, nsec = divmod(ns, _NS)
        if wide or self._time_is_64:
            self.mem.write(address, self._ts64.pack(sec, nsec))
        else:  # a 32-bit time_t saturates in 2038
            self.mem.write(address, self._ts32.pack(min(sec, 0x7FFFFFFF), nsec))

    def _read_timespecs(self: Kernel, address: int, count: int, wide: bool) -> tuple[int, ...]:
        """`count` guest timespecs as (sec, nsec, sec, nsec, ...), unchecked."""
        if not (wide or self._time_is_64):
            return self.target.unpack(f"{2 * count}i", self.mem.read(address, 8 * count))
        values = self.target.unpack(f"{2 * count}q", self.mem.read(address, 16 * count))
        if self._time_is_64:
            return values
        # a 32-bit kernel keeps the low half of a time64 tv_nsec: glibc's
        # __timespec64 leaves the other half as padding it does not clear
        # (kernel/time/time.c get_timespec64)
        return tuple(value if i % 2 == 0 else (value & 0xFFFFFFFF ^ 0x80000000) - 0x80000000
                     for i, value in enumerate(values))

    def _read_ts(self: Kernel, address: int, wide: bool) -> int:
        sec, nsec = self._read_timespecs(address, 1, wide)
        if not 0 <= nsec < _NS or sec < 0:
            raise SyscallError("EINVAL")
        return sec * _NS + nsec

    @syscall
    def clock_gettime(self: Kernel, clock: int, tp: Ptr) -> int:
        self._write_ts(tp, _clock_ns(clock), False)
        return 0

    @syscall
    def clock_gettime64(self: Kernel, clock: int, tp: Ptr) -> int:
        self._write_ts(tp, _clock_ns(clock), True)
        return 0

    @syscall
    def clock_getres(self: Kernel, clock: int, res: Ptr) -> int:
        value = time.clock_getres(clock) if clock >= 0 else 1e-9
        if res:
            self._write_ts(res, round(value * _NS), False)
        return 0

    @syscall
    def clock_getres_time64(self: Kernel, clock: int, res: Ptr) -> int:
        value = time.clock_getres(clock) if clock >= 0 else 1e-9
        if res:
            self._write_ts(res, round(value * _NS), True)
        return 0

    @syscall
    def gettimeofday(self: Kernel, tv: Ptr, tz: Ptr) -> int:
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
    def settimeofday(self: Kernel, tv: Ptr, tz: Ptr) -> int:
        timeval = (self.target.unpack(2 * self.target.long_format,
                                      self.mem.read(tv, 2 * self.target.word_size))
                   if tv else None)
        timezone = self.target.unpack("ii", self.mem.read(tz, 8)) if tz else None
        return hostcalls.settimeofday(timeval, timezone)

    @syscall
    def clock_settime(self: Kernel, clock: int, tp: Ptr) -> int:
        return self._clock_settime(clock, tp, False)

    @syscall
    def clock_settime64(self: Kernel, clock: int, tp: Ptr) -> int:
        return self._clock_settime(clock, tp, True)

    def _clock_settime(self: Kernel, clock: int, tp: int, wide: bool) -> int:
        try:
            value = self._read_timespecs(tp, 1, wide)
        except GuestFault:  # NULL to the host: a clock that cannot be set is EINVAL first
            value = None
        return hostcalls.clock_settime(clock, value)

    @syscall
    def time(self: Kernel, tloc: Ptr) -> int:
        now = int(time.time())
        if tloc:
            self.mem.write(tloc, self.target.pack(self.target.long_format, now))
        return now

    def _sleep(self: Kernel, clock: int, deadline_ns: int, remain: int, wide: bool) -> int:
        """Sleep until the clock reaches deadline_ns; EINTR leaves the rest in `remain`."""
        while True:
            left = deadline_ns - _clock_ns(clock)
            if left <= 0:
                return 0
            interrupted = self.proc.sleep(left / _NS)
            if interrupted:
                if remain:
                    self._write_ts(remain, max(0, deadline_ns - _clock_ns(clock)), wide)
                raise SyscallError("EINTR")

    @syscall
    def nanosleep(self: Kernel, req: Ptr, rem: Ptr) -> int:
        duration = self._read_ts(req, False)
        return self._sleep(time.CLOCK_MONOTONIC, _clock_ns(time.CLOCK_MONOTONIC) + duration,
                           rem, False)

    @syscall
    def clock_nanosleep(self: Kernel, clock: int, flags: UInt, req: Ptr, rem: Ptr) -> int:
        return self._clock_nanosleep(clock, flags, req, rem, False)

    @syscall
    def clock_nanosleep_time64(self: Kernel, clock: int, flags: UInt, req: Ptr, rem: Ptr) -> int:
        return self._clock_nanosleep(clock, flags, req, rem, True)

    def _clock_nanosleep(self: Kernel, clock: int, flags: int, req: int, rem: int,
                         wide: bool) -> int:
        if clock in CLOCKS_WITHOUT_SLEEP:
            raise SyscallError("EOPNOTSUPP")
        if clock < 0 and clock & CPUCLOCK_PERTHREAD:
            raise SyscallError("EINVAL")  # a thread's CPU clock (posix_cpu_nsleep)
        value = self._read_ts(req, wide)
        if flags & TIMER_ABSTIME:
            return self._sleep(clock, value, 0, wide)
        return self._sleep(clock, _clock_ns(clock) + value, rem, wide)

    # ------------------------------------------------------------ timerfd
    # A guest timerfd is a host one: its expirations are read as a u64
    # (swapped for a big-endian guest in `read`); TFD_NONBLOCK/TFD_CLOEXEC
    # are the target's O_NONBLOCK/O_CLOEXEC.
    @syscall
    def timerfd_create(self: Kernel, clock: int, flags: UInt) -> int:
        from pyuser.syscalls import hostcalls

        return hostcalls.timerfd_create(clock, self.open_flags.to_host(flags))

    def _timerfd_settime(self: Kernel, fd: int, flags: int, new: int, old: int,
                         wide: bool) -> int:
        from pyuser.syscalls import hostcalls

        previous = hostcalls.timerfd_settime(fd, flags, self._read_itimerspec(new, wide))
        if old:
            self._write_itimerspec(old, previous, wide)
        return 0

    @syscall
    def timerfd_settime(self: Kernel, fd: Fd, flags: int, new: Ptr, old: Ptr) -> int:
        return self._timerfd_settime(fd, flags, new, old, False)

    @syscall
    def timerfd_settime64(self: Kernel, fd: Fd, flags: int, new: Ptr, old: Ptr) -> int:
        return self._timerfd_settime(fd, flags, new, old, True)

    @syscall
    def timerfd_gettime(self: Kernel, fd: Fd, value: Ptr) -> int:
        from pyuser.syscalls import hostcalls

        self._write_itimerspec(value, hostcalls.timerfd_gettime(fd), False)
        return 0

    @syscall
    def timerfd_gettime64(self: Kernel, fd: Fd, value: Ptr) -> int:
        from pyuser.syscalls import hostcalls

        self._write_itimerspec(value, hostcalls.timerfd_gettime(fd), True)
        return 0
