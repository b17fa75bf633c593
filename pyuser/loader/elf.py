"""Reading and mapping ELF images (pyelftools parses; we check and map)."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from pyuser.errors import LoadError
from pyuser.memory import PROT_EXEC, PROT_READ, PROT_WRITE, page_ceil, page_floor

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile

    from pyuser.memory import GuestMemory
    from pyuser.targets.base import Target

PT_LOAD = "PT_LOAD"
PF_X, PF_W, PF_R = 1, 2, 4

# (EI_CLASS, e_machine number) -> target name, for `pyuser` without a target
_MACHINES = {(1, 40): "arm", (2, 183): "aarch64", (2, 62): "x86_64", (1, 3): "i386",
             (2, 243): "riscv64", (1, 8): "mips", (2, 22): "s390x"}


@dataclass
class ElfImage:
    """A validated ELF file, ready to map."""

    path: str
    elf: ELFFile
    stream: BinaryIO
    size: int

    @property
    def is_dyn(self) -> bool:
        return self.elf.header.e_type == "ET_DYN"

    def loads(self) -> list:
        return [s for s in self.elf.iter_segments() if s.header.p_type == PT_LOAD]

    def interpreter(self) -> str | None:
        for seg in self.elf.iter_segments():
            if seg.header.p_type == "PT_INTERP":
                return seg.get_interp_name()
        return None

    def exec_stack(self, default: bool) -> bool:
        for seg in self.elf.iter_segments():
            if seg.header.p_type == "PT_GNU_STACK":
                return bool(seg.header.p_flags & PF_X)
        return default

    def close(self) -> None:
        self.stream.close()


@dataclass
class LoadedImage:
    """Where an image landed, in the terms the auxiliary vector needs."""

    entry: int
    bias: int
    phdr: int
    phnum: int
    phent: int
    start: int
    end: int  # end of the highest segment (the initial brk for a main program)


def _fail(path: str, why: str) -> LoadError:
    return LoadError(f"{path}: {why}")


def read_ident(path: str) -> bytes:
    """The first bytes of the file, with the user-facing errors for unreadable paths."""
    try:
        if os.path.isdir(path):
            raise _fail(path, "Is a directory")
        with open(path, "rb") as f:
            return f.read(64)
    except OSError as e:
        raise _fail(path, e.strerror or str(e)) from None


def guess_target(path: str) -> str:
    """The target name for this file's ELF header (for the `pyuser` command)."""
    ident = read_ident(path)
    if ident[:4] != b"\x7fELF":
        raise _fail(path, "not an ELF file")
    if len(ident) < 20:
        raise _fail(path, "truncated ELF header")
    order = "<" if ident[5] == 1 else ">"
    (machine,) = struct.unpack(order + "H", ident[18:20])
    if (ident[4], machine) == (1, 8) and ident[5] == 1:
        return "mipsel"
    if (ident[4], machine) == (2, 8):
        return "mips64el" if ident[5] == 1 else "mips64"
    if (ident[4], machine) == (1, 40) and len(ident) >= 40:
        # EABI soft-float (EF_ARM_ABI_FLOAT_SOFT in e_flags): Debian's armel
        (flags,) = struct.unpack(order + "I", ident[36:40])
        if flags & 0x200:
            return "armel"
    name = _MACHINES.get((ident[4], machine))
    if name is None:
        raise _fail(path, f"unsupported ELF machine {machine}")
    return name


