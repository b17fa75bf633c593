"""A Debian 12 sysroot for `pyuser-<arch> -L SYSROOT` (and qemu-<arch>-static -L).

The packages and what they depend on (pyuser.sysroot.apt, with a private apt
state) are unpacked with dpkg -x, which runs no maintainer scripts, so the
links those would make are added here (usr/bin/python3).  The sysroot is
built in a fresh directory next to the destination and moved into place
when complete, so an interrupted run never leaves half a sysroot.  A stamp
file records the architecture and package list: a second run with the same
list does nothing; with another list the sysroot is rebuilt.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pyuser.errors import printable
from pyuser.sysroot.apt import NotWritable, SysrootError, fetch

STAMP = ".sysroot-done"


def stamp_text(arch: str, packages: list[str]) -> str:
    """What the stamp holds (tools/make-sysroot.sh's format: sysroots it
    built stay valid)."""
    return " ".join([arch, *packages])


def read_package_list(path: Path) -> list[str]:
    """Package names, one a line; `#` starts a comment."""
    names = []
    for line in Path(path).read_text().splitlines():
        name = "".join(line.split("#", 1)[0].split())
        if name:
            names.append(name)
    return names


def is_sysroot(path: Path) -> bool:
    """A directory this module built (it has the stamp)."""
    return (path / STAMP).is_file()


def check_destination(dest: Path) -> None:
    """dest may be made or replaced: absent, an empty directory, or a sysroot
    built here, in an existing directory.  NotWritable otherwise (whether
    that directory is writable shows when the sysroot is started there)."""
    shown = printable(str(dest))
    if dest.is_symlink():
        raise NotWritable(f"{shown} is a symbolic link (give the directory it points to)")
    if dest.exists():
        if not dest.is_dir():
            raise NotWritable(f"{shown} exists and is not a directory")
        if not is_sysroot(dest) and any(dest.iterdir()):
            raise NotWritable(f"{shown} is not empty and is not a sysroot made by "
                              "pyuser-sysroot (give an empty or new directory)")
    parent = dest.absolute().parent
    if not parent.is_dir():
        raise NotWritable(f"cannot create {shown}: {printable(str(parent))} is not a directory")


def relative_links(root: Path) -> None:
    """Absolute symlinks (mips64el's /lib64/ld.so.1 -> /lib/mips64el-linux-gnuabi64/
    ld.so.1) would point into the host when followed from outside a chroot,
    as -L does: make each one relative to its own directory inside root."""
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            link = os.path.join(directory, name)
            if not os.path.islink(link):
                continue
            target = os.readlink(link)
            if not target.startswith("/"):
                continue
            inside = os.path.normpath(os.path.join(str(root), target.lstrip("/")))
            os.unlink(link)
            os.symlink(os.path.relpath(inside, directory), link)


def build_sysroot(arch: str, dest: Path, packages: list[str], *, cache: Path,
                  update: str = "auto") -> Path:
    """Build (or keep, when its stamp matches) the sysroot of `packages` and
    their dependencies for Debian architecture `arch` at dest."""
    dest = Path(dest)
    want = stamp_text(arch, packages)
    stamp = dest / STAMP
    if stamp.is_file() and stamp.read_text(errors="replace") == want:
        return dest
    check_destination(dest)
    tmp = dest.parent / f"{dest.name}.tmp.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:  # before anything is downloaded: can the sysroot be written there?
        tmp.mkdir()
    except OSError as e:
        raise NotWritable(f"cannot create {printable(str(dest))}: {e.strerror}") from None
    try:
        fetch(arch, tmp, packages, deps=True, cache=cache, update=update)
        relative_links(tmp)
        python = tmp / "usr" / "bin"
        if (python / "python3.11").exists() and not (python / "python3").exists():
            (python / "python3").symlink_to("python3.11")
        if arch == "armhf" and not (tmp / "lib" / "ld-linux-armhf.so.3").exists():
            raise SysrootError("no dynamic loader in the sysroot")
        (tmp / STAMP).write_text(want)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except OSError as e:
        raise NotWritable(f"cannot build {printable(str(dest))}: {e.strerror} "
                          f"({printable(str(e.filename))})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
