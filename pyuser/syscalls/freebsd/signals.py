"""Signals with FreeBSD's numbers and layouts (sys/sys/signal.h, sys/kern/kern_sig.c).

sigset_t is four 32-bit words (128 signals); pyuser's masks are Python ints
with bit (signo - 1), so the words are simply the int's bytes.  struct
sigaction is { handler @0, int sa_flags @8, sigset_t sa_mask @12 } (32
bytes); stack_t is { ss_sp @0, size_t ss_size @8, int ss_flags @16 }.
"""

from __future__ import annotations

import os
import signal as host_signal
import struct

from pyuser.errors import SigReturn
from pyuser.signals import SI_TKILL, SI_USER, Action, SigInfo
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Long, Ptr, SyscallError

_SS_ONSTACK, _SS_DISABLE = 1, 4
_MASK128 = (1 << 128) - 1


class FreeBsdSignalCalls(SyscallFamily):
    def _read_sigset(self, address: int) -> int:
        return int.from_bytes(self.mem.read(address, 16), "little")

    def _write_sigset(self, address: int, bits: int) -> None:
        self.mem.write(address, (bits & _MASK128).to_bytes(16, "little"))

    def _check_signo(self, signo: int, allow_zero: bool = False) -> None:
        if not (allow_zero and signo == 0) and not 1 <= signo <= self.proc.signals.max_signal:
            raise SyscallError("EINVAL")

    @syscall
    def sigaction(self, signo: int, act: Ptr, oldact: Ptr) -> int:
        state = self.proc.signals
        self._check_signo(signo)
        if act and signo in (state.sigkill, state.sigstop):
            raise SyscallError("EINVAL")
        new = None
        if act:
            handler, flags = struct.unpack("<Qi", self.mem.read(act, 12))
            new = Action(handler, flags, 0, self._read_sigset(act + 12))
        if oldact:
            old = state.action(signo)
            self.mem.write(oldact, struct.pack("<Qi", old.handler, old.flags)
                           + (old.mask & _MASK128).to_bytes(16, "little") + bytes(4))
        if new is not None:
            state.set_action(signo, new)
        return 0

    @syscall
    def sigprocmask(self, how: int, set_: Ptr, oldset: Ptr) -> int:
        c = self.abi.CONST
        thread = self.proc.current_thread()
        state = self.proc.signals
        old = thread.signals.mask
        if set_:
            value = self._read_sigset(set_) & ~state.unblockable
            if how == c["SIG_BLOCK"]:
                thread.signals.mask = old | value
            elif how == c["SIG_UNBLOCK"]:
                thread.signals.mask = old & ~value
            elif how == c["SIG_SETMASK"]:
                thread.signals.mask = value
            else:
                raise SyscallError("EINVAL")
            if thread.signals.mask != old:
                state.check = True
        if oldset:
            self._write_sigset(oldset, old)
        return 0

    @syscall
    def sigpending(self, set_: Ptr) -> int:
        self._write_sigset(set_, self.proc.signals.pending_bits(self.proc.current_thread()))
        return 0

    @syscall
    def sigaltstack(self, ss: Ptr, old_ss: Ptr) -> int:
        thread = self.proc.current_thread().signals
        sp = self.cpu.uc.reg_read(self.target.sp_reg)
        on_stack = thread.altstack_size and \
            thread.altstack_sp <= sp < thread.altstack_sp + thread.altstack_size
        if old_ss:
            flags = _SS_ONSTACK if on_stack else (_SS_DISABLE if not thread.altstack_size else 0)
            self.mem.write(old_ss, struct.pack("<QQixxxx", thread.altstack_sp,
                                               thread.altstack_size, flags))
        if ss:
            new_sp, new_size, flags = struct.unpack("<QQi", self.mem.read(ss, 20))
            if on_stack:
                raise SyscallError("EPERM")
            if flags & ~_SS_DISABLE:
                raise SyscallError("EINVAL")
            if flags & _SS_DISABLE:
                thread.altstack_sp = thread.altstack_size = 0
                thread.altstack_flags = 2
            else:
                if new_size < self.abi.CONST["MINSIGSTKSZ"]:
                    raise SyscallError("ENOMEM")
                thread.altstack_sp, thread.altstack_size, thread.altstack_flags = \
                    new_sp, new_size, 0
        return 0

    @syscall
    def sigreturn(self, ucontext: Ptr) -> int:
        cpu = self.cpu
        # a context that cannot be read is EFAULT, returned to the caller
        # (sys/amd64/amd64/exec_machdep.c, arm64 too: copyin's error)
        self.mem.read(ucontext, cpu.frames.ucontext_size)
        cpu.sigreturn(rt=True)  # the frames read the ucontext argument
        raise SigReturn()

    def _raise_in_guest(self, signo: int, code: int, thread: object = None) -> None:
        info = SigInfo(signo, code=code, pid=os.getpid(), uid=os.getuid())
        self.proc.signals.raise_signal(info, thread)  # type: ignore[arg-type]

    @syscall
    def kill(self, pid: int, signo: int) -> int:
        self._check_signo(signo, allow_zero=True)
        if pid == os.getpid():
            if signo:
                self._raise_in_guest(signo, SI_USER)
            return 0
        host = self.target.signal_to_host.get(signo) if signo else 0
        if host is None:
            raise SyscallError("EINVAL")  # a FreeBSD-only signal (SIGTHR, SIGINFO...)
        if pid > 0 or pid == -1:
            os.kill(pid, host)
        else:
            os.killpg(os.getpgrp() if pid == 0 else -pid, host)
        return 0

    @syscall
    def thr_kill(self, tid: Long, signo: int) -> int:
        self._check_signo(signo, allow_zero=True)
        thread = self.proc.threads.get(tid)
        if thread is None:
            raise SyscallError("ESRCH")
        if signo:
            self._raise_in_guest(signo, SI_TKILL, thread)
        return 0

    @syscall
    def thr_kill2(self, pid: int, tid: Long, signo: int) -> int:
        if pid not in (0, os.getpid()):
            raise SyscallError("ESRCH")
        return self.thr_kill(tid, signo)

    @syscall
    def sigsuspend(self, mask: Ptr) -> int:
        new = self._read_sigset(mask) & ~self.proc.signals.unblockable
        thread = self.proc.current_thread()
        saved = thread.signals.mask
        thread.signals.mask = new
        self.proc.block(None, None)
        self.proc.current.restore_mask_after_delivery = saved
        raise SyscallError("EINTR")

    def _itimer_which(self, which: int) -> int:
        hosts = {0: host_signal.ITIMER_REAL, 1: host_signal.ITIMER_VIRTUAL,
                 2: host_signal.ITIMER_PROF}
        if which not in hosts:
            raise SyscallError("EINVAL")
        return hosts[which]

    def _write_itimerval(self, address: int, interval: float, value: float) -> None:
        words = []
        for seconds in (interval, value):
            whole = int(seconds)
            words += [whole, round((seconds - whole) * 1e6)]
        self.mem.write(address, struct.pack("<4q", *words))

    @syscall
    def setitimer(self, which: int, new: Ptr, old: Ptr) -> int:
        host_which = self._itimer_which(which)
        i_sec, i_usec, v_sec, v_usec = struct.unpack("<4q", self.mem.read(new, 32))
        if not (0 <= i_usec < 1_000_000 and 0 <= v_usec < 1_000_000):
            raise SyscallError("EINVAL")
        if v_sec or v_usec:
            self.proc.want_async_stops()
        value, interval = host_signal.setitimer(host_which, v_sec + v_usec / 1e6,
                                                i_sec + i_usec / 1e6)
        if old:
            self._write_itimerval(old, interval, value)
        return 0

    @syscall
    def getitimer(self, which: int, value: Ptr) -> int:
        current, interval = host_signal.getitimer(self._itimer_which(which))
        self._write_itimerval(value, interval, current)
        return 0
