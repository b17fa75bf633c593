"""Building a guest process for a program, and running it to its end.

One builder serves the command line (pyuser.cli), pyuser.Emulator and an
in-place execve: :func:`resolve_program` finds the target and the host
file (sysroot first, as for every guest path), :func:`build_process` makes
the Process and loads the image.  :func:`run_until_exit` runs a process,
and when its guest execs a guest program in place (pyuser.syscalls.exec
raises ImageReplaced) it retires the old image and goes on with the new
one, in the same host process: same pid, no new Python.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyuser.config import default_sysroot
from pyuser.cpu import CpuLoop
from pyuser.engine import close_engine
from pyuser.errors import LoadError, UserError
from pyuser.loader import load_program
from pyuser.loader.elf import guess_target
from pyuser.log import stand_ins_for_closed_streams
from pyuser.memory import OutOfMemory
from pyuser.process import Options, Process
from pyuser.signals import kill_process_with
from pyuser.syscall_path import install_syscall_path
from pyuser.syscalls.exec import ExecRequest, ImageReplaced, drop_for_exec
from pyuser.syscalls.kernel import kernel_for
from pyuser.targets import load_target
from pyuser.vfs import under_sysroot

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.log import Log
    from pyuser.targets.base import Target


def find_program(name: str) -> str:
    """A command name as a shell finds it: a path as given, else on PATH."""
    if "/" in name or os.path.exists(name):
        return name
    import shutil  # only here: it imports bz2, lzma and fnmatch (~2 ms)

    return shutil.which(name) or name


def sysroot_file(sysroot: str | None, program: str) -> str:
    """The host file of the program: an absolute path is looked up in the
    sysroot first, as every guest path is (docs/userland.md)."""
    if not sysroot:
        return program
    root = os.fsencode(os.path.abspath(sysroot))
    return os.fsdecode(under_sysroot(root, os.fsencode(program)))


def resolve_program(target_name: str | None, program: str, options: Options,
                    program_file: str | None = None) -> tuple[Target, str]:
    """The target and the host file that run `program` (as the user named it).

    Without a target name the ELF header says; without a sysroot in
    `options`, the target's config file gives its default (filled in).
    `program_file`, when given, is the host file already (binfmt_misc's O
    flag).  UserError for an unknown -cpu model."""
    host_program = program_file or sysroot_file(options.sysroot, program)
    name = target_name or guess_target(host_program)
    if target_name and not target_name.startswith("freebsd-"):
        # binfmt_misc's magic for a CPU matches its FreeBSD programs too
        # (EI_OSABI is masked): run those with the FreeBSD personality
        try:
            if guess_target(host_program) == f"freebsd-{target_name}":
                name = f"freebsd-{target_name}"
        except UserError:
            pass  # not an ELF file at all: load_program says so
    target = load_target(name)
    if options.sysroot is None:
        options.sysroot = default_sysroot(name)
        host_program = program_file or sysroot_file(options.sysroot, program)
    if options.cpu and options.cpu not in target.cpu_models:
        raise UserError(f"unknown CPU model '{options.cpu}' (see -cpu help)")
    return target, host_program


def new_process(target: Target, options: Options, log: Log | None = None) -> Process:
    """A Process with its kernel and its CPU loop, before any image is loaded.

    The one place that assembles the layers: the Process (process state)
    knows neither its kernel (pyuser.syscalls) nor its CPU loop (pyuser.cpu),
    which sit above it; both are made here and handed in."""
    process = Process(target, options, log)
    process.kernel = kernel_for(process)
    process.cpu = CpuLoop(process, process.engine)
    process.kernel.attach_cpu(process.cpu)
    install_syscall_path(process.cpu)
    _install_debug_logging(process)
    return process


def _install_debug_logging(process: Process) -> None:
    """-strace and -d in_asm/exec/cpu/nochain: wrappers and hooks that a plain
    run does not have (the hot path looks kernel.dispatch up on each call, so
    a wrapper installed now is seen)."""
    log = process.log
    if log.enabled("strace") and not getattr(process.kernel, "traced", False):
        from pyuser.strace import install_strace

        install_strace(process.kernel, log)
    if log.enabled("in_asm") or log.enabled("exec") or log.enabled("cpu") or \
            log.enabled("nochain"):
        from pyuser.tracing import install_block_tracing

        install_block_tracing(process.cpu, log)


def build_process(target: Target, options: Options, host_program: str, guest_name: bytes,
                  argv: list[bytes], envp: list[bytes], *, log: Log | None = None,
                  execfn: bytes | None = None,
                  prepare: Callable[[Process], None] | None = None) -> Process:
    """A new Process running `host_program`, which the guest knows as
    `guest_name` (/proc/self/exe is its real path in the guest's view);
    `execfn` (default `guest_name`) is the name it was started by (AT_EXECFN,
    the task name).  `prepare` runs on the process before the image is loaded."""
    process = new_process(target, options, log)
    if prepare is not None:
        prepare(process)
    process.exe_guest_path = os.fsdecode(process.vfs.guest_realpath(guest_name))
    load_program(process, host_program, argv, envp, execfn=execfn or guest_name)
    return process


def run_until_exit(process: Process,
                   on_new_image: Callable[[Process], None] | None = None) -> int:
    """Run the process until it exits, through every in-place exec; its exit
    status (a death by signal ends the emulator, see CpuLoop.die).
    `on_new_image` is told of each process an exec made."""
    # Descriptors open now with close-on-exec set are the host program's (a
    # Python embedding pyuser.Emulator, pytest's captures): an exec of the
    # guest must not close them.  The guest's own start with the flag clear.
    host_fds = cloexec_descriptors()
    while True:
        try:
            return process.run()
        except ImageReplaced as replaced:
            process = replace_image(process, replaced.request, host_fds)
            if on_new_image is not None:
                on_new_image(process)


# Engines of images an exec replaced, not closed yet: closing one (uc_close)
# costs ~3 ms of CPU, which a child that execs and then exits would pay for
# nothing (its exit frees everything at once).  At most one waits here: the
# next exec closes it.
_retired: list[Uc] = []


def retire_engines(process: Process) -> None:
    """Retire the engine of a process whose image is gone (its threads
    shared it): the one retired before is closed now, this one at the next
    exec or with the process."""
    while _retired:
        close_engine(_retired.pop())
    _retired.append(process.cpu.uc)


def cloexec_descriptors() -> set[int]:
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if fcntl.fcntl(int(name), fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                found.add(int(name))
        except OSError:
            pass  # the listing's own descriptor
    return found


def replace_image(old: Process, request: ExecRequest, host_fds: set[int]) -> Process:
    """The kernel's exec, past its point of no return: drop the old image
    (close-on-exec descriptors, POSIX timers, memory, engine), build the new
    one with the same options and log, and carry over what exec keeps."""
    old_thread = old.current
    log_stream = old.log._stream  # the -D file: the emulator's, not the guest's
    keep = set(host_fds)
    if log_stream is not None and log_stream is not sys.stderr:
        keep.add(log_stream.fileno())
    log_on_stderr = log_stream is sys.stderr
    drop_for_exec(old, keep)
    retire_engines(old)
    old.memory.release()
    stand_ins_for_closed_streams()
    if log_on_stderr:
        old.log._stream = sys.stderr  # a stand-in, if exec closed descriptor 2

    def take_over(new: Process) -> None:
        open_fds = {int(name) for name in os.listdir("/proc/self/fd")}
        new.signals.take_over_at_exec(old.signals, old_thread.signals, new.current.signals,
                                      open_fds)
        new.is_fork_child = old.is_fork_child
        new.embedded = old.embedded
        new.on_death = old.on_death

    try:
        return build_process(old.target, old.options, os.fsdecode(request.host_path),
                             request.guest_path, request.argv, request.envp, log=old.log,
                             execfn=request.execfn, prepare=take_over)
    except (LoadError, OutOfMemory, OSError) as e:
        # as Linux past the point of no return: the process dies of SIGSEGV
        sys.stderr.write(f"pyuser: exec of {os.fsdecode(request.guest_path)} failed: {e}\n")
        sys.stderr.flush()
        segv = old.target.const("SIGSEGV")
        if old.on_death is not None:
            old.on_death(segv, False)
        kill_process_with(old.target.signal_to_host.get(segv, segv), segv, False)
        raise  # not reached
