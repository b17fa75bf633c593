"""What a syscall family stands on: the services of a kernel personality.

A family (files, memory, signals, ...) is a class of handlers that
subclasses :class:`SyscallFamily` and uses only what is declared here: the
process, the target and its ABI tables, guest memory, the log, the CPU's
thread and sigreturn services, blocking host calls and waits, path
resolution and errno mapping.  A kernel personality (pyuser.syscalls.kernel.Kernel for
Linux, pyuser.syscalls.freebsd's FreeBsdKernel) is the composition of its
families on :class:`pyuser.syscalls.kernel.KernelCore`, which provides
these services and dispatches; no family imports a kernel.

A helper that one family provides to another (the signal family reads a
signalfd for the file family's read) is declared, as an annotation without
a value, in the family that needs it; tests/test_syscall_families.py checks
that every kernel composing the family provides it, and that no two
families define the same method.
"""

from __future__ import annotations

import errno as host_errno
import struct
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from pyuser.syscalls.types import SyscallError

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.log import Log
    from pyuser.memory import GuestMemory
    from pyuser.process import Process, Thread
    from pyuser.syscalls.flags import FlagMap
    from pyuser.targets.base import Target

NS_PER_SECOND = 1_000_000_000


class SignalFrameLayout(Protocol):
    """What a handler needs of the target's signal frames."""

    ucontext_size: int


class CpuServices(Protocol):
    """What the syscalls need of the CPU loop that runs the process; the
    builder of the process attaches it (KernelCore.attach_cpu)."""

    # the engine, holding the registers of the thread that has the CPU
    uc: Uc
    frames: SignalFrameLayout

    def start_thread(self, stack: int, tls: int | None,
                     entry: Callable[[Uc], None] | None = None) -> Thread:
        """A new guest thread (clone with CLONE_VM, FreeBSD's thr_new)."""
        ...

    def sigreturn(self, rt: bool) -> None:
        """Restore the registers and mask a signal frame saved."""
        ...


class SyscallFamily:
    """The base of every family: the services a handler may use."""

    proc: Process
    target: Target
    abi: ModuleType  # the target's generated ABI tables (CONST, ERRNO, layouts)
    mem: GuestMemory
    log: Log
    cpu: CpuServices
    # target errno numbers by host errno number
    errno_from_host: dict[int, int]
    # the guest's O_* flags and the host's (set by the personality's file family)
    open_flags: FlagMap
    # the kernel's own dispatch by number (socketcall multiplexes through it)
    dispatch: Callable[[Any], int]

    def setup_family(self) -> None:
        # struct timespec as the guest lays it out: 32-bit and time64; on a
        # 64-bit target the "old" calls' timespec is already the 64-bit one
        self._ts32 = struct.Struct(self.target.byte_order + "iI")
        self._ts64 = struct.Struct(self.target.byte_order + "qq")
        self._time_is_64 = self.target.word_size == 8

    # ------------------------------------------------------------ paths
    def resolve_path(self, guest_path: bytes) -> bytes:
        """The host path a guest path names (sysroot first, /proc/self specials)."""
        return self.proc.vfs.resolve(guest_path)

    # ------------------------------------------------------------ blocking
    def blocking(self, call, *args):
        """Run a host call that may block; a guest signal ends it with EINTR.

        The thread answers the kicks sent so far and checks for a deliverable
        signal before the call (a signal raised just before it would not have
        been kicked); one raised during the call kicks it out with the kick
        signal, again until it answers (pyuser.signals.SignalState.wake).  If
        no signal is deliverable to the guest by then (it was blocked,
        ignored, or the kick was stale), the call simply goes on.
        """
        proc = self.proc
        thread = proc.current
        signals = proc.signals
        scheduler = proc.scheduler
        while True:
            thread.in_host_call = True
            thread.kick_ack = thread.kick_seq
            try:
                if signals.check and signals.has_deliverable(thread):
                    raise SyscallError("EINTR")
                if not scheduler.active:
                    # one guest thread: no token to hand on (and no context
                    # manager's cost on every read, write and open)
                    return call(*args)
                with scheduler.released(thread):
                    return call(*args)
            except InterruptedError:
                if signals.has_deliverable(thread):
                    raise SyscallError("EINTR") from None
            finally:
                thread.in_host_call = False

    def need_stopped_engine(self) -> None:
        """Say, before any side effect, that this call will wait: a wait is
        served with the engine stopped (pyuser.threads.EngineBusy), so the
        CPU loop stops at the syscall and serves it again from outside the
        engine, where another guest thread may run meanwhile."""
        self.proc.scheduler.need_stopped_engine()

    # ------------------------------------------------------------ errnos
    def guest_errno(self, host_number: int | None) -> int:
        """The target's errno number for a host errno number (EINVAL's for none)."""
        number = host_number or host_errno.EINVAL
        return self.errno_from_host.get(number, number)

    # ------------------------------------------------------------ timespecs
    def write_timespec(self, address: int, ns: int, wide: bool) -> None:
        """A struct timespec (time64 when `wide`) holding `ns` nanoseconds."""
        sec, nsec = divmod(ns, NS_PER_SECOND)
        if wide or self._time_is_64:
            self.mem.write(address, self._ts64.pack(sec, nsec))
        else:  # a 32-bit time_t saturates in 2038
            self.mem.write(address, self._ts32.pack(min(sec, 0x7FFFFFFF), nsec))

    def read_timespecs(self, address: int, count: int, wide: bool) -> tuple[int, ...]:
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

    def read_timespec(self, address: int, wide: bool) -> int:
        """A guest timespec in nanoseconds; EINVAL for a negative or unnormalised one."""
        sec, nsec = self.read_timespecs(address, 1, wide)
        if not 0 <= nsec < NS_PER_SECOND or sec < 0:
            raise SyscallError("EINVAL")
        return sec * NS_PER_SECOND + nsec

    # ------------------------------------------------------------ iovecs
    def guest_iovecs(self, iov: int, iovcnt: int,
                      writable: bool) -> list[tuple[int, int]]:
        """The guest's iovec array as (guest address, length), each range checked."""
        if iovcnt < 0 or iovcnt > 1024:
            raise SyscallError("EINVAL")
        w = self.target.word_size
        words = self.target.unpack(("I" if w == 4 else "Q") * (2 * iovcnt),
                                   self.mem.read(iov, 2 * w * iovcnt))
        check = self.mem.writable if writable else self.mem.readable
        result = []
        for i in range(iovcnt):
            base, length = words[2 * i], words[2 * i + 1]
            if length:
                check(base, length)
                result.append((base, length))
        return result

    def host_iovecs(self, iov: int, iovcnt: int, writable: bool) -> list[tuple[int, int]]:
        """As (host address, length), for libc's readv/writev."""
        return [(self.mem.host_pointer(base), length)
                for base, length in self.guest_iovecs(iov, iovcnt, writable)]

    def iovec_views(self, iov: int, iovcnt: int, writable: bool) -> list[memoryview]:
        """As views of guest memory, for os.preadv/os.pwritev."""
        return [self.mem.view[base:base + length]
                for base, length in self.guest_iovecs(iov, iovcnt, writable)]
