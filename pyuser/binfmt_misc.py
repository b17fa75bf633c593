"""The kernel's binfmt_misc file system: its entries, registering and removing them.

Facts used (Linux Documentation/admin-guide/binfmt-misc.rst, fs/binfmt_misc.c,
and measured on this machine's kernel):
- An entry is registered by writing ``:name:M:offset:magic:mask:interpreter:flags``
  to /proc/sys/fs/binfmt_misc/register, in one write; ``-1`` written to
  <dir>/<name> removes it, ``0``/``1`` disable/enable it.  A second entry
  with an existing name fails with EEXIST.
- An entry file reads ``enabled``/``disabled``, ``interpreter PATH``,
  ``flags: LETTERS``, then ``offset N``, ``magic HEX``, ``mask HEX`` (or
  ``extension .EXT``).
- When several enabled entries match a file, the most recently registered
  one is used (new entries go to the head of the kernel's list; measured).
"""

from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass

from pyuser.errors import UserError

BINFMT_DIR = "/proc/sys/fs/binfmt_misc"


@dataclass
class Entry:
    """One binfmt_misc entry as the kernel shows it."""

    name: str
    enabled: bool
    interpreter: str
    flags: str
    offset: int = 0
    magic: bytes = b""
    mask: bytes | None = None
    extension: str | None = None

    def matches(self, header: bytes) -> bool:
        """Whether this entry claims a file starting with `header`."""
        if self.extension is not None or not self.magic:
            return False
        part = header[self.offset:self.offset + len(self.magic)]
        if len(part) < len(self.magic):
            return False
        mask = self.mask or b"\xff" * len(self.magic)
        return all(p & m == g & m for p, m, g in zip(part, mask, self.magic, strict=False))


def parse_entry(name: str, text: str) -> Entry:
    entry = Entry(name=name, enabled=False, interpreter="", flags="")
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if line == "enabled":
            entry.enabled = True
        elif key == "interpreter":
            entry.interpreter = value
        elif key == "flags:":
            entry.flags = value.strip()
        elif key == "offset":
            entry.offset = int(value)
        elif key == "magic":
            entry.magic = bytes.fromhex(value)
        elif key == "mask":
            entry.mask = bytes.fromhex(value)
        elif key == "extension":
            entry.extension = value
    return entry


def escape(data: bytes) -> str:
    """Bytes as binfmt_misc's \\xHH escapes (safe for ':' and any other byte)."""
    return "".join(f"\\x{b:02x}" for b in data)


def registration_line(name: str, magic: bytes, mask: bytes, interpreter: str,
                      flags: str) -> str:
    return f":{name}:M::{escape(magic)}:{escape(mask)}:{interpreter}:{flags}"


def in_private_namespace(line: str) -> list[str]:
    """A command prefix: run the command in a private user+mount namespace
    whose own binfmt_misc instance has `line` registered (Linux 6.7 and later
    give each user namespace its own binfmt_misc; nothing of the host's
    changes).  For comparisons with qemu-user, which execs a foreign program
    only through binfmt_misc."""
    script = ("mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && "
              'printf "%s" "$0" > /proc/sys/fs/binfmt_misc/register && shift && exec "$@"')
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, line, "-"]


def private_namespace_works() -> bool:
    """Whether this kernel gives a user namespace a binfmt_misc of its own
    (Linux 6.7 and later; before, the mount is refused), and unshare exists."""
    import subprocess

    try:
        probe = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
             "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc"],
            capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


# ---------------------------------------------------------------- the kernel side


class Binfmt:
    """The binfmt_misc file system (a directory, so tests may point it elsewhere)."""

    def __init__(self, directory: str = BINFMT_DIR) -> None:
        self.dir = directory

    @property
    def mounted(self) -> bool:
        return os.path.exists(os.path.join(self.dir, "register"))

    def kernel_supports(self) -> bool:
        try:
            with open("/proc/filesystems", encoding="ascii") as f:
                return any(line.split()[-1:] == ["binfmt_misc"] for line in f)
        except OSError:
            return True  # cannot tell: let mount say

    def mount(self) -> None:
        if not self.kernel_supports():
            raise UserError("binfmt_misc is unavailable: this kernel has no binfmt_misc "
                            "support (CONFIG_BINFMT_MISC)")
        err = self._mount()
        if err:
            hint = " (in a container, register on the host instead)" \
                if err in (errno.EPERM, errno.EACCES, errno.EROFS) else ""
            raise UserError(f"binfmt_misc is unavailable: cannot mount it on {self.dir}: "
                            f"{os.strerror(err)}{hint}")
        print(f"pyuser-binfmt: mounted binfmt_misc on {self.dir}")

    def _mount(self) -> int:
        """mount(2) binfmt_misc on the directory; 0 or the errno."""
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"binfmt_misc", os.fsencode(self.dir), b"binfmt_misc", 0, None) != 0:
            return ctypes.get_errno()
        return 0

    def global_status(self) -> str:
        with open(os.path.join(self.dir, "status"), encoding="ascii") as f:
            return f.read().strip()

    def entries(self) -> list[Entry]:
        found = []
        for name in sorted(os.listdir(self.dir)):
            if name in ("register", "status"):
                continue
            entry = self.entry(name)
            if entry is not None:
                found.append(entry)
        return found

    def entry(self, name: str) -> Entry | None:
        try:
            with open(os.path.join(self.dir, name), encoding="utf-8",
                      errors="replace") as f:
                return parse_entry(name, f.read())
        except OSError:
            return None

    def _write(self, name: str, data: str) -> None:
        fd = os.open(os.path.join(self.dir, name), os.O_WRONLY)
        try:
            os.write(fd, data.encode())  # one write: the kernel parses each write
        finally:
            os.close(fd)

    def register(self, line: str) -> None:
        self._write("register", line)

    def remove(self, name: str) -> None:
        self._write(name, "-1")

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._write(name, "1" if enabled else "0")
