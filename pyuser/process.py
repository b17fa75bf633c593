"""A guest process: its memory, CPU, threads, signal state and kernel view.

No global state: everything a guest process has hangs off one Process, so a
Python program may run several (one after the other, or in forked children).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field

from pyuser.log import Log
from pyuser.memory import GuestMemory
from pyuser.signals import HostRelay, SigInfo, SignalState, ThreadSignals, encode_siginfo
from pyuser.targets.base import Target
from pyuser.vfs import GuestFileSystem

DEFAULT_STACK_SIZE = 8 * 1024 * 1024


@dataclass
class Options:
    """What the command line (or the Python API) asks of a run."""

    sysroot: str | None = None
    cpu: str = ""
    stack_size: int = DEFAULT_STACK_SIZE
    seed: int | None = None
    log_items: set[str] = field(default_factory=set)
    log_file: str | None = None
    argv0: str | None = None


@dataclass
class Thread:
    """A guest thread: its id and the per-thread kernel state."""

    tid: int
    clear_child_tid: int = 0
    robust_list: int = 0
    name: bytes = b""
    context: object | None = None  # saved CPU registers while it is not running
    signals: ThreadSignals = field(default_factory=ThreadSignals)


class Process:
    def __init__(self, target: Target, options: Options, log: Log | None = None) -> None:
        self.target = target
        self.options = options
        if not options.cpu:
            options.cpu = target.default_cpu
        self.log = log or Log(options.log_items, options.log_file)
        self.stack_size = options.stack_size
        self._random = random.Random(options.seed) if options.seed is not None else None

        self.memory = GuestMemory(target.address_space_size)
        self.memory.mmap_top = target.mmap_top
        self.uc = target.create_cpu(options.cpu)
        self.page_tables = target.create_page_tables(self.uc, self.memory)
        self.memory.mmu = self.page_tables
        self.memory.invalidate_code = self._invalidate_code
        target.prepare_process(self.uc, self.memory, self.page_tables)

        self.signals = SignalState(self)
        self.vfs = GuestFileSystem(self, options.sysroot)
        main = Thread(tid=os.getpid(), name=b"")
        self.threads: dict[int, Thread] = {main.tid: main}
        self.current = main
        self.brk_start = self.brk = 0
        self.timers: dict[int, int] = {}  # guest POSIX timer id -> host timer
        self.exe_host_path = ""
        self.exe_guest_path = ""
        self.auxv = b""
        self.cmdline = (0, 0)
        self.proc_files = {
            b"maps": self.render_maps,
            b"auxv": lambda: self.auxv,
            b"cmdline": self.render_cmdline,
        }

        from pyuser.cpu import CpuLoop
        from pyuser.syscalls.kernel import kernel_for

        self.kernel = kernel_for(self)
        self.cpu = CpuLoop(self)

    # ------------------------------------------------------------ helpers for handlers
    def _invalidate_code(self, start: int, end: int) -> None:
        self.uc.ctl_remove_cache(start, end)

    def random_bytes(self, n: int) -> bytes:
        if self._random is not None:
            return bytes(self._random.getrandbits(8) for _ in range(n))
        return os.urandom(n)

    def current_thread(self) -> Thread:
        return self.current

    def current_tid(self) -> int:
        return self.current.tid

    def has_thread(self, tid: int) -> bool:
        return tid in self.threads

    def is_reserved_fd(self, fd: int) -> bool:
        """Descriptors the emulator itself needs (the -D log file)."""
        stream = self.log._stream
        return stream is not None and stream.fileno() == fd and fd > 2

    def fd_path(self, fd: int) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""

    def sleep(self, seconds: float) -> bool:
        """Block the calling thread; True if a deliverable signal interrupted the sleep."""
        state = self.signals
        deadline = time.monotonic() + seconds
        while True:
            if state.check and state.has_deliverable(self.current):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            state.wakeup.wait(left)
            state.wakeup.clear()

    def forward_host_signals(self) -> None:
        """Take the host's signals for the guest (the command line does; an
        in-process embedding may not want its own signals taken)."""
        self.signals.relay = HostRelay(self.signals)
        self.signals.relay.start()

    def encode_siginfo(self, info: SigInfo) -> bytes:
        return encode_siginfo(info, self.target.word_size, self.target.const("SIGCHLD"))

    # ------------------------------------------------------------ /proc/self
    def render_maps(self) -> bytes:
        lines = []
        for m in self.memory.mappings:
            perms = ("r" if m.prot & 1 else "-") + ("w" if m.prot & 2 else "-") + \
                    ("x" if m.prot & 4 else "-") + ("s" if m.shared else "p")
            dev = f"{os.major(m.dev):02x}:{os.minor(m.dev):02x}" if m.dev else "00:00"
            head = f"{m.start:08x}-{m.end:08x} {perms} {m.offset:08x} {dev} {m.inode}"
            lines.append(f"{head:<72} {m.name}".rstrip() if m.name else head)
        lines.extend(self.target.extra_maps())
        return ("\n".join(lines) + "\n").encode()

    def render_cmdline(self) -> bytes:
        start, end = self.cmdline
        return self.memory.host[start:end]

    # ------------------------------------------------------------ running
    def run(self) -> int:
        return self.cpu.run()
