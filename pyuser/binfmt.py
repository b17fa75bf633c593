"""`pyuser-binfmt`: register pyuser with the kernel's binfmt_misc, so foreign
programs run directly (``./hello-arm``) as if they were native.

Facts used (Linux Documentation/admin-guide/binfmt-misc.rst, fs/binfmt_misc.c,
and measured on this machine's kernel):
- The kernel side (entries, the register file) is in pyuser.binfmt_misc.
- systemd-binfmt.service writes every line of /etc/binfmt.d/*.conf to the
  register file at boot (binfmt.d(5)).
"""

from __future__ import annotations

import argparse
import errno
import os
import platform
import sys
from dataclasses import dataclass

from pyuser.binfmt_misc import BINFMT_DIR, Binfmt, registration_line
from pyuser.errors import UserError
from pyuser.targets import registry

SYSTEMD_DIR = "/etc/binfmt.d"
LAUNCHER_DIR = "/usr/local/libexec/pyuser"
DEFAULT_FLAGS = "P"
KNOWN_FLAGS = "POCF"

HELP = f"""\
Register pyuser with binfmt_misc so that foreign programs run directly.

  pyuser-binfmt register [--arch A,...|--all] [--flags F,P,O,C] [--path DIR]
                         [--systemd [DIR]] [--replace] [--dry-run]
  pyuser-binfmt unregister [--arch A,...|--all] [--systemd [DIR]] [--dry-run]
  pyuser-binfmt status

Without --arch, every architecture pyuser emulates except the host's own is
(un)registered.  Registering writes to {BINFMT_DIR}/register (mounting
binfmt_misc there first if needed) and needs root; with --systemd it writes
{SYSTEMD_DIR}/<name>.conf files instead, applied at boot or by
`systemctl restart systemd-binfmt`.

Flags (default {DEFAULT_FLAGS}):
  P  preserve argv[0]: the program sees the argv[0] it was started with
     (without P it sees its path instead).
  O  open binary: the kernel opens the program and passes the descriptor, so
     programs you may execute but not read still run.  Needs a native
     launcher, compiled here with the host C compiler.
  F  fix binary: the kernel opens the interpreter now, at registration, and
     keeps it; the interpreter must therefore stay at a stable path (the
     console script of the Python environment pyuser is installed in, e.g.
     .venv/bin/pyuser-arm).  F pins only that first file: Python and pyuser
     are still found by path when a program starts, so F does not make pyuser
     usable inside a chroot or container that lacks them.
  C  credentials (implies O): setuid and setgid foreign programs run with the
     privileges they ask for.  Dangerous, never enabled unless asked: the
     emulator -- a Python program that trusts its environment (PYTHONPATH,
     PYUSER_* and QEMU_* variables, ~/.config/pyuser) -- then runs with those
     privileges, so any user allowed to start a setuid foreign program can
     run code of their own choosing as its owner, typically root.
"""


# ---------------------------------------------------------------- what to register


class NotInstalled(UserError):
    """pyuser cannot run this architecture from binfmt_misc (no magic, no script)."""


def host_family() -> set[str]:
    """The targets this host runs natively (by `uname -m`; an aarch64 host
    may run 32-bit arm code, an x86_64 host runs i386): registering them
    would send native programs through the emulator."""
    return registry.native_targets(platform.machine())


def all_targets() -> list[str]:
    return registry.target_names()


def choose_arches(arg_arch: list[str] | None, use_all: bool, *, registering: bool) -> list[str]:
    known = all_targets()
    if arg_arch:
        wanted: list[str] = []
        for item in arg_arch:
            wanted.extend(a for a in item.split(",") if a)
        for arch in wanted:
            if arch not in known:
                raise UserError(f"unknown architecture '{arch}' "
                                f"(pyuser emulates: {', '.join(known)})")
        return list(dict.fromkeys(wanted))
    native = host_family()
    chosen = [a for a in known if a not in native]
    if registering:
        for arch in known:
            if arch in native:
                print(f"pyuser-binfmt: skipping {arch}: this {platform.machine()} host runs it"
                      " natively (name it with --arch to register it anyway)")
    return chosen


