"""A guest process: its memory, CPU, threads, signal state and kernel view.

Thread (pyuser.threads) is re-exported here, where it used to live.

No global state: everything a guest process has hangs off one Process, so a
Python program may run several (one after the other, or in forked children).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pyuser.limits import fit_address_space
from pyuser.log import Log
from pyuser.memory import GuestMemory
from pyuser.signals import HostRelay, SignalState
from pyuser.targets.base import Target
from pyuser.threads import FutexTable, Scheduler, Thread
from pyuser.vfs import GuestFileSystem

if TYPE_CHECKING:
    from unicorn import Uc

DEFAULT_STACK_SIZE = 8 * 1024 * 1024


class Options:
    """What the command line (or the Python API) asks of a run."""

    def __init__(self, sysroot: str | None = None, cpu: str = "",
                 stack_size: int = DEFAULT_STACK_SIZE, seed: int | None = None,
                 log_items: set[str] | None = None, log_file: str | None = None,
                 argv0: str | None = None) -> None:
        self.sysroot = sysroot
        self.cpu = cpu
        self.stack_size = stack_size
        self.seed = seed
        self.log_items: set[str] = set() if log_items is None else log_items
        self.log_file = log_file
        self.argv0 = argv0

    def __repr__(self) -> str:
        return f"Options({vars(self)})"


class CpuControl(Protocol):
    """What a process asks of its CPU loop (pyuser.cpu.CpuLoop, a layer above,
    made by whoever builds the process: pyuser.launch.new_process)."""

    uc: Uc
    running: bool

    def run(self, thread: Thread) -> int: ...
    def size_tlb_for(self, pages: int) -> None: ...


class KernelControl(Protocol):
    """What a process asks of its kernel (pyuser.syscalls.kernel, above)."""

    def futex_wake_address(self, address: int, count: int) -> int: ...
    def release_robust_list(self, thread: Thread) -> None: ...


class Process:
    """A guest process; pyuser.launch.new_process hands it its kernel and
    its CPU loop, which sit above it."""

    kernel: KernelControl
    cpu: CpuControl

    def __init__(self, target: Target, options: Options, log: Log | None = None) -> None:
        self.target = target
        self.options = options
        if not options.cpu:
            options.cpu = target.default_cpu
        self.log = log or Log(options.log_items, options.log_file)
        self.stack_size = options.stack_size
        self._random = None
        if options.seed is not None:  # -seed: reproducible AT_RANDOM bytes
            import random  # only here: not needed by a plain run

            self._random = random.Random(options.seed)

        fit_address_space(target)  # under a low ulimit -v, where the target allows
        self.memory = GuestMemory(target.address_space_size)
        self.memory.mmap_top = target.mmap_top
        # the one engine of the process, shared by its threads (pyuser.threads)
        self.engine = target.create_cpu(options.cpu)
        self.page_tables = target.create_page_tables(self.engine, self.memory)
        self.memory.mmu = self.page_tables
        self.memory.invalidate_code = self._invalidate_code
        self.memory.accessible_grew = self._accessible_grew
        target.prepare_process(self.engine, self.memory, self.page_tables)

        self.signals = SignalState(self)
        self.vfs = GuestFileSystem(self, options.sysroot)
        main = Thread(tid=os.getpid(), name=b"", host_thread=threading.get_ident())
        self.threads: dict[int, Thread] = {main.tid: main}
        self.current = main  # the thread holding the CPU token
        self.scheduler = Scheduler(self)
        self.main_host_thread = threading.get_ident()
        self.futexes = FutexTable()
        # once True, every CPU installs its AsyncStop hook at its next run
        self.async_stops_wanted = False
        self.brk_start = self.brk = 0
        self.timers: dict[int, int] = {}  # guest POSIX timer id -> host timer
        self.signalfd_blocking: dict[int, bool] = {}  # signalfd -> reads may block
        self.exe_host_path = ""
        self.exe_guest_path = ""
        self.auxv = b""
        self.cmdline = (0, 0)
        self.layout = None  # pyuser.loader.ImageLayout, for /proc/self/stat
        self.is_fork_child = False  # made by a guest fork (pyuser.syscalls.fork)
        # pyuser.Emulator runs the guest inside a host process that must live on:
        # an exit or a death on another guest thread ends run() instead
        self.embedded = False
        self.exit_status: int | None = None
        self._finished = threading.Event()
        # called instead of ending the host process when a guest thread dies of
        # a signal (target signal, core); it does not return (pyuser.Emulator)
        self.on_death: Callable[[int, bool], None] | None = None
        self.proc_files = {
            b"maps": self.render_maps,
            b"auxv": lambda: self.auxv,
            b"cmdline": self.render_cmdline,
        }

        # pyuser.instrument.hub.Instruments, made only for -g, -plugin and
        # pyuser.Emulator's code hooks: told of engines, threads, signals, exit
        self.instruments = None

    @property
    def uc(self) -> Uc:
        """The engine, holding the registers of the thread that has the CPU."""
        return self.engine

    # ------------------------------------------------------------ helpers for handlers
    def _invalidate_code(self, start: int, end: int) -> None:
        self.engine.ctl_remove_cache(start, end)

    def _accessible_grew(self, start: int, end: int) -> None:
        cpu = getattr(self, "cpu", None)  # the loader maps before the CPU exists
        if cpu is not None:
            cpu.size_tlb_for(self.memory.accessible_pages())

    def random_bytes(self, n: int) -> bytes:
        if self._random is not None:
            return bytes(self._random.getrandbits(8) for _ in range(n))
        return os.urandom(n)

    def current_thread(self) -> Thread:
        return self.current

    def current_thread_name(self) -> bytes:
        """PR_GET_NAME: from the command line the host thread's (a write to
        /proc/self/task/<tid>/comm, as pthread_setname_np does, changes it)."""
        if self.embedded:
            return self.current.name
        from pyuser.syscalls import hostcalls

        return hostcalls.thread_name()

    def rename_current_thread(self, name: bytes) -> None:
        """The current thread's task name (PR_SET_NAME, exec).  From the command
        line, the host thread's name too, so that /proc/self/comm, ps and top
        show the guest's; an embedding process (pyuser.Emulator) keeps its own."""
        self.current.name = name[:15]
        if not self.embedded:
            from pyuser.syscalls import hostcalls

            hostcalls.set_thread_name(name)

    def current_tid(self) -> int:
        return self.current.tid

    def is_reserved_fd(self, fd: int) -> bool:
        """Descriptors the emulator itself needs (the -D log file)."""
        stream = self.log._stream
        return stream is not None and stream.fileno() == fd and fd > 2

    def fd_path(self, fd: int) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""

    def sleep(self, seconds: float) -> bool:
        """Block the calling thread; True if a deliverable signal interrupted the sleep."""
        return self.block(None, time.monotonic() + seconds) == "signal"

    def block(self, ready: Callable[[], bool] | None, deadline: float | None, *,
              interruptible: bool = True) -> str:
        """Wait inside the emulator with the CPU token handed on.

        Returns "ready" once `ready()` holds, "signal" when a signal is
        deliverable to the thread, "timeout" at the (monotonic) deadline.
        The checks run with the token held; wakers (futex wake, a signal,
        the watcher) set the thread's wakeup event, which is cleared before
        the checks so that no wake-up is lost in between.
        """
        thread = self.current
        state = self.signals
        while True:
            thread.wakeup.clear()
            if ready is not None and ready():
                return "ready"
            if interruptible and state.has_deliverable(thread):
                return "signal"
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return "timeout"
            with self.scheduler.released(thread):
                thread.wakeup.wait(left)

    def want_async_stops(self) -> None:
        """A second thread or an armed timer: CPUs must be stoppable from outside.

        The calling CPU is stopped (from its own syscall hook: safe) so that
        its loop installs the AsyncStop hooks before it runs on.  Called from a
        syscall, or from the CPU loop between runs."""
        if not self.async_stops_wanted:
            self.async_stops_wanted = True
            if self.cpu.running:
                self.engine.emu_stop()

    def forward_host_signals(self) -> None:
        """Take the host's signals for the guest (the command line does; an
        in-process embedding may not want its own signals taken)."""
        self.signals.relay = HostRelay(self.signals)
        self.signals.relay.start()

    def after_fork_child(self) -> None:
        """In the child of a host fork (pyuser.syscalls.fork): its own pid as
        the thread id and in /proc/<pid>, and a signal watcher of its own.

        Only the forking thread exists in the child (as under Linux): the
        scheduler and the futex table start afresh, in place (hooks hold
        them), since their locks may have been held by threads now gone.
        """
        pid = os.getpid()
        self.is_fork_child = True
        self.current.tid = pid
        self.current.host_thread = threading.get_ident()
        self.threads = {pid: self.current}
        # Linux: the child starts with no pending signals and no POSIX timers
        self.signals.clear_pending()
        self.current.signals.pending.queues.clear()
        self.timers.clear()
        switch_to, preempt = self.scheduler.switch_to, self.scheduler.preempt
        type(self.scheduler).__init__(self.scheduler, self)
        self.scheduler.switch_to, self.scheduler.preempt = switch_to, preempt
        type(self.futexes).__init__(self.futexes)
        self.vfs.refresh_pid()
        if self.signals.relay is not None:
            self.signals.relay.restart_after_fork()
        if self.instruments is not None:
            self.instruments.after_fork()

    # ------------------------------------------------------------ /proc/self
    def render_maps(self) -> bytes:
        lines = []
        for m in self.memory.mappings:
            perms = ("r" if m.prot & 1 else "-") + ("w" if m.prot & 2 else "-") + \
                    ("x" if m.prot & 4 else "-") + ("s" if m.shared else "p")
            dev = f"{os.major(m.dev):02x}:{os.minor(m.dev):02x}" if m.dev else "00:00"
            head = f"{m.start:08x}-{m.end:08x} {perms} {m.offset:08x} {dev} {m.inode}"
            lines.append(f"{head:<72} {m.name}".rstrip() if m.name else head)
        lines.extend(self.target.extra_maps())
        return ("\n".join(lines) + "\n").encode()

    def render_cmdline(self) -> bytes:
        start, end = self.cmdline
        return self.memory.host[start:end]

    # ------------------------------------------------------------ running
    def run(self) -> int:
        """Run the main thread (on this host thread) until the process exits."""
        self.main_host_thread = threading.get_ident()
        status = self.cpu.run(self.threads[next(iter(self.threads))])
        if self.is_fork_child:
            # the child of a guest fork must not return into whoever called
            # run() in the parent (an embedding Python program): it ends here
            import sys

            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
        return status

    def exit_process(self, status: int) -> int:
        """exit_group, or the last thread's exit: the process ends with `status`.

        On the host thread that called run() the status is returned; on a
        thread's own host thread the emulator ends here, as the whole
        process does on Linux (embedded: run() returns it, see finish()).
        """
        if self.instruments is not None:
            self.instruments.process_exit(status)
        if self.embedded:
            self.finish(status)
            return status  # a guest thread's host thread ends with its loop
        if threading.get_ident() == self.main_host_thread:
            return status
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)

    def finish(self, status: int) -> None:
        """Embedded: the process has ended with `status` (the first one
        stands).  Every other guest thread stops at its next safe point: a
        wait inside the emulator, taking the CPU token back after a host call,
        or its loop's next turn; the thread in run() returns the status.
        (A thread blocked in a host call stays there: without the forwarded
        host signals nothing can interrupt it.)"""
        if self.exit_status is None:
            self.exit_status = status
        self._finished.set()
        self.signals.wake(None)
        self.scheduler.release(self.current)

    def exit_thread(self, thread: Thread, status: int) -> int:
        """exit of one thread: its clear_child_tid wake, then the next thread runs."""
        if thread.clear_child_tid:
            try:
                self.memory.write(thread.clear_child_tid, b"\0\0\0\0")
                self.kernel.futex_wake_address(thread.clear_child_tid, 1)
            except Exception:  # noqa: BLE001 - a bad pointer is the guest's business
                pass
        self.kernel.release_robust_list(thread)
        self.threads.pop(thread.tid, None)
        if self.instruments is not None and self.threads:
            self.instruments.thread_exited(thread)
        if not self.threads:
            return self.exit_process(status)
        self.scheduler.release(thread)
        if threading.get_ident() == self.main_host_thread:
            # the main thread ended (pthread_exit); the process lives on in
            # the others, and the last of them ends the emulator (embedded:
            # finishes the process, and run() returns its status)
            self._finished.wait()
            return self.exit_status  # type: ignore[return-value]
        return status
