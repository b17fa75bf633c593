"""Declaring handlers, and building the per-target dispatch table from them.

`@syscall` marks a method of a family class (files, memory, ...) with the
kernel names it implements.  :func:`build_table` places an entry for every
marked method in a list indexed by syscall number; an entry's *invoker*,
which takes the raw register bank and calls the handler with marshalled
arguments, is made at the entry's first use (a run uses a few dozen of the
~300 handlers; making them all cost ~4 ms of every start).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyuser.syscalls import types as T

if TYPE_CHECKING:
    Kernel = Any  # pyuser.syscalls.kernel's, a layer above (targets use this module)

Handler = Callable[..., int]
Invoker = Callable[[Any], int]


def syscall(*names: str | Callable) -> Any:
    """Mark a handler; `@syscall` uses the method's name, `@syscall("a", "b")` those names."""

    def mark(fn: Callable, aliases: tuple[str, ...]) -> Callable:
        fn.__syscall_names__ = aliases or (fn.__name__,)  # type: ignore[attr-defined]
        return fn

    if len(names) == 1 and callable(names[0]):
        return mark(names[0], ())
    return lambda fn: mark(fn, tuple(names))  # type: ignore[arg-type]


@dataclass
class Param:
    """One handler parameter and the register it comes from."""

    name: str
    arg: T.Arg
    reg: int  # index into the register bank (0 is the syscall number)


def _nothing_to_do() -> None:
    pass


@dataclass
class Entry:
    """A syscall number's handler, ready to dispatch."""

    name: str
    number: int
    params: list[Param]
    invoke: Invoker
    # makes params and invoke if they are not made yet (see _deferred_entry)
    complete: Callable[[], None] = _nothing_to_do


def _arg_of(annotation: Any) -> T.Arg:
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, T.Arg):
                return meta
    return T.SIGNED


# The argument types by the names handlers use for them: with postponed
# annotations these names are what __annotations__ holds, and looking them up
# here is much cheaper than typing.get_type_hints (which evaluates every one;
# it costs ~10 ms of start-up over all the handlers).  Any other annotation
# still goes through get_type_hints.
_BY_NAME = {name: _arg_of(getattr(T, name)) for name in (
    "UInt", "Ptr", "Fd", "CStr", "Path", "InBuf", "OutBuf", "Int64", "InPtr", "OutPtr", "Id", "Id16", "Long")}
_BY_NAME["int"] = T.SIGNED


def signature_of(fn: Callable, word_size: int, pairs_aligned: bool) -> list[Param]:
    """Register slots of each parameter, from the handler's annotations."""
    names = fn.__code__.co_varnames[1:fn.__code__.co_argcount]
    annotations = fn.__annotations__
    hints: dict | None = None
    args = []
    for name in names:
        annotation = annotations.get(name, "int")
        arg = _BY_NAME.get(annotation) if isinstance(annotation, str) else None
        if arg is None:
            if hints is None:
                # `self: Kernel` is only a forward reference for type checkers
                hints = typing.get_type_hints(fn, localns={"Kernel": object},
                                              include_extras=True)
            arg = _arg_of(hints.get(name, int))
        args.append(arg)
    params = []
    reg = 1
    for name, arg in zip(names, args, strict=True):
        if arg.wide and word_size == 4 and pairs_aligned and reg % 2 == 0:
            reg += 1  # EABI: a 64-bit value starts at an even register (r0, r2, r4)
        params.append(Param(name, arg, reg))
        reg += 2 if arg.wide and word_size == 4 else 1
    return params


