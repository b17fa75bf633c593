"""The CPUs pyuser emulates, one module each; loaded on demand."""

from __future__ import annotations

import importlib

from pyuser.errors import UserError
from pyuser.targets.base import Target

# target name -> module under pyuser.targets
TARGETS = {
    "arm": "arm",
    "aarch64": "aarch64",
    "x86_64": "x86_64",
    "riscv64": "riscv64",
    "i386": "i386",
    "mipsel": "mipsel",
    "mips": "mips",
    # FreeBSD programs (the FreeBSD personality, pyuser.syscalls.freebsd)
    "freebsd-x86_64": "freebsd_x86_64",
    "freebsd-aarch64": "freebsd_aarch64",
    "mips64el": "mips64el",
    "mips64": "mips64",
    "armel": "armel",
    "s390x": "s390x",
    "ppc": "ppc",
}


def target_names() -> list[str]:
    return sorted(TARGETS)


def load_target(name: str) -> Target:
    module_name = TARGETS.get(name)
    if module_name is None:
        raise UserError(f"unsupported target '{name}' (supported: {', '.join(target_names())})")
    module = importlib.import_module(f"pyuser.targets.{module_name}")
    return module.TARGET()
