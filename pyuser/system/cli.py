"""pyuser-system-arm: the command line, QEMU-style.

Options are one table (name, takes a value, help), as QEMU keeps its own.
Every error a user can cause is printed as one line and exits with status 1.
"""

from __future__ import annotations

import re
import sys

from .config import Config
from .errors import SystemError_, UsageError
from .net.usernet import parse_netdev_user

PROG = "pyuser-system-arm"

OPTIONS: dict[str, tuple[bool, str]] = {
    "-M": (True, "machine type: virt[,dumpdtb=FILE]"),
    "-machine": (True, "same as -M"),
    "-cpu": (True, "CPU model (default cortex-a15)"),
    "-kernel": (True, "kernel: a bare-metal ELF, a Linux zImage or a raw Image"),
    "-initrd": (True, "initial ram disk for a Linux kernel"),
    "-append": (True, "Linux kernel command line (bootargs)"),
    "-m": (True, "RAM size, e.g. 128M (default 128M)"),
    "-nographic": (False, "serial port on stdio (Ctrl-A x quits)"),
    "-serial": (True, "serial back end: stdio, null, none, file:PATH"),
    "-semihosting": (False, "enable ARM semihosting"),
    "-semihosting-config": (True, "enable=on|off[,...]"),
    "-qmp": (True, "QMP server: unix:PATH,server[,wait=off]"),
    "-device": (True, "DRIVER[,id=ID][,prop=value...] (repeatable)"),
    "-drive": (True, "file=PATH[,format=raw][,if=none|virtio][,id=ID][,readonly=on]"),
    "-dtb": (True, "use this device tree blob instead of the generated one"),
    "-netdev": (True, "user,id=ID[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT...]"),
    "-nic": (True, "user[,hostfwd=...][,model=virtio-net-device][,mac=MAC], or none (the default)"),
    "-net": (True, "only 'none'"),
    "-S": (False, "do not start the CPU until 'cont' (QMP) or gdb's continue"),
    # debugging (gdbstub, log): one block
    "-s": (False, "shorthand for -gdb tcp::1234"),
    "-gdb": (True, "gdbstub on tcp:[HOST]:PORT (none: no stub)"),
    "-d": (True, "log items: in_asm,int,unimp (-d help lists them)"),
    "-D": (True, "write the -d log to this file (default stderr)"),
    "-display": (True, "accepted and ignored (only 'none' makes sense)"),
    "-monitor": (True, "accepted and ignored"),
    "-no-reboot": (False, "exit instead of rebooting when the guest resets"),
    "-h": (False, "this help"),
    "-help": (False, "this help"),
}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMGT]?)i?B?", text.strip(), re.IGNORECASE)
    if not m:
        raise UsageError(f"Invalid RAM size: {text}")
    scale = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(2).upper()]
    return int(m.group(1)) * scale


def parse_keyvals(text: str, first: str) -> tuple[str, dict[str, str]]:
    """QEMU's "value,key=value,..." option syntax."""
    head, *rest = text.split(",")
    out: dict[str, str] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        out[key] = value if sep else "on"
    if "=" in head:
        key, _, value = head.partition("=")
        out[key] = value
        head = out.pop(first, "")
    return head, out


