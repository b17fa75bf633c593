"""The CPU loop: run guest code, serve syscalls, turn stops into outcomes.

Syscalls are served inside Unicorn's interrupt hook, on the emulating
thread, without stopping emulation: read the argument registers with one
library call, look the handler up in a list, write the result back.
Anything that must happen between instructions (process exit, a fault, a
signal death, later signal delivery and thread switches) stops emulation
from the hook -- a safe point, since the hook runs at an instruction
boundary on the emulating thread -- and is handled here after emu_start
returns.
"""

from __future__ import annotations

import functools
import os
import resource
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from unicorn import UcError
from unicorn import unicorn_const as UC

from pyuser.engine import RawHooks, RegisterBank, RegisterWriter
from pyuser.syscalls.processes import ProcessExit, ThreadExit
from pyuser.syscalls.signals import GuestSignalDeath
from pyuser.targets.base import Fault

if TYPE_CHECKING:
    from pyuser.process import Process


class FaultStop(Exception):  # noqa: N818 - control flow
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault)
        self.fault = fault


class CpuLoop:
    def __init__(self, process: Process) -> None:
        self.process = process
        self.target = process.target
        self.uc = process.uc
        self.kernel = process.kernel
        self.hooks = RawHooks(self.uc)
        t = self.target
        self.bank = RegisterBank(self.uc, [t.syscall_number_reg, *t.syscall_arg_regs])
        self.write_result = RegisterWriter(self.uc, t.syscall_return_reg)
        self.word_mask = t.word_mask
        self.stop_reason: BaseException | None = None
        self._install_debug_hooks()  # first: strace wraps kernel.dispatch
        t.install_syscall_hook(self)

    # ------------------------------------------------------------ hooks
    def guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Exceptions must not escape a ctypes callback: park them and stop."""

        @functools.wraps(fn)
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
        dispatch = self.kernel.dispatch
        write = self.write_result
        mask = self.word_mask
        uc = self.uc

        def on_interrupt(_uc: int, intno: int, _user_data: int) -> None:
            try:
                if intno == syscall_interrupt:
                    write(dispatch(read()) & mask)
                else:
                    self.stop_reason = FaultStop(fault_of(intno))
                    uc.emu_stop()
            except BaseException as e:  # noqa: BLE001 - re-raised by run()
                self.stop_reason = e
                uc.emu_stop()

        return on_interrupt

    def syscall_now(self) -> None:
        """Serve the syscall the registers describe (for hooks of other shapes)."""
        self.write_result(self.kernel.dispatch(self.bank.read()) & self.word_mask)

    def _install_debug_hooks(self) -> None:
        log = self.process.log
        if log.enabled("strace"):
            from pyuser.strace import install_strace

            install_strace(self.kernel, log)
        if log.enabled("in_asm") or log.enabled("exec"):
            from pyuser.tracing import install_block_tracing

            install_block_tracing(self, log)

    # ------------------------------------------------------------ the loop
    def run(self) -> int:
        """Run until the process exits; returns its exit status.

        A death by signal does not return: it ends the emulator with the same
        signal, as the guest would have died.
        """
        uc = self.uc
        target = self.target
        while True:
            start = target.resume_address(uc)
            try:
                uc.emu_start(start, 0)
            except UcError as e:
                self.stop_reason = self.stop_reason or FaultStop(self._engine_fault(e))
            reason, self.stop_reason = self.stop_reason, None
            if reason is None:
                # Unicorn stops by itself only when the PC reaches the `until`
                # address 0: a jump to NULL, which is a SIGSEGV on hardware.
                reason = FaultStop(Fault(target.const("SIGSEGV"), 1, 0, 0))
            if isinstance(reason, ProcessExit):
                return reason.status
            if isinstance(reason, ThreadExit):
                if len(self.process.threads) <= 1:
                    return reason.status
                raise NotImplementedError("multi-threaded exit")
            if isinstance(reason, FaultStop):
                self.die(reason.fault.signal, core=True)
            if isinstance(reason, GuestSignalDeath):
                self.die(reason.signum, reason.core)
            raise reason

    def _engine_fault(self, error: UcError) -> Fault:
        pc = self.uc.reg_read(self.target.pc_reg)
        if error.errno in (UC.UC_ERR_INSN_INVALID, UC.UC_ERR_EXCEPTION):
            return Fault(self.target.const("SIGILL"), 1, pc, pc)
        return Fault(self.target.const("SIGSEGV"), 1, pc, pc)

    def die(self, target_signal: int, core: bool) -> None:
        """End the emulator the way the guest dies: message, then the same host signal."""
        host_signal = self.target.signal_to_host.get(target_signal, target_signal)
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
        signal.signal(host_signal, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {host_signal})
        os.kill(os.getpid(), host_signal)
        os._exit(128 + target_signal)
