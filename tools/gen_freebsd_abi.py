#!/usr/bin/env python3
"""Generate pyuser/targets/generated/freebsd_<arch>_abi.py from FreeBSD's headers,
as Go's toolchain carries them.

FreeBSD's own headers are not packaged in Debian; Debian's golang-go ships
Go's syscall package and runtime, whose z*.go and defs_*.go files were
generated (mksysnum_freebsd.pl from sys/kern/syscalls.master, cgo -godefs
from sys/sys/*.h) on FreeBSD itself.  This reads:

- syscall/zsysnum_freebsd_<goarch>.go: syscall numbers (the name is the one
  in the syscalls.master prototype each line quotes);
- syscall/syscall_freebsd.go: the FreeBSD 12 (64-bit inode) numbers of
  fstat, fstatat, getdirentries, statfs, fstatfs, getfsstat, mknodat, which
  replace the older ones (those become freebsd11_<name>, as FreeBSD calls them);
- syscall/zerrors_freebsd_<goarch>.go: errno values, signal numbers, flags;
- syscall/ztypes_freebsd_<goarch>.go and runtime/defs_freebsd_<goarch>.go:
  constants and struct layouts (offsets computed with Go's alignment rules,
  which are the C ones for these fixed-size types).

A few numbers newer than that syscall table or absent from those files are
listed below with the FreeBSD source file that defines them.

Usage: python3 tools/gen_freebsd_abi.py [--goroot /usr/lib/go-1.19]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys

ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}
OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "pyuser", "targets", "generated")

# Not in Go 1.19's tables; values from freebsd-src (main, 2024):
EXTRA_SYSCALLS = {  # sys/kern/syscalls.master
    "clock_nanosleep": 244, "ppoll": 545, "futimens": 546, "fdatasync": 550, "fstat": 551, "fstatat": 552, "fhstat": 553, "getdirentries": 554, "statfs": 555,
    "fstatfs": 556, "getfsstat": 557, "fhstatfs": 558, "mknodat": 559, "kevent": 560,
    "cpuset_getdomain": 561, "cpuset_setdomain": 562, "getrandom": 563, "getfhat": 564,
    "fhlink": 565, "fhlinkat": 566, "fhreadlink": 567, "funlinkat": 568,
    "copy_file_range": 569, "__sysctlbyname": 570, "shm_open2": 571, "shm_rename": 572,
    "sigfastblock": 573, "__realpathat": 574, "close_range": 575, "rpctls_syscall": 576,
    "__specialfd": 577, "aio_writev": 578, "aio_readv": 579, "fspacectl": 580,
    "sched_getcpu": 581, "swapoff": 582, "kqueuex": 583, "membarrier": 584,
    "timerfd_create": 585, "timerfd_gettime": 586, "timerfd_settime": 587,
}
EXTRA_CONST = {
    # sys/sys/_clock_id.h
    "CLOCK_REALTIME": 0, "CLOCK_VIRTUAL": 1, "CLOCK_PROF": 2, "CLOCK_MONOTONIC": 4,
    "CLOCK_UPTIME": 5, "CLOCK_UPTIME_PRECISE": 7, "CLOCK_UPTIME_FAST": 8,
    "CLOCK_REALTIME_PRECISE": 9, "CLOCK_REALTIME_FAST": 10, "CLOCK_MONOTONIC_PRECISE": 11,
    "CLOCK_MONOTONIC_FAST": 12, "CLOCK_SECOND": 13, "CLOCK_THREAD_CPUTIME_ID": 14,
    "CLOCK_PROCESS_CPUTIME_ID": 15,
    # sys/sys/signal.h
    "SIGTHR": 32, "SIGLIBRT": 33, "SIGRTMIN": 65, "SIGRTMAX": 126, "_NSIG": 128,
    "SA_NODEFER": 0x10, "SA_RESETHAND": 0x4, "SA_NOCLDSTOP": 0x8, "SA_NOCLDWAIT": 0x20,
    "SIG_BLOCK": 1, "SIG_UNBLOCK": 2, "SIG_SETMASK": 3, "SS_ONSTACK": 1, "SS_DISABLE": 4,
    "MINSIGSTKSZ": 2048,
    "SI_NOINFO": 0, "SI_USER": 0x10001, "SI_QUEUE": 0x10002, "SI_TIMER": 0x10003,
    "SI_ASYNCIO": 0x10004, "SI_MESGQ": 0x10005, "SI_KERNEL": 0x10006, "SI_LWP": 0x10007,
    "CLD_EXITED": 1, "CLD_KILLED": 2, "CLD_DUMPED": 3, "CLD_TRAPPED": 4, "CLD_STOPPED": 5,
    "CLD_CONTINUED": 6,
    # sys/sys/umtx.h
    "UMTX_OP_WAIT": 2, "UMTX_OP_WAKE": 3, "UMTX_OP_MUTEX_TRYLOCK": 4, "UMTX_OP_MUTEX_LOCK": 5,
    "UMTX_OP_MUTEX_UNLOCK": 6, "UMTX_OP_SET_CEILING": 7, "UMTX_OP_CV_WAIT": 8,
    "UMTX_OP_CV_SIGNAL": 9, "UMTX_OP_CV_BROADCAST": 10, "UMTX_OP_WAIT_UINT": 11,
    "UMTX_OP_RW_RDLOCK": 12, "UMTX_OP_RW_WRLOCK": 13, "UMTX_OP_RW_UNLOCK": 14,
    "UMTX_OP_WAIT_UINT_PRIVATE": 15, "UMTX_OP_WAKE_PRIVATE": 16, "UMTX_OP_MUTEX_WAIT": 17,
    "UMTX_OP_NWAKE_PRIVATE": 21, "UMTX_OP_MUTEX_WAKE2": 22, "UMTX_OP_SEM2_WAIT": 23,
    "UMTX_OP_SEM2_WAKE": 24, "UMTX_OP_SHM": 25, "UMTX_OP_ROBUST_LISTS": 26,
    "UMTX_OP_GET_MIN_TIMEOUT": 27, "UMTX_OP_SET_MIN_TIMEOUT": 28, "UMTX_ABSTIME": 1,
    # sys/sys/wait.h, sys/sys/procctl.h
    "WEXITED": 16, "WTRAPPED": 32, "WNOWAIT": 8, "P_PID": 0, "P_PGID": 2, "P_ALL": 7,
    # sys/sys/fcntl.h (FreeBSD 13+)
    "O_EMPTY_PATH": 0x02000000, "O_PATH": 0x00400000, "O_RESOLVE_BENEATH": 0x00800000,
    "F_DUP2FD": 10, "F_DUP2FD_CLOEXEC": 18, "F_DUPFD_CLOEXEC": 17, "F_ISUNIONSTACK": 21,
    "F_KINFO": 22, "AT_EMPTY_PATH": 0x4000, "AT_RESOLVE_BENEATH": 0x2000,
    # sys/sys/mman.h
    "MAP_GUARD": 0x2000, "MAP_EXCL": 0x4000, "MAP_ALIGNMENT_SHIFT": 24,
    # sys/sys/event.h
    "EV_ONESHOT": 0x10, "EV_DISPATCH": 0x80, "EV_ENABLE": 0x4, "EV_DISABLE": 0x8,
    "EV_FORCEONESHOT": 0x100, "NOTE_EXIT": 0x80000000, "NOTE_EXITSTATUS": 0x04000000,
    "NOTE_SECONDS": 0x1, "NOTE_MSECONDS": 0x2, "NOTE_USECONDS": 0x4, "NOTE_NSECONDS": 0x8,
    "NOTE_ABSTIME": 0x10, "NOTE_TRIGGER": 0x01000000,
    # sys/sys/sysctl.h
    "CTL_KERN": 1, "CTL_VM": 2, "CTL_HW": 6, "CTL_USER": 8, "CTL_P1003_1B": 9,
    "KERN_OSTYPE": 1, "KERN_OSRELEASE": 2, "KERN_OSREV": 3, "KERN_VERSION": 4,
    "KERN_HOSTNAME": 10, "KERN_BOOTTIME": 21, "KERN_OSRELDATE": 24, "KERN_PROC": 14,
    "KERN_ARND": 37, "KERN_USRSTACK": 33, "KERN_PS_STRINGS": 32, "KERN_IOV_MAX": 35,
    "KERN_HOSTUUID": 36, "KERN_ARGMAX": 8, "KERN_MAXFILESPERPROC": 27, "KERN_NGROUPS": 18,
    "KERN_PROC_PATHNAME": 12, "KERN_PROC_PID": 1, "KERN_PROC_ARGS": 7,
    "HW_MACHINE": 1, "HW_MODEL": 2, "HW_NCPU": 3, "HW_PHYSMEM": 5, "HW_PAGESIZE": 7,
    "HW_MACHINE_ARCH": 11, "HW_REALMEM": 12, "USER_CS_PATH": 1,
    # sys/sys/cpuset.h
    "CPU_LEVEL_ROOT": 1, "CPU_LEVEL_CPUSET": 2, "CPU_LEVEL_WHICH": 3, "CPU_WHICH_TID": 1,
    "CPU_WHICH_PID": 2,
    # sys/x86/include/sysarch.h, sys/arm64/include/sysarch.h
    "AMD64_GET_FSBASE": 128, "AMD64_SET_FSBASE": 129, "AMD64_GET_GSBASE": 130,
    "AMD64_SET_GSBASE": 131, "AMD64_GET_XFPUSTATE": 132,
    # sys/sys/elf_common.h
    "AT_NULL": 0, "AT_IGNORE": 1, "AT_EXECFD": 2, "AT_PHDR": 3, "AT_PHENT": 4,
    "AT_PHNUM": 5, "AT_PAGESZ": 6, "AT_BASE": 7, "AT_FLAGS": 8, "AT_ENTRY": 9,
    "AT_UID_AUX": 11, "AT_EXECPATH": 15, "AT_CANARY": 16, "AT_CANARYLEN": 17,
    "AT_OSRELDATE": 18, "AT_NCPUS": 19, "AT_PAGESIZES": 20, "AT_PAGESIZESLEN": 21,
    "AT_TIMEKEEP": 22, "AT_STACKPROT": 23, "AT_EHDRFLAGS": 24, "AT_HWCAP": 25,
    "AT_HWCAP2": 26, "AT_BSDFLAGS": 27, "AT_ARGC": 28, "AT_ARGV": 29, "AT_ENVC": 30,
    "AT_ENVV": 31, "AT_PS_STRINGS": 32, "AT_FXRNG": 33, "AT_KPRELOAD": 34,
    "AT_USRSTACKBASE": 35, "AT_USRSTACKLIM": 36,
}

_BASIC = {"int8": (1, "b"), "_C_int": (4, "i"), "_Socklen": (4, "I"), "_Gid_t": (4, "I"), "uint8": (1, "B"), "byte": (1, "B"), "int16": (2, "h"),
          "uint16": (2, "H"), "int32": (4, "i"), "uint32": (4, "I"), "int64": (8, "q"),
          "uint64": (8, "Q"), "uintptr": (8, "Q"), "unsafe.Pointer": (8, "Q")}


def _syscalls(goroot: str, goarch: str) -> dict[str, int]:
    found: dict[str, int] = {}
    text = open(f"{goroot}/src/syscall/zsysnum_freebsd_{goarch}.go").read()
    for m in re.finditer(r"^\s*SYS_(\w+)\s*=\s*(\d+)\s*//\s*\{([^\n]*)", text, re.M):
        proto = re.search(r"(\w+)\s*\(", m.group(3))
        name = proto.group(1) if proto else m.group(1).lower()
        if name.startswith("sys_"):
            name = name[4:]
        found.setdefault(name, int(m.group(2)))
    for name, number in EXTRA_SYSCALLS.items():
        old = found.get(name)
        if old is not None and old != number:
            found[f"freebsd11_{name}"] = old
        found[name] = number
    return dict(sorted(found.items(), key=lambda kv: kv[1]))


def _constants(path: str) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(errnos, signals, other constants) of a Go file's const blocks."""
    errnos, signals, consts = {}, {}, {}
    for m in re.finditer(r"^\s*(_?[A-Z][A-Za-z0-9_]*)\s*=\s*(Errno|Signal)?\(?(-?0x[0-9a-fA-F]+"
                         r"|-?\d+)\)?\s*(?://.*)?$", open(path).read(), re.M):
        name, kind, value = m.group(1).lstrip("_"), m.group(2), int(m.group(3), 0)
        {"Errno": errnos, "Signal": signals}.get(kind, consts).setdefault(name, value)
    return errnos, signals, consts


