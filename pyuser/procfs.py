"""/proc files whose contents the emulator makes up, as the guest must see them.

Most of /proc is the host's and is right as it is (a guest fd is a host fd,
so /proc/self/fd/ and /proc/self/fdinfo/ already describe the guest).  What
describes the *program* rather than the host process is rendered here:

* /proc/self/stat: the host's line, with the fields that are about the
  program replaced (comm, code/stack/argument addresses, vsize, threads,
  signal sets); field numbers as proc(5) lists them;
* /proc/self/environ: the environment strings on the guest's stack;
* /proc/cpuinfo: the target's CPU (the target renders it).

/proc/self/maps, auxv and cmdline come from the Process (process.proc_files);
/proc/self/exe is a path rule in pyuser.vfs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.memory import GuestMemory
    from pyuser.signals import SignalState
    from pyuser.targets.base import Target


class _Thread(Protocol):
    name: bytes
    signals: Any  # pyuser.signals.ThreadSignals


class _Options(Protocol):
    cpu: str


class Process(Protocol):
    """What the /proc renderers read of the process (pyuser.process.Process,
    whose file system view, pyuser.vfs, calls them)."""

    target: Target
    threads: dict[int, Any]
    current: _Thread
    memory: GuestMemory
    signals: SignalState
    options: _Options
    uc: Uc
    brk_start: int
    exe_guest_path: str

# proc(5) field numbers (1-based) of /proc/<pid>/stat
_COMM, _NUM_THREADS, _VSIZE, _RSSLIM = 2, 20, 23, 25
_STARTCODE, _ENDCODE, _STARTSTACK, _KSTKESP, _KSTKEIP = 26, 27, 28, 29, 30
_SIGNAL, _BLOCKED, _SIGIGNORE, _SIGCATCH = 31, 32, 33, 34
_START_DATA, _END_DATA, _START_BRK = 45, 46, 47
_ARG_START, _ARG_END, _ENV_START, _ENV_END = 48, 49, 50, 51


def comm_of(path: bytes) -> bytes:
    """The kernel's task name for a program: its file name, at most 15 bytes."""
    return os.path.basename(path)[:15]


def render_stat(proc: Process) -> bytes:
    with open("/proc/self/stat", "rb") as f:
        host = f.read()
    # "pid (comm) rest": comm may hold spaces and parentheses, the last ')' ends it
    close = host.rindex(b")")
    fields = [host[:host.index(b" (")], b"(" + host[host.index(b" (") + 2:close] + b")"]
    fields += host[close + 2:].split()
    layout = getattr(proc, "layout", None)
    mask = proc.target.word_mask
    values: dict[int, int | bytes] = {
        _NUM_THREADS: len(proc.threads),
        _VSIZE: sum(m.end - m.start for m in proc.memory.mappings),
        _RSSLIM: min(int(fields[_RSSLIM - 1]), mask),
        _KSTKESP: 0,
        _KSTKEIP: 0,
        _START_BRK: proc.brk_start,
    }
    if layout is not None:
        values.update({
            _STARTCODE: layout.start_code, _ENDCODE: layout.end_code,
            _STARTSTACK: layout.start_stack, _START_DATA: layout.start_data,
            _END_DATA: layout.end_data, _ARG_START: layout.arg_start,
            _ARG_END: layout.arg_end, _ENV_START: layout.env_start, _ENV_END: layout.env_end,
        })
    if getattr(proc, "embedded", False):  # else the host's task name is the guest's
        values[_COMM] = b"(" + (proc.current.name or
                                comm_of(os.fsencode(proc.exe_guest_path))) + b")"
    values.update(_signal_fields(proc))
    for number, value in values.items():
        if number <= len(fields):
            fields[number - 1] = value if isinstance(value, bytes) else b"%d" % value
    return b" ".join(fields) + b"\n"


def _signal_fields(proc: Process) -> dict[int, int]:
    """pending, blocked, ignored and caught signals, as the guest's own state says."""
    state = proc.signals
    thread = proc.current
    try:
        pending = state.pending_bits(thread)
        blocked = thread.signals.mask
        actions = state.actions
    except AttributeError:  # an older signal state: keep the host's fields
        return {}
    ignored = caught = 0
    for signo, action in actions.items():
        bit = 1 << (signo - 1)
        if action.handler == 1:  # SIG_IGN
            ignored |= bit
        elif action.handler != 0:  # a guest handler
            caught |= bit
    # proc(5): these are obsolete decimal forms that hold the first 32 signals
    low = (1 << 32) - 1
    return {_SIGNAL: pending & low, _BLOCKED: blocked & low,
            _SIGIGNORE: ignored & low, _SIGCATCH: caught & low}


def render_environ(proc: Process) -> bytes:
    layout = getattr(proc, "layout", None)
    if layout is None:
        return b""
    return bytes(proc.memory.host[layout.env_start:layout.env_end])


def render_cpuinfo(proc: Process) -> bytes:
    own = proc.target.cpuinfo(proc.uc, proc.options.cpu)
    if own is not None:
        return own
    with open("/proc/cpuinfo", "rb") as f:
        return f.read()


# entries under /proc/self/ (and /proc/<own pid>/) made up here
SELF_FILES: dict[bytes, Callable[[Process], bytes]] = {
    b"stat": render_stat,
    b"environ": render_environ,
}

# whole paths
GLOBAL_FILES: dict[bytes, Callable[[Process], bytes]] = {
    b"/proc/cpuinfo": render_cpuinfo,
}
