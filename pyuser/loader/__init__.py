"""Loading a program into a fresh process: images, interpreter, stack, auxv."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pyuser.errors import LoadError, printable
from pyuser.loader.elf import PF_X, ElfImage, image_span, map_image, open_image
from pyuser.loader.freebsd import build_freebsd_stack, map_shared_page
from pyuser.loader.stack import (
    AT_EXECFN,
    AT_PLATFORM,
    AT_RANDOM,
    BuiltStack,
    StackImage,
    build_stack,
)
from pyuser.memory import PROT_EXEC, PROT_READ, PROT_WRITE, OutOfMemory, page_ceil
from pyuser.procfs import comm_of

if TYPE_CHECKING:
    from pyuser.process import Process

STACK_GUARD = 0x1000


class ImageLayout:
    """The addresses /proc/self/stat reports (the kernel's mm_struct fields)."""

    def __init__(self, start_code: int = 0) -> None:
        self.start_code = start_code
        self.end_code = 0
        self.start_data = 0
        self.end_data = 0
        self.start_stack = 0
        self.arg_start = 0
        self.arg_end = 0
        self.env_start = 0
        self.env_end = 0


def _code_and_data(image: ElfImage, bias: int) -> ImageLayout:
    """As fs/binfmt_elf.c load_elf_binary computes them: code from the PF_X
    segments, data up to the highest segment's file end."""
    layout = ImageLayout(start_code=(1 << 64) - 1)
    for h in image.loads():
        if h.p_flags & PF_X:
            layout.start_code = min(layout.start_code, h.p_vaddr)
            layout.end_code = max(layout.end_code, h.p_vaddr + h.p_filesz)
        layout.start_data = max(layout.start_data, h.p_vaddr)
        layout.end_data = max(layout.end_data, h.p_vaddr + h.p_filesz)
    if layout.start_code > layout.end_code:
        layout.start_code = 0
    for name in ("start_code", "end_code", "start_data", "end_data"):
        setattr(layout, name, getattr(layout, name) + bias)
    return layout


def load_program(proc: Process, path: str, argv: list[bytes], envp: list[bytes],
                 execfn: bytes | None = None, at_flags: int = 0,
                 execfd: int | None = None) -> None:
    """Map `path` (and its interpreter) into `proc` and set the first thread up to run it."""
    target = proc.target
    mem = proc.memory
    image = open_image(path, target)
    try:
        low, _high = image_span(image)
        bias = target.elf_et_dyn_base - low if image.is_dyn else 0
        main = map_image(image, mem, bias)
        layout = _code_and_data(image, bias)
        interp_name = image.interpreter()
        exec_stack = image.exec_stack(default=True)
    finally:
        image.close()

    interp_base = 0
    entry = main.entry
    if interp_name:
        host_interp = os.fsdecode(proc.vfs.resolve(interp_name))
        if not os.path.exists(host_interp):
            where = f" (sysroot {printable(proc.options.sysroot)})" if proc.options.sysroot \
                else " (give the sysroot with -L or PYUSER_LD_PREFIX)"
            raise LoadError(f"{printable(path)}: interpreter {printable(interp_name)} "
                            f"not found{where}")
        interp = open_image(host_interp, target)
        try:
            ilow, ihigh = image_span(interp)
            try:
                base = mem.find_free(ihigh - ilow, target.interp_base)
            except OutOfMemory:
                raise LoadError(f"{printable(host_interp)}: no room for the interpreter") from None
            loaded = map_image(interp, mem, base - ilow if interp.is_dyn else 0)
        finally:
            interp.close()
        interp_base = loaded.bias
        entry = loaded.entry

    proc.brk_start = proc.brk = page_ceil(main.end)
    proc.exe_host_path = os.path.abspath(path)

    # the stack
    top = target.stack_top
    size = page_ceil(proc.stack_size)
    prot = PROT_READ | PROT_WRITE | (PROT_EXEC if exec_stack else 0)
    mem.map(top - size, size, prot, kind="stack", name="[stack]")
    mem.mmap_top = min(mem.mmap_top, top - size - STACK_GUARD)

    if target.os_name == "freebsd":
        map_shared_page(proc)
        stack = build_freebsd_stack(proc, main, interp_base, argv, envp,
                                    os.fsencode(os.path.abspath(path)), at_flags)
    else:
        stack = _linux_stack(proc, main, interp_base, argv, envp, execfn or os.fsencode(path),
                             at_flags, execfd)
    mem.host[stack.sp:stack.sp + len(stack.data)] = stack.data
    proc.auxv = stack.auxv
    proc.cmdline = (stack.argv_start, stack.argv_end)
    layout.start_stack = stack.sp
    layout.arg_start, layout.arg_end = stack.argv_start, stack.argv_end
    layout.env_start, layout.env_end = stack.env_start, stack.env_end
    proc.layout = layout
    # the task name (PR_GET_NAME, /proc/self/stat) is the file name exec'd
    proc.rename_current_thread(comm_of(execfn or os.fsencode(path)))
    target.load_bias = interp_base if interp_name else bias
    target.set_entry_state(proc.uc, entry, stack.sp)


def _linux_stack(proc: Process, main, interp_base: int, argv: list[bytes], envp: list[bytes],
                 execfn: bytes, at_flags: int, execfd: int | None) -> BuiltStack:
    """The stack and auxv of fs/binfmt_elf.c create_elf_tables."""
    target = proc.target
    top = target.stack_top
    auxv_names = target.abi.AUXV
    hwcap = target.hwcap(proc.options.cpu)
    values = [
        *target.arch_auxv(),
        ("AT_HWCAP", hwcap), ("AT_PAGESZ", 4096), ("AT_CLKTCK", os.sysconf("SC_CLK_TCK")),
        ("AT_PHDR", main.phdr), ("AT_PHENT", main.phent), ("AT_PHNUM", main.phnum),
        ("AT_BASE", interp_base), ("AT_FLAGS", at_flags), ("AT_ENTRY", main.entry),
        ("AT_UID", os.getuid()), ("AT_EUID", os.geteuid()), ("AT_GID", os.getgid()),
        ("AT_EGID", os.getegid()), ("AT_SECURE", 0), ("AT_RANDOM", 0),
        ("AT_HWCAP2", target.hwcap2(proc.options.cpu)), ("AT_EXECFN", 0), ("AT_PLATFORM", 0),
    ]
    if not target.platform:  # e.g. Linux/riscv passes no AT_PLATFORM
        values.remove(("AT_PLATFORM", 0))
    if execfd is not None:
        values.insert(0, ("AT_EXECFD", execfd))
    auxv = [(auxv_names[name], value) for name, value in values]
    assert auxv_names["AT_EXECFN"] == AT_EXECFN and auxv_names["AT_RANDOM"] == AT_RANDOM
    assert auxv_names["AT_PLATFORM"] == AT_PLATFORM
    stack = build_stack(
        top,
        StackImage(argv=argv, envp=envp, execfn=execfn,
                   platform=target.platform.encode(), random=proc.random_bytes(16), auxv=auxv),
        target.word_size, target.little_endian,
    )
    return stack
