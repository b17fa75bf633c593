"""Where instrumentation meets the emulator: one hub per process, events in, hooks out.

The emulator tells the hub about a few events, and nothing else knows the
instruments exist:

- :meth:`Instruments.attach` -- an engine now runs guest code (called where
  a CPU loop is made around an engine; today one engine per guest thread);
- :meth:`thread_started` / :meth:`thread_exited`;
- :meth:`before_signal` -- a signal is about to reach the guest;
- :meth:`process_exit` / :meth:`process_killed`;
- syscall entry and exit, which the hub sees by wrapping the kernel's
  dispatch (as -strace does), only when a client asks for them.

Clients (the gdbstub, the plugin host) install their engine hooks in their
own `attach`.  A plain run makes no hub at all, so it has no hook of any
kind.  A client that must stop the guest parks a :class:`SafePointStop` as
the CPU's stop reason and stops the engine from a hook on the emulating
thread; the CPU loop then calls its `handle(cpu)` between two runs of the
engine (a safe point: no instruction is half done, hooks may be added and
translated code flushed), and resumes at the PC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyuser.errors import NoReturn, SafePointStop

__all__ = ["Client", "Instruments", "SafePointStop"]

if TYPE_CHECKING:
    from pyuser.cpu import CpuLoop
    from pyuser.process import Process, Thread


class Client:
    """What an instrument may implement; every method is optional."""

    wants_syscalls = False  # True: syscall_entry/syscall_exit are called

    def attach(self, cpu: CpuLoop) -> None: ...
    def detach(self, cpu: CpuLoop) -> None: ...
    def thread_started(self, thread: Thread) -> None: ...
    def thread_exited(self, thread: Thread) -> None: ...
    def syscall_entry(self, cpu: CpuLoop, number: int, regs: Any) -> None: ...
    def syscall_exit(self, cpu: CpuLoop, number: int, regs: Any, result: int | None) -> None: ...

    def before_signal(self, cpu: CpuLoop, signo: int, info: Any) -> int:
        """The signal to deliver instead of `signo` (0: none)."""
        return signo

    def process_exit(self, status: int) -> None: ...
    def process_killed(self, signo: int) -> None: ...
    def after_fork(self) -> None: ...


class Instruments:
    """The clients of one process; see the module docstring."""

    def __init__(self, process: Process, clients: list[Client]) -> None:
        self.process = process
        self.clients = clients
        self.cpus: list[CpuLoop] = []
        self.finished = False
        if any(c.wants_syscalls for c in clients):
            self._wrap_dispatch()
        process.instruments = self
        cpu = getattr(process, "cpu", None)  # made with the process; attach() says so too
        if cpu is not None:
            self.attach(cpu)

    # ------------------------------------------------------------ events
    def attach(self, cpu: CpuLoop) -> None:
        """THE entry point: `cpu` (its engine: cpu.uc, its hooks: cpu.hooks)
        is about to run guest code."""
        if cpu in self.cpus:
            return
        self.cpus.append(cpu)
        for client in self.clients:
            client.attach(cpu)

    def detach(self, cpu: CpuLoop) -> None:
        if cpu in self.cpus:
            self.cpus.remove(cpu)
            for client in self.clients:
                client.detach(cpu)

    def thread_started(self, thread: Thread) -> None:
        for client in self.clients:
            client.thread_started(thread)

    def thread_exited(self, thread: Thread) -> None:
        for client in self.clients:
            client.thread_exited(thread)

    def before_signal(self, cpu: CpuLoop, signo: int, info: Any = None) -> int:
        for client in self.clients:
            signo = client.before_signal(cpu, signo, info)
            if not signo:
                break
        return signo

    def process_exit(self, status: int) -> None:
        if not self.finished:
            self.finished = True
            for client in self.clients:
                client.process_exit(status)

    def process_killed(self, signo: int) -> None:
        if not self.finished:
            self.finished = True
            for client in self.clients:
                client.process_killed(signo)

    def after_fork(self) -> None:
        for client in self.clients:
            client.after_fork()

    # ------------------------------------------------------------ helpers for clients
    def registers_of(self, thread: Thread) -> Any:
        """An object with reg_read/reg_write holding `thread`'s registers:
        the process's engine for the thread whose registers are loaded in it,
        the saved context (a UcContext) for the others."""
        cpu = self.process.cpu
        if cpu.loaded is thread or thread.context is None:
            return cpu.uc
        return thread.context

    def _wrap_dispatch(self) -> None:
        kernel = self.process.kernel
        plain = kernel.dispatch
        process = self.process
        users = [c for c in self.clients if c.wants_syscalls]

        def instrumented(regs: Any) -> int:
            cpu = process.cpu
            number = regs[0]
            for client in users:
                client.syscall_entry(cpu, number, regs)
            try:
                result = plain(regs)
            except NoReturn:
                for client in users:
                    client.syscall_exit(cpu, number, regs, None)
                raise
            for client in users:
                client.syscall_exit(cpu, number, regs, result)
            return result

        kernel.dispatch = instrumented  # type: ignore[method-assign]
