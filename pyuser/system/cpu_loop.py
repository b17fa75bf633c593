"""Running the CPU: emu_start slices, interrupts, semihosting, and safe points.

Every change to the board happens on this (the emulating) thread, between
slices.  Other threads (the QMP server, the stdin reader) only queue work
with :meth:`CpuLoop.call` and set :attr:`CpuLoop.wake`.

Why slices ended by an AsyncStop: Unicorn has no interrupt API, a plain
``emu_stop`` requested from another thread can replay a store, and one from
inside an MMIO callback rewinds the PC onto the store, which then runs twice
(both measured; pyuser.engine.AsyncStop explains), so devices never stop the
CPU themselves.  ``count=`` slices are safe too but slow: Unicorn counts with
a code hook on every instruction, which then also walks every other code hook
(the timer's 16 CTL/CVAL traps on Linux): 20M instructions of a loop took
0.07 s in ``count=`` slices with no other code hook and 0.44 s with 16, and
0.08 s unbounded with the AsyncStop hooks, with or without the 16 (bounded
code hooks then cost only where they are).  So a ticker thread asks the
AsyncStop for a stop at the next block boundary every SLICE_NS; at each
boundary the timer is sampled and a pending, unmasked IRQ is entered by hand.
``wfi`` makes emu_start return early; the loop then sleeps until the next
timer deadline, host input, or a QMP command.
"""

from __future__ import annotations

import ctypes
import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from unicorn import (
    UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID,
    UC_ERR_READ_UNMAPPED,
    UC_ERR_WRITE_UNMAPPED,
    UC_HOOK_INTR,
    UcError,
)
from unicorn import arm_const as A
from unicorn.unicorn_py3.unicorn import uclib

from ..engine import AsyncStop, GatedBlockHook
from .chardev import Chardev
from .cpu import CPSR_I, SCTLR, SCTLR_M, ArmCpu, GuestMemoryError
from .psci import IMPLEMENTED, PowerRequest, psci_call
from .semihosting import (
    ARM_HLT,
    ARM_SVC,
    THUMB_BKPT,
    THUMB_HLT,
    THUMB_SVC,
    Semihosting,
    SemihostingExit,
    UnsupportedSemihosting,
)

SLICE_NS = 1_000_000  # a slice: ~1 ms of host time, ended by the ticker thread
UNTIL = 0xFFFFFFFF  # odd, so never a PC: run until count, wfi or a stop
# QEMU's exception numbers, as UC_HOOK_INTR reports them (target/arm/cpu.h).
EXCP_SWI, EXCP_PREFETCH_ABORT, EXCP_DATA_ABORT, EXCP_BKPT = 2, 3, 4, 7
ARM_HVC0 = 0xE1400070  # hvc #0, the PSCI conduit (ARMv7-A ARM A8.8.389 HVC, encoding A1)
THUMB_HVC0 = 0xF7E08000  # hvc.w #0 (encoding T1), first halfword in the high half
ARM_WFI = 0xE320F003
THUMB_WFI = 0xBF30
CPSR_MODE_USR = 0x10


