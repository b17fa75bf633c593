"""`-s` / `-gdb tcp::PORT` / `-S`: a gdbstub for the machine, as qemu-system-arm offers.

The protocol (framing, packets, register description) is the user-mode
stub's core, pyuser.instrument.gdbstub.connection and .packets with the ARM
registers of pyuser.targets.arm_gdb; this module adds what a machine needs:

- one CPU, shown to gdb as thread 1 of process 1 (QEMU's spelling);
- memory through the MMU the CPU sees (the short-descriptor walk of
  :meth:`ArmCpu.translate`, every domain as manager, as a debugger reads),
  or physical memory after `maint packet Qqemu.PhyMemMode:1` (QEMU's
  packet for the same);
- breakpoints as code hooks bounded to their one address (nothing anywhere
  else), added at a stop and made effective by flushing translated code;
- stepping as a CPU-loop slice of one instruction, with interrupts held off
  as QEMU does by default (its SSTEP_NOIRQ);
- a stop at a safe point only: gdb's connection, its Ctrl-C and a
  breakpoint hit each queue the stop with :meth:`CpuLoop.call`, so the stub
  always talks to gdb on the emulation thread between two slices;
- the machine's end (power-off, semihosting exit, guest error) ends the
  session with `W<status>`.

As QEMU's does, the stub stops the machine when gdb connects, answers
`qAttached` with 1 (gdb detaches rather than kills when it quits) and
listens again after gdb detaches or goes away.  It listens on 127.0.0.1
unless a host is given (QEMU's `tcp::PORT` listens on every interface).

Protocol facts are from gdb's manual (Remote Protocol appendix).
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unicorn import UC_HOOK_CODE, UcError

from ..instrument.gdbstub import packets
from ..instrument.gdbstub.connection import Connection, listen
from ..targets.arm_gdb import DESCRIPTION
from ..targets.gdb_desc import Description
from .cpu import GuestMemoryError
from .errors import UsageError

if TYPE_CHECKING:
    from .cpu import ArmCpu
    from .cpu_loop import CpuLoop

SIGINT, SIGTRAP = 2, 5  # gdb's signal numbers (gdb/include/gdb/signals.def)
THREAD = 1
# multiprocess+: thread-ids are p<pid>.<tid> (if gdb offers it too), the machine being process 1 (as QEMU's)
SUPPORTED = "PacketSize=4000;QStartNoAckMode+;qXfer:features:read+;vContSupported+;swbreak+;multiprocess+"
# bare metal or a kernel: no OS ABI, gdb goes by the ELF it was given
MACHINE_DESCRIPTION = Description(DESCRIPTION.architecture, DESCRIPTION.features, osabi="")


def parse_gdb_option(value: str) -> tuple[str, int] | None:
    """-gdb DEV: tcp:[HOST]:PORT, or none.  Returns (host, port) or None."""
    if value == "none":
        return None
    if value.startswith("tcp:"):
        host, _, port = value[4:].rpartition(":")
        if port.isdigit() and 0 < int(port) < 65536:
            return host or "127.0.0.1", int(port)
    raise UsageError(f"-gdb {value}: only tcp:[HOST]:PORT or none is supported")


class _Resume(Exception):  # noqa: N818 - ends a serving loop
    pass


class SystemGdbStub:
    supported = SUPPORTED
    watch_kinds: frozenset[int] = frozenset()  # gdb falls back to software watchpoints

    def __init__(self, loop: CpuLoop, cpu: ArmCpu, host: str, port: int) -> None:
        self.loop = loop
        self.cpu = cpu
        self.description = MACHINE_DESCRIPTION
        try:
            self.server = listen(port, host)
        except OSError as exc:
            raise UsageError(f"-gdb tcp:{host}:{port}: Failed to bind socket: {exc.strerror}") from None
        self.conn: Connection | None = None
        self.detached = True  # until gdb connects
        self.last_reply = f"T{SIGTRAP:02x}"  # until the first stop
        self.reg_thread = 0
        self.breakpoints: set[int] = set()
        self.watchpoints: dict[tuple[int, int, int], None] = {}
        self.catch: set[int] | None = None
        self.catch_all = False
        self.pass_signals: set[int] = set()
        self.physical = False  # Qqemu.PhyMemMode
        self.multiprocess = False  # gdb offered multiprocess+ in qSupported
        self.hooks: dict[int, int] = {}  # breakpoint address -> Unicorn hook handle
        self.running = True  # False while gdb holds a stop
        self._accepting = threading.Thread(target=self._accept_loop, name="pyuser-gdb-accept", daemon=True)
        self._accepting.start()

    # ------------------------------------------------------------ host threads
    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return  # closed: the machine has ended
            if self.conn is not None and not self.conn.closed:
                sock.close()  # one debugger at a time
                continue
            conn = Connection(sock, self._on_interrupt)
            self.loop.call(lambda conn=conn: self._attach(conn))

    def _on_interrupt(self) -> None:
        """gdb's Ctrl-C (reader thread): stop at the next safe point."""
        if self.running:
            self.loop.call(lambda: self.serve(SIGINT) if self.running else None)

    # ------------------------------------------------------------ emulation thread
    def _attach(self, conn: Connection) -> None:
        """gdb connected: the machine stops, and gdb asks why (`?`)."""
        self.conn = conn
        self.detached = False
        self.serve(SIGTRAP, announce=False)

    def _on_breakpoint(self, uc: Any, address: int, _size: int, _data: Any) -> None:
        if self.running and not self.detached and address in self.breakpoints:
            self.running = False
            self.loop.call(lambda: self.serve(SIGTRAP, "swbreak:;"))
            uc.emu_stop()  # from a code hook: before the instruction, the PC on it

    def serve(self, signal: int, extra: str = "", *, announce: bool = True) -> None:
        """At a safe point: report the stop and answer gdb until it resumes."""
        if self.conn is None or self.detached:
            self.running = True
            return
        self.running = False
        self.loop.sync_pc()
        self.reg_thread = 0
        self.last_reply = f"T{signal:02x}{extra}thread:{self.thread_text(THREAD)};"
        if announce:
            self.conn.send(self.last_reply)
        while True:
            packet = self.conn.next_packet()
            if packet is None:  # gdb went away: run on, undebugged
                self._forget()
                break
            try:
                reply = packets.handle(self, packet)
            except _Resume:
                break
            if reply is not None and self.conn is not None:
                self.conn.send(reply)
        self.running = True
        self.loop.resume = self.cpu.resume_address()  # gdb may have moved the PC
        self._sync_hooks()
        self.loop.cont()  # as QEMU's gdb continue: a machine held by -S or QMP stop runs

    def _after_step(self) -> None:
        self.serve(SIGTRAP)

    def _forget(self) -> None:
        self.breakpoints.clear()
        self.detached = True
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def _sync_hooks(self) -> None:
        """Breakpoint hooks as gdb wants them; translated code is dropped so
        that a new hook reaches it and an old one leaves it."""
        uc = self.cpu.uc
        changed = False
        for address in [a for a in self.hooks if a not in self.breakpoints]:
            uc.hook_del(self.hooks.pop(address))
            changed = True
        for address in self.breakpoints - self.hooks.keys():
            self.hooks[address] = uc.hook_add(UC_HOOK_CODE, self._on_breakpoint, None, address, address)
            changed = True
        if changed:
            uc.ctl_flush_tb()

    def finish(self, status: int) -> None:
        """The machine has ended: tell gdb, stop listening."""
        if self.conn is not None and not self.detached:
            self.conn.send(f"W{status & 0xFF:02x}" + (";process:1" if self.multiprocess else ""))
            self.conn.close()
        self.detached = True
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()

    # ------------------------------------------------------------ what packets.handle asks
    def current_thread_id(self) -> int:
        return THREAD

    def thread_ids(self) -> list[int]:
        return [THREAD]

    def thread_text(self, tid: int) -> str:
        """QEMU's spelling: p01.01 once gdb has offered multiprocess+, else 01."""
        return f"p01.{tid:02x}" if self.multiprocess else f"{tid:02x}"

    def has_thread(self, tid: int) -> bool:
        return tid in (THREAD, 0, -1)

    def thread_name(self, tid: int) -> bytes:
        return b"CPU#0 [running]" if tid == THREAD else b""

    def registers(self) -> Any:
        return self.cpu.uc

    def set_pc(self, address: int) -> None:
        self.cpu.uc.reg_write(self.description.by_name["pc"].uc_id, address | int(self.cpu.thumb))

    def read_memory(self, address: int, length: int) -> bytes:
        try:
            if self.physical:
                return bytes(self.cpu.uc.mem_read(address, length))
            return self.cpu.read(address, length)
        except (GuestMemoryError, UcError):
            raise KeyError(address) from None

    def write_memory(self, address: int, data: bytes) -> None:
        try:
            if self.physical:
                self.cpu.uc.mem_write(address, data)
            else:
                self.cpu.write(address, data)
        except (GuestMemoryError, UcError):
            raise KeyError(address) from None
        self.cpu.uc.ctl_flush_tb()  # the bytes may be code already translated

    def resume(self, actions: list[tuple[str, int, int]]) -> None:
        for action, _signal, tid in actions:
            if tid in (-1, 0, THREAD):
                if action == "s":
                    self.loop.single_step = self._after_step
                break
        raise _Resume

    def kill(self) -> None:
        """`kill` in gdb: the machine ends, as QEMU's does."""
        self.loop.flush_output()
        sys.stderr.write("pyuser-system-arm: terminated via gdbstub\n")
        sys.stderr.flush()
        self.loop.shutdown(0, "host-signal")
        self._forget()
        raise _Resume

    def xfer(self, obj: str, annex: str) -> bytes | None:
        if obj == "features" and annex == "target.xml":
            return self.description.xml().encode()
        return None

    def monitor(self, command: str) -> str | None:
        words = command.split()
        if not words or words[0] == "help":
            return "info registers\nxp/Nx ADDR  (N words of physical memory)\n"
        if words == ["info", "registers"]:
            return self.cpu_dump()
        if words[0].startswith("xp/") and len(words) == 2:
            try:
                return self._examine_physical(words[0][3:], words[1])
            except (ValueError, UcError) as exc:
                return f"{exc}\n"
        return f"unknown command: '{words[0]}'\n"

    def special(self, text: str) -> str | None:
        if text.startswith("qSupported"):
            self.multiprocess = "multiprocess+" in text
            return None  # answered by packets.handle
        if text.startswith("qAttached"):
            return "1"  # attached to a running machine: quitting gdb detaches
        if text == "qqemu.PhyMemMode":
            return str(int(self.physical))
        if text.startswith("Qqemu.PhyMemMode:"):
            self.physical = text.endswith("1")
            return "OK"
        return None

    # ------------------------------------------------------------ monitor helpers
    def cpu_dump(self) -> str:
        from unicorn import arm_const as A

        uc = self.cpu.uc
        lines = []
        for row in range(4):
            regs = [uc.reg_read(getattr(A, f"UC_ARM_REG_R{i}")) for i in range(row * 4, row * 4 + 4)]
            lines.append(" ".join(f"R{row * 4 + i:02d}={v:08x}" for i, v in enumerate(regs)))
        lines.append(f"PSR={self.cpu.cpsr:08x}")
        return "\n".join(lines) + "\n"

    def _examine_physical(self, fmt: str, where: str) -> str:
        count = int(fmt.rstrip("xwb") or "1")
        address = int(where, 0)
        words = [int.from_bytes(self.cpu.uc.mem_read(address + 4 * i, 4), "little") for i in range(count)]
        return "".join(f"{address + 4 * i:016x}: 0x{w:08x}\n" for i, w in enumerate(words))


def install(loop: CpuLoop, cpu: ArmCpu, gdb: tuple[str, int]) -> Callable[[int], None]:
    """Start listening; returns what to call with the exit status at the end."""
    stub = SystemGdbStub(loop, cpu, *gdb)
    return stub.finish