def parse_flags(text: str) -> str:
    letters = text.replace(",", "").replace(" ", "").upper()
    for letter in letters:
        if letter not in KNOWN_FLAGS:
            raise UserError(f"unknown flag '{letter}' (known: F, P, O, C; see --help)")
    return "".join(f for f in KNOWN_FLAGS if f in letters)


def script_name(arch: str) -> str:
    """The console script that runs `arch` (its registry row's)."""
    row = registry.entry(arch)
    return row.script if row is not None else f"pyuser-{arch}"


def default_script_dir(arch: str) -> str:
    """Where the pyuser-<arch> console script of this Python environment lives."""
    import sysconfig

    candidates = [os.path.dirname(sys.executable), sysconfig.get_path("scripts")]
    for directory in candidates:
        if directory and os.path.isfile(os.path.join(directory, script_name(arch))):
            return directory
    raise NotInstalled(f"cannot find the {script_name(arch)} console script next to "
                       f"{sys.executable}; give its directory with --path")


def shebang_python(script: str) -> str | None:
    """The Python a console script's #! line runs directly, None if it names
    something else (env, a shell, ...)."""
    try:
        with open(script, "rb") as f:
            first = f.readline(4096)
    except OSError as e:
        raise UserError(f"cannot read {script}: {e.strerror}") from None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].split()
    if not words:
        return None
    program = os.fsdecode(words[0])
    return program if os.path.basename(program).startswith("python") else None


@dataclass
class Plan:
    arch: str
    name: str
    line: str
    interpreter: str
    launcher_for: tuple[str, str] | None  # (python, script) when a launcher is built


def target_magic(arch: str) -> tuple[bytes, bytes] | None:
    """The target's magic and mask, from its registry row (no target module
    is loaded)."""
    row = registry.entry(arch)
    return row.binfmt_magic() if row is not None else None


def plan(arch: str, args: argparse.Namespace, flags: str) -> Plan:
    magic_mask = target_magic(arch)
    if magic_mask is None:
        raise NotInstalled(f"the {arch} target has no binfmt_misc magic yet")
    magic, mask = magic_mask
    directory = os.path.abspath(args.path) if args.path else default_script_dir(arch)
    script = os.path.join(directory, script_name(arch))
    if not os.path.isfile(script) or not os.access(script, os.X_OK):
        raise NotInstalled(f"{script} is not an executable file (see --path)")
    name = f"{args.name_prefix}{arch}"
    python = shebang_python(script)
    needs_launcher = args.launcher or "O" in flags or "C" in flags or \
        ("P" in flags and python is None)
    launcher_for = None
    interpreter = script
    if needs_launcher:
        interpreter = os.path.join(os.path.abspath(args.launcher_dir), name)
        launcher_for = (python or sys.executable, script)
    line = registration_line(name, magic, mask, interpreter, flags)
    return Plan(arch, name, line, interpreter, launcher_for)


# ---------------------------------------------------------------- commands


def need_root(action: str) -> None:
    if os.geteuid() != 0:
        raise UserError(f"{action} needs root (run pyuser-binfmt with sudo)")


def ensure_mounted(binfmt: Binfmt) -> None:
    if not binfmt.mounted:
        binfmt.mount()


