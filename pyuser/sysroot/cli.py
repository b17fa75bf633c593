"""`pyuser-sysroot --arch ARCH DIR [PACKAGE...]`: a Debian 12 sysroot for
`pyuser-<arch> -L DIR`, from Debian's packages with a private apt state
(pyuser.sysroot.apt; the host's apt and dpkg are not touched)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pyuser.errors import UserError, printable
from pyuser.sysroot.apt import EXIT_FAILED, EXIT_NO_NETWORK, EXIT_NOT_WRITABLE
from pyuser.sysroot.build import build_sysroot
from pyuser.targets import registry

EXIT_USAGE = 2  # bad command line: unknown option or architecture
DEFAULT_PACKAGES = ["libc6"]

DESCRIPTION = """\
Build a sysroot for `pyuser-<arch> -L DIR` from Debian 12's packages:
PACKAGEs (default: libc6) and everything they depend on are downloaded
with a private apt state (kept in the cache directory; the host's apt and
dpkg are not touched) and unpacked with dpkg -x (no maintainer scripts run).
DIR must be new, empty, or a sysroot this command built (rebuilt when the
package list changes, left alone when it is the same).  Prints DIR.
"""

EPILOG = f"""\
exit status:
  0  the sysroot is built (or was already up to date)
  {EXIT_FAILED}  a package is not available for ARCH, or apt or dpkg failed
  {EXIT_USAGE}  bad command line: unknown option, or an architecture without Debian 12 packages
  {EXIT_NOT_WRITABLE}  DIR (or the cache) cannot be written, or DIR holds other files
  {EXIT_NO_NETWORK}  the package lists or packages could not be downloaded (no network)
"""


class UsageError(UserError):
    exit_status = EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see --help)")


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyuser"


def architectures() -> str:
    return ", ".join(f"{r.name} ({r.debian_arch})" for r in registry.TARGETS.values()
                     if r.debian_arch)


def debian_arch(arch: str) -> str:
    """ARCH, a pyuser target or a Debian architecture name, as Debian's name."""
    found = registry.debian_arch(arch)
    if found is None:
        why = "Debian 12 has no packages for" if arch in registry.TARGETS \
            else "unknown architecture"
        raise UsageError(f"{why} '{printable(arch)}' (known: {architectures()})")
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pyuser-sysroot", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", required=True, metavar="ARCH",
                        help="a pyuser target (arm, aarch64, ...) or its Debian name "
                             "(armhf, arm64, ...)")
    parser.add_argument("dir", metavar="DIR", help="where the sysroot goes")
    parser.add_argument("packages", nargs="*", metavar="PACKAGE",
                        help="Debian packages, optionally NAME=VERSION (default: libc6)")
    parser.add_argument("--cache", metavar="CACHE", type=Path,
                        help=f"the private apt state and the downloaded packages "
                             f"(default {default_cache()})")
    parser.add_argument("--update", choices=("auto", "always", "never"), default="auto",
                        help="refresh the package lists: when older than a day (auto), "
                             "always, or never")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        arch = debian_arch(args.arch)
        dest = build_sysroot(arch, Path(args.dir), args.packages or DEFAULT_PACKAGES,
                             cache=args.cache or default_cache(), update=args.update)
    except UserError as e:
        sys.stdout.flush()
        print(f"pyuser-sysroot: {printable(str(e))}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        return 130
    print(dest)
    return 0


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
