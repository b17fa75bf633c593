"""How guest paths map to host paths.

The rule (as qemu-user's -L): an absolute guest path is looked up under the
sysroot first; if nothing exists there, the host path is used.  Relative
paths are relative to the (shared) working directory.  /proc/self/exe names
the guest program, not the emulator.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyuser.process import Process


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
        if self.sysroot is not None:
            candidate = self.sysroot + path
            if os.path.lexists(candidate):
                return candidate
        return path

    def readlink_special(self, path: bytes) -> bytes | None:
        """readlink of /proc/self/exe gives the guest program's path."""
        if self._proc_self_entry(path) == b"exe":
            return os.fsencode(self.process.exe_guest_path)
        return None

    def open_special(self, path: bytes, flags: int) -> int | None:
        """Files whose contents the emulator must make up; None for ordinary ones."""
        entry = self._proc_self_entry(path)
        if entry is None:
            return None
        maker = self.process.proc_files.get(entry)
        if maker is None:
            return None
        data = maker()
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