def cmd_register(args: argparse.Namespace, binfmt: Binfmt) -> int:
    flags = parse_flags(args.flags)
    plans = []
    for arch in choose_arches(args.arch, args.all, registering=True):
        try:
            plans.append(plan(arch, args, flags))
        except NotInstalled as e:
            if args.arch:
                raise
            print(f"pyuser-binfmt: skipping {arch}: {e}")
    if not plans:
        print("pyuser-binfmt: nothing to register")
        return 0
    if args.systemd:
        return _register_systemd(plans, args)
    if args.dry_run:
        for p in plans:
            if p.launcher_for:
                print(f"# would build the launcher {p.interpreter} for {p.launcher_for[1]}")
            print(f"# would write to {binfmt.dir}/register:")
            print(p.line)
        return 0
    need_root("registering with binfmt_misc")
    ensure_mounted(binfmt)
    for p in plans:
        existing = binfmt.entry(p.name)
        if existing is not None and not args.replace:
            raise UserError(
                f"a binfmt_misc entry named {p.name} already exists (interpreter "
                f"{existing.interpreter}, flags '{existing.flags}'); replace it with "
                f"`pyuser-binfmt register --replace ...`, or remove it first with "
                f"`pyuser-binfmt unregister --arch {p.arch}{_prefix_option(args)}`")
    for p in plans:
        if p.launcher_for:
            from pyuser.binfmt_launcher import build

            build(p.interpreter, *p.launcher_for)
        if binfmt.entry(p.name) is not None:
            binfmt.remove(p.name)
        try:
            binfmt.register(p.line)
        except OSError as e:
            if e.errno == errno.EEXIST:
                raise UserError(f"a binfmt_misc entry named {p.name} already exists; "
                                "replace it with --replace") from None
            raise UserError(f"the kernel refused the entry {p.name}: "
                            f"{e.strerror} ({p.line})") from None
        print(f"registered {p.name}: {p.interpreter} (flags '{flags}')")
        _warn_shadowing(binfmt, p)
    return 0


def _prefix_option(args: argparse.Namespace) -> str:
    return "" if args.name_prefix == "pyuser-" else f" --name-prefix {args.name_prefix}"


def _warn_shadowing(binfmt: Binfmt, p: Plan) -> None:
    header = target_magic(p.arch)[0]  # type: ignore[index] - planned, so it has one
    others = [e.name for e in binfmt.entries()
              if e.name != p.name and e.enabled and e.matches(header)]
    if others:
        print(f"pyuser-binfmt: note: {', '.join(others)} also claim{'s' if len(others) == 1 else ''}"
              f" {p.arch} programs; the kernel uses the most recently registered enabled "
              f"entry ({p.name} now); disable others with `echo 0 > {binfmt.dir}/NAME`")


