"""`pyuser.run`: run a foreign program in a child process and collect what it did.

The child is this Python running pyuser's command line, so a guest crash,
exit or runaway loop never takes the caller down, and everything behaves
exactly as ``pyuser-<arch>`` does (the environment given is the guest's, and
pyuser reads its PYUSER_* / QEMU_* settings from it, as qemu-user does).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The child: put this pyuser first on sys.path (-E keeps the guest's PYTHON*
# variables away from the emulator's own Python), then run the command line
# (the entry point layer, above this module: the child imports it, not this
# module).  The child's sys.argv is [-c, arch, pyuser options..., --,
# program, args...].
_CHILD = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
          "from pyuser.cli import _main; arch = sys.argv[1] or None; "
          "sys.argv = [f'pyuser-{arch}' if arch else 'pyuser', *sys.argv[2:]]; _main(arch)")

# "<pid> name(args) = result", as pyuser.strace writes it
_STRACE_LINE = re.compile(r"^(\d+) (\w+)\((.*)\) = (.*)$")


@dataclass(frozen=True)
class Syscall:
    """One traced syscall: its name, decoded arguments and result, as text."""

    name: str
    args: str
    result: str

    @property
    def error(self) -> str | None:
        """The errno name of a failed call ("ENOENT"), None if it succeeded."""
        if self.result.startswith("-1 "):
            return self.result.split()[1]
        return None


@dataclass
class Result:
    """What a run produced.  returncode < 0 means the guest died of signal -returncode."""

    returncode: int
    stdout: bytes | str
    stderr: bytes | str
    syscalls: list[Syscall] = field(default_factory=list)

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None

    def calls(self, name: str) -> list[Syscall]:
        """The traced calls of one syscall, e.g. result.calls("openat")."""
        return [s for s in self.syscalls if s.name == name]


def parse_strace(text: str) -> list[Syscall]:
    calls = []
    for line in text.splitlines():
        m = _STRACE_LINE.match(line)
        if m:
            calls.append(Syscall(m.group(2), m.group(3), m.group(4)))
    return calls


def command(argv: Sequence[str | os.PathLike[str]], *, arch: str | None = None,
            sysroot: str | os.PathLike[str] | None = None,
            options: Sequence[str] = ()) -> list[str]:
    """The child command line that runs `argv` under pyuser."""
    cmd = [sys.executable, "-E", "-c", _CHILD, _PACKAGE_PARENT, arch or ""]
    if sysroot is not None:
        cmd += ["-L", os.fspath(sysroot)]
    cmd += [*options, "--", *map(os.fspath, argv)]
    return cmd


def run(argv: Sequence[str | os.PathLike[str]], *, arch: str | None = None,
        sysroot: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
        stdin: bytes | str | int | IO | None = None, timeout: float | None = None,
        strace: bool = False, cwd: str | os.PathLike[str] | None = None,
        text: bool = False) -> Result:
    """Run the foreign program `argv` (argv[0] is its path) under pyuser.

    arch: the target ("arm"); None reads it from the program's ELF header.
    sysroot: as -L.  env: the guest's environment (default: this process's).
    stdin: bytes or str to feed, or a file/descriptor; None gives /dev/null.
    timeout: seconds; subprocess.TimeoutExpired is raised after the child is killed.
    strace: fill Result.syscalls.  text: decode stdout/stderr as UTF-8.
    """
    if not argv:
        raise ValueError("argv must name the program")
    kw: dict = {"capture_output": True, "timeout": timeout, "cwd": cwd,
                "env": dict(env) if env is not None else None}
    if isinstance(stdin, (bytes, str)):
        kw["input"] = stdin.encode() if isinstance(stdin, str) else stdin
    else:
        kw["stdin"] = subprocess.DEVNULL if stdin is None else stdin
    if not strace:
        return _finish(subprocess.run(command(argv, arch=arch, sysroot=sysroot), **kw),
                       [], text)
    with tempfile.TemporaryDirectory(prefix="pyuser-strace-") as tmp:
        log = os.path.join(tmp, "strace.log")
        cmd = command(argv, arch=arch, sysroot=sysroot, options=["-strace", "-D", log])
        proc = subprocess.run(cmd, **kw)
        try:
            with open(log, encoding="utf-8", errors="replace") as f:
                calls = parse_strace(f.read())
        except FileNotFoundError:
            calls = []
    return _finish(proc, calls, text)


def _finish(proc: subprocess.CompletedProcess, calls: list[Syscall], text: bool) -> Result:
    out, err = proc.stdout, proc.stderr
    if text:
        out, err = out.decode(errors="replace"), err.decode(errors="replace")
    return Result(proc.returncode, out, err, calls)