def _structs(paths: list[str]) -> dict[str, list[tuple[str, str]]]:
    structs: dict[str, list[tuple[str, str]]] = {}
    for path in paths:
        for m in re.finditer(r"^type (\w+) struct \{\n(.*?)^\}", open(path).read(), re.M | re.S):
            fields = []
            for line in m.group(2).splitlines():
                line = re.sub(r"/\*.*?\*/", "", line.split("//")[0]).strip()
                if line:
                    name, typ = line.split(None, 1)
                    fields.append((name, typ.strip()))
            structs.setdefault(m.group(1), fields)
    return structs


def _layout(name: str, structs: dict, out: dict, memo: dict) -> tuple[int, int]:
    """Fill out[name] with (size, {dotted field: (offset, format)}); (size, align)."""
    if name in memo:
        return memo[name]
    fields: dict[str, tuple[int, str]] = {}
    offset, align = 0, 1

    def type_info(typ: str) -> tuple[int, int, str | None, str | None]:
        """size, alignment, struct-format of a basic (or array of basic), nested struct name"""
        if typ.startswith("*"):
            return 8, 8, "Q", None
        if typ in _BASIC:
            size, code = _BASIC[typ]
            return size, size, code, None
        arr = re.match(r"\[(\d+)\](.+)", typ)
        if arr:
            count = int(arr.group(1))
            size, al, code, nested = type_info(arr.group(2))
            return size * count, al, f"{count}{code}" if code else None, None
        if typ in structs:
            size, al = _layout(typ, structs, out, memo)
            return size, al, None, typ
        raise KeyError(typ)

    for field, typ in structs[name]:
        size, al, code, nested = type_info(typ)
        offset = (offset + al - 1) // al * al
        if nested:
            for sub, (sub_off, sub_code) in out[nested][1].items():
                fields[f"{field}.{sub}"] = (offset + sub_off, sub_code)
        elif code:
            fields[field] = (offset, code)
        offset += size
        align = max(align, al)
    size = (offset + align - 1) // align * align
    out[name] = (size, fields)
    memo[name] = (size, align)
    return size, align


