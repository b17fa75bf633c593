"""Guest signals: dispositions, pending queues, host forwarding, delivery.

How a signal reaches a guest handler:

1. It is *raised*: by the guest (kill/tgkill/raise to itself), by a CPU fault
   (SIGSEGV, SIGILL, ... with si_addr), or by the host: every forwardable host
   signal is blocked in all host threads and taken by one watcher thread with
   sigwaitinfo, which queues it with its real siginfo.
2. It waits in a pending queue (per process or per thread; standard signals
   coalesce, real-time signals queue).
3. It is *delivered* at a safe point only: when emu_start has returned (the
   CPU stopped at an instruction boundary), never in the middle of a syscall
   handler.  The watcher stops the CPU with emu_stop when it queues a signal
   (measured safe with no memory hooks installed, see docs/signals.md) and
   kicks a blocking host call with a reserved host signal so it ends with
   EINTR.
4. Delivery applies the disposition: ignore, default action (terminate, core,
   stop, continue) or a guest handler, for which the target builds its frame
   (pyuser.targets.<arch>_signal) and sigreturn restores it.
"""

from __future__ import annotations

import _thread
import collections
import os
import signal as host_signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pyuser.host_signals import KICK_SIGNAL, Kicker, SigWaiter, ignore_kick, kick, kill_process_with
from pyuser.targets.siginfo import SI_KERNEL, SI_QUEUE, SI_TIMER, SI_TKILL, SI_USER, SigInfo

if TYPE_CHECKING:
    from pyuser.targets.base import Target


class Thread(Protocol):
    """What signal state uses of a guest thread (pyuser.threads.Thread, which
    holds this module's ThreadSignals)."""

    tid: int
    signals: ThreadSignals
    wakeup: threading.Event
    host_thread: int
    in_host_call: bool
    kick_seq: int
    kick_ack: int


class Process(Protocol):
    """What signal state uses of its process (pyuser.process.Process, which
    owns it): the target, the threads, the current one."""

    target: Target
    threads: dict[int, Thread]
    current: Thread
    async_stops_wanted: bool

__all__ = ["SI_KERNEL", "SI_QUEUE", "SI_TIMER", "SI_TKILL", "SI_USER", "SigInfo",
           "kill_process_with"]

SIG_DFL = 0
SIG_IGN = 1


# seconds a forwarded signal may wait for a safe point before the fallback
FALLBACK_DELAY = 0.3

CORE_NAMES = ("SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGSEGV",
              "SIGXCPU", "SIGXFSZ", "SIGSYS")
IGNORE_NAMES = ("SIGCHLD", "SIGURG", "SIGWINCH", "SIGCONT")
STOP_NAMES = ("SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU")
# Signals the host would raise for the emulator's own faults: never blocked.
_SYNCHRONOUS_HOST = {host_signal.SIGSEGV, host_signal.SIGBUS, host_signal.SIGILL,
                     host_signal.SIGFPE, host_signal.SIGKILL, host_signal.SIGSTOP,
                     host_signal.SIGABRT, KICK_SIGNAL, 32, 33}
# Signals the host kernel sends to the thread whose system call caused them
# (a write to a broken pipe, a file over RLIMIT_FSIZE).  Blocked, they would
# stay pending on the emulating thread where the watcher cannot take them, so
# they stay unblocked and their host disposition follows the guest's.
_THREAD_DIRECTED = {host_signal.SIGPIPE, host_signal.SIGXFSZ}


class Action:
    """A signal's disposition (struct sigaction)."""

    def __init__(self, handler: int = SIG_DFL, flags: int = 0, restorer: int = 0,
                 mask: int = 0) -> None:
        self.handler = handler
        self.flags = flags
        self.restorer = restorer
        self.mask = mask

    def __repr__(self) -> str:
        return (f"Action({self.handler:#x}, flags={self.flags:#x}, restorer={self.restorer:#x}, "
                f"mask={self.mask:#x})")


