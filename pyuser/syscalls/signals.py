"""Signal syscalls: dispositions, masks, sending, waiting, sigreturn, timers.

The state and the delivery machinery live in pyuser.signals; these handlers
only read and write it.  A handler that makes a signal deliverable sets
`signals.check`, and the CPU loop delivers at the next safe point.
"""

from __future__ import annotations

import ctypes
import os
import signal as host_signal
import struct
import time
from typing import TYPE_CHECKING

from pyuser.errors import SigReturn
from pyuser.signals import SI_TKILL, SI_USER, Action, SigInfo
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.targets.base import Target

_NS = 1_000_000_000


class SignalCalls(SyscallFamily):
    def setup_family(self) -> None:
        c = self.abi.CONST
        self._sig_block, self._sig_unblock, self._sig_setmask = (
            c["SIG_BLOCK"], c["SIG_UNBLOCK"], c["SIG_SETMASK"])
        self._ss_disable = c["SS_DISABLE"]
        # the kernel's sigset_t: _NSIG bits (MIPS has 128 signals, 16 bytes)
        self._sigset_bytes = c.get("_NSIG", 64) // 8
        self._ss_onstack = c["SS_ONSTACK"]
        self._minsigstksz = c.get("MINSIGSTKSZ", 2048)

    # ------------------------------------------------------------ helpers
    def _check_signo(self, signo: int, allow_zero: bool = False) -> None:
        if signo == 0 and allow_zero:
            return
        if not 1 <= signo <= self.proc.signals.max_signal:
            raise SyscallError("EINVAL")

    def read_sigset(self, address: int, size: int) -> int:
        if size != self._sigset_bytes:
            raise SyscallError("EINVAL")
        return self.target.sigset_value(self.mem.read(address, size))

    def raise_in_guest(self, signo: int, code: int = SI_USER,
                       thread: object = None) -> None:
        """A signal from the guest to itself (kill, tgkill, raise)."""
        info = SigInfo(signo, code=code, pid=os.getpid(), uid=os.getuid())
        self.proc.signals.raise_signal(info, thread)  # type: ignore[arg-type]

    # ------------------------------------------------------------ dispositions
    def _sigaction(self, signo: int, act: int, oldact: int, old_layout: bool) -> int:
        state = self.proc.signals
        self._check_signo(signo)
        if act and signo in (state.sigkill, state.sigstop):
            raise SyscallError("EINVAL")
        old = state.action(signo)
        new = None
        if act:
            if old_layout:  # struct old_sigaction: handler, mask (one word), flags, restorer
                handler, mask, flags, restorer = self.target.unpack("4I", self.mem.read(act, 16))
                new = Action(handler, flags, restorer, mask)
            else:
                new = self._read_kernel_sigaction(act)
        if oldact:
            if old_layout:
                self.mem.write(oldact, self.target.pack("4I", old.handler, old.mask & 0xFFFFFFFF,
                                                        old.flags, old.restorer))
            else:
                self._write_kernel_sigaction(oldact, old)
        if new is not None:
            state.set_action(signo, new)
        return 0

    # The kernel's struct sigaction differs per target (field order on MIPS, no
    # sa_restorer on riscv64, mask words of 32 or 64 bits): the generated
    # layout says which, so one reader and one writer serve them all.
    def _read_kernel_sigaction(self, address: int) -> Action:
        raw = self.mem.read_struct(address, self.abi.sigaction)
        bits = 8 * ctypes.sizeof(raw.sa_mask) // len(raw.sa_mask)
        mask = sum(word << (bits * i) for i, word in enumerate(raw.sa_mask))
        return Action(raw.sa_handler, raw.sa_flags, getattr(raw, "sa_restorer", 0), mask)

    def _write_kernel_sigaction(self, address: int, action: Action) -> None:
        out = self.abi.sigaction()
        out.sa_handler, out.sa_flags = action.handler, action.flags
        if hasattr(out, "sa_restorer"):
            out.sa_restorer = action.restorer
        bits = 8 * ctypes.sizeof(out.sa_mask) // len(out.sa_mask)
        for i in range(len(out.sa_mask)):
            out.sa_mask[i] = (action.mask >> (bits * i)) & ((1 << bits) - 1)
        self.mem.write_struct(address, out)

    @syscall
    def rt_sigaction(self, signo: int, act: Ptr, oldact: Ptr, sigsetsize: UInt) -> int:
        if sigsetsize != self._sigset_bytes:
            raise SyscallError("EINVAL")
        return self._sigaction(signo, act, oldact, False)

    @syscall
    def sigaction(self, signo: int, act: Ptr, oldact: Ptr) -> int:
        return self._sigaction(signo, act, oldact, True)

    def _change_mask(self, how: int, value: int | None) -> int:
        thread = self.proc.current_thread()
        state = self.proc.signals
        old = thread.signals.mask
        if value is not None:
            value &= ~state.unblockable
            if how == self._sig_block:
                thread.signals.mask = old | value
            elif how == self._sig_unblock:
                thread.signals.mask = old & ~value
            elif how == self._sig_setmask:
                thread.signals.mask = value
            else:
                raise SyscallError("EINVAL")
            if thread.signals.mask != old:
                state.check = True
        return old

    @syscall
    def rt_sigprocmask(self, how: int, set_: Ptr, oldset: Ptr, sigsetsize: UInt) -> int:
        if sigsetsize != self._sigset_bytes:
            raise SyscallError("EINVAL")
        value = self.read_sigset(set_, sigsetsize) if set_ else None
        if oldset:
            self.mem.writable(oldset, sigsetsize)
        old = self._change_mask(how, value)
        if oldset:
            self.mem.write(oldset, self.target.sigset_bytes(old, sigsetsize))
        return 0

    @syscall
    def sigprocmask(self, how: int, set_: Ptr, oldset: Ptr) -> int:
        value = None
        if set_:
            (low,) = self.target.unpack("I", self.mem.read(set_, 4))
            current = self.proc.current_thread().signals.mask
            value = low if how != self._sig_setmask else (current & ~0xFFFFFFFF) | low
        old = self._change_mask(how, value)
        if oldset:
            self.mem.write(oldset, self.target.pack("I", old & 0xFFFFFFFF))
        return 0

    @syscall
    def rt_sigpending(self, set_: Ptr, sigsetsize: UInt) -> int:
        if sigsetsize > self._sigset_bytes:
            raise SyscallError("EINVAL")
        bits = self.proc.signals.pending_bits(self.proc.current_thread())
        self.mem.write(set_, self.target.sigset_bytes(bits, sigsetsize))
        return 0

    @syscall
    def sigaltstack(self, ss: Ptr, old_ss: Ptr) -> int:
        thread = self.proc.current_thread().signals
        w = self.target.word_size
        fmt = "IiI" if w == 4 else "QixxxxQ"
        size = struct.calcsize("<" + fmt)
        sp = self.cpu_sp()
        on_stack = thread.altstack_size and \
            thread.altstack_sp <= sp < thread.altstack_sp + thread.altstack_size
        swap = self.target.stack_t_size_before_flags  # MIPS: ss_sp, ss_size, ss_flags
        swapped = "IIi" if w == 4 else "QQixxxx"
        if old_ss:
            flags = self._ss_onstack if on_stack else thread.altstack_flags
            if swap:
                data = self.target.pack(swapped, thread.altstack_sp, thread.altstack_size, flags)
            else:
                data = self.target.pack(fmt, thread.altstack_sp, flags, thread.altstack_size)
            self.mem.write(old_ss, data)
        if ss:
            if swap:
                new_sp, new_size, flags = self.target.unpack(
                    swapped, self.mem.read(ss, struct.calcsize("<" + swapped)))
            else:
                new_sp, flags, new_size = self.target.unpack(fmt, self.mem.read(ss, size))
            if on_stack:
                raise SyscallError("EPERM")
            if flags & ~(self._ss_disable | (1 << 31)):
                raise SyscallError("EINVAL")
            if flags & self._ss_disable:
                thread.altstack_sp, thread.altstack_size = 0, 0
                thread.altstack_flags = self._ss_disable
            else:
                if new_size < self._minsigstksz:
                    raise SyscallError("ENOMEM")
                thread.altstack_sp, thread.altstack_size = new_sp, new_size
                thread.altstack_flags = 0
        return 0

    def cpu_sp(self) -> int:
        return self.cpu.uc.reg_read(self.target.sp_reg)

    # ------------------------------------------------------------ sending
    def _send(self, pid: int, signo: int) -> int:
        self._check_signo(signo, allow_zero=True)
        if pid == os.getpid():
            if signo:
                self.raise_in_guest(signo)
            return 0
        host = self.target.signal_to_host.get(signo, signo) if signo else 0
        if pid > 0 or pid == -1:
            os.kill(pid, host)
        else:
            # a process group (ours when pid == 0): the host delivers it to us too
            os.killpg(os.getpgrp() if pid == 0 else -pid, host)
        return 0

    @syscall
    def kill(self, pid: int, signo: int) -> int:
        return self._send(pid, signo)

    @syscall
    def tkill(self, tid: int, signo: int) -> int:
        return self.tgkill(os.getpid(), tid, signo)

    @syscall
    def tgkill(self, tgid: int, tid: int, signo: int) -> int:
        self._check_signo(signo, allow_zero=True)
        if tgid <= 0 or tid <= 0:
            raise SyscallError("EINVAL")
        thread = self.proc.threads.get(tid)
        if tgid != os.getpid() or thread is None:
            raise SyscallError("ESRCH")
        if signo:
            self.raise_in_guest(signo, SI_TKILL, thread)
        return 0

    @syscall
    def rt_sigqueueinfo(self, pid: int, signo: int, uinfo: Ptr) -> int:
        return self._queue(pid, None, signo, uinfo)

    @syscall
    def rt_tgsigqueueinfo(self, tgid: int, tid: int, signo: int, uinfo: Ptr) -> int:
        return self._queue(tgid, tid, signo, uinfo)

    def _queue(self, pid: int, tid: int | None, signo: int, uinfo: int) -> int:
        """rt_sigqueueinfo (tid None) and rt_tgsigqueueinfo, as kernel/signal.c
        do_rt_sigqueueinfo and do_rt_tgsigqueueinfo: signal 0 only checks
        that the receiver exists; a pid of 0 or below names no process (ESRCH,
        never a process group); only a sender signalling itself may pretend
        to be the kernel or kill (si_code >= 0 or SI_TKILL)."""
        self._check_signo(signo, allow_zero=True)
        if tid is not None and (pid <= 0 or tid <= 0):
            raise SyscallError("EINVAL")
        raw = self.mem.read(uinfo, 128)
        (code,) = self.target.unpack("i", raw, self.target.siginfo_code_offset)
        w = self.target.word_size
        base = 12 if w == 4 else 16
        sender_pid, sender_uid = self.target.unpack("iI", raw, base)
        (value,) = self.target.unpack("I" if w == 4 else "Q", raw, base + 8)
        receiver = pid if tid is None else tid
        if (code >= 0 or code == SI_TKILL) and receiver != self.proc.current_thread().tid:
            raise SyscallError("EPERM")
        if pid <= 0:
            raise SyscallError("ESRCH")
        if pid != os.getpid():
            host = self.target.signal_to_host.get(signo, signo)
            os.kill(pid, host)  # the value cannot cross to another process here
            return 0
        thread = self.proc.threads.get(tid) if tid is not None else None
        if tid is not None and thread is None:
            raise SyscallError("ESRCH")
        if signo:
            info = SigInfo(signo, code=code, pid=sender_pid, uid=sender_uid, value=value)
            self.proc.signals.raise_signal(info, thread)
        return 0

    # ------------------------------------------------------------ waiting
    def _wait_for_signal(self, deadline: float | None = None) -> bool:
        """Block until a signal is deliverable to this thread; False on timeout."""
        return self.proc.block(None, deadline) == "signal"

    @syscall
    def pause(self) -> int:
        self._wait_for_signal()
        raise SyscallError("EINTR")

    @syscall
    def rt_sigsuspend(self, mask: Ptr, sigsetsize: UInt) -> int:
        new = self.read_sigset(mask, sigsetsize) & ~self.proc.signals.unblockable
        thread = self.proc.current_thread()
        saved = thread.signals.mask
        thread.signals.mask = new
        self._wait_for_signal()
        # the handler runs with the temporary mask; sigreturn brings back `saved`
        self.proc.current.restore_mask_after_delivery = saved
        raise SyscallError("EINTR")

    @syscall
    def rt_sigtimedwait(self, set_: Ptr, info: Ptr, timeout: Ptr, size: UInt) -> int:
        return self._sigtimedwait(set_, info, timeout, size, False)

    @syscall
    def rt_sigtimedwait_time64(self, set_: Ptr, info: Ptr, timeout: Ptr,
                               size: UInt) -> int:
        return self._sigtimedwait(set_, info, timeout, size, True)

    def _sigtimedwait(self, set_: int, info_ptr: int, timeout: int, size: int,
                      wide: bool) -> int:
        wanted = self.read_sigset(set_, size) & ~self.proc.signals.unblockable
        deadline = None
        if timeout:
            deadline = time.monotonic() + self.read_timespec(timeout, wide) / _NS
        state = self.proc.signals
        thread = self.proc.current_thread()
        while True:
            state.drain_incoming()
            for signo in sorted(thread.signals.pending.queues) + sorted(state.shared.queues):
                if wanted & (1 << (signo - 1)):
                    got = thread.signals.pending.take(signo) or state.shared.take(signo)
                    if got is None:
                        continue
                    if info_ptr:
                        self.mem.write(info_ptr, self.target.encode_siginfo(got))
                    return signo
            outcome = self.proc.block(lambda: bool(state.pending_bits(thread) & wanted),
                                      deadline)
            if outcome == "timeout":
                raise SyscallError("EAGAIN")
            if outcome == "signal" and not state.pending_bits(thread) & wanted:
                raise SyscallError("EINTR")

    # ------------------------------------------------------------ returning
    @syscall
    def rt_sigreturn(self) -> int:
        self.cpu.sigreturn(rt=True)
        raise SigReturn()

    @syscall
    def sigreturn(self) -> int:
        self.cpu.sigreturn(rt=False)
        raise SigReturn()

    @syscall
    def restart_syscall(self) -> int:
        raise SyscallError("EINTR")

    # ------------------------------------------------------------ timers
    @syscall
    def alarm(self, seconds: UInt) -> int:
        if seconds:
            self.proc.want_async_stops()  # the signal may find a loop to interrupt
        return host_signal.alarm(seconds)

    def _itimer_which(self, which: int) -> int:
        table = {0: host_signal.ITIMER_REAL, 1: host_signal.ITIMER_VIRTUAL,
                 2: host_signal.ITIMER_PROF}
        if which not in table:
            raise SyscallError("EINVAL")
        return table[which]

    def _write_itimerval(self, address: int, value: tuple[float, float]) -> None:
        interval, current = value
        fields = []
        for seconds in (interval, current):
            whole = int(seconds)
            fields += [whole, int(round((seconds - whole) * 1e6))]
        self.mem.write(address, self.target.pack(4 * self.target.long_format, *fields))

    @syscall
    def setitimer(self, which: int, new: Ptr, old: Ptr) -> int:
        host_which = self._itimer_which(which)
        i_sec, i_usec, v_sec, v_usec = self.target.unpack(
            4 * self.target.long_format, self.mem.read(new, 4 * self.target.word_size))
        if not (0 <= i_usec < 1_000_000 and 0 <= v_usec < 1_000_000):
            raise SyscallError("EINVAL")
        if v_sec or v_usec:
            self.proc.want_async_stops()
        previous = host_signal.setitimer(host_which, v_sec + v_usec / 1e6, i_sec + i_usec / 1e6)
        if old:
            self._write_itimerval(old, (previous[1], previous[0]))
        return 0

    @syscall
    def getitimer(self, which: int, value: Ptr) -> int:
        current, interval = host_signal.getitimer(self._itimer_which(which))
        self._write_itimerval(value, (interval, current))
        return 0

    # ------------------------------------------------------------ POSIX timers
    # Each guest timer is a host timer that raises the same (host) signal with
    # the guest's sigev_value; the watcher forwards it with si_code SI_TIMER.
    # The guest's timer id is the host kernel's (glibc hands the kernel id out
    # as timer_t), so si_timerid in the forwarded siginfo matches it.
    def read_itimerspec(self, address: int, wide: bool) -> tuple[int, int, int, int]:
        values = self.read_timespecs(address, 2, wide)
        if not all(0 <= ns < _NS for ns in (values[1], values[3])):
            raise SyscallError("EINVAL")
        return values  # type: ignore[return-value]

    def write_itimerspec(self, address: int, spec: tuple[int, int, int, int],
                         wide: bool) -> None:
        wide = wide or self.target.word_size == 8
        self.mem.write(address, self.target.pack("4q" if wide else "4i", *spec))

    def guest_sigevent(self, address: int) -> tuple[int, int, int, int]:
        """struct sigevent: (sigev_value, sigev_signo, sigev_notify, the thread id)."""
        if self.target.word_size == 4:
            return self.target.unpack("Iiii", self.mem.read(address, 16))
        return self.target.unpack("Qiii4x", self.mem.read(address, 24))

    @syscall
    def timer_create(self, clock: int, sevp: Ptr, timerid: Ptr) -> int:
        from pyuser.syscalls import hostcalls

        c = self.abi.CONST
        signo, notify, value, tid = self.abi.CONST["SIGALRM"], 0, 0, 0
        if sevp:
            value, signo, notify, tid = self.guest_sigevent(sevp)
        sigev_none = c.get("SIGEV_NONE", 1)
        sigev_thread_id = c.get("SIGEV_THREAD_ID", 4)
        if notify not in (0, sigev_none, sigev_thread_id):
            raise SyscallError("EINVAL")
        state = self.proc.signals
        host_signo = self.target.signal_to_host.get(signo, signo) if notify != sigev_none else 0
        host_tid = 0
        if notify == sigev_thread_id:
            if tid not in self.proc.threads:
                raise SyscallError("EINVAL")
            # the host signals the watcher, which makes the signal pending for
            # the guest thread (its own host thread blocks it, and would keep it)
            host_tid = state.relay.native_id if state.relay is not None else os.getpid()
        # a thread's CPU clock (Go's profiler: CLOCK_THREAD_CPUTIME_ID) is the
        # host thread's that makes this call: the guest thread's own
        timer = hostcalls.timer_create(clock, host_signo, notify, value, host_tid)
        self.proc.timers[timer] = timer
        if notify == sigev_thread_id:
            state.timer_threads[timer] = tid
        self.mem.write(timerid, self.target.pack("i", timer))
        return 0

    def _host_timer(self, timerid: int) -> int:
        timer = self.proc.timers.get(timerid)
        if timer is None:
            raise SyscallError("EINVAL")
        return timer

    def _timer_settime(self, timerid: int, flags: int, new: int, old: int,
                       wide: bool) -> int:
        from pyuser.syscalls import hostcalls

        spec = self.read_itimerspec(new, wide)
        if spec[2] or spec[3]:
            self.proc.want_async_stops()
        previous = hostcalls.timer_settime(self._host_timer(timerid), flags & 1, spec)
        if old:
            self.write_itimerspec(old, previous, wide)
        return 0

    @syscall
    def timer_settime(self, timerid: int, flags: int, new: Ptr, old: Ptr) -> int:
        return self._timer_settime(timerid, flags, new, old, False)

    @syscall
    def timer_settime64(self, timerid: int, flags: int, new: Ptr, old: Ptr) -> int:
        return self._timer_settime(timerid, flags, new, old, True)

    @syscall
    def timer_gettime(self, timerid: int, value: Ptr) -> int:
        from pyuser.syscalls import hostcalls

        self.write_itimerspec(value, hostcalls.timer_gettime(self._host_timer(timerid)), False)
        return 0

    @syscall
    def timer_gettime64(self, timerid: int, value: Ptr) -> int:
        from pyuser.syscalls import hostcalls

        self.write_itimerspec(value, hostcalls.timer_gettime(self._host_timer(timerid)), True)
        return 0

    @syscall
    def timer_getoverrun(self, timerid: int) -> int:
        from pyuser.syscalls import hostcalls

        return hostcalls.timer_getoverrun(self._host_timer(timerid))

    @syscall
    def timer_delete(self, timerid: int) -> int:
        from pyuser.syscalls import hostcalls

        hostcalls.timer_delete(self._host_timer(timerid))
        del self.proc.timers[timerid]
        self.proc.signals.timer_threads.pop(timerid, None)
        return 0

    # ------------------------------------------------------------ signalfd
    # A guest signalfd is a host eventfd that pyuser keeps readable while a
    # signal of its mask is pending; reading it takes those signals off the
    # pending queues as struct signalfd_siginfo records (128 bytes, the same
    # layout on every architecture).
    @syscall
    def signalfd4(self, fd: Fd, mask: Ptr, sizemask: UInt, flags: UInt) -> int:
        c = self.abi.CONST
        if flags & ~(c["O_NONBLOCK"] | c["O_CLOEXEC"]):
            raise SyscallError("EINVAL")
        wanted = self.read_sigset(mask, sizemask) & ~self.proc.signals.unblockable
        state = self.proc.signals
        if fd != -1:
            if fd not in state.signalfds:
                raise SyscallError("EINVAL")
            state.signalfds[fd] = wanted
        else:
            host_flags = os.EFD_NONBLOCK | (os.EFD_CLOEXEC if flags & c["O_CLOEXEC"] else 0)
            fd = os.eventfd(0, host_flags)
            state.signalfds[fd] = wanted
            self.proc.signalfd_blocking[fd] = not flags & c["O_NONBLOCK"]
        if state.pending_bits(self.proc.current_thread()) & wanted:
            os.eventfd_write(fd, 1)
        return fd

    @syscall
    def signalfd(self, fd: Fd, mask: Ptr, sizemask: UInt) -> int:
        return self.signalfd4(fd, mask, sizemask, 0)

    def read_signalfd(self, fd: int, buf: int, count: int) -> int:
        state = self.proc.signals
        thread = self.proc.current_thread()
        if count < 128:
            raise SyscallError("EINVAL")
        self.mem.writable(buf, count)
        while True:
            records = []
            wanted = state.signalfds[fd]
            state.drain_incoming()
            while len(records) < count // 128:
                candidates = [s for s in (*thread.signals.pending.queues, *state.shared.queues)
                              if wanted & (1 << (s - 1))]
                if not candidates:
                    break
                signo = min(candidates)
                info = thread.signals.pending.take(signo) or state.shared.take(signo)
                if info is not None:
                    records.append(_signalfd_record(self.target, info))
            if not state.pending_bits(thread) & wanted:
                try:
                    os.eventfd_read(fd)
                except BlockingIOError:
                    pass
            if records:
                data = b"".join(records)
                self.mem.write(buf, data)
                return len(data)
            if not self.proc.signalfd_blocking.get(fd, True):
                raise SyscallError("EAGAIN")
            if not self._wait_for_signal_or(wanted):
                raise SyscallError("EINTR")

    def _wait_for_signal_or(self, wanted: int) -> bool:
        """Wait until a signal of `wanted` is pending (True) or one is deliverable (False)."""
        state = self.proc.signals
        thread = self.proc.current_thread()
        return self.proc.block(lambda: bool(state.pending_bits(thread) & wanted),
                               None) == "ready"


def _signalfd_record(target: Target, info: SigInfo) -> bytes:
    """struct signalfd_siginfo (include/uapi/linux/signalfd.h)."""
    # ssi_int is the sigval's int member: on a 64-bit big-endian guest the
    # first (high) half of the 8-byte union
    sival_int = info.value >> 32 if target.word_size == 8 and not target.little_endian \
        else info.value
    record = target.pack("IiiIIiIIIIiiQQQQ", info.signo, info.errno, info.code, info.pid,
                         info.uid, info.fd, info.timerid, info.band, info.overrun, 0,
                         info.status, sival_int & 0xFFFFFFFF, info.value, info.utime,
                         info.stime, info.addr)
    return record.ljust(128, b"\0")
