"""Reading and mapping ELF images: the ELF header and program headers, read with struct.

A program's start needs only these (fs/binfmt_elf.c reads no more), so the
loader reads them itself: parsing them with pyelftools would cost every run
the import of its ELF, DWARF and construct modules (~20 ms of a ~100 ms
hello).  pyelftools stays where sections and symbols are wanted (system
mode's kernel loader).  Layouts: include/uapi/linux/elf.h (Elf32_Ehdr,
Elf64_Ehdr, Elf32_Phdr, Elf64_Phdr).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from pyuser.errors import LoadError
from pyuser.memory import PROT_EXEC, PROT_READ, PROT_WRITE, page_ceil, page_floor

if TYPE_CHECKING:
    from pyuser.memory import GuestMemory
    from pyuser.targets.base import Target

ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_INTERP, PT_PHDR = 1, 3, 6
PT_GNU_STACK = 0x6474E551
PN_XNUM = 0xFFFF  # e_phnum: the count is in section header 0's sh_info
PF_X, PF_W, PF_R = 1, 2, 4

# (EI_CLASS, e_machine number) -> target name, for `pyuser` without a target
_MACHINES = {(1, 40): "arm", (2, 183): "aarch64", (2, 62): "x86_64", (1, 3): "i386",
             (2, 243): "riscv64", (1, 8): "mips"}
# e_machine names for messages (include/uapi/linux/elf-em.h)
_MACHINE_NAMES = {3: "EM_386", 8: "EM_MIPS", 40: "EM_ARM", 62: "EM_X86_64",
                  183: "EM_AARCH64", 243: "EM_RISCV"}
_TYPE_NAMES = {0: "ET_NONE", 1: "ET_REL", 4: "ET_CORE"}

# e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags, e_ehsize,
# e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx (after e_ident)
_EHDR = {1: "HHIIIIIHHHHHH", 2: "HHIQQQIHHHHHH"}
_PHDR_SIZE = {1: 32, 2: 56}
_SHDR_SIZE = {1: 40, 2: 64}


class ElfHeader(NamedTuple):
    e_type: int
    e_machine: int
    e_entry: int
    e_phoff: int
    e_phentsize: int
    e_phnum: int


class Segment(NamedTuple):
    """One program header (Elf32_Phdr/Elf64_Phdr; the field order differs, the names do not)."""

    p_type: int
    p_flags: int
    p_offset: int
    p_vaddr: int
    p_filesz: int
    p_memsz: int


@dataclass
class ElfImage:
    """A validated ELF file, ready to map."""

    path: str
    header: ElfHeader
    segments: list[Segment]
    stream: BinaryIO
    size: int

    @property
    def is_dyn(self) -> bool:
        return self.header.e_type == ET_DYN

    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.p_type == PT_LOAD]

    def interpreter(self) -> str | None:
        for seg in self.segments:
            if seg.p_type == PT_INTERP:
                self.stream.seek(seg.p_offset)
                return os.fsdecode(self.stream.read(seg.p_filesz).split(b"\0")[0])
        return None

    def exec_stack(self, default: bool) -> bool:
        for seg in self.segments:
            if seg.p_type == PT_GNU_STACK:
                return bool(seg.p_flags & PF_X)
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
    name = _MACHINES.get((ident[4], machine))
    if name is None:
        raise _fail(path, f"unsupported ELF machine {machine}")
    return name


def _read_headers(path: str, stream: BinaryIO, size: int, elf_class: int,
                  order: str) -> tuple[ElfHeader, list[Segment]]:
    """The ELF header and the program headers; LoadError when they do not fit the file."""
    ehdr = struct.Struct(order + _EHDR[elf_class])
    stream.seek(16)
    raw = stream.read(ehdr.size)
    if len(raw) < ehdr.size:
        raise _fail(path, "truncated ELF header")
    (e_type, e_machine, _version, e_entry, e_phoff, e_shoff, _flags, _ehsize,
     e_phentsize, e_phnum, _shentsize, _shnum, _shstrndx) = ehdr.unpack(raw)
    header = ElfHeader(e_type, e_machine, e_entry, e_phoff, e_phentsize, e_phnum)
    if e_type not in (ET_EXEC, ET_DYN):
        return header, []
    if e_phentsize != _PHDR_SIZE[elf_class]:
        raise _fail(path, f"malformed ELF file (program header size {e_phentsize})")
    count = e_phnum
    if count == PN_XNUM:  # sh_info of section header 0
        info_at = e_shoff + (28 if elf_class == 1 else 44)
        stream.seek(info_at)
        raw = stream.read(4)
        if len(raw) < 4 or e_shoff + _SHDR_SIZE[elf_class] > size:
            raise _fail(path, "truncated or malformed ELF file (section header 0)")
        (count,) = struct.unpack(order + "I", raw)
        header = header._replace(e_phnum=count)
    if e_phoff + count * e_phentsize > size:
        raise _fail(path, "truncated or malformed ELF file (the program headers lie past the end)")
    stream.seek(e_phoff)
    table = stream.read(count * e_phentsize)
    segments = []
    if elf_class == 1:  # type, offset, vaddr, paddr, filesz, memsz, flags, align
        for p_type, off, vaddr, _pa, filesz, memsz, flags, _al in \
                struct.iter_unpack(order + "8I", table):
            segments.append(Segment(p_type, flags, off, vaddr, filesz, memsz))
    else:  # type, flags, offset, vaddr, paddr, filesz, memsz, align
        for p_type, flags, off, vaddr, _pa, filesz, memsz, _al in \
                struct.iter_unpack(order + "IIQQQQQQ", table):
            segments.append(Segment(p_type, flags, off, vaddr, filesz, memsz))
    return header, segments


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

    stream = open(path, "rb")  # noqa: SIM115 - kept open by ElfImage
    try:
        size = os.fstat(stream.fileno()).st_size
        header, segments = _read_headers(path, stream, size, want_class,
                                         "<" if target.little_endian else ">")
        machine = header.e_machine
        if machine != target.elf_machine_number:
            raise _fail(path, f"wrong machine {_MACHINE_NAMES.get(machine, machine)} "
                              f"for {target.name}")
        if header.e_type not in (ET_EXEC, ET_DYN):
            kind = _TYPE_NAMES.get(header.e_type, f"type {header.e_type}")
            raise _fail(path, f"not an executable ({kind})")
        image = ElfImage(path, header, segments, stream, size)
        loads = image.loads()
        if not loads:
            raise _fail(path, "no loadable segment")
        for seg in loads:
            if seg.p_offset + seg.p_filesz > size:
                raise _fail(path, "truncated ELF file (a segment lies past the end)")
            if seg.p_filesz > seg.p_memsz:
                raise _fail(path, "malformed ELF file (segment file size exceeds memory size)")
    except BaseException:
        stream.close()
        raise
    return image


def _prot(flags: int) -> int:
    return ((PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0)
            | (PROT_EXEC if flags & PF_X else 0))


def map_image(image: ElfImage, memory: GuestMemory, bias: int, *, kind: str = "file") -> LoadedImage:
    """Map every PT_LOAD segment at vaddr + bias with its permissions; bss is zero."""
    loads = image.loads()
    name = os.path.abspath(image.path)
    info = os.fstat(image.stream.fileno())
    lowest = min(page_floor(s.p_vaddr) for s in loads) + bias
    highest = max(s.p_vaddr + s.p_memsz for s in loads) + bias
    if lowest < memory.mmap_floor or page_ceil(highest) > memory.size:
        raise _fail(image.path, f"cannot be loaded at {lowest:#x}-{highest:#x}")
    # Map first (zeroed), then copy: segments may share a page at their boundary.
    for h in loads:
        start = page_floor(h.p_vaddr + bias)
        end = page_ceil(h.p_vaddr + bias + h.p_memsz)
        mapping = memory.map(start, end - start, _prot(h.p_flags), kind=kind, name=name)
        mapping.offset = page_floor(h.p_offset)
        mapping.dev, mapping.inode = info.st_dev, info.st_ino
    for h in loads:
        if h.p_filesz:
            image.stream.seek(h.p_offset)
            data = image.stream.read(h.p_filesz)
            address = h.p_vaddr + bias
            memory.host[address:address + len(data)] = data
    header = image.header
    phdr = 0
    for seg in image.segments:
        if seg.p_type == PT_PHDR:
            phdr = seg.p_vaddr + bias
    if not phdr:
        for h in loads:
            if h.p_offset <= header.e_phoff < h.p_offset + h.p_filesz:
                phdr = h.p_vaddr + (header.e_phoff - h.p_offset) + bias
    return LoadedImage(
        entry=header.e_entry + bias, bias=bias, phdr=phdr, phnum=header.e_phnum,
        phent=header.e_phentsize, start=lowest, end=highest,
    )


def image_span(image: ElfImage) -> tuple[int, int]:
    """The page-aligned [low, high) the image's segments cover before relocation."""
    loads = image.loads()
    low = min(page_floor(s.p_vaddr) for s in loads)
    high = max(page_ceil(s.p_vaddr + s.p_memsz) for s in loads)
    return low, high
