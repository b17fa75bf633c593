"""The plugin API: what a plugin's ``install(ctx, args)`` receives and registers.

In the spirit of QEMU's TCG plugins (docs/devel/tcg-plugins.rst): a plugin
asks for the events it wants and pyuser installs only the hooks those
events need.  See docs/debugging.md for the guide and the shipped plugins.

Events:

- ``ctx.on_block_translated(fn)`` -- fn(block) the first time a block runs
  (Unicorn does not report translations; the first execution of a block at
  an address and size stands for it).  ``block.instructions`` disassembles
  it lazily with capstone; ``block.on_execute(fn)`` and, for single
  instructions, ``insn.on_execute(fn)`` register execution callbacks.
- ``ctx.on_block_executed(fn)`` -- fn(block) for every block executed.
- ``ctx.on_memory(fn, begin=0, end=None)`` -- fn(access) for each load and
  store in [begin, end): address, size, is_store, value, pc.
- ``ctx.on_syscall_entry(fn)`` / ``ctx.on_syscall_exit(fn)`` -- fn(event):
  number, name, args, the arguments decoded as -strace shows them, result.
- ``ctx.on_thread_start(fn)`` / ``ctx.on_thread_exit(fn)`` -- fn(tid).
- ``ctx.on_exit(fn)`` -- fn(status): the process's exit status, or -signal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from pyuser.process import Process


@dataclass
class Instruction:
    address: int
    size: int
    mnemonic: str
    op_str: str
    bytes: bytes
    callbacks: list[Callable[[Instruction], None]] = field(default_factory=list, repr=False)

    def on_execute(self, fn: Callable[[Instruction], None]) -> None:
        """fn(insn) each time this instruction is about to run (costs a hook
        call per instruction executed while any instruction callback exists)."""
        self.callbacks.append(fn)
        self._host.instruction_callbacks(self)

    _host: Any = field(default=None, repr=False)


class Block:
    """A translated block: address, size (bytes), instructions (lazy)."""

    def __init__(self, host: Any, address: int, size: int, code: bytes, mode: str) -> None:
        self._host = host
        self.address = address
        self.size = size
        self.code = code
        self.mode = mode  # the disassembly mode (arm/thumb, ...)
        self.callbacks: list[Callable[[Block], None]] = []
        self.executions = 0

    @cached_property
    def instructions(self) -> list[Instruction]:
        disassembler = self._host.disassembler(self.mode)
        return [Instruction(i.address, i.size, i.mnemonic, i.op_str, bytes(i.bytes),
                            _host=self._host)
                for i in disassembler.disasm(self.code, self.address)]

    def on_execute(self, fn: Callable[[Block], None]) -> None:
        self.callbacks.append(fn)

    def __repr__(self) -> str:
        return f"Block({self.address:#x}, size={self.size})"


@dataclass
class MemoryAccess:
    address: int
    size: int
    is_store: bool
    value: int  # stored, or loaded
    pc: int


@dataclass
class SyscallEvent:
    number: int
    name: str
    args: tuple[int, ...]
    tid: int
    decoded_args: str = ""  # as -strace shows them, read at entry
    result: int | None = None  # after the call: what the guest gets (-errno on error)
    decoded_result: str = ""
    start: float = 0.0  # time.perf_counter() at entry


class PluginContext:
    """Handed to a plugin's install(ctx, args); see the module docstring."""

    def __init__(self, host: Any, process: Process, name: str) -> None:
        self._host = host
        self.process = process
        self.name = name
        self.target = process.target.name
        self.word_size = process.target.word_size
        self.byteorder = process.target.byteorder
        self.output: TextIO = sys.stderr

    # ------------------------------------------------------------ registration
    def on_block_translated(self, fn: Callable[[Block], None]) -> None:
        self._host.translated.append(fn)

    def on_block_executed(self, fn: Callable[[Block], None]) -> None:
        self._host.executed.append(fn)

    def on_memory(self, fn: Callable[[MemoryAccess], None], begin: int = 0,
                  end: int | None = None) -> None:
        self._host.memory.append((fn, begin, end))

    def on_syscall_entry(self, fn: Callable[[SyscallEvent], None]) -> None:
        self._host.syscall_entries.append(fn)

    def on_syscall_exit(self, fn: Callable[[SyscallEvent], None]) -> None:
        self._host.syscall_exits.append(fn)

    def on_thread_start(self, fn: Callable[[int], None]) -> None:
        self._host.thread_starts.append(fn)

    def on_thread_exit(self, fn: Callable[[int], None]) -> None:
        self._host.thread_exits.append(fn)

    def on_exit(self, fn: Callable[[int], None]) -> None:
        self._host.exits.append(fn)

    # ------------------------------------------------------------ services
    def open_output(self, path: str | None) -> TextIO:
        """The plugin's text output: `path` (appended to), else stderr."""
        self.output = open(path, "a", buffering=1) if path else sys.stderr  # noqa: SIM115
        return self.output

    def read_memory(self, address: int, size: int) -> bytes:
        return self.process.memory.read(address, size)

    def read_register(self, name: str) -> int:
        """A register of the running thread, by its gdb name (pc, sp, r0, x0, rax, ...)."""
        description = self.process.target.gdb_description()
        reg = description.by_name[name]
        data = description.read(self.process.cpu.uc, reg)
        return int.from_bytes(data, "little" if description.little_endian else "big")

    def mappings(self) -> list[tuple[int, int, int, str, int]]:
        """The guest's mappings: (start, end, prot, name, file offset)."""
        return [(m.start, m.end, m.prot, m.name, m.offset) for m in self.process.memory.mappings]

    @property
    def tid(self) -> int:
        return self.process.current.tid
