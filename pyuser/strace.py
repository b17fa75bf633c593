"""`-strace`: each syscall with its decoded arguments and result.

The decoding comes from the same signatures that marshal the arguments, so
every declared handler is traced without code of its own.  Imported only
when tracing is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from pyuser.memory import GuestFault
from pyuser.syscalls.table import host_id, host_id16
from pyuser.syscalls.types import NoReturn

if TYPE_CHECKING:
    from pyuser.log import Log
    from pyuser.memory import GuestMemory
    from pyuser.process import Process
    from pyuser.syscalls.table import Entry
    from pyuser.targets.base import Target


class Kernel(Protocol):
    """What strace uses of the kernel it wraps (pyuser.syscalls.kernel, a
    layer above: the builder installs strace on it)."""

    target: Target
    abi: ModuleType
    mem: GuestMemory
    proc: Process
    traced: bool
    dispatch: Callable[[Any], int]

    def entry(self, number: int) -> Entry | None: ...

_SHOWN_BYTES = 32


def _quote(data: bytes) -> str:
    text = repr(data[:_SHOWN_BYTES])[1:]
    if text.startswith("'") or text.startswith('"'):
        text = '"' + text[1:-1].replace('"', '\\"') + '"'
    return text + ("..." if len(data) > _SHOWN_BYTES else "")


def format_args(kernel: Kernel, entry: Entry, regs: Any) -> str:
    target = kernel.target
    shown = []
    for index, p in enumerate(entry.params):
        raw = regs[p.reg]
        kind = p.arg.kind
        try:
            if kind in ("signed", "fd"):  # a C int
                shown.append(str(((raw & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000))
            elif kind == "long":
                shown.append(str(target.to_signed(raw)))
            elif kind == "unsigned":
                shown.append(str(raw))
            elif kind == "id":
                shown.append(str(host_id(raw)))
            elif kind == "id16":
                shown.append(str(host_id16(raw)))
            elif kind in ("pointer", "out_buffer", "out_pointer"):
                shown.append(f"{raw:#x}" if raw else "NULL")
            elif kind in ("cstring", "path"):
                shown.append(_quote(kernel.mem.read_cstr(raw)) if raw else "NULL")
            elif kind in ("in_buffer", "in_pointer"):
                length = regs[entry.params[index + 1].reg]
                shown.append(_quote(kernel.mem.read(raw, min(length, _SHOWN_BYTES + 1))))
            elif kind == "int64":
                value = raw
                if target.word_size == 4:
                    other = regs[p.reg + 1]
                    value = raw | other << 32 if target.little_endian else raw << 32 | other
                shown.append(str(value - (1 << 64) if value >> 63 else value))
            else:
                shown.append(hex(raw))
        except GuestFault:
            shown.append(f"{raw:#x}")
    return ", ".join(shown)


def format_result(kernel: Kernel, result: int) -> str:
    value = kernel.target.to_signed(result & kernel.target.word_mask)
    if -4096 < value < 0:
        name = next((n for n, v in kernel.abi.ERRNO.items() if v == -value), str(-value))
        host = getattr(__import__("errno"), name, None)
        text = os.strerror(host) if isinstance(host, int) else name
        return f"-1 {name} ({text})"
    if value > 0xFFFF:
        return f"{result & kernel.target.word_mask:#x}"
    return str(value)


def install_strace(kernel: Kernel, log: Log) -> None:
    plain = kernel.dispatch

    def traced(regs: Any) -> int:
        number = regs[0]
        entry = kernel.entry(number)
        if entry is None:
            name = kernel.target.syscall_names.get(number, f"syscall_{number}")
            args = ", ".join(hex(regs[i]) for i in range(1, 7))
        else:
            name = entry.name
            args = format_args(kernel, entry, regs)
        try:
            result = plain(regs)
        except NoReturn:
            log.write(f"{kernel.proc.current.tid} {name}({args}) = ?")
            raise
        # the thread's id, as strace -f shows it (after a fork, the child's pid)
        log.write(f"{kernel.proc.current.tid} {name}({args}) = {format_result(kernel, result)}")
        return result

    kernel.dispatch = traced  # type: ignore[method-assign]
    kernel.traced = True  # one wrapper for all the threads' engines
