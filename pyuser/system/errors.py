"""Errors raised while building or changing the board.

Every error that reaches a user (command line or QMP) is one of these, so the
front ends can print one line without a traceback.
"""

from __future__ import annotations


class SystemError_(Exception):
    """Base of all board errors (named with a trailing underscore to keep the builtin)."""


class PropertyError(SystemError_):
    """Unknown property, bad value, or a property set after realize."""


class AddressClashError(SystemError_):
    """Two memory regions would overlap in the address map."""


class IrqClashError(SystemError_):
    """Two devices would drive the same interrupt-controller input."""


class RealizeError(SystemError_):
    """Realize failed; `path` is the canonical path of the device that failed.

    By the time this is raised everything the attempt did has been undone.
    """

    def __init__(self, path: str, cause: BaseException) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = path
        self.cause = cause


class DeviceNotFound(SystemError_):
    """No device with that id or path."""


class UsageError(SystemError_):
    """A bad command-line option or argument."""
