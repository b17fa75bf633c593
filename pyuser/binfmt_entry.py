"""Start-up under binfmt_misc: what the kernel passed, turned into a command line.

When the kernel runs a foreign program through a binfmt_misc entry, pyuser
gets no options, only what the entry's flags say (Linux
Documentation/admin-guide/binfmt-misc.rst, fs/binfmt_misc.c):

* always: argv is ``[interpreter, filename, arguments...]``, where filename
  is the path given to execve and the program's own argv[0] is dropped;
* P (preserve argv[0]): ``[interpreter, filename, argv0, arguments...]``, and
  the interpreter's auxiliary vector has AT_FLAGS bit 0
  (AT_FLAGS_PRESERVE_ARGV0, include/uapi/linux/binfmts.h) set;
* O (open binary), and C which implies it: the kernel opens the program and
  passes the descriptor as AT_EXECFD.

Without P and O the start looks exactly like ``pyuser-arm filename
arguments...``, so nothing needs rewriting.  pyuser's console scripts are
``#!`` scripts: the kernel runs Python, whose auxiliary vector carries the
flags (measured).  With O the kernel refuses a ``#!`` interpreter
(fs/exec.c, exec_binprm: a second interpreter level with an exec fd gives
ENOEXEC), so ``pyuser-binfmt`` installs a small native launcher for O and C
that passes AT_FLAGS and AT_EXECFD on as the first arguments
(``-binfmt-auxv FLAGS,FD``) when it runs the console script.

Kept small and free of heavy imports: it runs before option parsing on
every start.
"""

from __future__ import annotations

import ctypes
import os
import stat

AT_EXECFD = 2
AT_FLAGS = 8
AT_FLAGS_PRESERVE_ARGV0 = 1
LAUNCHER_MARKER = "-binfmt-auxv"


class Launch:
    """The command line to parse, and where to read the program from."""

    def __init__(self, argv: list[str], program_file: str | None = None) -> None:
        self.argv = argv
        self.program_file = program_file  # host path to load instead of the program's name

    def __repr__(self) -> str:
        return f"Launch({self.argv!r}, {self.program_file!r})"


def getauxval(kind: int) -> int | None:
    """The host auxiliary vector entry of this process, None if absent."""
    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.getauxval
    fn.restype = ctypes.c_ulong
    fn.argtypes = [ctypes.c_ulong]
    ctypes.set_errno(0)
    value = fn(kind)
    if value == 0 and ctypes.get_errno() != 0:  # ENOENT: not in the vector
        return None
    return value


def _parse_marker(text: str) -> tuple[int, int | None]:
    flags_text, _, fd_text = text.partition(",")
    try:
        return int(flags_text), (None if fd_text in ("", "-") else int(fd_text))
    except ValueError:
        return 0, None


def from_kernel(argv: list[str]) -> Launch:
    """Rewrite `argv` (sys.argv[1:]) as the option parser should see it."""
    via_launcher = len(argv) >= 2 and argv[0] == LAUNCHER_MARKER
    if via_launcher:
        at_flags, execfd = _parse_marker(argv[1])
        argv = argv[2:]
    else:
        at_flags = getauxval(AT_FLAGS) or 0
        execfd = getauxval(AT_EXECFD)
        if not at_flags & AT_FLAGS_PRESERVE_ARGV0 and execfd is None:
            return Launch(argv)  # an ordinary start (or binfmt without P and O)
    if not argv:
        return Launch(argv)
    filename, rest = argv[0], argv[1:]
    if at_flags & AT_FLAGS_PRESERVE_ARGV0 and rest:
        command = ["-0", rest[0], "--", filename, *rest[1:]]
    else:
        command = ["--", filename, *rest]
    program_file = program_from_fd(execfd, filename) if execfd is not None else None
    return Launch(command, program_file)


def program_from_fd(fd: int, filename: str) -> str | None:
    """A host path to load the program from, given the kernel's AT_EXECFD.

    The name the kernel saw is used when it still names the same file (so
    /proc/self/maps shows it); otherwise -- it is unreadable to us (an
    execute-only program) or was replaced -- the opened file is copied into
    a memfd.  The kernel's descriptor is closed either way: the guest must
    not inherit it.
    """
    try:
        opened = os.fstat(fd)
    except OSError:
        return None
    try:
        try:
            named = os.stat(filename)
            same = (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
            if same and os.access(filename, os.R_OK):
                return None
        except OSError:
            pass
        if not stat.S_ISREG(opened.st_mode):
            return None
        copy = os.memfd_create("pyuser-program", os.MFD_CLOEXEC)
        offset = 0
        while offset < opened.st_size:
            chunk = os.pread(fd, min(1 << 20, opened.st_size - offset), offset)
            if not chunk:
                break
            os.write(copy, chunk)
            offset += len(chunk)
        return f"/proc/self/fd/{copy}"
    finally:
        os.close(fd)