def open_image(path: str, target: Target) -> ElfImage:
    """Open and check an ELF file for `target`; LoadError with one clear line otherwise."""
    ident = read_ident(path)
    if ident[:4] != b"\x7fELF":
        raise _fail(path, "not an ELF file")
    if len(ident) < 52:
        raise _fail(path, "truncated ELF header")
    want_class = 1 if target.elf_class == 32 else 2
    if ident[4] != want_class:
        raise _fail(path, f"wrong ELF class (ELF{64 if ident[4] == 2 else 32}) for {target.name}")
    want_data = 1 if target.little_endian else 2
    if ident[5] != want_data:
        raise _fail(path, f"wrong endianness for {target.name}")

    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    stream = open(path, "rb")  # noqa: SIM115 - kept open by ElfImage
    size = os.fstat(stream.fileno()).st_size
    try:
        elf = ELFFile(stream)
        machine = elf.header.e_machine
        if machine != target.elf_machine:
            raise _fail(path, f"wrong machine {machine} for {target.name}")
        if elf.header.e_type not in ("ET_EXEC", "ET_DYN"):
            raise _fail(path, f"not an executable ({elf.header.e_type})")
        image = ElfImage(path, elf, stream, size)
        loads = image.loads()
    except (ELFError, struct.error, ValueError) as e:
        stream.close()
        raise _fail(path, f"truncated or malformed ELF file ({e})") from None
    except LoadError:
        stream.close()
        raise
    if not loads:
        stream.close()
        raise _fail(path, "no loadable segment")
    for seg in loads:
        h = seg.header
        if h.p_offset + h.p_filesz > size:
            stream.close()
            raise _fail(path, "truncated ELF file (a segment lies past the end)")
        if h.p_filesz > h.p_memsz:
            stream.close()
            raise _fail(path, "malformed ELF file (segment file size exceeds memory size)")
    return image


def _prot(flags: int) -> int:
    return ((PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0)
            | (PROT_EXEC if flags & PF_X else 0))


def map_image(image: ElfImage, memory: GuestMemory, bias: int, *, kind: str = "file") -> LoadedImage:
    """Map every PT_LOAD segment at vaddr + bias with its permissions; bss is zero."""
    loads = image.loads()
    name = os.path.abspath(image.path)
    info = os.fstat(image.stream.fileno())
    lowest = min(page_floor(s.header.p_vaddr) for s in loads) + bias
    highest = max(s.header.p_vaddr + s.header.p_memsz for s in loads) + bias
    if lowest < memory.mmap_floor or page_ceil(highest) > memory.size:
        raise _fail(image.path, f"cannot be loaded at {lowest:#x}-{highest:#x}")
    # Map first (zeroed), then copy: segments may share a page at their boundary.
    for seg in loads:
        h = seg.header
        start = page_floor(h.p_vaddr + bias)
        end = page_ceil(h.p_vaddr + bias + h.p_memsz)
        mapping = memory.map(start, end - start, _prot(h.p_flags), kind=kind, name=name)
        mapping.offset = page_floor(h.p_offset)
        mapping.dev, mapping.inode = info.st_dev, info.st_ino
    for seg in loads:
        h = seg.header
        if h.p_filesz:
            image.stream.seek(h.p_offset)
            data = image.stream.read(h.p_filesz)
            address = h.p_vaddr + bias
            memory.host[address:address + len(data)] = data
    header = image.elf.header
    phdr = 0
    for seg in image.elf.iter_segments():
        if seg.header.p_type == "PT_PHDR":
            phdr = seg.header.p_vaddr + bias
    if not phdr:
        for seg in loads:
            h = seg.header
            if h.p_offset <= header.e_phoff < h.p_offset + h.p_filesz:
                phdr = h.p_vaddr + (header.e_phoff - h.p_offset) + bias
    return LoadedImage(
        entry=header.e_entry + bias, bias=bias, phdr=phdr, phnum=header.e_phnum,
        phent=header.e_phentsize, start=lowest, end=highest,
    )


def image_span(image: ElfImage) -> tuple[int, int]:
    """The page-aligned [low, high) the image's segments cover before relocation."""
    loads = image.loads()
    low = min(page_floor(s.header.p_vaddr) for s in loads)
    high = max(page_ceil(s.header.p_vaddr + s.header.p_memsz) for s in loads)
    return low, high
