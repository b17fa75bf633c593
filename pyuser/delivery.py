"""Signal delivery: the one place a pending signal or a fault reaches the guest.

At a safe point (the engine stopped at an instruction boundary) the CPU loop
asks :class:`SignalDelivery` to deliver what the current thread does not
block: the disposition decides (ignore, stop, die, or a handler), a handler
gets the frame the target builds (targets.<arch>_signal) with the siginfo
the target encodes (Target.encode_siginfo), an interrupted syscall is
restarted or returns EINTR, and sigreturn unwinds the frame.  A fault is
delivered at once and cannot be blocked or ignored (the kernel's force_sig).
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Protocol

from pyuser.memory import PAGE_MAPPED, GuestFault
from pyuser.signals import SIG_DFL, SIG_IGN, SigInfo, kill_process_with

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.process import Process
    from pyuser.targets.base import Fault, SignalFrames, Target

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


class Loop(Protocol):
    """What delivery uses of the CPU loop (pyuser.cpu.CpuLoop, which owns it)."""

    uc: Uc
    target: Target
    process: Process
    frames: SignalFrames


class SignalDelivery:
    """Delivers signals on one process's engine (see the module docstring)."""

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.uc = loop.uc
        self.target = loop.target
        self.process = loop.process
        self.frames = loop.frames

    @property
    def thread(self):
        """The thread whose turn it is (holding the CPU token)."""
        return self.process.current

    def force_fault(self, fault: Fault) -> None:
        """A synchronous fault: delivered now; blocked or ignored means death."""
        state = self.process.signals
        thread = self.thread
        signo = fault.signal
        code = fault.code
        if self.process.instruments is not None:  # gdb sees the signal first
            signo = self.process.instruments.before_signal(self.loop, signo, fault)
            if not signo:
                return  # gdb took it: the instruction runs again
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
        interrupted, thread.interrupted = thread.interrupted, None
        ran_handler = False
        while True:
            info = state.next_deliverable(thread)
            if info is None:
                break
            signo = info.signo
            if proc.instruments is not None:  # gdb sees the signal first
                if not proc.instruments.before_signal(self.loop, signo, info):
                    continue
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

    def _rewind_syscall(self, interrupted: tuple[int, ...]) -> None:
        uc = self.uc
        uc.reg_write(self.target.syscall_arg_regs[0], interrupted[1])
        if self.target.syscall_return_reg == self.target.syscall_number_reg:
            uc.reg_write(self.target.syscall_number_reg, interrupted[0])  # x86: rax
        self.target.restore_after_rewind(uc, interrupted)
        pc = uc.reg_read(self.target.pc_reg)
        self.target.set_pc(uc, pc - self.target.syscall_insn_size(uc))

    def _run_handler(self, info: SigInfo, action, *, trap_no: int = 0,
                     fault_address: int = 0) -> None:
        proc = self.process
        state = proc.signals
        thread = self.thread
        ts = thread.signals
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
        if thread.restore_mask_after_delivery is not None:
            old_mask, thread.restore_mask_after_delivery = thread.restore_mask_after_delivery, None
        alt_flags = 1 if on_alt else (2 if not ts.altstack_size else 0)  # SS_ONSTACK/SS_DISABLE
        restorer = action.restorer if action.flags & state.sa_restorer else 0
        try:
            self.frames.setup(
                uc, proc.memory, frame, signo=info.signo, siginfo=self.target.encode_siginfo(info),
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
        if self.process.instruments is not None:
            self.process.instruments.process_killed(target_signal)
        if self.process.on_death is not None:
            self.process.on_death(target_signal, core)
        kill_process_with(self.target.signal_to_host.get(target_signal, target_signal),
                          target_signal, core)

