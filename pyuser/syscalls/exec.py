"""execve and execveat: replacing the guest program.

What runs is decided by pyuser.loader.binprm, with the kernel's checks made
first, so that a failure (ENOENT, EACCES, ENOEXEC, a missing interpreter)
returns to the guest as it would under Linux:

* an ELF file of the emulated target, from a process with one thread: the
  image is replaced *in place*, in the running emulator, as the kernel
  replaces it: :class:`ImageReplaced` ends the CPU loop, and the runner
  (pyuser.launch.run_until_exit) drops what an exec drops (close-on-exec
  descriptors and POSIX timers, :func:`drop_for_exec`; the address space
  and the engine), builds the new process with the one builder and hands
  it what an exec keeps (pid, mask, pending signals,
  ignored dispositions, descriptors, cwd, limits...; docs/userland.md);
* the same from a process with several threads: the emulator execs
  *itself* (the same Python, ``-I`` so that the guest's PYTHON* variables
  do not reach it) with the options of this run (sysroot, CPU, stack size,
  debug log, seed) and the program's argv[0]; the host kernel ends the
  other threads.  Either way a guest can exec a guest program without
  binfmt_misc being set up, which qemu-user needs for it;
* anything else (a host program, or a file the host kernel judges): the
  host's execve, whose error, if any, is the guest's.

A ``#!`` script's interpreter is looked up like any guest path, sysroot
first.  execve of /proc/self/exe runs the guest program again (busybox
does this).  The environment is passed exactly as the guest gives it, and
descriptors follow the guest's close-on-exec flags (mirrored on the host
descriptors by the calls that create them).
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from pyuser.loader.binprm import plan_exec
from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import CStr, Fd, NoReturn, Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.process import Process

AT_FDCWD = -100
# more argv/envp entries than fit in Linux's argument space (E2BIG beyond)
_MAX_STRINGS = 1 << 17


class ExecRequest:
    """The program an in-place exec loads, as the kernel's checks found it."""

    def __init__(self, host_path: bytes, guest_path: bytes, argv: list[bytes],
                 envp: list[bytes], execfn: bytes) -> None:
        self.host_path = host_path  # the file to load
        self.guest_path = guest_path  # its name in the guest (/proc/self/exe is its real path)
        self.argv = argv
        self.envp = envp
        # the path execve was given: AT_EXECFN and the task name, as Linux's
        # bprm->filename (a script's own name, "exe" for /proc/self/exe)
        self.execfn = execfn


class ImageReplaced(NoReturn):
    """execve of a guest program, past the point of no return: the runner
    replaces the process image (the syscall does not return)."""

    def __init__(self, request: ExecRequest) -> None:
        super().__init__(os.fsdecode(request.guest_path))
        self.request = request


def can_exec_in_place(proc: Process) -> bool:
    """One guest thread, on the host thread that runs the process (its runner
    loop is the one that takes the new image)."""
    return len(proc.threads) == 1 and threading.get_ident() == proc.main_host_thread


def drop_for_exec(proc: Process, keep_fds: set[int]) -> None:
    """What the kernel drops at exec, on the host side: POSIX timers, and
    every close-on-exec descriptor (guest descriptors carry the guest's flag,
    see pyuser.syscalls.files.guest_fd) but the emulator's own `keep_fds`."""
    for timer in list(proc.timers.values()):
        try:
            hostcalls.timer_delete(timer)
        except OSError:
            pass
    proc.timers.clear()
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 1024))
    for fd in fds:
        if fd in keep_fds:
            continue
        try:
            if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                os.close(fd)
        except OSError:
            pass  # the listing's own descriptor, gone by now


def emulator_command(proc: Process, program: bytes, argv: list[bytes]) -> list[bytes]:
    """The host command line that runs guest `program` with `argv` under a new emulator."""
    options = proc.options
    # the same import path as this emulator (-I leaves out the user site and
    # PYTHONPATH, which may be where pyuser or unicorn were found), this
    # pyuser first: the directory holding the package (this file is
    # pyuser/syscalls/exec.py)
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = [package_parent] + [p for p in sys.path if p and p != package_parent]
    prog = sys.argv[0] if sys.argv and sys.argv[0] else f"pyuser-{proc.target.name}"
    boot = (f"import sys; sys.path[:0] = {path!r}; sys.argv[0] = {prog!r}; "
            "from pyuser.cli import main; main()")
    words: list[str] = []
    if proc.vfs.sysroot is not None:
        words += ["-L", os.fsdecode(proc.vfs.sysroot)]
    if options.cpu:
        words += ["-cpu", options.cpu]
    words += ["-s", str(proc.stack_size)]
    if options.seed is not None:
        words += ["-seed", str(options.seed)]
    if options.log_items:
        words += ["-d", ",".join(sorted(options.log_items))]
    if options.log_file:
        words += ["-D", os.path.abspath(options.log_file)]
    command = [os.fsencode(sys.executable), b"-I", b"-c", boot.encode()]
    command += [os.fsencode(w) for w in words]
    return command + [b"-0", argv[0] if argv else b"", b"--", program, *argv[1:]]


