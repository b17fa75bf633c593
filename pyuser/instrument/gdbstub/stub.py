"""`-g PORT`: a gdbstub, so that gdb-multiarch debugs the guest as under qemu-user.

How a stop happens: a breakpoint, a single step, a watchpoint or Ctrl-C
parks a :class:`GdbStop` in the CPU's stop reason and stops the engine at an
instruction boundary; the CPU loop calls back here between two runs, and
the stub talks to gdb on the emulating thread until gdb resumes.  Every
other guest thread is held meanwhile (it waits for the CPU token), which is
gdb's all-stop mode.  A signal about to reach the guest and a caught
syscall are served from where the emulator already is (the signal
delivery, the syscall hook).  Engine hooks change only at safe points
(:meth:`GdbStub.sync_hooks`); a plain run has none of this.

Protocol facts are from gdb's manual (Remote Protocol appendix: packets,
stop replies, vCont, qXfer objects, QCatchSyscalls).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyuser.instrument.engine_hooks import ACCESS_WRITE, MEM_READ, MEM_WRITE, EngineHooks
from pyuser.instrument.gdbstub import packets
from pyuser.instrument.gdbstub.connection import Connection, listen
from pyuser.instrument.gdbstub.objects import GDB_SIGTRAP, SignalNumbers, libraries_svr4
from pyuser.instrument.hub import Client, SafePointStop
from pyuser.memory import PAGE_MAPPED
from pyuser.signals import SigInfo
from pyuser.targets.base import Fault

if TYPE_CHECKING:
    from pyuser.cpu import CpuLoop
    from pyuser.process import Process, Thread

PACKET_SIZE = 0x4000


class GdbStop(SafePointStop):
    """Stop here and tell gdb `reply` (a T stop reply without the thread)."""

    def __init__(self, stub: GdbStub, signal: int, extra: str = "") -> None:
        super().__init__()
        self.stub = stub
        self.signal = signal
        self.extra = extra

    def handle(self, cpu: CpuLoop) -> None:
        self.stub.stop(cpu, self.signal, self.extra)


class ApplyHooks(SafePointStop):
    """After a stop served inside a hook: change the engine hooks, go on."""

    def __init__(self, stub: GdbStub) -> None:
        super().__init__()
        self.stub = stub

    def handle(self, cpu: CpuLoop) -> None:
        self.stub.sync_hooks()


@dataclass
class Step:
    tid: int  # the thread to step; 0: stop in whichever thread runs next
    skip: int  # instruction starts to let pass before stopping


class _PcAfterSyscall:
    """A thread's registers with the PC moved past the syscall instruction."""

    def __init__(self, regs: Any, target: Any) -> None:
        self.regs = regs
        self.pc_reg = target.pc_reg
        self.delta = target.syscall_insn_size(regs)

    def reg_read(self, reg_id: int) -> Any:
        value = self.regs.reg_read(reg_id)
        return value + self.delta if reg_id == self.pc_reg else value

    def reg_write(self, reg_id: int, value: Any) -> None:
        self.regs.reg_write(reg_id, value - self.delta if reg_id == self.pc_reg else value)


class _Resume(Exception):  # noqa: N818 - ends a serving loop
    pass


