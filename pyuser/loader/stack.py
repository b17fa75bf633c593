"""The initial process stack, laid out as Linux's create_elf_tables does.

From the top: a NULL word, the program's file name (AT_EXECFN), the
environment strings, the argument strings; then the platform string and 16
random bytes (AT_RANDOM); then, 16-byte aligned, argc, argv[], NULL, envp[],
NULL and the auxiliary vector (fs/binfmt_elf.c, fs/exec.c).
"""

from __future__ import annotations

import struct


class StackImage:
    """What goes on the initial stack."""

    def __init__(self, *, argv: list[bytes], envp: list[bytes], execfn: bytes, platform: bytes,
                 random: bytes, auxv: list[tuple[int, int]] | None = None) -> None:
        self.argv = argv
        self.envp = envp
        self.execfn = execfn
        self.platform = platform
        self.random = random
        self.auxv = [] if auxv is None else auxv  # values; strings patched in


class BuiltStack:
    """The stack's bytes and where its parts landed."""

    def __init__(self, *, sp: int, data: bytes, auxv: bytes, argv_start: int, argv_end: int,
                 env_start: int, env_end: int) -> None:
        self.sp = sp  # where argc is
        self.data = data  # bytes from sp up to the top
        self.auxv = auxv  # the auxiliary vector as written (for /proc/self/auxv)
        self.argv_start = argv_start  # address of the argument strings (for /proc/self/cmdline)
        self.argv_end = argv_end
        # the environment strings, right after the arguments (/proc/self/environ)
        self.env_start = env_start
        self.env_end = env_end


# auxv tags whose value is the address of a string/bytes we place on the stack
AT_EXECFN = 31
AT_PLATFORM = 15
AT_RANDOM = 25


def build_stack(top: int, image: StackImage, word_size: int, little_endian: bool) -> BuiltStack:
    order = "<" if little_endian else ">"
    word = order + ("I" if word_size == 4 else "Q")
    strings = bytearray()

    def place(data: bytes) -> int:
        """Push bytes below what is already placed; returns their offset from `top`."""
        strings[:0] = data
        return len(strings)

    place(b"\0" * word_size)
    execfn_at = place(image.execfn + b"\0")
    env_at = [place(s + b"\0") for s in reversed(image.envp)][::-1]
    arg_at = [place(s + b"\0") for s in reversed(image.argv)][::-1]
    argv_end_off = arg_at[-1] - len(image.argv[-1]) - 1 if image.argv else execfn_at
    platform_at = place(image.platform + b"\0")
    # align the random bytes to the word size, as the kernel's stack pointer is
    pad = (-len(strings)) % word_size
    place(b"\0" * pad)
    random_at = place(image.random)

    addr = {AT_EXECFN: top - execfn_at, AT_PLATFORM: top - platform_at, AT_RANDOM: top - random_at}
    auxv = [(tag, addr.get(tag, value)) for tag, value in image.auxv] + [(0, 0)]
    auxv_bytes = b"".join(struct.pack(word + word[-1], t, v) for t, v in auxv)

    table = [len(image.argv)]
    table += [top - off for off in arg_at] + [0]
    table += [top - off for off in env_at] + [0]
    table_bytes = struct.pack(order + (word[-1] * len(table)), *table) + auxv_bytes
    sp = top - len(strings) - len(table_bytes)
    sp &= ~15
    gap = top - len(strings) - len(table_bytes) - sp
    data = table_bytes + b"\0" * gap + bytes(strings)
    return BuiltStack(sp=sp, data=data, auxv=auxv_bytes,
                      argv_start=top - arg_at[0] if arg_at else top - execfn_at,
                      argv_end=top - argv_end_off,
                      env_start=top - env_at[0] if env_at else top - execfn_at,
                      env_end=top - execfn_at)