def _register_systemd(plans: list[Plan], args: argparse.Namespace) -> int:
    directory = args.systemd
    for p in plans:
        path = os.path.join(directory, f"{p.name}.conf")
        text = (f"# pyuser for {p.arch} programs, written by pyuser-binfmt\n"
                f"{p.line}\n")
        if args.dry_run:
            if p.launcher_for:
                print(f"# would build the launcher {p.interpreter} for {p.launcher_for[1]}")
            print(f"# would write {path}:")
            print(text, end="")
            continue
        if os.path.exists(path) and not args.replace:
            raise UserError(f"{path} already exists; replace it with --replace, or remove "
                            f"it with `pyuser-binfmt unregister --systemd {directory} "
                            f"--arch {p.arch}{_prefix_option(args)}`")
        if p.launcher_for:
            from pyuser.binfmt_launcher import build

            build(p.interpreter, *p.launcher_for)
        try:
            os.makedirs(directory, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise UserError(f"cannot write {path}: {e.strerror}") from None
        print(f"wrote {path}")
    if not args.dry_run:
        print("apply now with: systemctl restart systemd-binfmt")
    return 0


def cmd_unregister(args: argparse.Namespace, binfmt: Binfmt) -> int:
    arches = choose_arches(args.arch, args.all, registering=False) if args.arch \
        else all_targets()
    names = {a: f"{args.name_prefix}{a}" for a in arches}
    missing = []
    if args.systemd:
        for name in names.values():
            path = os.path.join(args.systemd, f"{name}.conf")
            if not os.path.exists(path):
                missing.append(name)
            elif args.dry_run:
                print(f"# would remove {path}")
            else:
                try:
                    os.unlink(path)
                except OSError as e:
                    raise UserError(f"cannot remove {path}: {e.strerror}") from None
                print(f"removed {path}")
    else:
        if not binfmt.mounted:
            missing = list(names.values())
        else:
            if not args.dry_run:
                need_root("unregistering from binfmt_misc")
            for name in names.values():
                entry = binfmt.entry(name)
                if entry is None:
                    missing.append(name)
                    continue
                if args.dry_run:
                    print(f"# would write -1 to {binfmt.dir}/{name}")
                    continue
                binfmt.remove(name)
                print(f"unregistered {name}")
                _remove_launcher(entry.interpreter, binfmt)
    if missing and args.arch:
        raise UserError(f"not registered: {', '.join(missing)}")
    return 0


def _remove_launcher(path: str, binfmt: Binfmt) -> None:
    from pyuser.binfmt_launcher import is_launcher

    if not is_launcher(path):
        return
    if binfmt.mounted and any(e.interpreter == path for e in binfmt.entries()):
        return  # still used by another entry
    try:
        os.unlink(path)
    except OSError:
        pass


def cmd_status(args: argparse.Namespace, binfmt: Binfmt) -> int:
    if not binfmt.mounted:
        print(f"binfmt_misc: not mounted on {binfmt.dir} "
              "(pyuser-binfmt register mounts it)")
        return 0
    print(f"binfmt_misc: {binfmt.dir} ({binfmt.global_status()})")
    entries = binfmt.entries()
    native = host_family()
    for arch in all_targets():
        magic_mask = target_magic(arch)
        if magic_mask is None:
            continue
        claiming = [e for e in entries if e.matches(magic_mask[0])]
        note = " (runs natively on this host)" if arch in native else ""
        if not claiming:
            print(f"{arch}: no entry{note}")
            continue
        print(f"{arch}:{note}")
        for e in claiming:
            state = "enabled" if e.enabled else "disabled"
            mine = " [pyuser]" if e.name.startswith(args.name_prefix) else ""
            print(f"  {e.name}{mine}: {state}, flags '{e.flags}', interpreter {e.interpreter}")
        if sum(e.enabled for e in claiming) > 1:
            print("  several enabled entries: the kernel uses the most recently registered one")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyuser-binfmt", description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        which = p.add_mutually_exclusive_group()
        which.add_argument("--arch", action="append", metavar="A,...",
                           help="architectures (default: all but the host's own)")
        which.add_argument("--all", action="store_true",
                           help="every architecture pyuser emulates except the host's")
        p.add_argument("--name-prefix", default="pyuser-", metavar="PREFIX",
                       help="entry names are PREFIX<arch> (default pyuser-)")
        p.add_argument("--systemd", nargs="?", const=SYSTEMD_DIR, metavar="DIR",
                       help=f"work on binfmt.d files in DIR (default {SYSTEMD_DIR}) "
                            "instead of the running kernel")
        p.add_argument("--dry-run", action="store_true", help="show what would be done")

    reg = sub.add_parser("register", help="register pyuser as the interpreter",
                         description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(reg)
    reg.add_argument("--flags", default=DEFAULT_FLAGS, metavar="F,P,O,C",
                     help=f"binfmt_misc flags (default {DEFAULT_FLAGS}; C is dangerous, "
                          "see above)")
    reg.add_argument("--path", metavar="DIR",
                     help="directory holding the pyuser-<arch> console scripts "
                          "(default: next to this Python)")
    reg.add_argument("--launcher", action="store_true",
                     help="always go through a native launcher (built for O and C anyway)")
    reg.add_argument("--launcher-dir", default=LAUNCHER_DIR, metavar="DIR",
                     help=f"where native launchers are built (default {LAUNCHER_DIR})")
    reg.add_argument("--replace", action="store_true",
                     help="replace an existing entry of the same name")
    unreg = sub.add_parser("unregister", help="remove pyuser's entries")
    common(unreg)
    stat = sub.add_parser("status", help="show the entries for pyuser's architectures")
    stat.add_argument("--name-prefix", default="pyuser-", metavar="PREFIX",
                      help="entry names of pyuser's own entries (default pyuser-)")
    return parser


def main(argv: list[str] | None = None, binfmt: Binfmt | None = None) -> int:
    args = build_parser().parse_args(argv)
    binfmt = binfmt or Binfmt()
    commands = {"register": cmd_register, "unregister": cmd_unregister, "status": cmd_status}
    try:
        return commands[args.command](args, binfmt)
    except UserError as e:
        sys.stdout.flush()
        print(f"pyuser-binfmt: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        sys.stdout.flush()
        where = f" ({e.filename})" if e.filename else ""
        print(f"pyuser-binfmt: {e.strerror or e}{where}", file=sys.stderr)
        return 1


def entry_point() -> None:
    sys.exit(main())