def parse_args(argv: list[str]) -> Config:
    cfg = Config()
    i = 0
    while i < len(argv):
        opt = argv[i]
        if opt.startswith("--"):
            opt = opt[1:]
        if opt not in OPTIONS:
            raise UsageError(f"{argv[i]}: invalid option")
        takes_value, _ = OPTIONS[opt]
        value = ""
        if takes_value:
            if i + 1 >= len(argv):
                raise UsageError(f"{argv[i]}: requires an argument")
            value = argv[i + 1]
            i += 1
        i += 1
        if opt in ("-h", "-help"):
            raise _Help()
        if opt in ("-M", "-machine"):
            name, extra = parse_keyvals(value, "type")
            if name != "virt":
                raise UsageError(f"unsupported machine type '{name}' (only 'virt')")
            cfg.dtb_out = extra.pop("dumpdtb", cfg.dtb_out)
            if extra:
                raise UsageError(f"unsupported machine option '{next(iter(extra))}'")
            cfg.machine = name
        elif opt == "-cpu":
            from ..targets.arm_cpu import CPU_MODELS

            if value not in CPU_MODELS:
                raise UsageError(f"unable to find CPU model '{value}'")
            cfg.cpu = value
        elif opt == "-kernel":
            cfg.kernel = value
        elif opt == "-m":
            cfg.ram = parse_size(value.split(",")[0].removeprefix("size="))
        elif opt == "-nographic":
            cfg.nographic = True
        elif opt == "-serial":
            cfg.serial = value
        elif opt == "-semihosting":
            cfg.semihosting = True
        elif opt == "-semihosting-config":
            _, kv = parse_keyvals(value, "enable")
            cfg.semihosting = kv.get("enable", "on") in ("on", "true", "yes")
        elif opt == "-qmp":
            cfg.qmp, cfg.qmp_wait = parse_qmp(value)
        elif opt == "-device":
            driver, props = parse_keyvals(value, "driver")
            if not driver:
                raise UsageError("-device: missing driver name")
            cfg.devices.append((driver, props))
        elif opt == "-dtb":
            cfg.dtb_in = value
        elif opt == "-drive":
            parse_drive(cfg, value)
        elif opt == "-initrd":
            cfg.initrd = value
        elif opt == "-append":
            cfg.append = value
        elif opt == "-netdev":
            parse_netdev(cfg, value)
        elif opt == "-nic":
            parse_nic(cfg, value)
        elif opt == "-net":
            if value != "none":
                raise UsageError(f"-net {value}: only 'none' is supported (use -nic user or -netdev user)")
        elif opt == "-no-reboot":
            cfg.no_reboot = True
        elif opt == "-S":
            cfg.start_paused = True
        elif opt in ("-s", "-gdb", "-d", "-D"):
            parse_debug_option(cfg, opt, value)
    if not cfg.machine:
        raise UsageError("no machine specified (use -M virt)")
    if not cfg.kernel:
        raise UsageError("no kernel specified (use -kernel FILE)")
    if cfg.ram < 1 << 20 or cfg.ram > 0xC0000000:
        raise UsageError(f"RAM size {cfg.ram:#x} does not fit the virt board's 32-bit map")
    return cfg


def parse_debug_option(cfg: Config, opt: str, value: str) -> None:
    """-s, -gdb, -d, -D (debugging: pyuser/system/gdbstub.py, debuglog.py)."""
    from .debuglog import LOG_ITEMS
    from .gdbstub import parse_gdb_option

    if opt == "-s":
        cfg.gdb = ("127.0.0.1", 1234)
    elif opt == "-gdb":
        cfg.gdb = parse_gdb_option(value)
    elif opt == "-D":
        cfg.log_file = value
    elif value == "help":
        raise _Help("Log items (comma separated):\n" + "".join(
            f"{name:<10} {text}\n" for name, text in LOG_ITEMS.items()))
    else:
        items = set(filter(None, value.split(",")))
        unknown = sorted(items - LOG_ITEMS.keys())
        if unknown:
            raise UsageError(f"-d {value}: unknown log item '{unknown[0]}' (-d help lists them)")
        cfg.log_items |= items