class PendingSet:
    """Pending signals: standard ones coalesce, real-time ones queue in order."""

    def __init__(self) -> None:
        self.queues: dict[int, collections.deque[SigInfo]] = {}

    def add(self, info: SigInfo, realtime: bool) -> None:
        queue = self.queues.setdefault(info.signo, collections.deque())
        if queue and not realtime:
            return
        queue.append(info)

    def take(self, signo: int) -> SigInfo | None:
        queue = self.queues.get(signo)
        if not queue:
            return None
        info = queue.popleft()
        if not queue:
            del self.queues[signo]
        return info

    def discard(self, signo: int) -> None:
        self.queues.pop(signo, None)

    def bits(self) -> int:
        mask = 0
        for signo in self.queues:
            mask |= 1 << (signo - 1)
        return mask

    def __bool__(self) -> bool:
        return bool(self.queues)


class ThreadSignals:
    """What Linux keeps per thread: the blocked mask, pending, the alternate stack."""

    def __init__(self, mask: int = 0) -> None:
        self.mask = mask
        self.pending = PendingSet()
        self.altstack_sp = 0
        self.altstack_size = 0
        self.altstack_flags = 2  # SS_DISABLE


class SignalState:
    """Per-process signal state and the host side of forwarding."""

    def __init__(self, process: Process) -> None:
        self.process = process
        target = process.target
        c = target.abi.CONST
        # valid signal numbers are 1.._NSIG (the kernel's valid_signal): 64,
        # and 128 on MIPS
        self.max_signal = c.get("_NSIG", 64)
        self.sigrtmin = c.get("SIGRTMIN", 32)
        self.actions: dict[int, Action] = {}
        self.shared = PendingSet()
        self.core = {c[n] for n in CORE_NAMES if n in c}
        self.ignored_by_default = {c[n] for n in (*IGNORE_NAMES, *target.ignored_by_default)
                                   if n in c}
        self.stopping = {c[n] for n in STOP_NAMES if n in c}
        self.sigkill, self.sigstop = c["SIGKILL"], c["SIGSTOP"]
        self.sa_nodefer = c["SA_NODEFER"]
        self.sa_resethand = c["SA_RESETHAND"]
        self.sa_restart = c["SA_RESTART"]
        self.sa_onstack = c["SA_ONSTACK"]
        self.sa_siginfo = c["SA_SIGINFO"]
        self.sa_restorer = c.get("SA_RESTORER", 0x04000000)
        self.unblockable = (1 << (self.sigkill - 1)) | (1 << (self.sigstop - 1))
        # set by any thread when something may now be deliverable; read on the
        # syscall path, so it is a plain attribute
        self.check = False
        # signals from the host not yet made pending: (siginfo, guest tid or 0)
        self._incoming: collections.deque[tuple[SigInfo, int]] = collections.deque()
        # POSIX timers that signal one thread (SIGEV_THREAD_ID): host timer id ->
        # guest tid.  The host timer signals the watcher thread instead, which
        # can take the signal (a guest thread's host thread blocks it).
        self.timer_threads: dict[int, int] = {}
        # signalfd descriptors: host eventfd -> signals it reports; the
        # eventfd is made readable while one of them is pending
        self.signalfds: dict[int, int] = {}
        self.relay: HostRelay | None = None
        # called with each signal raised, before its disposition is looked at
        # (FreeBSD's EVFILT_SIGNAL counts ignored and blocked signals too)
        self.arrival_watchers: list[Callable[[int], None]] = []
        self.delivered = 0  # handlers run so far (the watcher's fallback watches it)
        # told by the CPU: bring it to a safe point soon (from any host thread),
        # and the unsafe way once, when it cannot stop at a block boundary yet
        self.stop_cpu: Callable[[], None] = lambda: None
        self.stop_cpu_unsafe: Callable[[], None] = lambda: None
        self._kicker: Kicker | None = None

    # ------------------------------------------------------------ dispositions
    def action(self, signo: int) -> Action:
        return self.actions.get(signo) or Action()

    def set_action(self, signo: int, action: Action) -> None:
        self.actions[signo] = action
        host = self.process.target.signal_to_host.get(signo)
        if action.handler == SIG_IGN or (action.handler == SIG_DFL
                                          and signo in self.ignored_by_default):
            self.shared.discard(signo)
            for thread in self.process.threads.values():
                thread.signals.pending.discard(signo)
        if host is not None and self.relay is not None:
            self.relay.mirror(host, action.handler)


    def is_ignored(self, signo: int) -> bool:
        action = self.action(signo)
        if action.handler == SIG_IGN:
            return True
        return action.handler == SIG_DFL and signo in self.ignored_by_default

    # ------------------------------------------------------------ raising
    def raise_signal(self, info: SigInfo, thread: Thread | None = None) -> None:
        """Make a signal pending (for one thread, or the process) on the emulating thread."""
        signo = info.signo
        for watcher in self.arrival_watchers:
            watcher(signo)
        if self.is_ignored(signo) and not info.fault:
            return
        realtime = signo >= self.sigrtmin
        if thread is not None:
            thread.signals.pending.add(info, realtime)
        else:
            self.shared.add(info, realtime)
        self.check = True
        self.wake(thread)
        for fd, mask in self.signalfds.items():
            if mask & (1 << (signo - 1)):
                os.eventfd_write(fd, 1)

    def wake(self, thread: Thread | None) -> None:
        """End the wait of `thread` (of every thread: None), in the emulator
        (its wakeup event) or in a blocking host call (the kick signal).

        A kick can land just before the thread enters its host call, and be
        lost.  So every kick is counted (kick_seq) and the thread answers
        them (kick_ack) when it checks for a deliverable signal before each
        host call; a thread in a host call with an unanswered kick is kicked
        again (Kicker) until it answers."""
        threads = [thread] if thread is not None else list(self.process.threads.values())
        me = threading.get_ident()
        for t in threads:
            t.wakeup.set()
            t.kick_seq += 1
            # the kick's handler exists only when host signals are forwarded
            if t.in_host_call and self.relay is not None and t.host_thread != me:
                kick(t)
                if self._kicker is None:
                    self._kicker = Kicker()
                self._kicker.watch(t)

    def post_from_host(self, info: SigInfo) -> None:
        """From the watcher thread: apply a default action now, or queue and
        bring the CPU to a safe point for the guest's handler."""
        signo = info.signo
        action = self.action(signo)
        if action.handler == SIG_IGN:
            return
        if action.handler == SIG_DFL and any(
                not t.signals.mask & (1 << (signo - 1)) for t in self.process.threads.values()):
            if signo in self.ignored_by_default:
                return
            if signo in self.stopping:
                os.kill(os.getpid(), host_signal.SIGSTOP)
                return
            # terminate, as the kernel would, whatever the CPU is doing
            kill_process_with(self.process.target.signal_to_host.get(signo, signo), signo,
                              signo in self.core)
        tid = self.timer_threads.get(info.timerid, 0) if info.code == SI_TIMER else 0
        self.post_from_thread(info, tid)

    def post_from_thread(self, info: SigInfo, tid: int = 0) -> None:
        """From a thread other than the guest's (the watcher, the gdbstub's
        reader on Ctrl-C): queue `info` for the process (for thread `tid`
        when not 0) and bring the CPU to a safe point; a blocking host call
        ends with EINTR if it may."""
        self._incoming.append((info, tid))
        self.check = True
        self.wake(self.process.threads.get(tid) if tid else None)
        self.stop_cpu()
        if not self.process.async_stops_wanted:
            self._fallback_later()

    def _fallback_later(self) -> None:
        """No AsyncStop yet (no thread, no timer): a guest that computes without
        syscalls would not see the signal.  If nothing was delivered within
        FALLBACK_DELAY, stop it the unsafe way once (CpuLoop.unsafe_interrupt
        repairs the one replay that matters) and install AsyncStop."""
        before = self.delivered

        def check() -> None:
            if self.delivered == before and not self.process.async_stops_wanted:
                self.stop_cpu_unsafe()

        timer = threading.Timer(FALLBACK_DELAY, check)
        timer.daemon = True
        timer.start()

    def clear_pending(self) -> None:
        """The child of a fork: nothing inherited is pending."""
        self._incoming.clear()
        self.shared.queues.clear()
        self.timer_threads.clear()
        self.check = False

    def take_over_at_exec(self, old: SignalState, old_thread: ThreadSignals,
                          new_thread: ThreadSignals, open_fds: set[int]) -> None:
        """An in-place exec: this new process's state from the old one's, as
        the kernel's exec keeps it (fs/exec.c begin_new_exec,
        kernel/signal.c flush_signal_handlers): ignored signals stay ignored,
        handled ones go back to the default (on the host too, where a handler
        was mirrored); the blocked mask and everything pending stay; the
        alternate stack does not.  The host relay now reports here, and the
        signalfds still open keep reporting."""
        relay = old.relay
        for signo, action in old.actions.items():
            if action.handler == SIG_IGN:
                self.actions[signo] = Action(SIG_IGN)
            elif action.handler != SIG_DFL and relay is not None:
                host = self.process.target.signal_to_host.get(signo)
                if host is not None:
                    relay.mirror(host, SIG_DFL)
        new_thread.mask = old_thread.mask
        new_thread.pending = old_thread.pending
        self.shared = old.shared
        self.signalfds = {fd: mask for fd, mask in old.signalfds.items() if fd in open_fds}
        if relay is not None:
            relay.state = self
            self.relay = relay
        old.relay = None
        self._incoming.extend(old._incoming)
        old._incoming.clear()
        self.check = True

    def drain_incoming(self) -> None:
        while self._incoming:
            info, tid = self._incoming.popleft()
            thread = self.process.threads.get(tid) if tid else None
            if tid and thread is None:
                continue  # the thread has exited
            self.raise_signal(info, thread)

    # ------------------------------------------------------------ choosing
    def next_deliverable(self, thread: Thread) -> SigInfo | None:
        """Take the next pending signal the thread does not block (lowest first)."""
        self.drain_incoming()
        blocked = thread.signals.mask & ~self.unblockable
        candidates = [s for s in thread.signals.pending.queues if not blocked & (1 << (s - 1))]
        candidates += [s for s in self.shared.queues if not blocked & (1 << (s - 1))]
        if not candidates:
            return None
        signo = min(candidates)
        info = thread.signals.pending.take(signo)
        return info if info is not None else self.shared.take(signo)

    def has_deliverable(self, thread: Thread) -> bool:
        self.drain_incoming()
        blocked = thread.signals.mask & ~self.unblockable
        pending = thread.signals.pending.bits() | self.shared.bits()
        return bool(pending & ~blocked)

    def pending_bits(self, thread: Thread) -> int:
        self.drain_incoming()
        return thread.signals.pending.bits() | self.shared.bits()


