"""Per-architecture defaults from a config file, for starts that carry no options.

A program run through binfmt_misc gets no -L, so its sysroot comes from the
environment (PYUSER_LD_PREFIX, QEMU_LD_PREFIX) or from here.  The files, the
first found wins:

    $XDG_CONFIG_HOME/pyuser/<arch>.conf   (default ~/.config/pyuser/<arch>.conf)
    /etc/pyuser/<arch>.conf

hold ``name = value`` lines; ``#`` starts a comment.  The one setting so far:

    sysroot = /srv/sysroots/debian-armhf   # as -L; an absolute path

Precedence: -L, then PYUSER_LD_PREFIX / QEMU_LD_PREFIX, then the file.
"""

from __future__ import annotations

import os

from pyuser.errors import UserError

SYSTEM_DIR = "/etc/pyuser"
SETTINGS = ("sysroot",)


def config_paths(arch: str) -> list[str]:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser("~"), ".config")
    return [os.path.join(base, "pyuser", f"{arch}.conf"),
            os.path.join(SYSTEM_DIR, f"{arch}.conf")]


def parse(text: str, path: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise UserError(f"{path}:{number}: expected 'name = value'")
        if name not in SETTINGS:
            raise UserError(f"{path}:{number}: unknown setting '{name}'"
                            f" (known: {', '.join(SETTINGS)})")
        if name == "sysroot" and not os.path.isabs(value):
            raise UserError(f"{path}:{number}: sysroot must be an absolute path")
        settings[name] = value
    return settings


def load(arch: str) -> tuple[str | None, dict[str, str]]:
    """The config file that applies to `arch` and its settings (None, {} if none)."""
    for path in config_paths(arch):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        except OSError as e:
            raise UserError(f"{path}: {e.strerror}") from None
        return path, parse(text, path)
    return None, {}


def default_sysroot(arch: str) -> str | None:
    return load(arch)[1].get("sysroot")
