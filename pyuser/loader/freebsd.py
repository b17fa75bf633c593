"""The initial stack and auxiliary vector FreeBSD's exec builds, and its shared page.

sys/kern/kern_exec.c exec_copyout_strings lays out, from the top of the
stack down: struct ps_strings, the executable's path (AT_EXECPATH), the
stack-protector canary (AT_CANARY, 64 bytes), the page sizes (AT_PAGESIZES),
the argument and environment strings, then (aligned) argc, argv[], NULL,
envp[], NULL and the auxiliary vector, whose entries sys/kern/imgact_elf.c
__elfN(freebsd_copyout_auxargs) writes in the order used here.

The shared page (sys/kern/kern_sharedpage.c) sits above the stack and holds
the signal trampoline; pyuser puts no timehands there, so AT_TIMEKEEP is
absent and programs (libc, Go's runtime) fall back to clock_gettime(2).
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

from pyuser.loader.stack import BuiltStack
from pyuser.memory import PROT_EXEC, PROT_READ

if TYPE_CHECKING:
    from pyuser.loader.elf import LoadedImage
    from pyuser.process import Process

OSRELDATE = 1400097  # FreeBSD 14.0-RELEASE (sys/sys/param.h __FreeBSD_version)
PAGE_SIZES = (4096, 2 << 20, 1 << 30)  # amd64 and arm64 with 4K granules
CANARY_SIZE = 64
VM_PROT_READ_WRITE = 3  # AT_STACKPROT: a non-executable stack


def map_shared_page(proc: Process) -> int:
    """Map the read-only, executable shared page with the signal trampoline."""
    target = proc.target
    base = target.shared_page
    proc.memory.map(base, 4096, PROT_READ | PROT_EXEC, kind="shared", name="[shared]")
    proc.memory.host[base:base + len(target.sigcode)] = target.sigcode
    return base


def build_freebsd_stack(proc: Process, main: LoadedImage, interp_base: int, argv: list[bytes],
                        envp: list[bytes], execpath: bytes, at_flags: int) -> BuiltStack:
    target = proc.target
    c = target.abi.CONST
    top = target.shared_page
    blob = bytearray()

    def place(data: bytes, align: int = 8) -> int:
        """Put data below what is placed; its address."""
        blob[:0] = data
        blob[:0] = bytes((-len(blob)) % align)
        return top - len(blob)

    ps_strings = place(bytes(32))  # filled once the strings have addresses
    execpath_at = place(execpath + b"\0")
    canary_at = place(proc.random_bytes(CANARY_SIZE))
    pagesizes_at = place(struct.pack(f"<{len(PAGE_SIZES)}Q", *PAGE_SIZES))
    env_at = [place(s + b"\0", 1) for s in reversed(envp)][::-1]
    arg_at = [place(s + b"\0", 1) for s in reversed(argv)][::-1]
    strings_start = top - len(blob)

    ncpus = len(os.sched_getaffinity(0))
    vector_words = 1 + len(argv) + 1 + len(envp) + 1
    auxv = [
        ("AT_PHDR", main.phdr), ("AT_PHENT", main.phent), ("AT_PHNUM", main.phnum),
        ("AT_PAGESZ", 4096), ("AT_FLAGS", at_flags), ("AT_ENTRY", main.entry),
        ("AT_BASE", interp_base), ("AT_EHDRFLAGS", 0), ("AT_EXECPATH", execpath_at),
        ("AT_OSRELDATE", OSRELDATE), ("AT_CANARY", canary_at), ("AT_CANARYLEN", CANARY_SIZE),
        ("AT_NCPUS", ncpus), ("AT_PAGESIZES", pagesizes_at),
        ("AT_PAGESIZESLEN", 8 * len(PAGE_SIZES)), ("AT_STACKPROT", VM_PROT_READ_WRITE),
    ]
    hwcap = target.hwcap(proc.options.cpu)
    if hwcap:
        auxv += [("AT_HWCAP", hwcap), ("AT_HWCAP2", target.hwcap2(proc.options.cpu))]
    auxv += [("AT_BSDFLAGS", 0), ("AT_ARGC", len(argv)), ("AT_ARGV", 0), ("AT_ENVC", len(envp)),
             ("AT_ENVV", 0), ("AT_PS_STRINGS", ps_strings),
             ("AT_USRSTACKBASE", top), ("AT_USRSTACKLIM", proc.stack_size)]
    size = 8 * (vector_words + 2 * (len(auxv) + 1))
    sp = (strings_start - size) & ~15
    argv_at = sp + 8
    envv_at = argv_at + 8 * (len(argv) + 1)
    patched = {"AT_ARGV": argv_at, "AT_ENVV": envv_at}
    pairs = [(c[name], patched.get(name, value)) for name, value in auxv] + [(0, 0)]
    auxv_bytes = b"".join(struct.pack("<QQ", tag, value) for tag, value in pairs)
    table = struct.pack(f"<{vector_words}Q", len(argv), *arg_at, 0, *env_at, 0) + auxv_bytes
    data = bytearray(table.ljust(strings_start - sp, b"\0") + blob)
    # struct ps_strings { char **ps_argvstr; u_int ps_nargvstr; char **ps_envstr; u_int ps_nenvstr; }
    struct.pack_into("<QIxxxxQI", data, ps_strings - sp, argv_at, len(argv), envv_at, len(envp))
    argv_end = arg_at[-1] + len(argv[-1]) + 1 if argv else strings_start
    return BuiltStack(sp=sp, data=bytes(data), auxv=auxv_bytes,
                      argv_start=arg_at[0] if argv else strings_start, argv_end=argv_end,
                      env_start=env_at[0] if envp else argv_end,
                      env_end=env_at[-1] + len(envp[-1]) + 1 if envp else argv_end)
