"""pyuser: run Linux programs built for another CPU, as qemu-user does, on Unicorn."""

__version__ = "0.1.0"

# The Python API, imported on first use: `import pyuser` (and so every start
# of the command line, which imports pyuser.cli) stays cheap.
_LAZY = {
    "run": "pyuser.api", "Result": "pyuser.api", "Syscall": "pyuser.api",
    "Emulator": "pyuser.emulator", "SyscallEvent": "pyuser.emulator",
}
__all__ = ["__version__", *_LAZY]

# the unicorn binding, whenever something imports it, without its slow
# library search (pyuser.unicorn_boot explains)
from pyuser import unicorn_boot as _unicorn_boot  # noqa: E402

_unicorn_boot.install()


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyuser' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
