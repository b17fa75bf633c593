"""Guest threads: one host thread each, one shared CPU, one running at a time.

Why one at a time: this Unicorn build compiles guest atomics (ldrex/strex,
barriers, the kuser cmpxchg) to plain loads and stores, so two CPUs running
in parallel on shared memory would lose updates.  A guest thread therefore
runs guest code only while it holds the *CPU token* (:class:`Scheduler`);
it hands the token on when it blocks in the host (a read on a pipe, a futex
wait, a sleep), when it exits, and when the preemption ticker stops it after
a time slice because another thread is waiting.

Why one engine: since only the token holder runs, the process has a single
Unicorn engine (pyuser.cpu.CpuLoop) and the thread that takes the token
loads its registers into it (a context restore, about a microsecond; a
fresh engine costs ~8 ms and ~4.3 MB).  Translated code, the TLB and the
hooks serve every thread.  The engine must be idle when the token changes
hands, so a syscall that may block is served with the engine stopped: the
token is never handed on from inside emu_start (:class:`EngineBusy`).

What a single-threaded program pays: nothing on its hot paths.  The token
is only taken and handed on once a second thread exists, and the ticker
thread only starts then.
"""

from __future__ import annotations

import _thread
import collections
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from pyuser.errors import ProcessExit
from pyuser.signals import ThreadSignals


class SchedulingProcess(Protocol):
    """What the scheduler asks of its process (pyuser.process, which owns it)."""

    current: Thread
    exit_status: int | None


class Thread:
    """A guest thread: its id and the per-thread kernel state."""

    def __init__(self, tid: int, *, name: bytes = b"", signals: ThreadSignals | None = None,
                 context: object | None = None, host_thread: int = 0) -> None:
        self.tid = tid
        self.clear_child_tid = 0
        self.robust_list = 0
        self.name = name
        self.signals = ThreadSignals() if signals is None else signals
        # its registers while another thread has the engine (a Unicorn context;
        # pyuser.threads explains the sharing)
        self.context = context
        # (syscall number, first argument, ...) of a syscall that ended with EINTR
        self.interrupted: tuple[int, ...] | None = None
        # the mask sigsuspend/ppoll replaced, restored by the handler's sigreturn
        self.restore_mask_after_delivery: int | None = None
        # set to end a wait inside the emulator (futex, sigsuspend, sleep)
        self.wakeup = Wakeup()
        self.host_thread = host_thread  # threading.get_ident() of the host thread running it
        self.in_host_call = False  # blocked in a host call a kick may interrupt
        # kicks sent to it, and how many it has answered (it checks for a
        # deliverable signal before each host call); see SignalState.wake
        self.kick_seq = 0
        self.kick_ack = 0

    def __repr__(self) -> str:
        return f"Thread({self.tid}, name={self.name!r})"


# seconds a guest thread may run while another waits (PYUSER_TIME_SLICE
# overrides it, for tests that want many preemptions)
TIME_SLICE = float(os.environ.get("PYUSER_TIME_SLICE", "0.01"))


class EngineBusy(Exception):  # noqa: N818 - control flow, not an error
    """A syscall handler would hand the CPU token on while the engine runs.

    Raised from inside emu_start (a syscall hook): the CPU loop stops the
    engine at the syscall and serves it again from outside emu_start, where
    the token may change hands.  Everything a handler did before its
    blocking point is done again then, as after a restarted syscall, so a
    handler with side effects before it calls Scheduler.need_stopped_engine
    first (vfork, a futex that waits).

    `learn`: the syscall is then always served outside the engine (a handler
    that found out at its blocking point); a handler that asks first, and
    only when it will wait, leaves its other calls inside (futex wakes)."""

    def __init__(self, learn: bool = False) -> None:
        super().__init__()
        self.learn = learn


