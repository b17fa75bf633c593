"""The host side of guest signals: kicking a thread out of a host call, and dying.

pyuser.signals keeps the guest's signal state; these are the host
mechanisms it uses: the reserved kick signal that interrupts a blocking host
call (and the thread that kicks again until the call answers), sigwaitinfo
with the fields Python's wrapper drops, and ending the emulator with a host
signal the way the guest dies.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal as host_signal
import sys
import threading
from typing import Protocol

# The host signal pyuser keeps for itself: it interrupts a blocking host call
# of the emulating thread when a guest signal arrives.  (Guest signal 64 is
# still usable inside the guest; it is not forwarded from the host.)
KICK_SIGNAL = host_signal.SIGRTMAX
# seconds between kicks of a thread that has not answered one yet (doubling)
REKICK_DELAY = 0.002
REKICK_DELAY_MAX = 0.1


class Thread(Protocol):
    """What a kick needs of a guest thread (pyuser.threads.Thread)."""

    host_thread: int
    in_host_call: bool
    kick_seq: int
    kick_ack: int


def ignore_kick(_signum: int, _frame: object) -> None:
    """The kick only has to interrupt a system call; nothing to do here."""


def kick(thread: Thread) -> None:
    try:
        host_signal.pthread_kill(thread.host_thread, KICK_SIGNAL)
    except (ProcessLookupError, OSError):
        pass


class Kicker:
    """Kicks again the threads that have not answered a kick (see pyuser.signals.SignalState.wake).

    One daemon thread, started at the first kick; it sleeps while no kick is
    unanswered, then re-kicks every REKICK_DELAY, doubling up to
    REKICK_DELAY_MAX (a thread kept in a host call that retries on EINTR by
    itself is not kicked at a high rate forever)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watched: list[Thread] = []
        threading.Thread(target=self._run, name="pyuser-kicker", daemon=True).start()

    def watch(self, thread: Thread) -> None:
        with self._cond:
            if thread not in self._watched:
                self._watched.append(thread)
            self._cond.notify()

    def _run(self) -> None:
        delay = REKICK_DELAY
        while True:
            with self._cond:
                while not self._watched:
                    self._cond.wait()
                    delay = REKICK_DELAY
                self._cond.wait(delay)
                self._watched = [t for t in self._watched
                                 if t.in_host_call and t.kick_ack != t.kick_seq]
                pending = list(self._watched)
            for t in pending:
                kick(t)
            delay = min(delay * 2, REKICK_DELAY_MAX)


def kill_process_with(host_signal_number: int, target_signal: int, core: bool) -> None:
    """Die of a host signal (from any host thread), with qemu's message for core signals."""
    if core:
        try:
            name = host_signal.strsignal(host_signal_number) or f"signal {host_signal_number}"
        except ValueError:
            name = f"signal {host_signal_number}"
        sys.stderr.write(f"pyuser: uncaught target signal {target_signal} ({name})"
                         " - core dumped\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # the guest's core is not ours to write: no core file of the emulator
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        host_signal.signal(host_signal_number, host_signal.SIG_DFL)
    except (ValueError, OSError):
        pass  # not the main thread, or SIGKILL/SIGSTOP: already the default
    host_signal.pthread_sigmask(host_signal.SIG_UNBLOCK, {host_signal_number})
    host_signal.pthread_kill(threading.get_ident(), host_signal_number)
    os._exit(128 + target_signal)


class SigWaiter:
    """sigwaitinfo through libc, for the fields Python's wrapper drops (si_value)."""

    def __init__(self, signals: set[int]) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._set = ctypes.create_string_buffer(128)
        self._libc.sigemptyset(self._set)
        for s in signals:
            self._libc.sigaddset(self._set, s)
        self._info = ctypes.create_string_buffer(128)

    def wait(self) -> tuple[int, int, int, int, int, int, int] | None:
        result = self._libc.sigwaitinfo(self._set, self._info)
        if result < 0:
            return None
        raw = self._info.raw
        # x86_64 siginfo_t: signo, errno, code (ints), padding, then the union
        # at offset 16: pid, uid, then status (SIGCHLD) or value (sigqueue/timer)
        signo, _errno, code = (int.from_bytes(raw[i:i + 4], "little", signed=True)
                               for i in (0, 4, 8))
        pid = int.from_bytes(raw[16:20], "little", signed=True)
        uid = int.from_bytes(raw[20:24], "little")
        status = int.from_bytes(raw[24:28], "little", signed=True)
        value = int.from_bytes(raw[24:32], "little")
        addr = int.from_bytes(raw[16:24], "little")
        return signo, code, pid, uid, status, value, addr