class GdbStub(Client):
    wants_syscalls = True
    supported = packets.SUPPORTED
    watch_kinds = frozenset((2, 3, 4))

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.target = process.target
        self.description = self.target.gdb_description()
        self.signals = SignalNumbers(self.target.abi.CONST)
        self.server = listen(port)
        self.conn: Connection | None = None
        self.detached = False
        self.engines: dict[int, tuple[CpuLoop, EngineHooks]] = {}  # id(cpu) ->
        self.breakpoints: set[int] = set()
        self.watchpoints: dict[tuple[int, int, int], None] = {}  # (kind, addr, len)
        self.installed: dict[int, dict[Any, int]] = {}  # id(cpu) -> key -> handle
        self.step: Step | None = Step(0, 0)  # the first instruction stops
        self.watch_hit: str = ""
        self.catch_all = False
        self.catch: set[int] | None = None  # None: no syscall catching
        self.reg_thread = 0  # Hg; 0: the stopped thread
        self.stopped: Thread | None = None
        self.last_reply = "S05"
        self.resume_signal = 0
        self.siginfo = b""
        self.pass_signals: set[int] = set()  # gdb signals delivered without a stop
        self.running = True
        self.interrupt_pending = False
        self.inline = False
        process.async_stops_wanted = True  # Ctrl-C stops the CPU at a block boundary

    # ------------------------------------------------------------ engines
    def attach(self, cpu: CpuLoop) -> None:
        self.engines[id(cpu)] = (cpu, EngineHooks(cpu.uc))
        self.installed[id(cpu)] = {}
        self.sync_hooks()

    def detach(self, cpu: CpuLoop) -> None:
        self.engines.pop(id(cpu), None)
        self.installed.pop(id(cpu), None)

    def _wanted_hooks(self) -> dict[Any, tuple]:
        wanted: dict[Any, tuple] = {("bp", a): ("code", a) for a in self.breakpoints}
        for kind, addr, length in self.watchpoints:
            wanted[("watch", kind, addr, length)] = ("mem", kind, addr, length)
        if self.step is not None or self.watchpoints:
            wanted[("step",)] = ("step",)
        return wanted

    def sync_hooks(self) -> None:
        """Make every engine's hooks match the breakpoints, watchpoints and
        step request (at a safe point)."""
        wanted = self._wanted_hooks() if not self.detached else {}
        for key, (_cpu, hooks) in self.engines.items():
            have = self.installed[key]
            for name in [n for n in have if n not in wanted]:
                hooks.remove(have.pop(name))
            for name, spec in wanted.items():
                if name not in have:
                    have[name] = self._install(hooks, spec)

    def _install(self, hooks: EngineHooks, spec: tuple) -> int:
        if spec[0] == "code":
            return hooks.code(self._on_breakpoint, spec[1], spec[1])
        if spec[0] == "step":
            return hooks.code(self._on_instruction)
        _, kind, addr, length = spec
        mask = {2: MEM_WRITE, 3: MEM_READ, 4: MEM_READ | MEM_WRITE}[kind]
        return hooks.memory(mask, self._watch_callback(kind), addr, addr + length - 1)

    # ------------------------------------------------------------ hooks (emulating thread)
    def _park(self, signal: int, extra: str = "") -> None:
        cpu = self.process.cpu
        if cpu is not None and cpu.stop_reason is None:
            cpu.stop_reason = GdbStop(self, signal, extra)
            cpu.uc.emu_stop()

    def _on_breakpoint(self, address: int, _size: int) -> None:
        if self.running and address in self.breakpoints:
            self.running = False
            self._park(GDB_SIGTRAP, "swbreak:;")

    def _on_instruction(self, _address: int, _size: int) -> None:
        if not self.running:
            return
        if self.watch_hit:
            self.running = False
            hit, self.watch_hit = self.watch_hit, ""
            self._park(GDB_SIGTRAP, hit)
            return
        step = self.step
        if step is None or (step.tid and step.tid != self.process.current.tid):
            return
        if step.skip:
            step.skip -= 1
            return
        self.running = False
        self._park(GDB_SIGTRAP)

    def _watch_callback(self, kind: int):
        name = {2: "watch", 3: "rwatch", 4: "awatch"}[kind]

        def on_access(access: int, address: int, _size: int, _value: int) -> None:
            if kind == 4 and access == ACCESS_WRITE:
                self.watch_hit = f"awatch:{address:x};"
            elif kind != 3 or access != ACCESS_WRITE:
                self.watch_hit = f"{name}:{address:x};"

        return on_access

    def interrupt(self) -> None:
        """gdb's Ctrl-C, on the reader thread.  As qemu-user does, the guest
        gets a SIGINT, which stops it in gdb before delivery (gdb then resumes
        without it): a thread blocked in a syscall is interrupted too, and
        the call restarts as if nothing happened."""
        if self.running and not self.interrupt_pending:
            self.interrupt_pending = True
            self.process.signals.post_from_thread(SigInfo(self.target.const("SIGINT")))

    # ------------------------------------------------------------ events
    def stop(self, cpu: CpuLoop, signal: int, extra: str = "") -> None:
        """At a safe point: report the stop, serve gdb, then resume."""
        self.serve(signal, extra)
        self.sync_hooks()

    def before_signal(self, cpu: CpuLoop, signo: int, info: Any) -> int:
        if self.detached or self.signals.gdb(signo) in self.pass_signals:
            return signo
        if isinstance(info, Fault):  # a synchronous fault: the siginfo it will get
            info = SigInfo(signo, code=info.code, addr=info.address, fault=True)
        self.siginfo = self.process.target.encode_siginfo(info) if isinstance(info, SigInfo) else b""
        self.serve(self.signals.gdb(signo))
        self.sync_hooks()
        self.siginfo = b""
        return self.signals.target(self.resume_signal) if self.resume_signal else 0

    def syscall_entry(self, cpu: CpuLoop, number: int, regs: Any) -> None:
        if self._catching(number):
            self.serve(GDB_SIGTRAP, f"syscall_entry:{number:x};", inline=True)
            self._after_inline(cpu)

    def syscall_exit(self, cpu: CpuLoop, number: int, regs: Any, result: int | None) -> None:
        if result is not None and self._catching(number):
            self.serve(GDB_SIGTRAP, f"syscall_return:{number:x};", inline=True)
            self._after_inline(cpu)

    def _catching(self, number: int) -> bool:
        return (not self.detached and self.conn is not None and self.catch is not None
                and (self.catch_all or number in self.catch))

    def _after_inline(self, cpu: CpuLoop) -> None:
        """Served inside a hook: hooks change at the next safe point."""
        if self._wanted_hooks().keys() != self.installed.get(id(cpu), {}).keys():
            if cpu.stop_reason is None:
                cpu.stop_reason = ApplyHooks(self)
            cpu.uc.emu_stop()

    def thread_started(self, thread: Thread) -> None:
        pass

    def process_exit(self, status: int) -> None:
        self._finish(f"W{status & 0xFF:02x}")

    def process_killed(self, signo: int) -> None:
        self._finish(f"X{self.signals.gdb(signo):02x}")

    def _finish(self, reply: str) -> None:
        if self.conn is not None and not self.detached:
            self.conn.send(reply)
            self.conn.close()
        self.detached = True

    def after_fork(self) -> None:
        """The child of a guest fork runs on undebugged, as under qemu."""
        self.detached = True
        if self.conn is not None:
            self.conn.sock.close()  # the parent keeps the connection
        self.server.close()
        self.sync_hooks()

    # ------------------------------------------------------------ serving
    def serve(self, signal: int, extra: str = "", *, inline: bool = False) -> None:
        """Report a stop of the current thread and answer gdb until it resumes.

        inline: served from a syscall hook, the current instruction done, so
        a step stops at the next instruction start."""
        if self.detached:
            return
        self.inline = inline
        self.interrupt_pending = False
        self.running = False
        self.step = None
        self.stopped = self.process.current
        self.reg_thread = 0
        self.resume_signal = 0
        self.last_reply = f"T{signal:02x}{extra}thread:{self.stopped.tid:x};"
        if self.conn is None:
            self._wait_for_gdb()
        else:
            self.conn.send(self.last_reply)
        while True:
            packet = self.conn.next_packet()  # type: ignore[union-attr]
            if packet is None:  # gdb went away: run on, undebugged
                self.detached = True
                self.running = True
                return
            try:
                reply = self.handle(packet)
            except _Resume:
                self.running = True
                return
            if reply is not None:
                self.conn.send(reply)  # type: ignore[union-attr]

    def _wait_for_gdb(self) -> None:
        sock, _ = self.server.accept()
        self.server.close()
        self.conn = Connection(sock, self.interrupt)

    def handle(self, packet: bytes) -> str | bytes | None:
        return packets.handle(self, packet)

    # ------------------------------------------------------------ state gdb reads
    def thread_ids(self) -> list[int]:
        return list(self.process.threads)

    def current_thread_id(self) -> int:
        return self.stopped.tid if self.stopped is not None else self.process.current.tid

    def thread_text(self, tid: int) -> str:
        return f"{tid:x}"

    def has_thread(self, tid: int) -> bool:
        return tid in self.process.threads

    def thread_name(self, tid: int) -> bytes:
        thread = self.process.threads.get(tid)
        return (thread.name or b"") if thread is not None else b""

    def set_pc(self, address: int) -> None:
        self.target.set_pc(self.registers(), address)

    def monitor(self, command: str) -> str | None:
        return None  # no monitor commands in user mode (qemu-user has none either)

    def special(self, text: str) -> str | None:
        return None

    def selected_thread(self) -> Thread:
        thread = self.process.threads.get(self.reg_thread) if self.reg_thread else None
        return thread or self.stopped or self.process.current

    def registers(self) -> Any:
        thread = self.selected_thread()
        regs = self.process.instruments.registers_of(thread)
        if self.inline and thread is self.stopped and self.target.pc_on_syscall_in_hook:
            # at a syscall stop gdb sees the PC after the syscall instruction,
            # as ptrace shows it, though the engine's is still on it
            return _PcAfterSyscall(regs, self.target)
        return regs

    def read_memory(self, address: int, length: int) -> bytes:
        memory = self.process.memory
        if address + length <= memory.size:
            first, last = address >> 12, (address + length - 1) >> 12
            if all(memory.pages[p] & PAGE_MAPPED for p in range(first, last + 1)):
                return memory.host[address:address + length]
            raise KeyError(address)
        return bytes(self.process.cpu.uc.mem_read(address, length))

    def write_memory(self, address: int, data: bytes) -> None:
        memory = self.process.memory
        self.read_memory(address, len(data))  # mapped?
        if address + len(data) <= memory.size:
            memory.host[address:address + len(data)] = data
            memory.invalidate_code(address, address + len(data))
        else:
            self.process.cpu.uc.mem_write(address, data)

    def resume(self, actions: list[tuple[str, int, int]]) -> None:
        """vCont actions (action, signal, tid or -1 for all), the first that
        matches a thread wins, as gdb's manual says."""
        stopped = self.stopped.tid if self.stopped is not None else 0
        for action, signal, tid in actions:
            if tid not in (-1, 0, stopped) and action.startswith("s"):
                self.step = Step(tid, 1)
                break
            if tid in (-1, 0, stopped):
                if action == "s":
                    self.step = Step(stopped, 0 if self.inline else 1)
                if signal:
                    self.resume_signal = signal
                break
        raise _Resume

    def kill(self) -> None:
        sys.stdout.flush()
        sys.stderr.write("pyuser: terminated via gdbstub\n")
        sys.stderr.flush()
        if self.conn is not None:
            self.conn.close()
        os._exit(137)

    def xfer(self, obj: str, annex: str) -> bytes | None:
        if obj == "features" and annex == "target.xml":
            return self.description.xml().encode()
        if obj == "auxv":
            return self.process.auxv
        if obj == "exec-file":
            return os.fsencode(self.process.exe_guest_path)
        if obj == "libraries-svr4":
            return libraries_svr4(self.process).encode()
        if obj == "siginfo" and self.siginfo:
            return self.siginfo
        return None