def parse_drive(cfg: Config, value: str) -> None:
    """-drive: a raw disk image for virtio-blk-device (if=none), or one plugged at once (if=virtio)."""
    _, opts = parse_keyvals("," + value, "file")
    path = opts.pop("file", "")
    if not path:
        raise UsageError(f"-drive {value}: a file= is required")
    interface = opts.pop("if", "ide")
    fmt = opts.pop("format", "raw")
    if fmt != "raw":
        raise UsageError(f"-drive {value}: only format=raw is supported")
    if interface not in ("none", "virtio"):
        raise UsageError(f"-drive {value}: machine type does not support if={interface},bus=0,unit=0")
    drive_id = opts.pop("id", None) or f"{interface}{len(cfg.drives)}"
    readonly = opts.pop("readonly", "off") in ("on", "true", "yes")
    opts.pop("media", None)
    if opts:
        raise UsageError(f"-drive {value}: unsupported option '{next(iter(opts))}'")
    if drive_id in cfg.drives:
        raise UsageError(f"-drive {value}: Duplicate ID '{drive_id}' for drive")
    cfg.drives[drive_id] = {"file": path, "readonly": readonly}
    if interface == "virtio":
        cfg.devices.append(("virtio-blk-device", {"drive": drive_id}))


def parse_netdev(cfg: Config, value: str) -> None:
    """-netdev user,id=ID[,hostfwd=...]: the user-mode back end (the only one)."""
    kind, _, rest = value.partition(",")
    if kind != "user":
        raise UsageError(f"-netdev {value}: only the 'user' back end is supported")
    netdev_id, forwards = parse_netdev_user(rest)
    if not netdev_id:
        raise UsageError(f"-netdev {value}: Parameter 'id' is missing")
    if netdev_id in cfg.netdevs:
        raise UsageError(f"-netdev {value}: Duplicate ID '{netdev_id}' for netdev")
    cfg.netdevs[netdev_id] = forwards


def parse_nic(cfg: Config, value: str) -> None:
    """-nic user[,...]: a back end and a virtio-net-device on it in one (QEMU's short form)."""
    kind, _, rest = value.partition(",")
    if kind == "none":
        if rest:
            raise UsageError(f"-nic {value}: 'none' takes no options")
        return
    if kind != "user":
        raise UsageError(f"-nic {value}: only 'user' and 'none' are supported")
    device: dict[str, str] = {}
    netdev_opts = []
    for item in filter(None, rest.split(",")):
        key, _, opt = item.partition("=")
        if key == "model":
            if opt not in ("virtio-net-device", "virtio"):
                raise UsageError(f"-nic {value}: unsupported NIC model '{opt}' (only virtio-net-device)")
        elif key == "mac":
            device["mac"] = opt
        else:
            netdev_opts.append(item)
    netdev_id, forwards = parse_netdev_user(",".join(netdev_opts), "-nic")
    netdev_id = netdev_id or f"__nic{len(cfg.netdevs)}"
    if netdev_id in cfg.netdevs:
        raise UsageError(f"-nic {value}: Duplicate ID '{netdev_id}' for netdev")
    cfg.netdevs[netdev_id] = forwards
    cfg.devices.append(("virtio-net-device", {"netdev": netdev_id, **device}))


def parse_qmp(value: str) -> tuple[str, bool]:
    if not value.startswith("unix:"):
        raise UsageError(f"-qmp {value}: only unix:PATH,server[,wait=off] is supported")
    path, opts = parse_keyvals(value[5:], "path")
    if "server" not in opts:
        raise UsageError("-qmp: only server mode is supported (add ',server')")
    return path, opts.get("wait", "on") not in ("off", "false", "no")


class _Help(Exception):
    """-h, or -d help: print the text (the usage if none) and exit 0."""


def usage() -> str:
    lines = [f"usage: {PROG} -M virt -kernel FILE [options]"]
    lines += [f"  {name:<20} {text}" for name, (_, text) in OPTIONS.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        cfg = parse_args(argv)
        from .runner import run

        return run(cfg)
    except _Help as shown:
        sys.stdout.write(str(shown) or usage())
        return 0
    except (SystemError_, OSError) as exc:
        sys.stdout.flush()
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        sys.stderr.write(f"{PROG}: {message}\n")
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