class ExecCalls(SyscallFamily):
    @syscall
    def execve(self, path: CStr, argv: Ptr, envp: Ptr) -> int:
        return self._execve(path, argv, envp)

    @syscall
    def execveat(self, dirfd: Fd, path: CStr, argv: Ptr, envp: Ptr,
                 flags: UInt) -> int:
        if not path:
            if not flags & self.abi.CONST["AT_EMPTY_PATH"]:
                raise SyscallError("ENOENT")
            path = os.readlink(f"/proc/self/fd/{dirfd}").encode()  # fexecve
        elif not path.startswith(b"/") and dirfd != AT_FDCWD:
            path = os.readlink(f"/proc/self/fd/{dirfd}").encode() + b"/" + path
        nofollow = flags & self.abi.CONST["AT_SYMLINK_NOFOLLOW"]
        if nofollow and os.path.islink(self.resolve_path(path)):
            raise SyscallError("ELOOP")
        return self._execve(path, argv, envp)

    def _string_vector(self, address: int) -> list[bytes]:
        """A NULL-terminated array of string pointers (a NULL array is empty)."""
        strings: list[bytes] = []
        if not address:
            return strings
        w = self.target.word_size
        while len(strings) < _MAX_STRINGS:
            pointer = int.from_bytes(self.mem.read(address + w * len(strings), w),
                                     self.target.byteorder)
            if not pointer:
                return strings
            strings.append(self.mem.read_cstr(pointer))
        raise SyscallError("E2BIG")

    def _execve(self, path: bytes, argv_address: int, envp_address: int) -> int:
        proc = self.proc
        argv = self._string_vector(argv_address)
        envp = self._string_vector(envp_address)
        if not path:
            raise SyscallError("ENOENT")
        given = path
        if proc.vfs.readlink_special(path) is not None:
            # /proc/self/exe: the program again, by its guest name
            path = os.fsencode(proc.exe_guest_path)
        plan = plan_exec(proc.vfs, self.target, path, argv)
        if plan.kind == "guest" and can_exec_in_place(proc):
            if self.log.enabled("strace"):
                shown = [os.fsdecode(a) for a in argv]
                self.log.write(f'{os.getpid()} execve("{os.fsdecode(given)}", {shown}) = '
                               f'guest program {os.fsdecode(plan.host_path)}, in place')
            for stream in (sys.stdout, sys.stderr, self.log._stream):
                if stream is not None:
                    stream.flush()
            raise ImageReplaced(ExecRequest(plan.host_path, plan.guest_path, plan.argv, envp,
                                            given))
        if plan.kind == "guest":
            program, command = os.fsencode(sys.executable), \
                emulator_command(proc, plan.guest_path, plan.argv)
        else:
            program, command = plan.host_path, plan.argv
        if self.log.enabled("strace"):
            # the syscall never returns to be logged: say what replaces the process
            shown = [os.fsdecode(a) for a in argv]
            self.log.write(f'{os.getpid()} execve("{os.fsdecode(given)}", {shown}) = '
                           f'{plan.kind} program {os.fsdecode(plan.host_path)}')
        self._replace_process(program, command, envp)
        raise AssertionError("execve returned")  # pragma: no cover

    def _replace_process(self, program: bytes, argv: list[bytes],
                         envp: list[bytes]) -> None:
        """exec on the host, with the guest's signal mask; an OSError leaves all as it was."""
        for stream in (sys.stdout, sys.stderr, self.log._stream):
            if stream is not None:
                stream.flush()
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        relay = getattr(self.proc.signals, "relay", None)
        if relay is not None:
            guest_mask = self.proc.current_thread().signals.mask
            signal.pthread_sigmask(signal.SIG_SETMASK, relay.host_mask_for_exec(guest_mask))
        try:
            hostcalls.execve(program, argv, envp)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
