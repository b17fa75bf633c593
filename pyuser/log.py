"""The debug log: `-d item,...` selects what is written, `-D file` where."""

from __future__ import annotations

import io
import os
import sys
from typing import TextIO

LOG_ITEMS = {
    "unimp": "unimplemented syscalls and ioctls, once each",
    "strace": "every syscall with its decoded arguments and result",
    "in_asm": "each translated block's guest instructions (capstone)",
    "exec": "each block address as it runs",
    "page": "guest memory map after loading and on each change",
    "cpu": "the registers before each block runs",
    "nochain": "run every block on its own, back through the CPU loop between blocks",
}


class Log:
    def __init__(self, items: set[str] | None = None, path: str | None = None) -> None:
        self.items = set(items or ())
        self._path = path
        self._stream: TextIO | None = None

    def enabled(self, item: str) -> bool:
        return item in self.items

    @property
    def stream(self) -> TextIO:
        if self._stream is None:
            self._stream = open(self._path, "a", buffering=1) if self._path else sys.stderr
        return self._stream

    def write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


class _Discard(io.TextIOBase):
    """Where the emulator's own messages go when its stdout or stderr is
    closed: nothing to write to, and no descriptor held."""

    def write(self, text: str) -> int:
        return len(text)


def stand_ins_for_closed_streams() -> None:
    """A program may start with descriptor 1 or 2 closed (a subprocess child,
    a daemon), or close them on exec: Python then has no sys.stdout or
    sys.stderr to write to.  The stand-ins hold no descriptor, so the guest
    still finds those numbers closed."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, _Discard())
            continue
        if isinstance(stream, _Discard):
            continue
        try:
            if stream.fileno() != fd:
                continue  # not the descriptor (a test's capture, say)
            os.fstat(fd)
        except (OSError, ValueError):
            setattr(sys, name, _Discard())  # closed; io.UnsupportedOperation too
