"""Character back ends for UARTs: stdio, a file, or nothing.

Output is written on the emulation thread.  Input (stdio) is read by a host
thread into a deque; the emulation thread takes bytes from it at safe points
and on UART register reads, so devices are only ever touched by one thread.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable

from .errors import SystemError_, UsageError


class Chardev:
    """A byte stream with at most one front end attached."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.frontend: str | None = None
        self.notify: Callable[[], None] | None = None
        self.input: deque[int] = deque()

    def attach(self, frontend: str, notify: Callable[[], None]) -> None:
        if self.frontend is not None:
            raise SystemError_(f"chardev '{self.name}' is already in use by {self.frontend}")
        self.frontend, self.notify = frontend, notify

    def detach(self) -> None:
        self.frontend, self.notify = None, None

    def write(self, data: bytes) -> None:
        pass

    def flush(self) -> None:
        pass

    def read_byte(self) -> int | None:
        try:
            return self.input.popleft()
        except IndexError:
            return None

    def start(self, wake: Callable[[], None]) -> None:
        """Begin delivering input; `wake` rouses an idle CPU loop from any thread."""

    def close(self) -> None:
        self.flush()


class NullChardev(Chardev):
    """Discards output, never has input; any number of front ends may share it."""

    def attach(self, frontend: str, notify: Callable[[], None]) -> None:
        pass


class FileChardev(Chardev):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.file = open(path, "wb")  # noqa: SIM115 - lives as long as the board

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


CTRL_A = 0x01


class StdioChardev(Chardev):
    """The host's stdin/stdout.  With `mux` (-nographic), Ctrl-A x quits as in QEMU."""

    def __init__(self, name: str, mux: bool, on_quit: Callable[[], None]) -> None:
        super().__init__(name)
        self.mux = mux
        self.on_quit = on_quit
        self.out = sys.stdout.buffer
        self._escape = False
        self._saved_tty: list | None = None
        self.eof = False

    def write(self, data: bytes) -> None:
        self.out.write(data)

    def flush(self) -> None:
        try:
            self.out.flush()
        except (BrokenPipeError, ValueError):
            pass

    def start(self, wake: Callable[[], None]) -> None:
        self._raw_tty()
        thread = threading.Thread(target=self._reader, args=(wake,), name="stdin", daemon=True)
        thread.start()

    def _raw_tty(self) -> None:
        # A terminal must pass every key to the guest, as QEMU's stdio backend does.
        if not os.isatty(0):
            return
        import termios
        import tty

        self._saved_tty = termios.tcgetattr(0)
        tty.setraw(0)

    def close(self) -> None:
        self.flush()
        if self._saved_tty is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self._saved_tty)
            self._saved_tty = None

    def _reader(self, wake: Callable[[], None]) -> None:
        while True:
            try:
                data = os.read(0, 4096)
            except OSError:
                data = b""
            if not data:
                self.eof = True
                return
            for byte in data:
                if self.mux and self._escape:
                    self._escape = False
                    if byte == ord("x"):
                        self.on_quit()
                        return
                    if byte != CTRL_A:
                        continue
                elif self.mux and byte == CTRL_A:
                    self._escape = True
                    continue
                self.input.append(byte)
            wake()


def parse_serial(spec: str, name: str, mux: bool, on_quit: Callable[[], None]) -> Chardev:
    """-serial stdio | null | none | file:PATH."""
    if spec == "stdio":
        return StdioChardev(name, mux, on_quit)
    if spec in ("null", "none"):
        return NullChardev(name)
    if spec.startswith("file:"):
        try:
            return FileChardev(name, spec[5:])
        except OSError as exc:
            raise UsageError(f"could not open serial file '{spec[5:]}': {exc.strerror}") from None
    raise UsageError(f"'{spec}' is not a supported serial back end (stdio, null, none, file:PATH)")
