"""Errors the user sees as one line on stderr, with a documented exit status."""

from __future__ import annotations

EXIT_USAGE = 1  # bad option, missing program (as qemu-user)
EXIT_LOAD = 1  # the program cannot be loaded (not ELF, wrong machine, ...)


class UserError(Exception):
    """A problem with the command line or the program; never a traceback."""

    exit_status = EXIT_USAGE


class LoadError(UserError):
    exit_status = EXIT_LOAD