WANTED_STRUCTS = {
    "syscall": ["Stat_t", "Statfs_t", "Dirent", "Kevent_t", "Flock_t", "Rusage", "Rlimit",
                "Timespec", "Timeval", "RawSockaddrInet4", "RawSockaddrInet6", "RawSockaddrUnix",
                "Msghdr", "Cmsghdr", "Iovec", "Linger", "Termios"],
    "runtime": ["thrparam", "sigset", "stackt", "siginfo", "mcontext", "ucontext", "umtx_time",
                "sigactiont", "itimerval", "rtprio"],
}


def generate(goroot: str, arch: str) -> str:
    goarch = ARCHES[arch]
    version = open(f"{goroot}/VERSION").read().split()[0] if os.path.exists(
        f"{goroot}/VERSION") else goroot
    errnos, signals, consts = _constants(f"{goroot}/src/syscall/zerrors_freebsd_{goarch}.go")
    _e, _s, types_consts = _constants(f"{goroot}/src/syscall/ztypes_freebsd_{goarch}.go")
    _e, _s, runtime_consts = _constants(f"{goroot}/src/runtime/defs_freebsd_{goarch}.go")
    for extra in (types_consts, runtime_consts):
        for k, v in extra.items():
            consts.setdefault(k, v)
    for k, v in EXTRA_CONST.items():
        consts.setdefault(k, v)
    consts.update(signals)
    consts.setdefault("MAP_ANONYMOUS", consts["MAP_ANON"])
    structs = _structs([f"{goroot}/src/syscall/ztypes_freebsd_{goarch}.go",
                        f"{goroot}/src/runtime/defs_freebsd_{goarch}.go"])
    layouts: dict = {}
    memo: dict = {}
    for names in WANTED_STRUCTS.values():
        for name in names:
            if name in structs:
                _layout(name, structs, layouts, memo)
    sysnums = _syscalls(goroot, goarch)
    lines = [
        f"# Generated by tools/gen_freebsd_abi.py from Go {version}'s FreeBSD tables "
        f"(GOOS=freebsd GOARCH={goarch}); do not edit.",
        f"# Syscall numbers: src/syscall/zsysnum_freebsd_{goarch}.go (from sys/kern/syscalls.master),",
        "#   newer ones from freebsd-src sys/kern/syscalls.master (EXTRA_SYSCALLS in the generator).",
        f"# Errnos, signals, flags: src/syscall/zerrors_freebsd_{goarch}.go, ztypes_freebsd_{goarch}.go,",
        f"#   src/runtime/defs_freebsd_{goarch}.go; others from the freebsd-src headers the generator names.",
        f"# Struct layouts: ztypes_freebsd_{goarch}.go and defs_freebsd_{goarch}.go (cgo -godefs output).",
        f'"""FreeBSD ABI tables for {arch} ({goarch})."""',
        "",
        f'ARCH = "{arch}"',
        'OS = "freebsd"',
        "",
        "SYSCALLS: dict[str, int] = {",
        *(f'    "{k}": {v},' for k, v in sysnums.items()),
        "}",
        "",
        "ERRNO: dict[str, int] = {",
        *(f'    "{k}": {v},' for k, v in sorted(errnos.items(), key=lambda kv: kv[1])),
        "}",
        "",
        "CONST: dict[str, int] = {",
        *(f'    "{k}": {v},' for k, v in sorted(consts.items())),
        "}",
        "",
        "# name -> (size, {field (nested as a.b): (offset, struct format)})",
        "LAYOUTS: dict[str, tuple[int, dict[str, tuple[int, str]]]] = {",
    ]
    for name in sorted(layouts):
        size, fields = layouts[name]
        lines.append(f'    "{name}": ({size}, {{')
        lines.extend(f'        "{f}": ({o}, "{c}"),' for f, (o, c) in fields.items())
        lines.append("    }),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    roots = sorted(glob.glob("/usr/lib/go-*"))
    parser.add_argument("--goroot", default=roots[-1] if roots else "/usr/lib/go")
    args = parser.parse_args()
    if not os.path.exists(f"{args.goroot}/src/syscall/zsysnum_freebsd_amd64.go"):
        print(f"gen_freebsd_abi: no Go FreeBSD tables under {args.goroot} "
              "(apt-get install golang-go)", file=sys.stderr)
        return 1
    for arch in ARCHES:
        path = os.path.join(OUT_DIR, f"freebsd_{arch}_abi.py")
        with open(path, "w") as f:
            f.write(generate(args.goroot, arch))
        print(f"wrote {os.path.normpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