class HostRelay:
    """Takes forwardable host signals in a watcher thread and queues them for the guest.

    All forwardable signals are blocked in every host thread (the mask is set
    before the watcher starts, so it inherits it), and only the watcher waits
    for them; a guest SIG_IGN is mirrored on the host so it also holds across
    execve, as Linux keeps ignored dispositions.
    """

    def __init__(self, state: SignalState) -> None:
        self.state = state
        self.target = state.process.target
        self.forwarded = {s for s in range(1, host_signal.NSIG)
                          if s not in _SYNCHRONOUS_HOST | _THREAD_DIRECTED
                          and s in self.target.signal_from_host}
        self._thread = 0  # the watcher's thread id (_thread's ident)
        # its host (native) id, set by the watcher itself once it runs
        self._native_id = 0
        self._native_id_known = threading.Event()

    def start(self) -> None:
        host_signal.signal(KICK_SIGNAL, ignore_kick)
        # Signals the emulator inherited as ignored are ignored for the guest too.
        for host in list(self.forwarded):
            target = self.target.signal_from_host[host]
            try:
                if host_signal.getsignal(host) == host_signal.SIG_IGN and \
                        host not in (host_signal.SIGPIPE,):
                    self.state.actions[target] = Action(SIG_IGN)
            except ValueError:
                self.forwarded.discard(host)
        # Python ignores SIGPIPE and catches SIGINT for itself; the guest
        # starts with the defaults, as under the kernel.
        for host in (host_signal.SIGPIPE, host_signal.SIGINT):
            if host_signal.getsignal(host) != host_signal.SIG_IGN or host == host_signal.SIGPIPE:
                host_signal.signal(host, host_signal.SIG_DFL)
        inherited = host_signal.pthread_sigmask(host_signal.SIG_BLOCK, self.forwarded)
        # the mask the emulator was started with is the guest's (execve keeps it)
        mask = 0
        for host in inherited:
            target = self.target.signal_from_host.get(int(host))
            if target is not None:
                mask |= 1 << (target - 1)
        self.state.process.current.signals.mask = mask & ~self.state.unblockable
        self._start_watcher()

    @property
    def native_id(self) -> int:
        """The watcher thread's host thread id (a target for SIGEV_THREAD_ID)."""
        # a bare _thread's ident is not the host tid: the watcher tells it
        self._native_id_known.wait()
        return self._native_id

    def restart_after_fork(self) -> None:
        """The child of a fork has the mask but not the watcher thread."""
        self._start_watcher()

    def _start_watcher(self) -> None:
        # A bare host thread: threading.Thread.start would wait until the new
        # thread has run, a scheduling round trip that cost a forked child
        # 3-20 ms on a busy 2-core machine before it could go on (a child that
        # only execs or exits never needs the watcher).  Nothing is lost in
        # between: the forwarded signals stay pending, blocked in every thread,
        # until the watcher takes them.
        self._native_id_known.clear()  # a forked child's watcher is a new thread
        self._thread = _thread.start_new_thread(self._watch, ())

    def mirror(self, host: int, handler: int) -> None:
        """Give the host signal the disposition that has the guest's effect."""
        if host in _SYNCHRONOUS_HOST:
            return
        try:
            if handler == SIG_IGN:
                host_signal.signal(host, host_signal.SIG_IGN)
            elif host in _THREAD_DIRECTED and handler != SIG_DFL:
                host_signal.signal(host, self._on_thread_directed)
            elif host in _THREAD_DIRECTED or host_signal.getsignal(host) == host_signal.SIG_IGN:
                host_signal.signal(host, host_signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # not a signal the host lets us change (e.g. reserved by libc)

    def _on_thread_directed(self, host: int, _frame: object) -> None:
        """Python runs this on the emulating thread, between bytecodes: only queue."""
        target = self.target.signal_from_host.get(host)
        if target is not None:
            self.state._incoming.append((SigInfo(target, code=SI_USER, pid=os.getpid(),
                                                 uid=os.getuid()), 0))
            self.state.check = True

    def host_mask_for_exec(self, guest_mask: int) -> set[int]:
        """The host mask a directly exec'd host program should start with."""
        return {self.target.signal_to_host[s] for s in range(1, 65)
                if guest_mask & (1 << (s - 1)) and s in self.target.signal_to_host}


    def _watch(self) -> None:
        self._native_id = threading.get_native_id()
        self._native_id_known.set()
        waiter = SigWaiter(self.forwarded)
        while True:
            host_info = waiter.wait()
            if host_info is None:
                continue
            signo, code, pid, uid, status, value, addr = host_info
            target = self.target.signal_from_host.get(signo)
            if target is None:
                continue
            if code == SI_TIMER:  # the union holds timer id and overrun there
                info = SigInfo(target, code=code, timerid=pid, overrun=uid, value=value)
            else:
                info = SigInfo(target, code=code, pid=pid, uid=uid, status=status, value=value,
                               addr=addr)
            self.state.post_from_host(info)
