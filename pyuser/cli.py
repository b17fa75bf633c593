"""The command line, as qemu-user's: one table of options with their environment twins.

Every option has a row: its flag, whether it takes an argument, the name of
its environment variable (read as PYUSER_<NAME>, then QEMU_<NAME>), what it
sets, and its help line.  Options end at the first argument that is not one
(the program); everything after it belongs to the guest.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from pyuser import __version__
from pyuser.errors import UserError, printable
from pyuser.log import LOG_ITEMS, stand_ins_for_closed_streams
from pyuser.process import Options, Process


class Settings:
    """Everything the command line decides."""

    def __init__(self) -> None:
        self.options = Options()
        self.set_env: list[str] = []
        self.unset_env: list[str] = []
        self.show_help = False
        self.show_version = False
        self.list_cpus = False
        self.gdb_port: int | None = None  # -g: wait for gdb on this TCP port (loopback)
        self.plugins: list[str] = []  # -plugin FILE.py[,key=value...]


class Opt:
    """One command-line option: its flag, environment twin, argument, effect and help."""

    def __init__(self, flag: str, env: str | None, arg: str | None,
                 apply: Callable[[Settings, str], None], help: str) -> None:
        self.flag = flag
        self.env = env
        self.arg = arg  # metavar, or None for a switch
        self.apply = apply
        self.help = help


def _size(text: str) -> int:
    units = {"k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20, "g": 1 << 30, "G": 1 << 30}
    try:
        if text and text[-1] in units:
            return int(text[:-1], 0) * units[text[-1]]
        return int(text, 0)
    except ValueError:
        raise UserError(f"invalid size '{text}'") from None


def _set_cpu(s: Settings, value: str) -> None:
    if value == "help":
        s.list_cpus = True
    else:
        s.options.cpu = value


def _set_log(s: Settings, value: str) -> None:
    if value == "help":
        lines = [f"{name:<8} {text}" for name, text in LOG_ITEMS.items()]
        raise HelpText("Log items (comma separated):\n" + "\n".join(lines))
    for item in filter(None, value.split(",")):
        if item not in LOG_ITEMS:
            raise UserError(f"unknown -d item '{item}' (see -d help)")
        s.options.log_items.add(item)


def _set_seed(s: Settings, value: str) -> None:
    try:
        s.options.seed = int(value, 0)
    except ValueError:
        raise UserError(f"invalid seed '{value}'") from None


def _set_gdb_port(s: Settings, value: str) -> None:
    try:
        port = int(value, 10)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise UserError(f"invalid gdb port '{value}' (a TCP port number, 1-65535)")
    s.gdb_port = port


class HelpText(Exception):  # noqa: N818 - carries text to print, exit 0
    pass


OPTIONS: list[Opt] = [
    Opt("-h", None, None, lambda s, v: setattr(s, "show_help", True), "print this help and exit"),
    Opt("-help", None, None, lambda s, v: setattr(s, "show_help", True), "same as -h"),
    Opt("-L", "LD_PREFIX", "path", lambda s, v: setattr(s.options, "sysroot", v),
        "sysroot: absolute guest paths are looked up here first (e.g. the interpreter)"),
    Opt("-E", "SET_ENV", "var=value", lambda s, v: s.set_env.extend(v.split(",")),
        "set a variable in the guest's environment (comma separated in the env twin)"),
    Opt("-U", "UNSET_ENV", "var", lambda s, v: s.unset_env.extend(v.split(",")),
        "remove a variable from the guest's environment"),
    Opt("-0", "ARGV0", "argv0", lambda s, v: setattr(s.options, "argv0", v),
        "the guest's argv[0] (default: the program path as given)"),
    Opt("-s", "STACK_SIZE", "size", lambda s, v: setattr(s.options, "stack_size", _size(v)),
        "the guest's stack size (k/M/G suffixes; default 8M)"),
    Opt("-cpu", "CPU", "model", _set_cpu, "the CPU model (-cpu help lists them)"),
    Opt("-d", "LOG", "item[,...]", _set_log, "debug log items (-d help lists them)"),
    Opt("-D", "LOG_FILENAME", "logfile", lambda s, v: setattr(s.options, "log_file", v),
        "write the debug log to this file instead of stderr"),
    Opt("-strace", "STRACE", None, lambda s, v: s.options.log_items.add("strace"),
        "log every syscall (same as -d strace)"),
    Opt("-g", "GDB", "port", _set_gdb_port,
        "wait for gdb on this TCP port (127.0.0.1) before the first instruction"),
    Opt("-plugin", "PLUGIN", "file[,arg=value,...]", lambda s, v: s.plugins.append(v),
        "load a Python plugin (a file, or insn/syscalls/memtrace/drcov); repeatable"),
    Opt("-seed", "RAND_SEED", "number", _set_seed,
        "seed the emulator's randomness (AT_RANDOM bytes) for reproducible runs"),
    Opt("-version", "VERSION", None, lambda s, v: setattr(s, "show_version", True),
        "print the version and exit"),
]
_BY_FLAG = {o.flag: o for o in OPTIONS}


def _env_value(name: str) -> str | None:
    for prefix in ("PYUSER_", "QEMU_"):
        value = os.environ.get(prefix + name)
        if value is not None:
            return value
    return None


def parse(argv: list[str], prog: str) -> tuple[Settings, list[str]]:
    """Settings, and the guest command (program and its arguments)."""
    settings = Settings()
    for opt in OPTIONS:
        if opt.env is None:
            continue
        value = _env_value(opt.env)
        if value is not None and (opt.arg is not None or value):
            opt.apply(settings, value)
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        flag = word[1:] if word.startswith("--") else word
        opt = _BY_FLAG.get(flag)
        if opt is None:
            raise UserError(f"unknown option '{word}' (see -h)")
        if opt.arg is not None:
            if i + 1 >= len(argv):
                raise UserError(f"option '{word}' needs an argument ({opt.arg})")
            opt.apply(settings, argv[i + 1])
            i += 2
        else:
            opt.apply(settings, "")
            i += 1
    return settings, argv[i:]


def usage(prog: str) -> str:
    lines = [f"usage: {prog} [options] program [arguments...]",
             "Runs a Linux program built for another CPU (like qemu-user).", "",
             "Options (environment twin: PYUSER_<NAME> or QEMU_<NAME>):"]
    for o in OPTIONS:
        flag = f"{o.flag} {o.arg}" if o.arg else o.flag
        env = f"[{o.env}]" if o.env else ""
        lines.append(f"  {flag:<18} {env:<16} {o.help}")
    return "\n".join(lines)


def initial_environment() -> list[bytes]:
    """The environment the emulator was started with, exactly as the kernel
    gave it (order, duplicates and all).  Not os.environ: Python adds
    LC_CTYPE to it when it coerces the C locale (PEP 538), which the guest
    must not see (a guest `env` would print it)."""
    try:
        with open("/proc/self/environ", "rb") as f:
            data = f.read()
    except OSError:
        return [k + b"=" + v for k, v in os.environb.items()]
    return data.split(b"\0")[:-1] if data else []


def guest_environment(settings: Settings) -> list[bytes]:
    if not settings.set_env and not settings.unset_env:
        return initial_environment()
    env: dict[bytes, bytes] = {}
    for entry in initial_environment():
        name, _, value = entry.partition(b"=")
        env.setdefault(name, value)
    for item in settings.set_env:
        if not item:
            continue
        name, _, value = item.partition("=")
        env[os.fsencode(name)] = os.fsencode(value)
    for name in settings.unset_env:
        env.pop(os.fsencode(name), None)
    return [k + b"=" + v for k, v in env.items()]


def run_command(target_name: str | None, argv: list[str], prog: str,
                program_file: str | None = None) -> int:
    """Run the command line `argv`; `program_file`, when given, is the host
    file to load the program from (binfmt_misc's O flag), its name staying
    the one on the command line."""
    from pyuser.launch import build_process, find_program, resolve_program, run_until_exit
    from pyuser.targets import load_target

    try:
        settings, command = parse(argv, prog)
    except HelpText as text:
        print(text)
        return 0
    if settings.show_help:
        print(usage(prog))
        return 0
    if settings.show_version:
        print(f"{prog} version {__version__} (pyuser, Unicorn-based user-mode emulator)")
        return 0
    if settings.list_cpus:
        target = load_target(target_name or "arm")
        print("Available CPUs:")
        for name in target.cpu_models:
            print(f"  {name}{' (default)' if name == target.default_cpu else ''}")
        return 0
    if not command:
        raise UserError("no program given (see -h)")
    program = find_program(command[0])
    options = settings.options
    target, host_program = resolve_program(target_name, program, options, program_file)
    argv0 = options.argv0 if options.argv0 is not None else command[0]
    guest_argv = [os.fsencode(argv0)] + [os.fsencode(a) for a in command[1:]]
    process = build_process(target, options, host_program, os.fsencode(program), guest_argv,
                            guest_environment(settings),
                            prepare=lambda p: _prepare(p, settings))
    if process.log.enabled("page"):
        process.log.write(process.render_maps().decode().rstrip())
    return run_until_exit(process)


def _prepare(process: Process, settings: Settings) -> None:
    process.forward_host_signals()
    if settings.gdb_port is not None or settings.plugins:
        _install_instruments(process, settings)


def _install_instruments(process: Process, settings: Settings) -> None:
    from pyuser.instrument import install
    from pyuser.instrument.plugins.host import make_host

    clients = [make_host(process, settings.plugins)] if settings.plugins else []
    if settings.gdb_port is not None:
        try:
            process.target.gdb_description()
        except NotImplementedError:
            raise UserError(f"-g: no gdb register description for {process.target.name} "
                            "yet") from None
    try:
        install(process, gdb_port=settings.gdb_port, clients=clients)
    except OSError as e:
        raise UserError(f"cannot listen for gdb on port {settings.gdb_port}: "
                        f"{e.strerror}") from None


def _main(target_name: str | None) -> None:
    stand_ins_for_closed_streams()
    prog = os.path.basename(sys.argv[0]) or "pyuser"
    from pyuser.binfmt_entry import from_kernel

    try:
        launch = from_kernel(sys.argv[1:])  # binfmt_misc passes no options
        status = run_command(target_name, launch.argv, prog, launch.program_file)
    except UserError as e:
        sys.stderr.write(f"{prog}: {printable(str(e))}\n")
        sys.stderr.flush()
        os._exit(e.exit_status)
    except KeyboardInterrupt:
        os._exit(130)
    sys.stdout.flush()
    sys.stderr.flush()
    # The guest's exit: skip interpreter teardown (unmapping gigabytes of
    # reservation and finalizers buy nothing here).
    os._exit(status)


def main() -> None:
    """`pyuser PROGRAM ...`: the target comes from the program's ELF header."""
    _main(None)


def __getattr__(name: str) -> Callable[[], None]:
    """`main_<module>`: the entry of the console script pyuser-<target>, one
    for every row of pyuser.targets.registry (pyproject.toml names them;
    console-script wrappers import them as `from pyuser.cli import main_arm`,
    which a module __getattr__ answers, PEP 562)."""
    from pyuser.targets.registry import TARGETS

    if name.startswith("main_"):
        for row in TARGETS.values():
            if row.module == name[len("main_"):]:
                def main_target(target_name: str = row.name) -> None:
                    _main(target_name)

                main_target.__name__ = name
                main_target.__doc__ = f"`{row.script} PROGRAM ...`: runs {row.name} programs."
                return main_target
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
