"""What an execve would run: the checks the kernel makes before the point of no return.

Linux (fs/exec.c, fs/binfmt_script.c, fs/binfmt_elf.c) opens the file, wants
a regular file with execute permission (else EACCES), then asks each binary
format in turn: a ``#!`` line names an interpreter, looked up again (at most
4 levels deep, then ELOOP; BINPRM_MAX_RECURSION); an ELF file of the
machine runs, and its PT_INTERP must exist (else ENOENT); anything else is
ENOEXEC.  :func:`plan_exec` makes the same checks, with every path looked
up the guest's way (sysroot first), and says how to run what was found:

* ``guest``: an ELF file for the emulated target: pyuser runs it;
* ``host``: anything else (an ELF for the host, an unknown format): the
  host kernel is asked, and its answer (success, ENOEXEC, ...) stands.

A failure is an OSError with the errno the kernel would give, raised before
anything is replaced, so the guest's execve returns it.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from pyuser.errors import LoadError
from pyuser.loader.elf import guess_target, open_image

if TYPE_CHECKING:
    from pyuser.targets.base import Target
    from pyuser.vfs import GuestFileSystem

BINPRM_BUF_SIZE = 256  # the bytes of a #! line the kernel looks at
MAX_INTERPRETER_DEPTH = 4


class ExecPlan:
    """What an execve runs, as the kernel's checks found it."""

    def __init__(self, kind: str, guest_path: bytes, host_path: bytes, argv: list[bytes]) -> None:
        self.kind = kind  # "guest" or "host"
        self.guest_path = guest_path  # the program, as the guest names it
        self.host_path = host_path  # the file that is run
        self.argv = argv

    def __repr__(self) -> str:
        return f"ExecPlan({self.kind!r}, {self.guest_path!r}, {self.host_path!r}, {self.argv!r})"


def _fail(code: int, path: bytes) -> OSError:
    return OSError(code, os.strerror(code), os.fsdecode(path))


def _check_executable(host_path: bytes) -> bytes:
    """The file's first bytes, after the kernel's open-time checks."""
    info = os.stat(host_path)  # ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES
    if not stat.S_ISREG(info.st_mode):
        raise _fail(errno.EACCES, host_path)
    if not os.access(host_path, os.X_OK):
        raise _fail(errno.EACCES, host_path)
    with open(host_path, "rb") as f:
        return f.read(BINPRM_BUF_SIZE)


def parse_shebang(head: bytes) -> tuple[bytes, bytes | None] | None:
    """The interpreter and its one optional argument from a ``#!`` line.

    As fs/binfmt_script.c: the kernel looks at the first 256 bytes (a
    shorter file reads as NUL-padded); blanks after ``#!`` are skipped, the
    name ends at a blank or NUL, the rest of the line (trimmed) is one
    argument.  Without a newline in those bytes the line may be truncated:
    that is fine for the argument but not for the name (None, ENOEXEC).
    None too when no name is there at all.
    """
    buf = head[:BINPRM_BUF_SIZE].ljust(BINPRM_BUF_SIZE, b"\0")
    newline = buf.find(b"\n")
    if newline >= 0:
        line = buf[2:newline]
    else:
        line = buf[2:BINPRM_BUF_SIZE - 1]
        name_and_more = line.lstrip(b" \t")
        if not name_and_more or not any(c in name_and_more for c in b" \t\0"):
            return None
    line = line.rstrip(b" \t").lstrip(b" \t")
    ends = [i for i in (line.find(b" "), line.find(b"\t"), line.find(b"\0")) if i >= 0]
    cut = min(ends, default=len(line))
    name = line[:cut]
    if not name:
        return None
    argument = None
    if cut < len(line) and line[cut] != 0:
        rest = line[cut:].lstrip(b" \t").split(b"\0")[0]
        argument = rest or None
    return name, argument


def plan_exec(vfs: GuestFileSystem, target: Target, guest_path: bytes,
              argv: list[bytes], depth: int = 0) -> ExecPlan:
    """How to run `guest_path` with `argv`; OSError(errno) if the kernel would refuse."""
    host_path = vfs.resolve(guest_path)
    head = _check_executable(host_path)
    if head[:4] == b"\x7fELF":
        if _is_target_elf(host_path, target):
            _check_elf(vfs, target, host_path)
            return ExecPlan("guest", guest_path, host_path, argv)
        return ExecPlan("host", guest_path, host_path, argv)
    if head[:2] == b"#!":
        if depth >= MAX_INTERPRETER_DEPTH:
            raise _fail(errno.ELOOP, guest_path)
        parsed = parse_shebang(head)
        if parsed is None:
            raise _fail(errno.ENOEXEC, guest_path)
        interpreter, argument = parsed
        extra = [argument] if argument is not None else []
        plan = plan_exec(vfs, target, interpreter, [interpreter, *extra, guest_path, *argv[1:]],
                         depth + 1)
        if plan.kind == "host" and host_path != guest_path:
            # a host interpreter opens the script itself: give it the host file
            script_at = 1 + len(extra)
            plan.argv[script_at] = host_path
        return plan
    return ExecPlan("host", guest_path, host_path, argv)


def _is_target_elf(host_path: bytes, target: Target) -> bool:
    try:
        return guess_target(os.fsdecode(host_path)) == target.name
    except LoadError:
        return False


def _check_elf(vfs: GuestFileSystem, target: Target, host_path: bytes) -> None:
    """ENOEXEC for a file the loader would reject, ENOENT for a missing interpreter."""
    try:
        image = open_image(os.fsdecode(host_path), target)
    except LoadError:
        raise _fail(errno.ENOEXEC, host_path) from None
    try:
        interpreter = image.interpreter()
    except LoadError:
        raise _fail(errno.ENOEXEC, host_path) from None
    finally:
        image.close()
    if interpreter is not None:
        host_interp = vfs.resolve(interpreter)
        if not os.path.isfile(host_interp):
            raise _fail(errno.ENOENT, interpreter)
