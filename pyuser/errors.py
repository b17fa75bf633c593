"""Errors the user sees as one line on stderr, with a documented exit status."""

from __future__ import annotations

EXIT_USAGE = 1  # bad option, missing program (as qemu-user)
EXIT_LOAD = 1  # the program cannot be loaded (not ELF, wrong machine, ...)
EXIT_LIMIT = 1  # the host's limits leave no room for the guest (ulimit -v)


class UserError(Exception):
    """A problem with the command line or the program; never a traceback."""

    exit_status = EXIT_USAGE


class LoadError(UserError):
    exit_status = EXIT_LOAD


class LimitError(UserError):
    """A host resource limit leaves no room for the guest (pyuser.limits)."""

    exit_status = EXIT_LIMIT


def printable(text: str | bytes) -> str:
    """`text` for a one-line message: a path from a file or the command line
    may hold a newline or bytes that are not UTF-8; they are escaped as
    Python escapes them (\\n, \\xff) so that an error stays one line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    else:
        try:  # os.fsdecode's undecodable bytes come back as the bytes they were
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # other lone surrogates
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# ---------------------------------------------------------------- control flow
# Exceptions that cross layers: raised by a syscall handler, a target's hook or
# an instrument, caught by the CPU loop (pyuser.cpu) at a safe point.  They
# live here, on the ground floor, so that the layer that raises one need not
# know the layer that catches it (docs/architecture.md).


class NoReturn(Exception):  # noqa: N818 - control flow, not an error
    """Base of exceptions that end the current syscall without a result."""


class ProcessExit(NoReturn):
    """exit_group (or the last thread's exit): the process ends with `status`."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ThreadExit(NoReturn):
    """exit: the calling thread ends."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class SigReturn(NoReturn):
    """sigreturn restored every register: the CPU loop must not write a result."""


class FaultStop(Exception):  # noqa: N818 - control flow
    """The guest faulted: the CPU loop delivers the signal real hardware gives.

    `fault` is a pyuser.targets.base.Fault (signal, code, address, trap
    number), made by the target that recognised the fault."""

    def __init__(self, fault: object) -> None:
        super().__init__(fault)
        self.fault = fault


class SafePointStop(Exception):  # noqa: N818 - control flow, as SigReturn
    """Parked by an instrument's hook (a debugger's breakpoint, a plugin's
    stop); the CPU loop calls `handle(cpu)` once the engine has stopped."""

    def handle(self, cpu: object) -> None:
        raise NotImplementedError
