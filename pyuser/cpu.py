"""The CPU loop: run guest code, serve syscalls, deliver signals at safe points.

A process has one engine, shared by its guest threads (pyuser.threads): each
guest thread runs this loop on its own host thread while it holds the CPU
token, with its registers loaded into the engine.

Syscalls are served inside Unicorn's hook, on the emulating thread, without
stopping emulation (pyuser.syscall_path builds that one hot path from the
target's calling convention; the builder, pyuser.launch, installs it).
Anything that must happen between instructions (process exit, a fault, a
signal delivery, sigreturn) stops emulation from the hook -- a safe point,
since the hook runs at an instruction boundary on the emulating thread --
and is handled here after emu_start returns.  So is a syscall that may hand
the CPU token on while a second thread exists (it blocks in the host): it is
served again from here, with the engine stopped and free for other threads.
The signal watcher thread may also stop emulation (CpuLoop.interrupt) to
deliver an asynchronous signal to a guest that makes no syscalls.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from unicorn import UcError
from unicorn import unicorn_const as UC

from pyuser.delivery import SEGV_MAPERR, SignalDelivery
from pyuser.engine import (
    AsyncStop,
    EngineCalls,
    RawHooks,
    RegisterBank,
    RegisterWriter,
    flush_tlb,
)
from pyuser.errors import FaultStop, ProcessExit, SafePointStop, SigReturn, ThreadExit
from pyuser.process import Thread
from pyuser.soft_tlb import MAX_ENTRIES, SoftTlb
from pyuser.targets.base import Fault
from pyuser.threads import EngineBusy

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.process import Process

__all__ = ["CpuLoop", "FaultStop"]



class CpuLoop:
    """The process's engine and the loop its guest threads run it with.

    Engine creation and hook installation happen here, once per process.
    """

    def __init__(self, process: Process, uc: Uc) -> None:
        self.process = process
        self.target = process.target
        self.uc = uc
        self.kernel = process.kernel
        self.hooks = RawHooks(self.uc)
        t = self.target
        self.bank = RegisterBank(self.uc, [t.syscall_number_reg, *t.syscall_arg_regs])
        self.write_result = RegisterWriter(self.uc, t.syscall_return_reg)
        self.calls = EngineCalls(self.uc)
        self._resume_bank = RegisterBank(self.uc, t.resume_registers())
        self.word_mask = t.word_mask
        self.stop_reason: BaseException | None = None
        self.running = False
        self.async_stop: AsyncStop | None = None
        self.unsafe_stopped = False
        # the thread whose registers the engine holds (the others' are in
        # their Thread.context)
        self.loaded: Thread = process.current
        # serves the syscall the registers describe again, from outside
        # emu_start (set by pyuser.syscall_path, which the builder installs)
        self.serve_syscall: Callable[[], None] = lambda: None
        self.frames = t.signal_frames()
        # signal delivery (pyuser.delivery); its entry points are the loop's
        self.delivery = SignalDelivery(self)
        self.deliver_signals = self.delivery.deliver_signals
        self.force_fault = self.delivery.force_fault
        self.sigreturn = self.delivery.sigreturn  # the sigreturn syscalls call it
        self.die = self.delivery.die
        self.neg_eintr = (-t.errno("EINTR")) & t.word_mask
        # the soft TLB policy (pyuser.soft_tlb): found at the first big mapping
        self._tlb: SoftTlb | None = None
        self._tlb_lookup_failed = False
        self._tlb_modes: set[int] = set()  # the MMU modes the guest has used
        self._tlb_sized_for = 256
        scheduler = process.scheduler
        scheduler.switch_to = self.switch_to
        scheduler.preempt = self.preempt
        process.signals.stop_cpu = self.interrupt
        process.signals.stop_cpu_unsafe = self.unsafe_interrupt

    @property
    def thread(self) -> Thread:
        """The thread whose turn it is (holding the CPU token)."""
        return self.process.current

    # ------------------------------------------------------------ hooks
    def guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Exceptions must not escape a ctypes callback: park them and stop."""

        def guarded(*args: object) -> None:
            try:
                fn(*args)
            except BaseException as e:  # noqa: BLE001 - re-raised by run()
                self.stop_reason = e
                self.uc.emu_stop()

        return guarded

    def spin_hint_hook(self, is_spin_hint: Callable[[], bool]) -> Callable[[], bool]:
        """For engines that stop at spin-wait hints (yield, wfe) as at an invalid
        instruction: go on, and let a waiting guest thread have the CPU."""
        scheduler = self.process.scheduler
        uc = self.uc

        def on_invalid() -> bool:
            try:
                if not is_spin_hint():
                    return False  # a real undefined instruction: SIGILL
                if scheduler.contended():
                    uc.emu_stop()  # outside any block: a safe point
                return True
            except BaseException as e:  # noqa: BLE001 - re-raised by run()
                self.stop_reason = e
                uc.emu_stop()
                return True

        return on_invalid

    def interrupt(self) -> None:
        """From another host thread: bring the CPU to a block boundary soon.

        Needs the AsyncStop hook, which the process installs once it has a
        second thread or a signal handler (pyuser.engine.AsyncStop explains
        why uc_emu_stop from another thread is not used).
        """
        stop = self.async_stop
        if stop is not None:
            stop.request()

    # the preemption ticker stops a thread the same way
    preempt = interrupt

    def unsafe_interrupt(self) -> None:
        """From another host thread, once, when no AsyncStop exists: uc_emu_stop.

        The CPU may stop right after a memory access with the PC restored to
        that instruction (see AsyncStop); the loop asks the target to repair
        the instruction that cannot simply run again (ARM: a strex that has
        already stored) and then installs AsyncStop, so this happens at most
        once per process."""
        if self.running and self.async_stop is None:
            self.unsafe_stopped = True
            self.uc.emu_stop()

    # ------------------------------------------------------------ threads
    def switch_to(self, thread: Thread) -> None:
        """`thread` has taken the CPU token: give the engine its registers.

        Called with the engine stopped (the token is only handed on outside
        emu_start); a thread that takes the token back after a wait in which
        nobody else ran finds its registers still loaded."""
        loaded = self.loaded
        if loaded is thread:
            return
        if loaded is not None:
            if loaded.context is None:
                loaded.context = self.uc.context_save()
            else:
                self.calls.save(loaded.context)
        if thread.context is not None:
            self.calls.restore(thread.context)
            self.target.thread_switched(self.uc)
        self.loaded = thread

    def start_thread(self, stack: int, tls: int | None,
                     entry: Callable[[Uc], None] | None = None) -> Thread:
        """clone with CLONE_VM: a guest thread with the current one's registers
        (returning 0 from clone, on `stack` when not 0, with `tls` when given)
        and a host thread of its own, whose native id is the guest tid.
        `entry`, when given, sets the new thread's registers instead (an OS
        whose thread call names the start address, as FreeBSD's thr_new)."""
        process = self.process
        target = self.target
        uc = self.uc
        parent = process.current
        process.want_async_stops()  # threads are preempted at block boundaries
        saved = uc.context_save()
        try:
            if entry is not None:
                entry(uc)
            else:
                target.set_clone_child_result(uc)
                if stack:
                    uc.reg_write(target.sp_reg, stack)
                if tls is not None:
                    target.set_tls(uc, tls)
            context = uc.context_save()
        finally:
            uc.context_restore(saved)
            target.thread_switched(uc)  # set_tls above may have written outside the registers
        if entry is None and self.running and target.pc_advance_after_syscall_hook:
            # still in the syscall hook of an engine that moves the PC past the
            # syscall instruction after it: the child starts past it
            context.reg_write(target.pc_reg, context.reg_read(target.pc_reg)
                              + target.pc_advance_after_syscall_hook)
        child = Thread(tid=0, name=parent.name, context=context)
        child.signals.mask = parent.signals.mask  # the alternate stack is not inherited
        started = threading.Event()

        def host_main() -> None:
            child.tid = threading.get_native_id()
            child.host_thread = threading.get_ident()
            started.set()
            try:
                self.run(child)
            except ProcessExit as end:  # embedded (pyuser.Emulator): died of a signal
                process.exit_process(end.status)
            except BaseException:  # noqa: BLE001 - an emulator bug: report, end the process
                sys.stderr.write("pyuser: internal error in a guest thread\n")
                import traceback  # only here: with linecache and tokenize, ~1 ms of start-up

                traceback.print_exc()
                sys.stderr.flush()
                os._exit(70)

        if not process.scheduler.active:
            process.scheduler.activate()
            self._serve_blocking_calls_outside()
        threading.Thread(target=host_main, name="pyuser-guest", daemon=True).start()
        started.wait()
        process.threads[child.tid] = child
        return child

    def _serve_blocking_calls_outside(self) -> None:
        """From the second thread on, a syscall that may block is served with
        the engine stopped, so that other threads can run meanwhile.

        kernel.dispatch is looked up on every syscall (tracers wrap it), so
        wrapping it here costs a single-threaded program nothing."""
        kernel = self.kernel
        scheduler = self.process.scheduler
        inner = kernel.dispatch
        names = self.target.syscall_numbers
        outside = {names[name] for name in self.target.may_block_syscalls if name in names}
        # calls that block only with some arguments (a futex WAIT): the kernel's test
        waits_when = getattr(kernel, "waits_when", {})

        def dispatch(regs) -> int:
            if scheduler.in_engine:
                if scheduler.active:
                    number = regs[0]
                    if number in outside:
                        raise EngineBusy()
                    waits = waits_when.get(number)
                    if waits is not None and waits(regs):
                        raise EngineBusy()
                try:
                    return inner(regs)
                except EngineBusy as busy:
                    if busy.learn:
                        outside.add(regs[0])
                    raise
            # outside the engine the token may change hands, and the other
            # threads' syscalls refill the register bank that `regs` is: the
            # caller reads the number and first argument again (EINTR)
            saved = regs[:]
            try:
                return inner(regs)
            finally:
                regs[:len(saved)] = saved

        kernel.dispatch = dispatch  # type: ignore[method-assign]

    def _end_thread(self, thread: Thread) -> None:
        """A thread has exited: nothing of it stays with the engine."""
        if self.loaded is thread:
            self.loaded = None  # type: ignore[assignment]
        thread.context = None

    # ------------------------------------------------------------ the soft TLB
    def size_tlb_for(self, pages: int) -> None:
        """The guest's readable or writable memory grew to `pages` pages: let
        the TLB of the modes it uses cover them (pyuser.soft_tlb).  Called
        from a mapping change, where pyuser flushes the TLB anyway (the
        loader, or a syscall hook: a safe point)."""
        if not self.running:
            return  # the loader: no guest code has used the TLB yet
        want = min(1 << max(pages - 1, 1).bit_length(), MAX_ENTRIES)
        if want <= self._tlb_sized_for or self._tlb_lookup_failed:
            return
        if self._tlb is None:
            self._tlb = SoftTlb.find(self.uc, self.target.sp_reg, self.target.word_mask)
            if self._tlb is None:
                self._tlb_lookup_failed = True
                return
        self._tlb_modes.update(self._tlb.modes_in_use())
        if self._tlb_modes:
            uc = self.uc
            self._tlb.grow(sorted(self._tlb_modes), want, lambda: flush_tlb(uc))
            self._tlb_sized_for = want

    # ------------------------------------------------------------ the loop
    def run(self, thread: Thread) -> int:
        """Run `thread` until it or the process exits; returns the exit status.

        A death by signal does not return: it ends the emulator with the same
        signal, as the guest would have died.
        """
        uc = self.uc
        target = self.target
        process = self.process
        signals = process.signals
        scheduler = process.scheduler
        emu_start = self.calls.emu_start
        resume_registers = self._resume_bank.read
        resume_address_from = target.resume_address_from
        if scheduler.active:
            scheduler.acquire(thread)
        while True:
            if process.exit_status is not None:  # embedded: ended on another thread
                return process.exit_process(process.exit_status)
            if self.async_stop is not None:
                self.async_stop.clear()  # before the checks: no request is lost
            elif process.async_stops_wanted:
                self.async_stop = AsyncStop(uc)
            if signals.check or thread.interrupted or thread.signals.pending:
                self.deliver_signals()
            start = resume_address_from(resume_registers())
            self.running = scheduler.in_engine = True
            try:
                emu_start(start)
            except UcError as e:
                self.stop_reason = self.stop_reason or FaultStop(self._engine_fault(e))
            finally:
                self.running = scheduler.in_engine = False
            reason, self.stop_reason = self.stop_reason, None
            if isinstance(reason, EngineBusy):
                # the syscall may block: serve it now, with the engine free
                # for the other threads meanwhile
                try:
                    self.serve_syscall()
                except BaseException as e:  # noqa: BLE001 - handled below
                    self.stop_reason = e
                reason, self.stop_reason = self.stop_reason, None
                if reason is None:
                    continue
            if self.unsafe_stopped:
                self.unsafe_stopped = False
                target.repair_after_stop(uc, process.memory)
                process.want_async_stops()
            if reason is None:
                if uc.reg_read(target.pc_reg) == 0 and not signals.check:
                    # Unicorn stops by itself only when the PC reaches the
                    # `until` address 0: a jump to NULL, a SIGSEGV on hardware.
                    reason = FaultStop(Fault(target.const("SIGSEGV"), SEGV_MAPERR, 0, 0))
                else:
                    # stopped for a signal, by the watcher or by the ticker
                    if scheduler.active:
                        scheduler.yield_cpu(thread)
                    continue
            if isinstance(reason, ProcessExit):
                return process.exit_process(reason.status)
            if isinstance(reason, ThreadExit):
                self._end_thread(thread)
                return process.exit_thread(thread, reason.status)
            if isinstance(reason, SigReturn):
                continue
            if isinstance(reason, FaultStop):
                self.force_fault(reason.fault)
                continue
            if isinstance(reason, SafePointStop):  # a debugger or plugin stop
                reason.handle(self)
                continue
            raise reason

    def _engine_fault(self, error: UcError) -> Fault:
        fault = self.target.engine_fault(self.uc, error.errno, self.process.memory)
        if fault is not None:
            return fault
        pc = self.uc.reg_read(self.target.pc_reg)
        if error.errno in (UC.UC_ERR_INSN_INVALID, UC.UC_ERR_EXCEPTION):
            return Fault(self.target.const("SIGILL"), 1, pc, pc)
        return Fault(self.target.const("SIGSEGV"), SEGV_MAPERR, pc, pc)
