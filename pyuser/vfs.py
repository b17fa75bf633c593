"""How guest paths map to host paths.

The rule (as qemu-user's -L): an absolute guest path is looked up under the
sysroot first; if nothing exists there, the host path is used.  Relative
paths are relative to the (shared) working directory.  /proc/self/exe names
the guest program, not the emulator; a few /proc files are made up
(pyuser.procfs).  docs/userland.md describes the rule for users.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Protocol

from pyuser import procfs


class Process(Protocol):
    """What the file system view uses of its process (pyuser.process.Process,
    which owns it); procfs renders the rest."""

    proc_files: dict[bytes, Callable[[], bytes]]
    exe_host_path: str
    exe_guest_path: str


def under_sysroot(sysroot: bytes | None, path: bytes) -> bytes:
    """The host path for a guest path by the sysroot rule (no /proc specials)."""
    if sysroot is not None and path.startswith(b"/"):
        candidate = sysroot + path
        if os.path.lexists(candidate):
            return candidate
    return path


class GuestFileSystem:
    def __init__(self, process: Process, sysroot: str | None) -> None:
        self.process = process
        self.sysroot = os.fsencode(os.path.abspath(sysroot)) if sysroot else None
        self._self_prefixes: tuple[bytes, ...] = ()
        self.refresh_pid()

    def refresh_pid(self) -> None:
        """After fork the child's /proc/<pid> differs."""
        self._self_prefixes = (b"/proc/self/", b"/proc/%d/" % os.getpid(),
                               b"/proc/thread-self/")

    def _proc_self_entry(self, path: bytes) -> bytes | None:
        for prefix in self._self_prefixes:
            if path.startswith(prefix):
                return path[len(prefix):]
        return None

    def resolve(self, path: bytes) -> bytes:
        if not path.startswith(b"/"):
            return path
        entry = self._proc_self_entry(path)
        if entry == b"exe":
            return os.fsencode(self.process.exe_host_path)
        return under_sysroot(self.sysroot, path)

    def guest_realpath(self, path: bytes) -> bytes:
        """realpath(3) in the guest's view: each symbolic link on the way is
        read through the sysroot rule, so a path inside the sysroot comes out
        as the guest names it.  Used for /proc/self/exe."""
        if not path.startswith(b"/"):
            path = os.path.join(os.getcwdb(), path)
        pending = [p for p in path.split(b"/") if p][::-1]
        resolved = b""
        hops = 0
        while pending:
            part = pending.pop()
            if part == b".":
                continue
            if part == b"..":
                resolved = resolved.rpartition(b"/")[0]
                continue
            candidate = resolved + b"/" + part
            try:
                link = os.readlink(self.resolve(candidate))
            except OSError:
                resolved = candidate  # not a link (or missing): keep the name
                continue
            hops += 1
            if hops > 40:  # ELOOP: give the path as it was
                return path
            if link.startswith(b"/"):
                resolved = b""
            pending.extend([p for p in link.split(b"/") if p][::-1])
        return resolved or b"/"

    def guest_view(self, host_path: bytes) -> bytes:
        """A host path inside the sysroot as the guest names it (the sysroot
        rule backwards): the working directory after chdir("/usr") is "/usr"."""
        root = self.sysroot
        if root is not None and (host_path == root or host_path.startswith(root + b"/")):
            return host_path[len(root):] or b"/"
        return host_path

    def readlink_special(self, path: bytes) -> bytes | None:
        """readlink of /proc/self/exe gives the guest program's path, of
        /proc/self/cwd the working directory in the guest's view."""
        entry = self._proc_self_entry(path)
        if entry == b"exe":
            return os.fsencode(self.process.exe_guest_path)
        if entry == b"cwd":
            return self.guest_view(os.getcwdb())
        return None

    def open_special(self, path: bytes, flags: int) -> int | None:
        """Files whose contents the emulator must make up; None for ordinary ones."""
        entry = self._proc_self_entry(path)
        if entry is None:
            render = procfs.GLOBAL_FILES.get(path)
            if render is None:
                return None
            data = render(self.process)
        else:
            maker = self.process.proc_files.get(entry)
            if maker is not None:
                data = maker()
            elif entry in procfs.SELF_FILES:
                data = procfs.SELF_FILES[entry](self.process)
            else:
                return None
        read_end, write_end = os.pipe()
        # small synthesized files fit in the pipe buffer (64 KiB); bigger ones
        # go through an unlinked temporary file
        if len(data) < 65536:
            os.write(write_end, data)
            os.close(write_end)
            return read_end
        os.close(read_end)
        os.close(write_end)
        import tempfile

        fd, tmp = tempfile.mkstemp()
        os.unlink(tmp)
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd
