"""The debug log: `-d item,...` selects what is written, `-D file` where."""

from __future__ import annotations

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
