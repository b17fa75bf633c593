"""Loads plugins and installs the engine hooks their callbacks need, no more.

- a block hook (one Python call per block executed) only if a plugin wants
  translations or block executions;
- a code hook (one call per instruction) only once a plugin registered an
  instruction callback;
- memory hooks (which force Unicorn's slow store path) only for plugins
  that asked for memory accesses, bounded to their address filters;
- syscall events through the hub's dispatch wrapper, only if asked for.

Plugins are Python files (or the shipped ones by name, pyuser/plugins/)
defining ``install(ctx, args)``.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyuser.errors import UserError
from pyuser.instrument.engine_hooks import ACCESS_WRITE, MEM_WRITE, EngineHooks
from pyuser.instrument.hub import Client, SafePointStop
from pyuser.instrument.plugins.api import (
    Block,
    Instruction,
    MemoryAccess,
    PluginContext,
    SyscallEvent,
)
from pyuser.memory import GuestFault
from pyuser.strace import format_args, format_result

if TYPE_CHECKING:
    from pyuser.cpu import CpuLoop
    from pyuser.process import Process, Thread

SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "plugins")
# UC_HOOK_MEM_READ_AFTER: a load's callback with the value read
MEM_READ_AFTER = 1 << 13


class AddCodeHooks(SafePointStop):
    """A plugin registered its first instruction callback inside a block hook:
    the code hooks go in at the safe point before that block runs."""

    def __init__(self, host: PluginHost) -> None:
        super().__init__()
        self.host = host

    def handle(self, cpu: CpuLoop) -> None:
        for key, (engine, hooks) in self.host.engines.items():
            if key not in self.host.code_hooked:
                self.host._add_code_hook(engine, hooks)


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """`FILE.py[,key=value,...]` -> (file, args)."""
    path, *items = spec.split(",")
    args = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"plugin argument '{item}' is not key=value")
        args[key] = value
    return path, args


def load_module(path: str) -> Any:
    """A plugin module from a file, or a shipped plugin by its name."""
    if not path.endswith(".py") and "/" not in path:
        path = os.path.join(SHIPPED, f"{path}.py")
    if not os.path.isfile(path):
        raise UserError(f"plugin '{path}' not found")
    spec = importlib.util.spec_from_file_location(
        f"pyuser_plugin_{os.path.basename(path)[:-3]}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as e:  # noqa: BLE001 - the plugin's own error, reported in one line
        raise UserError(f"plugin '{path}' failed to load: {e!r}") from None
    if not callable(getattr(module, "install", None)):
        raise UserError(f"plugin '{path}' defines no install(ctx, args)")
    return module


class PluginHost(Client):
    def __init__(self, process: Process, plugins: list[tuple[Any, dict[str, str], str]]) -> None:
        self.process = process
        self.translated: list[Callable[[Block], None]] = []
        self.executed: list[Callable[[Block], None]] = []
        self.memory: list[tuple[Callable[[MemoryAccess], None], int, int | None]] = []
        self.syscall_entries: list[Callable[[SyscallEvent], None]] = []
        self.syscall_exits: list[Callable[[SyscallEvent], None]] = []
        self.thread_starts: list[Callable[[int], None]] = []
        self.thread_exits: list[Callable[[int], None]] = []
        self.exits: list[Callable[[int], None]] = []
        self.blocks: dict[tuple[int, int], Block] = {}
        self.insn_callbacks: dict[int, list[Callable[[Instruction], None]]] = {}
        self.instructions: dict[int, Instruction] = {}
        self.engines: dict[int, tuple[CpuLoop, EngineHooks]] = {}
        self.code_hooked: set[int] = set()
        self.pending: dict[int, SyscallEvent] = {}  # tid -> the syscall in progress
        self._disassemblers: dict[str, Any] = {}
        self.contexts = []
        for install, args, name in plugins:
            ctx = PluginContext(self, process, name)
            self.contexts.append(ctx)
            try:
                install(ctx, args)
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - one line, as every user error
                raise UserError(f"plugin '{name}': {e!r}") from None
        self.wants_syscalls = bool(self.syscall_entries or self.syscall_exits)

    # ------------------------------------------------------------ engines
    def attach(self, cpu: CpuLoop) -> None:
        hooks = EngineHooks(cpu.uc)
        self.engines[id(cpu)] = (cpu, hooks)
        if self.translated or self.executed:
            hooks.block(self._block_callback(cpu))
        if self.insn_callbacks:
            self._add_code_hook(cpu, hooks)
        for fn, begin, end in self.memory:
            last = (end - 1) if end else (1 << (8 * self.process.target.word_size)) - 1
            hooks.memory(MEM_READ_AFTER | MEM_WRITE, self._memory_callback(cpu, fn),
                         begin, last)

    def detach(self, cpu: CpuLoop) -> None:
        self.engines.pop(id(cpu), None)

    def disassembler(self, mode: str) -> Any:
        if not self._disassemblers:
            self._disassemblers = self.process.target.disassemblers()
        return self._disassemblers[mode]

    def _block_callback(self, cpu: CpuLoop) -> Callable[[int, int], None]:
        blocks = self.blocks
        translated = self.translated
        executed = self.executed
        target = self.process.target
        uc = cpu.uc
        memory = self.process.memory

        def on_block(address: int, size: int) -> None:
            block = blocks.get((address, size))
            if block is None:
                try:
                    code = memory.read(address, size)
                except GuestFault:
                    code = bytes(uc.mem_read(address, size))
                block = Block(self, address, size, code, target.disassembly_mode(uc))
                blocks[(address, size)] = block
                for fn in translated:
                    fn(block)
                if self.insn_callbacks and id(cpu) not in self.code_hooked:
                    # stop before the block runs; it runs (and counts) after
                    if cpu.stop_reason is None:
                        cpu.stop_reason = AddCodeHooks(self)
                    uc.emu_stop()
                    return
            block.executions += 1
            for fn in block.callbacks:
                fn(block)
            for fn in executed:
                fn(block)

        return cpu.guard(on_block)

    def instruction_callbacks(self, insn: Instruction) -> None:
        """An instruction callback was registered (at a translation, inside a
        block hook): the code hooks are added at the next safe point (see
        AddCodeHooks), before the block runs."""
        self.insn_callbacks[insn.address] = insn.callbacks
        self.instructions[insn.address] = insn

    def _add_code_hook(self, cpu: CpuLoop, hooks: EngineHooks) -> None:
        self.code_hooked.add(id(cpu))
        callbacks = self.insn_callbacks
        instructions = self.instructions

        def on_code(address: int, _size: int) -> None:
            found = callbacks.get(address)
            if found:
                insn = instructions[address]
                for fn in found:
                    fn(insn)

        hooks.code(cpu.guard(on_code))

    def _memory_callback(self, cpu: CpuLoop, fn: Callable[[MemoryAccess], None]):
        uc = cpu.uc
        pc_reg = self.process.target.pc_reg
        mask = (1 << (8 * self.process.target.word_size)) - 1

        def on_access(access: int, address: int, size: int, value: int) -> None:
            fn(MemoryAccess(address, size, access == ACCESS_WRITE,
                            value & ((1 << (8 * size)) - 1) if size <= 8 else value,
                            uc.reg_read(pc_reg) & mask))

        return cpu.guard(lambda *a: on_access(*a))

    # ------------------------------------------------------------ events
    def syscall_entry(self, cpu: CpuLoop, number: int, regs: Any) -> None:
        kernel = self.process.kernel
        target = self.process.target
        entry = kernel.entry(number)
        name = entry.name if entry is not None else \
            target.syscall_names.get(number, f"syscall_{number}")
        nargs = len(target.syscall_arg_regs)
        args = tuple(regs[i] for i in range(1, nargs + 1))
        event = SyscallEvent(number, name, args, self.process.current.tid)
        if entry is not None:
            try:
                event.decoded_args = format_args(kernel, entry, regs)
            except Exception:  # noqa: BLE001 - a decoding problem must not change the run
                event.decoded_args = ", ".join(hex(a) for a in args)
        else:
            event.decoded_args = ", ".join(hex(a) for a in args)
        self.pending[event.tid] = event
        for fn in self.syscall_entries:
            fn(event)
        event.start = time.perf_counter()

    def syscall_exit(self, cpu: CpuLoop, number: int, regs: Any, result: int | None) -> None:
        event = self.pending.pop(self.process.current.tid, None)
        if event is None:
            return
        if result is not None:
            event.result = self.process.target.to_signed(result & self.process.target.word_mask)
            event.decoded_result = format_result(self.process.kernel, result)
        else:
            event.decoded_result = "?"
        for fn in self.syscall_exits:
            fn(event)

    def thread_started(self, thread: Thread) -> None:
        for fn in self.thread_starts:
            fn(thread.tid)

    def thread_exited(self, thread: Thread) -> None:
        for fn in self.thread_exits:
            fn(thread.tid)

    def process_exit(self, status: int) -> None:
        self._end(status)

    def process_killed(self, signo: int) -> None:
        self._end(-signo)

    def _end(self, status: int) -> None:
        for fn in self.exits:
            fn(status)
        for ctx in self.contexts:
            ctx.output.flush()


def make_host(process: Process, specs: list[str]) -> PluginHost:
    """A host for the -plugin arguments (FILE.py or a shipped name, with key=value args)."""
    plugins = []
    for spec in specs:
        path, args = parse_spec(spec)
        module = load_module(path)
        plugins.append((module.install, args, path))
    return PluginHost(process, plugins)
