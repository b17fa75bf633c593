"""Clocks and sleeping with FreeBSD's clock ids (sys/sys/_clock_id.h)."""

from __future__ import annotations

import struct
import time

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError

_NS = 1_000_000_000
# FreeBSD clock id -> the host clock that means the same
_CLOCKS = {
    0: time.CLOCK_REALTIME, 9: time.CLOCK_REALTIME, 10: time.CLOCK_REALTIME,
    13: time.CLOCK_REALTIME,  # CLOCK_SECOND: whole seconds, below
    4: time.CLOCK_MONOTONIC, 11: time.CLOCK_MONOTONIC, 12: time.CLOCK_MONOTONIC,
    5: time.CLOCK_BOOTTIME, 7: time.CLOCK_BOOTTIME, 8: time.CLOCK_BOOTTIME,
    1: time.CLOCK_PROCESS_CPUTIME_ID, 2: time.CLOCK_PROCESS_CPUTIME_ID,
    14: time.CLOCK_THREAD_CPUTIME_ID, 15: time.CLOCK_PROCESS_CPUTIME_ID,
}
_CLOCK_SECOND = 13


class FreeBsdTimeCalls(SyscallFamily):
    def _host_clock(self, clock_id: int) -> int:
        host = _CLOCKS.get(clock_id)
        if host is None:
            raise SyscallError("EINVAL")
        return host

    def _read_timespec(self, address: int) -> int:
        sec, nsec = struct.unpack("<qq", self.mem.read(address, 16))
        if sec < 0 or not 0 <= nsec < _NS:
            raise SyscallError("EINVAL")
        return sec * _NS + nsec

    def _write_timespec(self, address: int, ns: int) -> None:
        self.mem.write(address, struct.pack("<qq", *divmod(ns, _NS)))

    @syscall
    def clock_gettime(self, clock_id: int, tp: Ptr) -> int:
        ns = time.clock_gettime_ns(self._host_clock(clock_id))
        if clock_id == _CLOCK_SECOND:
            ns -= ns % _NS
        self._write_timespec(tp, ns)
        return 0

    @syscall
    def clock_getres(self, clock_id: int, tp: Ptr) -> int:
        host = self._host_clock(clock_id)
        if tp:
            res = _NS if clock_id == _CLOCK_SECOND else int(time.clock_getres(host) * _NS)
            self._write_timespec(tp, max(res, 1))
        return 0

    @syscall
    def gettimeofday(self, tv: Ptr, tz: Ptr) -> int:
        if tv:
            sec, ns = divmod(time.time_ns(), _NS)
            self.mem.write(tv, struct.pack("<qq", sec, ns // 1000))
        if tz:
            self.mem.write(tz, bytes(8))
        return 0

    def _sleep_until(self, deadline: float, remaining: int) -> int:
        outcome = self.proc.block(None, deadline)
        if outcome == "signal":
            if remaining:
                left = max(0, deadline - time.monotonic())
                self._write_timespec(remaining, int(left * _NS))
            raise SyscallError("EINTR")
        return 0

    @syscall
    def nanosleep(self, req: Ptr, rem: Ptr) -> int:
        ns = self._read_timespec(req)
        return self._sleep_until(time.monotonic() + ns / _NS, rem)

    @syscall
    def clock_nanosleep(self, clock_id: int, flags: int, req: Ptr, rem: Ptr) -> int:
        host = self._host_clock(clock_id)
        ns = self._read_timespec(req)
        if flags & 1:  # TIMER_ABSTIME
            ns -= time.clock_gettime_ns(host)
        try:
            return self._sleep_until(time.monotonic() + max(ns, 0) / _NS, 0 if flags & 1 else rem)
        except SyscallError:
            # it returns the error number itself, carry clear (sys/kern/
            # kern_time.c kern_posix_error)
            return self.abi.ERRNO["EINTR"]
