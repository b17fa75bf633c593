"""Signal dispositions, masks, and sending signals.

This module keeps the guest's signal state (handlers, mask, alternate stack)
and applies default actions.  Running guest handlers (frames, sigreturn) is
the target's signal-frame code; until a target provides it, a signal whose
disposition is a guest handler is left pending.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

SIG_DFL = 0
SIG_IGN = 1

CORE_SIGNALS = ("SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGSEGV",
                "SIGXCPU", "SIGXFSZ", "SIGSYS")
IGNORED_BY_DEFAULT = ("SIGCHLD", "SIGURG", "SIGWINCH", "SIGCONT")
STOP_SIGNALS = ("SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU")


@dataclass
class Disposition:
    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


@dataclass
class SignalState:
    """Per-process dispositions; the mask and pending set are per thread in Linux,
    kept here for the single-threaded case and moved to Thread by the threads work."""

    actions: dict[int, Disposition] = field(default_factory=dict)
    mask: int = 0
    pending: set[int] = field(default_factory=set)
    altstack: tuple[int, int, int] = (0, 2, 0)  # sp, flags (SS_DISABLE), size

    def action(self, signum: int) -> Disposition:
        return self.actions.get(signum) or Disposition()


class GuestSignalDeath(Exception):  # noqa: N818 - control flow
    """The process dies of a target signal (default action)."""

    def __init__(self, signum: int, core: bool) -> None:
        super().__init__(signum)
        self.signum = signum
        self.core = core


class SignalCalls:
    def setup_family(self: Kernel) -> None:
        c = self.abi.CONST
        self._nsig = c.get("_NSIG", 65)
        self._core_signals = {c[n] for n in CORE_SIGNALS if n in c}
        self._ignored_signals = {c[n] for n in IGNORED_BY_DEFAULT if n in c}
        self._stop_signals = {c[n] for n in STOP_SIGNALS if n in c}
        self._uncatchable = {c["SIGKILL"], c["SIGSTOP"]}

    # ------------------------------------------------------------ dispositions
    @syscall
    def rt_sigaction(self: Kernel, signum: int, act: Ptr, oldact: Ptr, sigsetsize: UInt) -> int:
        if sigsetsize != 8:
            raise SyscallError("EINVAL")
        if not 1 <= signum < self._nsig or (act and signum in self._uncatchable):
            raise SyscallError("EINVAL")
        state = self.proc.signals
        old = state.action(signum)
        w = self.target.word_size
        fmt = "<IIIQ" if w == 4 else "<QQQQ"  # handler, flags, restorer, mask
        new = None
        if act:
            handler, flags, restorer, mask = struct.unpack(fmt, self.mem.read(act, 3 * w + 8))
            new = Disposition(handler, flags, restorer, mask)
        if oldact:
            self.mem.write(oldact, struct.pack(fmt, old.handler, old.flags, old.restorer,
                                               old.mask))
        if new is not None:
            state.actions[signum] = new
            if new.handler == SIG_IGN:
                state.pending.discard(signum)
        return 0

    @syscall
    def rt_sigprocmask(self: Kernel, how: int, set_: Ptr, oldset: Ptr, sigsetsize: UInt) -> int:
        if sigsetsize != 8:
            raise SyscallError("EINVAL")
        state = self.proc.signals
        old = state.mask
        if set_:
            (value,) = struct.unpack("<Q", self.mem.read(set_, 8))
            value &= ~((1 << (self.abi.CONST["SIGKILL"] - 1)) |
                       (1 << (self.abi.CONST["SIGSTOP"] - 1)))
            c = self.abi.CONST
            if how == c["SIG_BLOCK"]:
                state.mask = old | value
            elif how == c["SIG_UNBLOCK"]:
                state.mask = old & ~value
            elif how == c["SIG_SETMASK"]:
                state.mask = value
            else:
                raise SyscallError("EINVAL")
        if oldset:
            self.mem.write(oldset, struct.pack("<Q", old))
        self.deliver_pending()
        return 0

    @syscall
    def rt_sigpending(self: Kernel, set_: Ptr, sigsetsize: UInt) -> int:
        bits = 0
        for s in self.proc.signals.pending:
            bits |= 1 << (s - 1)
        self.mem.write(set_, struct.pack("<Q", bits))
        return 0

    @syscall
    def sigaltstack(self: Kernel, ss: Ptr, old_ss: Ptr) -> int:
        state = self.proc.signals
        w = self.target.word_size
        fmt = "<IiI" if w == 4 else "<QixxxxQ"
        size = struct.calcsize(fmt)
        if old_ss:
            self.mem.write(old_ss, struct.pack(fmt, *state.altstack))
        if ss:
            sp, flags, length = struct.unpack(fmt, self.mem.read(ss, size))
            state.altstack = (sp, flags, length)
        return 0

    # ------------------------------------------------------------ sending
    def raise_in_guest(self: Kernel, signum: int) -> None:
        """A signal aimed at this process: default action, ignore, or leave pending."""
        state = self.proc.signals
        action = state.action(signum)
        if action.handler == SIG_IGN:
            return
        if action.handler == SIG_DFL:
            if signum in self._ignored_signals:
                return
            if signum in self._stop_signals:
                os.kill(os.getpid(), self.target.signal_to_host.get(signum, signum))
                return
            if state.mask & (1 << (signum - 1)):
                state.pending.add(signum)
                return
            raise GuestSignalDeath(signum, signum in self._core_signals)
        state.pending.add(signum)

    def deliver_pending(self: Kernel) -> None:
        state = self.proc.signals
        for signum in sorted(state.pending):
            if not state.mask & (1 << (signum - 1)) and state.action(signum).handler == SIG_DFL:
                state.pending.discard(signum)
                self.raise_in_guest(signum)

    def _send(self: Kernel, pid: int, signum: int) -> int:
        """kill(2) semantics; a signal for ourselves goes through the guest's dispositions."""
        if signum < 0 or signum >= self._nsig:
            raise SyscallError("EINVAL")
        if pid == os.getpid():
            if signum:
                self.raise_in_guest(signum)
            return 0
        host = self.target.signal_to_host.get(signum, signum) if signum else 0
        if pid > 0 or pid == -1:
            os.kill(pid, host)
        else:
            # a process group (ours when pid == 0): the host delivers it to us too
            os.killpg(os.getpgrp() if pid == 0 else -pid, host)
        return 0

    @syscall
    def kill(self: Kernel, pid: int, signum: int) -> int:
        return self._send(pid, signum)

    @syscall
    def tkill(self: Kernel, tid: int, signum: int) -> int:
        if tid <= 0:
            raise SyscallError("EINVAL")
        if self.proc.has_thread(tid):
            return self._send(os.getpid(), signum)
        raise SyscallError("ESRCH")

    @syscall
    def tgkill(self: Kernel, tgid: int, tid: int, signum: int) -> int:
        if tgid <= 0 or tid <= 0:
            raise SyscallError("EINVAL")
        if tgid == os.getpid() and self.proc.has_thread(tid):
            return self._send(tgid, signum)
        raise SyscallError("ESRCH")