class CpuLoop:
    def __init__(self, machine: Any, cpu: ArmCpu, semihosting: Semihosting | None = None,
                 slice_ns: int = SLICE_NS) -> None:
        self.machine = machine
        self.cpu = cpu
        self.semihosting = semihosting
        self.slice_ns = slice_ns
        self._stopper: AsyncStop | None = None
        self._unmask_watch: GatedBlockHook | None = None
        self._running = False
        self._in_slice = threading.Event()  # the ticker sleeps while the CPU does not run
        self._stopped_at_block = False
        self.boot_unticked = False  # set for Linux kernels, see _slice
        self._cpsr = ctypes.c_uint32()
        self._cpsr_ref = ctypes.byref(self._cpsr)
        self.slices = 0  # emu_start calls, for measurements
        self.wake = threading.Event()
        self.calls: queue.SimpleQueue[tuple[Callable[[], Any], Future]] = queue.SimpleQueue()
        self.paused = False
        self.exit_status: int | None = None
        self.error: str | None = None
        self.event_listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.resume = 0
        self._pending: tuple[str, int, tuple[int, int] | None] | None = None
        # Run at safe points until they return True (the Linux timer set-up).
        self.safe_point_hooks: list[Callable[[], bool]] = []
        # A guest reset (PSCI SYSTEM_RESET): reset the board, load the
        # images again and return the entry point.  None, or no_reboot
        # (-no-reboot): the run ends instead, with status 0, as in QEMU.
        self.on_reset: Callable[[], int] | None = None
        self.no_reboot = False
        # Set by a debugger (the gdbstub): run one instruction, interrupts
        # held off, then call it.
        self.single_step: Callable[[], None] | None = None
        self._done = threading.Event()

    # -- for other threads

    def call(self, fn: Callable[[], Any]) -> Future:
        """Run `fn` on the emulation thread at the next safe point."""
        future: Future = Future()
        if self._done.is_set():
            future.set_exception(RuntimeError("the machine has shut down"))
            return future
        self.calls.put((fn, future))
        self.wake.set()
        if self._stopper is not None:
            self._stopper.request()  # at the next block boundary, see the module doc
        return future

    def sync_pc(self) -> None:
        """Make the PC register say where the CPU resumes (a debugger reads it;
        an exception entry only sets `resume`)."""
        self.cpu.uc.reg_write(A.UC_ARM_REG_PC, self.resume)

    def data_abort_before(self, pc: int, fault: tuple[int, int]) -> None:
        """From a code hook, the instruction at `pc` not yet run: take a data
        abort with (DFSR, DFAR) = `fault` instead (LR = the instruction + 8)."""
        self._pending = ("data", (pc & ~1) + 8, fault)
        self.cpu.uc.emu_stop()

    def flush_output(self) -> None:
        self._flush()

    def emit(self, event: str, data: dict[str, Any]) -> None:
        for listener in list(self.event_listeners):
            listener(event, data)

    # -- state changes (emulation thread)

    def shutdown(self, status: int, reason: str = "host-qmp-quit", guest: bool = False) -> None:
        if self.exit_status is None:
            self.exit_status = status
            self.emit("SHUTDOWN", {"guest": guest, "reason": reason})

    def stop(self) -> None:
        if not self.paused:
            self.paused = True
            self.emit("STOP", {})

    def cont(self) -> None:
        if self.paused:
            self.paused = False
            self.emit("RESUME", {})

    # -- the loop

    def run(self, entry: int) -> int:
        uc = self.cpu.uc
        hook = uc.hook_add(UC_HOOK_INTR, self._on_intr)
        if self._stopper is None:
            self._stopper = AsyncStop(uc)
            self._unmask_watch = GatedBlockHook(uc, self._on_block_while_masked)
        ticker = threading.Thread(target=self._tick, name="pyuser-slice-ticker", daemon=True)
        self._running = True
        ticker.start()
        self.resume = entry
        self.sync_pc()
        try:
            while self.exit_status is None:
                self._service()
                if self.exit_status is not None:
                    break
                if self.paused:
                    self._sleep(None)
                    continue
                if self.safe_point_hooks:
                    self.safe_point_hooks = [hook for hook in self.safe_point_hooks if not hook()]
                self.machine.poll_devices(time.monotonic_ns())
                stepped = self.single_step
                if self.cpu.irq_level and not self.cpu.cpsr & CPSR_I and stepped is None:
                    uc.reg_write(A.UC_ARM_REG_PC, self.resume)
                    self.resume = self.cpu.take_irq()
                self._slice()
                self._flush()
                if stepped is not None and self.exit_status is None:
                    # (a step onto a resetting hvc stops at the entry point)
                    self.single_step = None
                    stepped()
        finally:
            self._running = False
            self._in_slice.set()
            ticker.join()
            uc.hook_del(hook)
            self._done.set()
            self._drain()
            self._flush()
        return self.exit_status

    def _service(self) -> None:
        while True:
            try:
                fn, future = self.calls.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                future.set_exception(exc)

    def _drain(self) -> None:
        while True:
            try:
                _fn, future = self.calls.get_nowait()
            except queue.Empty:
                return
            future.set_exception(RuntimeError("the machine has shut down"))

    def _tick(self) -> None:
        """The ticker thread: end the running slice every slice_ns."""
        assert self._stopper is not None
        while self._running:
            self._in_slice.wait()
            time.sleep(self.slice_ns / 1e9)
            self._stopper.request()  # a late one ends the next slice early: harmless

    def _on_block_while_masked(self, handle: int, _address: int, _size: int, _data: int) -> None:
        # Straight from C with raw library calls: the binding's hook wrapper
        # and reg_read cost several times more, at every block of the window.
        uclib.uc_reg_read(handle, A.UC_ARM_REG_CPSR, self._cpsr_ref)
        if not self._cpsr.value & CPSR_I:
            self._stopped_at_block = True
            uclib.uc_emu_stop(handle)  # at a block boundary, on this thread: safe

    def _slice(self) -> None:
        uc = self.cpu.uc
        assert self._stopper is not None and self._unmask_watch is not None
        self._pending = None
        self.slices += 1
        # An interrupt that waits for the guest to unmask it (Linux's idle
        # loop runs wfi masked, then `cpsie i`) is taken at the first block
        # boundary after the unmasking: the watch looks at CPSR.I at each one.
        watch = bool(self.cpu.irq_level and self.cpu.cpsr & CPSR_I) and self.single_step is None
        if watch:
            self._unmask_watch.open()
        self._stopper.clear()
        self._stopped_at_block = False
        try:
            if not self.calls.empty():
                return
            # Linux's boot protocol runs the decompressor and the kernel's
            # first steps with interrupts masked and the MMU off (Linux
            # unmasks them only with its MMU on), so for a Linux kernel such
            # a slice is not ticked: it runs until the guest traps or waits,
            # or CpuLoop.call stops it (about 9,000 slice boundaries fewer).
            # Not for bare-metal programs, which may unmask with the MMU off.
            if not (self.boot_unticked and self.cpu.cpsr & CPSR_I and not self.cpu.read_cp(SCTLR) & SCTLR_M):
                self._in_slice.set()
            uc.emu_start(self.resume, UNTIL, count=1 if self.single_step is not None else 0)
        except UcError as exc:
            if exc.errno == UC_ERR_INSN_INVALID:
                self._undefined()
            elif exc.errno in (UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED):
                self._abort("data", exc)
            elif exc.errno == UC_ERR_FETCH_UNMAPPED:
                self._abort("prefetch", exc)
            else:
                self._guest_error(str(exc))
            return
        finally:
            self._in_slice.clear()
            if watch:
                self._unmask_watch.close()
        if self.exit_status is not None:
            return
        if self._pending is not None:
            kind, lr, fault = self._pending
            self.resume = self.cpu.take_exception(kind, lr, fault)
            return
        self.resume = self.cpu.resume_address()
        # A slice also ends at a block boundary that may follow a wfi (the
        # guest's return from the interrupt that woke it): then the wfi is
        # not known to be the cause, and the guest goes on as after a
        # spurious wake-up, which the architecture allows (ARMv7-A ARM
        # B1.8.13), instead of sleeping with nothing to wake it.
        if not (self._stopper.requested or self._stopped_at_block) and self._after_wfi():
            self._idle()

    def _after_wfi(self) -> bool:
        pc = self.resume & ~1
        try:
            if self.resume & 1:
                return int.from_bytes(self.cpu.read(pc - 2, 2), "little") == THUMB_WFI
            return self.cpu.read_u32(pc - 4) == ARM_WFI
        except (GuestMemoryError, UcError):
            return False

    def _idle(self) -> None:
        """The guest executed wfi: sleep until something could interrupt it."""
        while self.exit_status is None and not self.paused:
            self.wake.clear()
            if not self.calls.empty():
                return
            now = time.monotonic_ns()
            deadline = self.machine.poll_devices(now)
            if self.cpu.irq_level:
                return  # wfi wakes on a pending interrupt even if it is masked
            self._flush()
            self.wake.wait(None if deadline is None else max(0.0, (deadline - now) / 1e9))

    def _sleep(self, timeout: float | None) -> None:
        self.wake.clear()
        if self.calls.empty():
            self._flush()
            self.wake.wait(timeout)

    def _flush(self) -> None:
        for backend in self.machine.ctx.backends.values():
            if isinstance(backend, Chardev):
                backend.flush()

    # -- exceptions

    def _on_intr(self, uc, intno: int, _data) -> None:
        pc = uc.reg_read(A.UC_ARM_REG_PC)  # the instruction after the trap
        thumb = bool(uc.reg_read(A.UC_ARM_REG_CPSR) & (1 << 5))
        if intno == EXCP_SWI:
            if self._semihosting_allowed():
                insn = self._fetch(pc - 2, 2) if thumb else self._fetch(pc - 4, 4)
                if insn == (THUMB_SVC if thumb else ARM_SVC):
                    self._semihost()
                    return
            self._pending = ("svc", pc, None)
        elif intno in (EXCP_DATA_ABORT, EXCP_PREFETCH_ABORT):
            # The PC is on the instruction that aborted, registers as before it.
            kind = "data" if intno == EXCP_DATA_ABORT else "prefetch"
            fault = self.cpu.data_abort() if kind == "data" else self.cpu.prefetch_abort()
            if fault is None:
                self._guest_error(f"{kind} abort that the page tables do not explain")
            else:
                self._pending = (kind, pc + (8 if kind == "data" else 4), fault)
        elif intno == EXCP_BKPT and thumb and self._semihosting_allowed() and self._fetch(pc, 2) == THUMB_BKPT:
            uc.reg_write(A.UC_ARM_REG_PC, (pc + 2) | 1)
            self._semihost()
            return
        else:
            self._guest_error(f"unhandled CPU exception {intno} at pc={pc:#010x}")
        uc.emu_stop()

    def _fetch(self, va: int, size: int) -> int | None:
        try:
            return int.from_bytes(self.cpu.read(va, size), "little")
        except (GuestMemoryError, UcError):
            return None

    def _semihosting_allowed(self) -> bool:
        # QEMU refuses semihosting from User mode unless told otherwise.
        return self.semihosting is not None and (self.cpu.cpsr & 0x1F) != CPSR_MODE_USR

    def _semihost(self) -> None:
        uc = self.cpu.uc
        assert self.semihosting is not None
        op, arg = uc.reg_read(A.UC_ARM_REG_R0), uc.reg_read(A.UC_ARM_REG_R1)
        if self.cpu.log is not None:
            self.cpu.log.call("semihosting", False, f"...handling as semihosting call 0x{op:x}")
        try:
            uc.reg_write(A.UC_ARM_REG_R0, self.semihosting.call(op, arg) & 0xFFFFFFFF)
        except SemihostingExit as done:
            self.exit_status = done.status
            uc.emu_stop()
        except UnsupportedSemihosting as exc:
            self._guest_error(str(exc))
            uc.emu_stop()

    def _abort(self, kind: str, exc: UcError) -> None:
        """An access that reached no memory: a synchronous external abort to the guest."""
        fault = self.cpu.data_abort() if kind == "data" else self.cpu.prefetch_abort()
        if fault is None:
            self._guest_error(str(exc))
            return
        if self.cpu.log is not None:
            self._log_unassigned(kind, fault[1])
        pc = self.cpu.uc.reg_read(A.UC_ARM_REG_PC)
        self.resume = self.cpu.take_exception(kind, pc + (8 if kind == "data" else 4), fault)

    def _log_unassigned(self, kind: str, va: int) -> None:
        assert self.cpu.log is not None
        try:
            where = f"physical address {self.cpu.translate(va):#010x}"
        except GuestMemoryError:
            where = f"address {va:#010x}"
        access = "fetch" if kind == "prefetch" else "access"
        self.cpu.log.unimp(f"unassigned {access} at {where} (nothing is mapped there)")

    def _psci(self) -> bool:
        """Serve a PSCI call; True if it reset the machine (the CPU starts over)."""
        uc = self.cpu.uc
        function = uc.reg_read(A.UC_ARM_REG_R0)
        log = self.cpu.log
        if log is not None:
            log.call("hvc", False, "...handled as PSCI call")
            if function not in IMPLEMENTED:
                log.unimp(f"psci: unsupported function {function:#x}")
        try:
            result = psci_call(function, uc.reg_read(A.UC_ARM_REG_R1))
        except PowerRequest as request:
            # As qemu-system-arm: power-off ends the run with status 0; a
            # reset boots again (a RESET event), or under -no-reboot ends
            # the run with status 0 too (a SHUTDOWN event, reason guest-reset).
            self._flush()
            if request.reset and self.on_reset is not None and not self.no_reboot:
                self.emit("RESET", {"guest": True, "reason": "guest-reset"})
                self.resume = self.on_reset()
                return True
            self.shutdown(0, "guest-reset" if request.reset else "guest-shutdown", guest=True)
            return False
        uc.reg_write(A.UC_ARM_REG_R0, result & 0xFFFFFFFF)
        return False

    def _undefined(self) -> None:
        """UDF, HLT and friends stop emu_start with UC_ERR_INSN_INVALID, PC on the insn."""
        pc = self.cpu.uc.reg_read(A.UC_ARM_REG_PC)
        thumb = self.cpu.thumb
        if self._semihosting_allowed():
            insn = self._fetch(pc, 2) if thumb else self._fetch(pc, 4)
            if insn == (THUMB_HLT if thumb else ARM_HLT):
                self.cpu.uc.reg_write(A.UC_ARM_REG_PC, (pc + (2 if thumb else 4)) | thumb)
                self._semihost()
                if self.exit_status is None and self.error is None:
                    self.resume = self.cpu.resume_address()
                return
        if (self.cpu.cpsr & 0x1F) != CPSR_MODE_USR:
            insn = self._fetch(pc, 4)
            if insn is not None and (insn == ARM_HVC0 if not thumb else
                                     ((insn & 0xFFFF) << 16 | insn >> 16) & 0xFFF0F000 == THUMB_HVC0):
                # No EL2 here, so hvc is undefined to Unicorn: it is the PSCI conduit.
                if self._psci():
                    return
                self.cpu.uc.reg_write(A.UC_ARM_REG_PC, (pc + 4) | thumb)
                self.resume = self.cpu.resume_address()
                return
        # Undefined Instruction: LR = the instruction + 4 (ARM) or + 2 (Thumb), ARMv7-A ARM B1.8.3.
        self.resume = self.cpu.take_exception("undef", pc + (2 if thumb else 4))

    def _guest_error(self, message: str) -> None:
        if self.error is None:
            pc = self.cpu.uc.reg_read(A.UC_ARM_REG_PC)
            self.error = f"guest stopped: {message} (pc={pc:#010x})"
            self._flush()
            sys.stderr.write(f"pyuser-system-arm: {self.error}\n")
        self.exit_status = 1
