"""`pyuser.Emulator`: run a foreign program inside this Python process, with hooks.

For tests that want to look inside: every syscall (its number, name,
argument registers and result) and the exit reach Python callbacks, and
guest memory can be read while the program runs.

The guest shares this process: its file descriptors (guest output goes to
this process's stdout), working directory, pid and resource limits.  A
guest that dies of a signal ends run() with -signal instead of killing
this process, and host signals stay with the caller (they are not
forwarded to the guest).  Guest threads other than the main one run on
their own host threads; an exit_group or a fatal signal there ends run()
too (a thread then blocked in a host call, a read on a pipe, say, is left
behind as an idle daemon thread).  A guest exec of a guest program
replaces the image in place and run() goes on with it (pyuser.launch).
Use :func:`pyuser.run` for full isolation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyuser.process import Process


@dataclass
class SyscallEvent:
    """One syscall the guest made, seen after it ran.

    result is what the guest gets (negative: -errno in the target's
    numbering), None for calls that do not return (exit_group, execve).
    """

    number: int
    name: str
    args: tuple[int, ...]
    result: int | None


class _GuestDied(Exception):  # noqa: N818 - control flow
    def __init__(self, host_signal: int) -> None:
        super().__init__(host_signal)
        self.host_signal = host_signal


class Emulator:
    """A foreign program loaded into this process, ready to run once.

    >>> emu = Emulator(["./hello-arm"])
    >>> emu.on_syscall(lambda call: print(call.name))   # doctest: +SKIP
    >>> emu.run()                                        # doctest: +SKIP
    0
    """

    def __init__(self, argv: Sequence[str | os.PathLike[str]], *, arch: str | None = None,
                 sysroot: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None, argv0: str | None = None,
                 cpu: str | None = None, seed: int | None = None, strace: bool = False) -> None:
        if not argv:
            raise ValueError("argv must name the program")
        self.argv = [os.fspath(a) for a in argv]
        self.arch = arch
        self.sysroot = os.fspath(sysroot) if sysroot is not None else None
        self.env = dict(os.environ if env is None else env)
        self.argv0 = argv0
        self.cpu = cpu
        self.seed = seed
        self.strace = strace
        self._syscall_hooks: list[Callable[[SyscallEvent], object]] = []
        self._replacements: dict[str, Callable[[SyscallEvent], int | None]] = {}
        self._exit_hooks: list[Callable[[int], None]] = []
        # (install(ctx, args), args, name): plugins and the hooks below
        self._plugins: list[tuple[Callable[[Any, dict], None], dict, str]] = []
        self.process: Process | None = None
        self.returncode: int | None = None
        self._ran = False

    # ------------------------------------------------------------ hooks
    def on_syscall(self, fn: Callable[[SyscallEvent], object]) -> Callable:
        """Call fn(event) after every syscall (usable as a decorator).

        An exception raised by fn ends run() with it.
        """
        self._syscall_hooks.append(fn)
        return fn

    def replace_syscall(self, name: str, fn: Callable[[SyscallEvent], int | None]) -> None:
        """Before each `name` syscall, call fn(event): an int it returns is the
        result the guest gets, and the syscall does not run; None runs it."""
        self._replacements[name] = fn

    def on_exit(self, fn: Callable[[int], None]) -> Callable:
        """Call fn(returncode) when the program ends (negative: died of that signal)."""
        self._exit_hooks.append(fn)
        return fn

    # ------------------------------------------------------------ code and memory hooks
    def add_plugin(self, plugin: Any, **args: str) -> None:
        """Load a plugin (docs/debugging.md): a shipped one by name ("insn",
        "syscalls", "memtrace", "drcov"), a plugin file, or any object with
        install(ctx, args); `args` are its key=value arguments."""
        if isinstance(plugin, (str, os.PathLike)):
            from pyuser.instrument.plugins.host import load_module

            name = os.fspath(plugin)
            plugin = load_module(name)
        else:
            name = getattr(plugin, "__name__", type(plugin).__name__)
        self._plugins.append((plugin.install, {k: str(v) for k, v in args.items()}, name))

    def on_block(self, fn: Callable[[Any], None]) -> Callable:
        """fn(block) before each guest block runs (pyuser.instrument.plugins.api.Block:
        address, size, instructions); one Python call per block."""
        self._plugins.append((lambda ctx, _a: ctx.on_block_executed(fn), {}, "on_block"))
        return fn

    def on_block_translated(self, fn: Callable[[Any], None]) -> Callable:
        """fn(block) the first time each block runs (coverage)."""
        self._plugins.append((lambda ctx, _a: ctx.on_block_translated(fn), {},
                              "on_block_translated"))
        return fn

    def on_memory(self, fn: Callable[[Any], None], begin: int = 0,
                  end: int | None = None) -> Callable:
        """fn(access) for each load and store in [begin, end): address, size,
        is_store, value, pc.  Memory hooks slow every store down: filter."""
        self._plugins.append((lambda ctx, _a: ctx.on_memory(fn, begin, end), {}, "on_memory"))
        return fn

    # ------------------------------------------------------------ guest memory
    def read(self, address: int, size: int) -> bytes:
        return self._require_process().memory.read(address, size)

    def read_cstr(self, address: int) -> bytes:
        return self._require_process().memory.read_cstr(address)

    def _require_process(self) -> Process:
        if self.process is None:
            raise RuntimeError("the program is not loaded yet (call run())")
        return self.process

    # ------------------------------------------------------------ running
    def load(self) -> Process:
        """Create the guest process and load the program (run() does it if needed)."""
        from pyuser.launch import build_process, find_program, resolve_program
        from pyuser.process import Options

        if self.process is not None:
            return self.process
        program = find_program(self.argv[0])
        sysroot = self.sysroot or os.environ.get("PYUSER_LD_PREFIX") or \
            os.environ.get("QEMU_LD_PREFIX")
        options = Options(sysroot=sysroot, cpu=self.cpu or "", seed=self.seed,
                          log_items={"strace"} if self.strace else set())
        target, host_program = resolve_program(self.arch, program, options)
        argv0 = self.argv0 if self.argv0 is not None else self.argv[0]
        guest_argv = [os.fsencode(argv0)] + [os.fsencode(a) for a in self.argv[1:]]
        envp = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in self.env.items()]
        self.process = build_process(target, options, host_program, os.fsencode(program),
                                     guest_argv, envp, prepare=self._prepare)
        return self.process

    def _prepare(self, process: Process) -> None:
        self._install_hooks(process)
        if self._plugins:
            from pyuser.instrument import install
            from pyuser.instrument.plugins.host import PluginHost

            install(process, clients=[PluginHost(process, self._plugins)])

    def run(self) -> int:
        """Run the program to its end; its exit status, or -signal if it died of one."""
        if self._ran:
            raise RuntimeError("an Emulator runs its program once; make another")
        self._ran = True
        from pyuser.launch import run_until_exit

        process = self.load()
        self._wrap(process)
        try:
            status = run_until_exit(process, on_new_image=self._adopt)
        except _GuestDied as died:
            status = -died.host_signal
        self.returncode = status
        for fn in self._exit_hooks:
            fn(status)
        return status

    def _wrap(self, process: Process) -> None:
        if self._syscall_hooks or self._replacements:
            _wrap_dispatch(process, self._syscall_hooks, self._replacements)

    def _adopt(self, process: Process) -> None:
        """The guest exec'd a guest program in place: the hooks follow it."""
        self.process = process
        self._install_hooks(process)
        self._wrap(process)

    def _install_hooks(self, process: Process) -> None:
        import threading

        from pyuser.errors import ProcessExit

        def on_death(target_signal: int, core: bool) -> None:
            if process.is_fork_child:
                return  # a forked guest child dies for real
            host_signal = process.target.signal_to_host.get(target_signal, target_signal)
            if threading.get_ident() == process.main_host_thread:
                raise _GuestDied(host_signal)
            # another guest thread: the process ends, and run() returns -signal
            raise ProcessExit(-host_signal)

        process.embedded = True
        process.on_death = on_death


def _wrap_dispatch(process: Process, hooks: list[Callable[[SyscallEvent], object]],
                   replacements: dict[str, Callable[[SyscallEvent], int | None]]) -> None:
    """Wrap the kernel's dispatch, as pyuser.strace does, to report each call."""
    from pyuser.syscalls.types import NoReturn

    kernel = process.kernel
    target = process.target
    plain = kernel.dispatch
    nargs = len(target.syscall_arg_regs)

    def name_of(number: int) -> str:
        entry = kernel.entry(number)
        return entry.name if entry is not None else \
            target.syscall_names.get(number, f"syscall_{number}")

    def hooked(regs: Any) -> int:
        number = regs[0]
        event = SyscallEvent(number, name_of(number),
                             tuple(regs[i] for i in range(1, nargs + 1)), None)
        replace = replacements.get(event.name)
        replaced = replace(event) if replace is not None else None
        if replaced is not None:
            result = int(replaced) & target.word_mask
        else:
            try:
                result = plain(regs)
            except NoReturn:
                for fn in hooks:
                    fn(event)
                raise
        event.result = target.to_signed(result & target.word_mask)
        for fn in hooks:
            fn(event)
        return result

    kernel.dispatch = hooked  # type: ignore[method-assign]