def make_invoker(kernel: Kernel, fn: Callable, params: list[Param]) -> Invoker:
    """A closure that marshals the register bank into the handler's arguments."""
    bound = fn.__get__(kernel)
    target = kernel.target
    sign_bit, wrap = target.sign_bit, target.sign_bit << 1
    mem = kernel.mem
    wide32 = target.word_size == 4

    raw = ("unsigned", "pointer", "in_pointer", "out_pointer")
    if all(p.arg.kind in raw for p in params):
        regs_used = [p.reg for p in params]
        if not regs_used:
            return lambda _regs: bound()
        if regs_used == list(range(1, len(regs_used) + 1)):
            n = len(regs_used) + 1
            return lambda regs: bound(*regs[1:n])

    converters: list[Callable[[Any], Any]] = []
    for index, p in enumerate(params):
        i = p.reg
        kind = p.arg.kind
        if kind in ("signed", "fd") and not wide32:
            # an int in a 64-bit register: its upper half is undefined (x86_64
            # `mov $-100, %edi` leaves AT_FDCWD zero-extended)
            converters.append(lambda r, i=i: ((r[i] & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000)
        elif kind in ("signed", "fd", "long"):
            converters.append(lambda r, i=i: r[i] - wrap if r[i] & sign_bit else r[i])
        elif kind in raw:
            converters.append(lambda r, i=i: r[i])
        elif kind == "id":
            converters.append(lambda r, i=i: host_id(r[i]))
        elif kind == "id16":
            converters.append(lambda r, i=i: host_id16(r[i]))
        elif kind == "cstring":
            converters.append(lambda r, i=i: mem.read_cstr(r[i]))
        elif kind == "path":
            converters.append(lambda r, i=i: kernel.resolve_path(mem.read_cstr(r[i])))
        elif kind in ("in_buffer", "out_buffer"):
            if index + 1 >= len(params):
                raise TypeError(f"{fn.__name__}: buffer {p.name} needs a length after it")
            n = params[index + 1].reg
            if kind == "in_buffer":
                converters.append(lambda r, i=i, n=n: mem.read(r[i], r[n]) if r[n] else b"")
            else:
                converters.append(lambda r, i=i, n=n: mem.writable(r[i], r[n]))
        elif kind == "int64":
            if wide32 and not target.little_endian:  # the pair is (high, low)
                converters.append(lambda r, i=i: _signed64((r[i] << 32) | r[i + 1]))
            elif wide32:
                converters.append(lambda r, i=i: _signed64(r[i] | (r[i + 1] << 32)))
            else:
                converters.append(lambda r, i=i: _signed64(r[i]))
        else:
            raise TypeError(f"{fn.__name__}: unknown argument kind {kind}")

    def invoke(regs: Any) -> int:
        return bound(*[c(regs) for c in converters])

    return invoke


def host_id(value: int) -> int:
    """A uid_t or gid_t register as Python's os functions take it."""
    value &= 0xFFFFFFFF
    return -1 if value == 0xFFFFFFFF else value


def host_id16(value: int) -> int:
    """An old_uid_t register: its low 16 bits, 0xffff meaning -1 (low2highuid)."""
    value &= 0xFFFF
    return -1 if value == 0xFFFF else value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value & (1 << 63) else value


def handlers_of(kernel_class: type) -> dict[str, Callable]:
    """Every marked method of the kernel class, by kernel syscall name."""
    found: dict[str, Callable] = {}
    for klass in reversed(kernel_class.__mro__):
        for attr in vars(klass).values():
            for name in getattr(attr, "__syscall_names__", ()):
                found[name] = attr
    return found


def build_table(kernel: Kernel) -> tuple[list[Entry | None], dict[int, Entry]]:
    """The dispatch list indexed by number, and a dict for sparse numbers (ARM 0xf0000+)."""
    target = kernel.target
    handlers = handlers_of(type(kernel))
    dense: list[Entry | None] = []
    sparse: dict[int, Entry] = {}
    limit = 4096
    numbers = target.syscall_numbers
    for name, number in numbers.items():
        fn = handlers.get(name)
        if f"{name}32" in numbers and f"{name}16" in handlers:
            # arm and i386 keep the 16-bit-id calls (sys_chown16, ...) under
            # the plain names, beside the 32-bit ones
            fn = handlers[f"{name}16"]
        if fn is None:
            continue
        entry = _deferred_entry(kernel, name, number, fn)
        if number < limit:
            if number >= len(dense):
                dense.extend([None] * (number + 1 - len(dense)))
            dense[number] = entry
        else:
            sparse[number] = entry
    return dense, sparse


def _deferred_entry(kernel: Kernel, name: str, number: int, fn: Callable) -> Entry:
    """An entry whose params and invoker are made when first needed: its
    first call (the dispatch path looks `invoke` up on every call) or
    :meth:`Entry.complete` (tracers that read params first)."""
    entry = Entry(name, number, [], lambda regs: 0)

    def complete() -> None:
        target = kernel.target
        entry.params = signature_of(fn, target.word_size, target.pairs_aligned)
        entry.invoke = make_invoker(kernel, fn, entry.params)
        entry.complete = _nothing_to_do

    def first_call(regs: Any) -> int:
        complete()
        return entry.invoke(regs)

    entry.invoke = first_call
    entry.complete = complete
    return entry
