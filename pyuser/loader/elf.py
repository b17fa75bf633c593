"""Reading and mapping ELF images, with the checks Linux's binfmt_elf makes.

The ELF header and the program headers are read here with struct, as the
kernel reads them (fs/binfmt_elf.c: elf_read_phdrs, load_elf_binary): the
section headers, which the kernel never looks at, are never parsed, so a
file whose sections are garbage runs as it does on Linux.  Every field that
comes from the file is checked before it is used as an offset or a size,
and a file the kernel would refuse gives one LoadError line.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, BinaryIO

from pyuser.errors import LoadError, printable
from pyuser.memory import PROT_EXEC, PROT_READ, PROT_WRITE, page_ceil, page_floor
from pyuser.targets import registry

if TYPE_CHECKING:
    from pyuser.memory import GuestMemory
    from pyuser.targets.base import Target

PT_LOAD, PT_INTERP, PT_PHDR, PT_GNU_STACK = 1, 3, 6, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4
ET_EXEC, ET_DYN = 2, 3
PATH_MAX = 4096
PHDR_TABLE_MAX = 65536  # the largest program-header table the kernel reads

# e_type .. e_shstrndx, after the 16 bytes of e_ident
_EHDR = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
_PHDR = {32: "IIIIIIII", 64: "IIQQQQQQ"}
_PHDR_SIZE = {32: 32, 64: 56}


class ElfHeader:
    """The fields of the ELF header the kernel uses."""

    def __init__(self, e_type: int, e_machine: int, e_entry: int, e_phoff: int,
                 e_phentsize: int, e_phnum: int) -> None:
        self.e_type = e_type
        self.e_machine = e_machine
        self.e_entry = e_entry
        self.e_phoff = e_phoff
        self.e_phentsize = e_phentsize
        self.e_phnum = e_phnum


class ProgramHeader:
    """One program header (segment)."""

    def __init__(self, p_type: int, p_flags: int, p_offset: int, p_vaddr: int, p_filesz: int,
                 p_memsz: int) -> None:
        self.p_type = p_type
        self.p_flags = p_flags
        self.p_offset = p_offset
        self.p_vaddr = p_vaddr
        self.p_filesz = p_filesz
        self.p_memsz = p_memsz

    def __repr__(self) -> str:
        return (f"ProgramHeader(type={self.p_type:#x}, flags={self.p_flags}, "
                f"offset={self.p_offset:#x}, vaddr={self.p_vaddr:#x}, "
                f"filesz={self.p_filesz:#x}, memsz={self.p_memsz:#x})")


class ElfImage:
    """A validated ELF file, ready to map."""

    def __init__(self, path: str, header: ElfHeader, segments: list[ProgramHeader],
                 stream: BinaryIO, size: int, address_mask: int) -> None:
        self.path = path
        self.header = header
        self.segments = segments
        self.stream = stream
        self.size = size
        self.address_mask = address_mask  # 2**32 - 1 or 2**64 - 1: the kernel's unsigned long

    @property
    def is_dyn(self) -> bool:
        return self.header.e_type == ET_DYN

    def loads(self) -> list[ProgramHeader]:
        return [s for s in self.segments if s.p_type == PT_LOAD]

    def interpreter(self) -> bytes | None:
        """The PT_INTERP path, as bytes (a path need not be UTF-8).

        As load_elf_binary: its size is 2..PATH_MAX, it lies inside the
        file and its last byte is NUL, else the file is refused (ENOEXEC);
        the name ends at its first NUL.
        """
        for seg in self.segments:
            if seg.p_type != PT_INTERP:
                continue
            if not 2 <= seg.p_filesz <= PATH_MAX:
                raise _fail(self.path, "malformed ELF file (bad interpreter name size)")
            if seg.p_offset + seg.p_filesz > self.size:
                raise _fail(self.path, "truncated ELF file (the interpreter name lies past the end)")
            name = os.pread(self.stream.fileno(), seg.p_filesz, seg.p_offset)
            if len(name) != seg.p_filesz or name[-1] != 0:
                raise _fail(self.path, "malformed ELF file (unterminated interpreter name)")
            return name.split(b"\0", 1)[0]
        return None

    def exec_stack(self, default: bool) -> bool:
        for seg in self.segments:
            if seg.p_type == PT_GNU_STACK:
                return bool(seg.p_flags & PF_X)
        return default

    def close(self) -> None:
        self.stream.close()


class LoadedImage:
    """Where an image landed, in the terms the auxiliary vector needs."""

    def __init__(self, *, entry: int, bias: int, phdr: int, phnum: int, phent: int, start: int,
                 end: int) -> None:
        self.entry = entry
        self.bias = bias
        self.phdr = phdr
        self.phnum = phnum
        self.phent = phent
        self.start = start
        self.end = end  # end of the highest segment (the initial brk for a main program)

    def __repr__(self) -> str:
        return f"LoadedImage(entry={self.entry:#x}, bias={self.bias:#x})"


def _fail(path: str, why: str) -> LoadError:
    return LoadError(f"{printable(path)}: {why}")


def read_ident(path: str) -> bytes:
    """The first bytes of the file, with the user-facing errors for unreadable paths."""
    try:
        if os.path.isdir(path):
            raise _fail(path, "Is a directory")
        with open(path, "rb") as f:
            return f.read(64)
    except OSError as e:
        raise _fail(path, e.strerror or str(e)) from None


ELFOSABI_FREEBSD = registry.ELFOSABI_FREEBSD
# the ABI note FreeBSD's toolchain puts in every program (sys/sys/elf_common.h)
NT_FREEBSD_ABI_TAG = 1


def is_freebsd(path: str, ident: bytes) -> bool:
    """A FreeBSD program: EI_OSABI says so (Go's linker, FreeBSD's own since
    2002), or a PT_NOTE holds the "FreeBSD" ABI tag (the brand note, which
    sys/kern/imgact_elf.c also accepts with EI_OSABI 0)."""
    if ident[7] == ELFOSABI_FREEBSD:
        return True
    if ident[4] != 2 or ident[5] != 1 or len(ident) < 64:
        return False  # only the little-endian 64-bit FreeBSD targets are looked at
    phoff, = struct.unpack_from("<Q", ident, 32)
    phentsize, phnum = struct.unpack_from("<HH", ident, 54)
    try:
        with open(path, "rb") as f:
            f.seek(phoff)
            table = f.read(phentsize * min(phnum, 64))
            for i in range(len(table) // max(phentsize, 1)):
                p_type, _flags, offset = struct.unpack_from("<IIQ", table, i * phentsize)
                filesz, = struct.unpack_from("<Q", table, i * phentsize + 32)
                if p_type != 4:  # PT_NOTE
                    continue
                f.seek(offset)
                notes = f.read(min(filesz, 4096))
                at = 0
                while at + 12 <= len(notes):
                    namesz, descsz, kind = struct.unpack_from("<III", notes, at)
                    name = notes[at + 12:at + 12 + namesz]
                    if kind == NT_FREEBSD_ABI_TAG and name == b"FreeBSD\0":
                        return True
                    at += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    except (OSError, OverflowError, ValueError, struct.error):  # a hostile e_phoff or note
        return False
    return False


def guess_target(path: str) -> str:
    """The target name for this file's ELF header (for the `pyuser` command):
    the registry's row that claims its class, byte order, machine and e_flags
    (pyuser.targets.registry.candidates), in the FreeBSD personality when the
    file is a FreeBSD program."""
    ident = read_ident(path)
    if ident[:4] != b"\x7fELF":
        raise _fail(path, "not an ELF file")
    if len(ident) < 20:
        raise _fail(path, "truncated ELF header")
    elf_class = 32 if ident[4] == 1 else 64 if ident[4] == 2 else 0
    little_endian = ident[5] == 1
    order = "<" if little_endian else ">"
    (machine,) = struct.unpack(order + "H", ident[18:20])
    at = registry.e_flags_offset(elf_class)
    flags = struct.unpack(order + "I", ident[at:at + 4])[0] if len(ident) >= at + 4 else 0
    rows = registry.candidates(elf_class, little_endian, machine, flags)
    linux = [r for r in rows if r.os_name == "linux"]
    if not linux:
        raise _fail(path, f"unsupported ELF machine {machine}")
    if is_freebsd(path, ident):
        freebsd = [r for r in rows if r.os_name == "freebsd"]
        if not freebsd:
            supported = [r.cpu for r in registry.TARGETS.values() if r.os_name == "freebsd"]
            raise _fail(path, f"FreeBSD programs for {linux[0].name} are not supported "
                        f"(only {', '.join(supported)})")
        return freebsd[0].name
    return linux[0].name


def _read_program_headers(path: str, stream: BinaryIO, size: int, bits: int, order: str,
                          header: ElfHeader) -> list[ProgramHeader]:
    """As elf_read_phdrs: entries of the native size, 1..65536 bytes of them,
    all inside the file."""
    entry_size = _PHDR_SIZE[bits]
    if header.e_phentsize != entry_size:
        raise _fail(path, f"malformed ELF file (program header size {header.e_phentsize}, "
                          f"not {entry_size})")
    table_size = header.e_phnum * entry_size
    if not 0 < table_size <= PHDR_TABLE_MAX:
        raise _fail(path, f"malformed ELF file ({header.e_phnum} program headers)")
    if header.e_phoff + table_size > size:
        raise _fail(path, "truncated ELF file (the program headers lie past the end)")
    table = os.pread(stream.fileno(), table_size, header.e_phoff)
    if len(table) != table_size:
        raise _fail(path, "truncated ELF file (the program headers lie past the end)")
    segments = []
    for fields in struct.iter_unpack(order + _PHDR[bits], table):
        if bits == 32:
            p_type, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, p_flags, _align = fields
        else:
            p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, _align = fields
        segments.append(ProgramHeader(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz))
    return segments


def open_image(path: str, target: Target) -> ElfImage:
    """Open and check an ELF file for `target`; LoadError with one clear line otherwise."""
    ident = read_ident(path)
    if ident[:4] != b"\x7fELF":
        raise _fail(path, "not an ELF file")
    if len(ident) < 16:
        raise _fail(path, "truncated ELF header")
    bits = 32 if target.elf_class == 32 else 64
    want_class = 1 if bits == 32 else 2
    if ident[4] != want_class:
        raise _fail(path, f"wrong ELF class (ELF{64 if ident[4] == 2 else 32}) for {target.name}")
    want_data = 1 if target.little_endian else 2
    if ident[5] != want_data:
        raise _fail(path, f"wrong endianness for {target.name}")
    order = "<" if target.little_endian else ">"
    fmt = order + _EHDR[bits]
    if len(ident) < 16 + struct.calcsize(fmt):
        raise _fail(path, "truncated ELF header")
    (e_type, e_machine, _version, e_entry, e_phoff, _shoff, _flags, _ehsize, e_phentsize,
     e_phnum, *_sections) = struct.unpack_from(fmt, ident, 16)
    header = ElfHeader(e_type, e_machine, e_entry, e_phoff, e_phentsize, e_phnum)
    if e_machine != target.elf_machine_number:
        raise _fail(path, f"wrong machine {e_machine} for {target.name}")
    if e_type not in (ET_EXEC, ET_DYN):
        raise _fail(path, f"not an executable (ELF type {e_type})")

    try:
        stream = open(path, "rb")  # noqa: SIM115 - kept open by ElfImage
    except OSError as e:
        raise _fail(path, e.strerror or str(e)) from None
    try:
        size = os.fstat(stream.fileno()).st_size
        segments = _read_program_headers(path, stream, size, bits, order, header)
        image = ElfImage(path, header, segments, stream, size, (1 << bits) - 1)
        loads = image.loads()
        if not loads:
            raise _fail(path, "no loadable segment")
        for h in loads:
            if h.p_offset + h.p_filesz > size:
                raise _fail(path, "truncated ELF file (a segment lies past the end)")
            if h.p_filesz > h.p_memsz:
                raise _fail(path, "malformed ELF file (segment file size exceeds memory size)")
    except BaseException:
        stream.close()
        raise
    if is_freebsd(path, ident) != (target.os_name == "freebsd"):
        stream.close()
        kind = "a FreeBSD" if target.os_name != "freebsd" else "not a FreeBSD"
        raise _fail(path, f"{kind} program (for {target.name}; `pyuser` picks the target "
                    "from the ELF header)")
    return image


def _prot(flags: int) -> int:
    return ((PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0)
            | (PROT_EXEC if flags & PF_X else 0))


def map_image(image: ElfImage, memory: GuestMemory, bias: int, *, kind: str = "file") -> LoadedImage:
    """Map every PT_LOAD segment at vaddr + bias with its permissions; bss is zero."""
    # a segment of no memory size maps nothing (elf_map does the same)
    loads = [h for h in image.loads() if h.p_memsz]
    if not loads:
        raise _fail(image.path, "no loadable segment")
    name = os.path.abspath(image.path)
    info = os.fstat(image.stream.fileno())
    lowest = min(page_floor(h.p_vaddr) for h in loads) + bias
    highest = max(h.p_vaddr + h.p_memsz for h in loads) + bias
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
            data = os.pread(image.stream.fileno(), h.p_filesz, h.p_offset)
            address = h.p_vaddr + bias
            memory.host[address:address + len(data)] = data
    header = image.header
    phdr = 0
    for h in image.segments:
        if h.p_type == PT_PHDR:
            phdr = h.p_vaddr + bias
    if not phdr:
        for h in loads:
            if h.p_offset <= header.e_phoff < h.p_offset + h.p_filesz:
                phdr = h.p_vaddr + (header.e_phoff - h.p_offset) + bias
    # Addresses are the kernel's unsigned longs: e_entry + load_bias wraps
    # (a bad entry then faults in the guest, as on Linux).
    mask = image.address_mask
    return LoadedImage(
        entry=(header.e_entry + bias) & mask, bias=bias, phdr=phdr & mask,
        phnum=header.e_phnum, phent=header.e_phentsize, start=lowest, end=highest,
    )


def image_span(image: ElfImage) -> tuple[int, int]:
    """The page-aligned [low, high) the image's segments cover before relocation."""
    loads = [h for h in image.loads() if h.p_memsz] or image.loads()
    low = min(page_floor(h.p_vaddr) for h in loads)
    high = max(page_ceil(h.p_vaddr + h.p_memsz) for h in loads)
    return low, high