class Scheduler:
    """The CPU token, handed on in FIFO order (fair, so no thread starves)."""

    def __init__(self, process: SchedulingProcess) -> None:
        self.process = process
        self._lock = threading.Lock()  # guards owner and _queue
        self.owner: Thread | None = None
        # the threads waiting for the token, each with the lock it sleeps on
        # (held; the thread handing the token on releases it): a direct
        # hand-off in a few C calls, where a Condition's wait and notify_all
        # made ~15 Python calls
        self._queue: collections.deque[tuple[Thread, _thread.LockType]] = collections.deque()
        self.active = False  # becomes True with the second guest thread
        self._ticker: threading.Thread | None = None
        # maintained by the CPU loop: True while guest code runs (inside emu_start)
        self.in_engine = False
        # told by the CPU: load a thread's registers into the engine (on taking
        # the token) and stop the running thread at its next block boundary
        self.switch_to: Callable[[Thread], None] = lambda _thread: None
        self.preempt: Callable[[], None] = lambda: None

    # ------------------------------------------------------------ the token
    def acquire(self, thread: Thread) -> None:
        with self._lock:
            if self.owner is None and not self._queue:
                self.owner = thread
                baton = None
            else:
                baton = _thread.allocate_lock()
                baton.acquire()
                self._queue.append((thread, baton))
        if baton is not None:
            baton.acquire()  # until release() makes this thread the owner
        self.process.current = thread
        self.switch_to(thread)

    def release(self, thread: Thread) -> None:
        with self._lock:
            if self.owner is thread:
                if self._queue:
                    self.owner, baton = self._queue.popleft()
                    baton.release()
                else:
                    self.owner = None

    def contended(self) -> bool:
        return bool(self._queue)

    def need_stopped_engine(self, *, learn: bool = False) -> None:
        """Raise EngineBusy if the token could not be handed on here."""
        if self.active and self.in_engine:
            raise EngineBusy(learn)

    def yield_cpu(self, thread: Thread) -> None:
        """Let a waiting thread run first (sched_yield, the end of a time slice)."""
        if self._queue:
            self.need_stopped_engine()
            self.release(thread)
            self.acquire(thread)

    def released(self, thread: Thread) -> _Released:
        """Hand the token on around a host call that may block (a context
        manager; a class of its own rather than a generator: it runs at
        every wait)."""
        return _Released(self, thread)

    def _take_back(self, thread: Thread) -> None:
        self.acquire(thread)
        if self.process.exit_status is not None:  # embedded: ended meanwhile
            raise ProcessExit(self.process.exit_status)

    # ------------------------------------------------------------ preemption
    def activate(self) -> None:
        """The second guest thread exists: start handing the token around."""
        if self.active:
            return
        self.owner = self.process.current  # the thread creating the second one runs
        self.active = True
        self._ticker = threading.Thread(target=self._tick, name="pyuser-ticker", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while self.process.exit_status is None:
            time.sleep(TIME_SLICE)
            if self.owner is not None and self._queue:
                self.preempt()


class _Released:
    """Scheduler.released: the token handed on on entry, taken back on exit."""

    __slots__ = ("_scheduler", "_thread", "_handed_on")

    def __init__(self, scheduler: Scheduler, thread: Thread) -> None:
        self._scheduler = scheduler
        self._thread = thread
        self._handed_on = False

    def __enter__(self) -> None:
        scheduler = self._scheduler
        if scheduler.active:
            scheduler.need_stopped_engine(learn=True)
            scheduler.release(self._thread)
            self._handed_on = True

    def __exit__(self, *_exc: object) -> None:
        if self._handed_on:
            self._scheduler._take_back(self._thread)


class Wakeup:
    """A guest thread's wake-up flag: set by any thread (a futex wake, a
    signal), cleared and waited on by its own thread only.

    threading.Event, made of a Condition, costs ~25 Python calls per
    set-and-wait; this is one lock, held while the flag is clear, released
    by set() (a lock may be released by any thread) and acquired and given
    back by wait().  Releasing a lock already released raises RuntimeError:
    set() on a set flag, or a set() between wait()'s acquire and release,
    leaves it set, as it should.
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()

    def set(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:
            pass  # already set

    def clear(self) -> None:
        self._lock.acquire(False)

    def is_set(self) -> bool:
        return not self._lock.locked()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._lock.acquire(True, -1 if timeout is None else max(timeout, 0)):
            return False
        self.set()  # it stays set until clear()
        return True


class Waiter:
    """A thread waiting in a futex queue."""

    __slots__ = ("thread", "address", "bitset", "woken", "pi")

    def __init__(self, thread: Thread, address: int, bitset: int, pi: bool = False) -> None:
        self.thread = thread
        self.address = address
        self.bitset = bitset
        self.woken = False
        self.pi = pi


class FutexTable:
    """Futex wait queues by guest address; used only with the CPU token held."""

    def __init__(self) -> None:
        self.queues: dict[int, list[Waiter]] = {}

    def enqueue(self, waiter: Waiter) -> None:
        self.queues.setdefault(waiter.address, []).append(waiter)

    def dequeue(self, waiter: Waiter) -> None:
        queue = self.queues.get(waiter.address)
        if queue and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self.queues[waiter.address]

    def wake(self, address: int, count: int, bitset: int = 0xFFFFFFFF, *,
             pi: bool = False) -> int:
        """Wake up to `count` waiters whose bitset matches, oldest first."""
        queue = self.queues.get(address)
        woken = 0
        if not queue:
            return 0
        for waiter in list(queue):
            if woken >= count:
                break
            if waiter.bitset & bitset and waiter.pi == pi:
                queue.remove(waiter)
                waiter.woken = True
                waiter.thread.wakeup.set()
                woken += 1
        if not queue:
            del self.queues[address]
        return woken

    def requeue(self, address: int, target: int, count: int) -> int:
        """Move up to `count` waiters from `address` to the queue of `target`."""
        queue = self.queues.get(address)
        moved = 0
        while queue and moved < count:
            waiter = queue.pop(0)
            waiter.address = target
            self.enqueue(waiter)
            moved += 1
        if queue is not None and not queue:
            self.queues.pop(address, None)
        return moved

    def waiters(self, address: int, *, pi: bool = False) -> list[Waiter]:
        return [w for w in self.queues.get(address, ()) if w.pi == pi]
