"""The CPU loop: run guest code, serve syscalls, deliver signals at safe points.

Syscalls are served inside Unicorn's interrupt hook, on the emulating
thread, without stopping emulation: read the argument registers with one
library call, look the handler up in a list, write the result back.
Anything that must happen between instructions (process exit, a fault, a
signal delivery, sigreturn) stops emulation from the hook -- a safe point,
since the hook runs at an instruction boundary on the emulating thread --
and is handled here after emu_start returns.  The signal watcher thread may
also stop emulation (CpuLoop.interrupt) to deliver an asynchronous signal to
a guest that makes no syscalls.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from unicorn import UcError
from unicorn import unicorn_const as UC

from pyuser.engine import AsyncStop, RawHooks, RegisterBank, RegisterWriter
from pyuser.memory import PAGE_MAPPED, GuestFault
from pyuser.signals import SIG_DFL, SIG_IGN, SigInfo
from pyuser.syscalls.processes import ProcessExit, ThreadExit
from pyuser.syscalls.signals import SigReturn
from pyuser.targets.base import Fault

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.process import Process, Thread

# Syscalls Linux restarts after a handler with SA_RESTART (-ERESTARTSYS);
# the others return EINTR when a handler runs (signal(7)).
RESTARTABLE = frozenset({
    "read", "readv", "write", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "ioctl", "wait4", "waitid", "open", "openat", "futex", "futex_time64", "fcntl64",
    "fcntl", "flock", "accept", "accept4", "connect", "recv", "recvfrom", "recvmsg", "send",
    "sendto", "sendmsg", "sendfile64", "splice", "tee", "creat",
})

# Linux's restart_syscall with no restart block set up (do_no_restart_syscall,
# kernel/signal.c) returns a final EINTR.  pyuser never sets one up (it
# restarts a call by rewinding to it), so a guest's own restart_syscall ends
# there: rewinding it, as an interrupted call is when no handler ran, would
# make it again forever.
FINAL_EINTR = frozenset({"restart_syscall"})

SEGV_MAPERR = 1
SEGV_ACCERR = 2


class FaultStop(Exception):  # noqa: N818 - control flow
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault)
        self.fault = fault


class CpuLoop:
    """One guest thread's engine and the loop that runs it."""

    def __init__(self, process: Process, thread: Thread, uc: Uc) -> None:
        self.process = process
        self.thread = thread
        self.target = process.target
        self.uc = uc
        self.kernel = process.kernel
        self.hooks = RawHooks(self.uc)
        t = self.target
        self.bank = RegisterBank(self.uc, [t.syscall_number_reg, *t.syscall_arg_regs])
        self.write_result = RegisterWriter(self.uc, t.syscall_return_reg)
        self.word_mask = t.word_mask
        self.stop_reason: BaseException | None = None
        self.running = False
        self.async_stop: AsyncStop | None = None
        self.unsafe_stopped = False
        # (syscall number, first argument) of a syscall that ended with EINTR
        self.interrupted: tuple[int, int] | None = None
        self.restore_mask_after_delivery: int | None = None
        self.frames = t.signal_frames()
        self._neg_eintr = (-t.errno("EINTR")) & t.word_mask
        self._install_debug_hooks()  # first: strace wraps kernel.dispatch
        t.install_syscall_hook(self)

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

    def interrupt_hook(self, syscall_interrupt: int,
                       fault_of: Callable[[int], Fault]) -> Callable[[int, int, int], None]:
        """The hot path for targets whose syscall instruction raises an interrupt.

        One Python frame per syscall: read the argument registers in one call,
        dispatch, write the result.  Other interrupts are faults: stop.
        """
        read = self.bank.read
        kernel = self.kernel  # kernel.dispatch is looked up per call: tracers wrap it
        write = self.write_result
        mask = self.word_mask
        neg_eintr = self._neg_eintr
        signals = self.process.signals
        uc = self.uc

        def on_interrupt(_uc: int, intno: int, _user_data: int) -> None:
            try:
                if intno == syscall_interrupt:
                    # syscall_now, inlined: this is the hottest path there is
                    regs = read()
                    result = kernel.dispatch(regs) & mask
                    write(result)
                    if result == neg_eintr:
                        self.interrupted = (regs[0], regs[1])
                        signals.check = True
                    if signals.check:
                        uc.emu_stop()
                else:
                    self.stop_reason = FaultStop(fault_of(intno))
                    uc.emu_stop()
            except BaseException as e:  # noqa: BLE001 - re-raised by run()
                self.stop_reason = e
                uc.emu_stop()

        return on_interrupt

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

    def syscall_now(self) -> None:
        """Serve the syscall the registers describe."""
        regs = self.bank.read()
        result = self.kernel.dispatch(regs) & self.word_mask
        self.write_result(result)
        signals = self.process.signals
        if result == self._neg_eintr:
            self.interrupted = (regs[0], regs[1])
            signals.check = True
        if signals.check:
            self.uc.emu_stop()

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

    def _install_debug_hooks(self) -> None:
        log = self.process.log
        if log.enabled("strace") and not getattr(self.kernel, "traced", False):
            from pyuser.strace import install_strace

            install_strace(self.kernel, log)
        if log.enabled("in_asm") or log.enabled("exec"):
            from pyuser.tracing import install_block_tracing

            install_block_tracing(self, log)

    # ------------------------------------------------------------ the loop
    def run(self) -> int:
        """Run this thread until it or the process exits; returns the exit status.

        A death by signal does not return: it ends the emulator with the same
        signal, as the guest would have died.
        """
        uc = self.uc
        target = self.target
        process = self.process
        signals = process.signals
        scheduler = process.scheduler
        thread = self.thread
        if scheduler.active:
            scheduler.acquire(thread)
        while True:
            if process.exit_status is not None:  # embedded: ended on another thread
                return process.exit_process(process.exit_status)
            if self.async_stop is not None:
                self.async_stop.clear()  # before the checks: no request is lost
            elif process.async_stops_wanted:
                self.async_stop = AsyncStop(uc)
            if signals.check or self.interrupted:
                self.deliver_signals()
            start = target.resume_address(uc)
            self.running = True
            try:
                uc.emu_start(start, 0)
            except UcError as e:
                self.stop_reason = self.stop_reason or FaultStop(self._engine_fault(e))
            finally:
                self.running = False
            reason, self.stop_reason = self.stop_reason, None
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
                return process.exit_thread(thread, reason.status)
            if isinstance(reason, SigReturn):
                continue
            if isinstance(reason, FaultStop):
                self.force_fault(reason.fault)
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

    # ------------------------------------------------------------ signals
    def force_fault(self, fault: Fault) -> None:
        """A synchronous fault: delivered now; blocked or ignored means death."""
        state = self.process.signals
        thread = self.thread
        signo = fault.signal
        code = fault.code
        if signo == self.target.const("SIGSEGV") and fault.address:
            mapped = self.process.memory.pages[fault.address >> 12] & PAGE_MAPPED \
                if fault.address < self.process.memory.size else 0
            code = SEGV_ACCERR if mapped else SEGV_MAPERR
        action = state.action(signo)
        bit = 1 << (signo - 1)
        if thread.signals.mask & bit or action.handler == SIG_IGN:
            # as the kernel's force_sig: the fault cannot be blocked or ignored
            thread.signals.mask &= ~bit
            state.actions.pop(signo, None)
            action = state.action(signo)
        info = SigInfo(signo, code=code, addr=fault.address, fault=True)
        if action.handler == SIG_DFL:
            self.die(signo, signo in state.core)
        self._run_handler(info, action, trap_no=fault.trap_no, fault_address=fault.address)

    def deliver_signals(self) -> None:
        """Deliver every pending signal the current thread does not block."""
        proc = self.process
        state = proc.signals
        thread = self.thread
        state.check = False
        interrupted, self.interrupted = self.interrupted, None
        ran_handler = False
        while True:
            info = state.next_deliverable(thread)
            if info is None:
                break
            signo = info.signo
            action = state.action(signo)
            if action.handler == SIG_IGN:
                continue
            if action.handler == SIG_DFL:
                if signo in state.ignored_by_default:
                    continue
                if signo in state.stopping:
                    os.kill(os.getpid(), signal.SIGSTOP)
                    continue
                self.die(signo, signo in state.core)
            if interrupted is not None:
                name = self.target.syscall_names.get(interrupted[0], "")
                if action.flags & state.sa_restart and name in RESTARTABLE:
                    self._rewind_syscall(interrupted)
                interrupted = None
            self._run_handler(info, action)
            ran_handler = True
        if interrupted is not None and not ran_handler \
                and self.target.syscall_names.get(interrupted[0]) not in FINAL_EINTR:
            # nothing ran in between: the syscall goes on as if uninterrupted
            self._rewind_syscall(interrupted)

    def _rewind_syscall(self, interrupted: tuple[int, int]) -> None:
        uc = self.uc
        uc.reg_write(self.target.syscall_arg_regs[0], interrupted[1])
        if self.target.syscall_return_reg == self.target.syscall_number_reg:
            uc.reg_write(self.target.syscall_number_reg, interrupted[0])  # x86: rax
        self.target.restore_after_rewind(uc)
        pc = uc.reg_read(self.target.pc_reg)
        self.target.set_pc(uc, pc - self.target.syscall_insn_size(uc))

    def _run_handler(self, info: SigInfo, action, *, trap_no: int = 0,
                     fault_address: int = 0) -> None:
        proc = self.process
        state = proc.signals
        ts = self.thread.signals
        uc = self.uc
        rt = bool(action.flags & state.sa_siginfo)
        sp = self.frames.interrupted_sp(uc)
        on_alt = ts.altstack_size and ts.altstack_sp <= sp < ts.altstack_sp + ts.altstack_size
        if action.flags & state.sa_onstack and ts.altstack_size and not on_alt:
            sp = ts.altstack_sp + ts.altstack_size
        frame = (sp - self.frames.frame_size(rt)) & ~15
        if frame < 0:  # a stack pointer near 0: no room for the frame below it
            self.die(self.target.const("SIGSEGV"), True)
        old_mask = ts.mask
        if self.restore_mask_after_delivery is not None:
            old_mask, self.restore_mask_after_delivery = self.restore_mask_after_delivery, None
        alt_flags = 1 if on_alt else (2 if not ts.altstack_size else 0)  # SS_ONSTACK/SS_DISABLE
        restorer = action.restorer if action.flags & state.sa_restorer else 0
        try:
            self.frames.setup(
                uc, proc.memory, frame, signo=info.signo, siginfo=proc.encode_siginfo(info),
                rt=rt, handler=action.handler, restorer=restorer, old_mask=old_mask,
                altstack=(ts.altstack_sp, alt_flags, ts.altstack_size),
                fault_address=fault_address, trap_no=trap_no)
        except GuestFault:
            self.die(self.target.const("SIGSEGV"), True)  # no room for the frame
        ts.mask |= action.mask
        if not action.flags & state.sa_nodefer:
            ts.mask |= 1 << (info.signo - 1)
        ts.mask &= ~state.unblockable
        if action.flags & state.sa_resethand:
            state.actions.pop(info.signo, None)
        state.delivered += 1

    def sigreturn(self, rt: bool) -> None:
        """Called by the sigreturn syscalls: restore what the frame saved."""
        proc = self.process
        try:
            mask, _altstack = self.frames.restore(self.uc, proc.memory, rt)
        except GuestFault:
            self.die(self.target.const("SIGSEGV"), True)
        self.thread.signals.mask = mask & ~proc.signals.unblockable
        proc.signals.check = True

    def die(self, target_signal: int, core: bool) -> None:
        """End the emulator the way the guest dies: message, then the same host signal."""
        if self.process.on_death is not None:
            self.process.on_death(target_signal, core)
        kill_process_with(self.target.signal_to_host.get(target_signal, target_signal),
                          target_signal, core)


def kill_process_with(host_signal: int, target_signal: int, core: bool) -> None:
    """Die of `host_signal` (from any host thread), with qemu's message for core signals."""
    import threading

    if core:
        try:
            name = signal.strsignal(host_signal) or f"signal {host_signal}"
        except ValueError:
            name = f"signal {host_signal}"
        sys.stderr.write(f"pyuser: uncaught target signal {target_signal} ({name})"
                         " - core dumped\n")
    sys.stdout.flush()
    sys.stderr.flush()
    # the guest's core is not ours to write: no core file of the emulator
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        signal.signal(host_signal, signal.SIG_DFL)
    except (ValueError, OSError):
        pass  # not the main thread, or SIGKILL/SIGSTOP: already the default
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {host_signal})
    signal.pthread_kill(threading.get_ident(), host_signal)
    os._exit(128 + target_signal)
