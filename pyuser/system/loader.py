"""Loading -kernel, -initrd and the device tree as QEMU's hw/arm/boot.c does.

Two kinds of kernel:

- An ELF file is a bare-metal program (QEMU assumes ELF images are not
  Linux): segments go to their physical addresses (p_paddr) and the CPU starts
  at e_entry.  The DTB goes at the start of RAM when the image does not cover
  that address, and must fit below the image (for ELF images QEMU uses
  dtb_start = loader_start, dtb_limit = the image's lowest address).
- Anything else is a Linux kernel, booted by Documentation/arm/booting.rst:
  r0 = 0, r1 = the machine type (~0: "use the device tree"), r2 = the DTB's
  physical address, SVC mode, interrupts masked, MMU off.
  - A zImage (magic 0x016f2818 at offset 0x24, arch/arm/boot/compressed/head.S)
    is position independent; it is loaded where QEMU loads every non-ELF
    32-bit kernel, RAM + 0x10000 (KERNEL_LOAD_ADDR), and decompresses itself
    to RAM + 0x8000.
  - Any other file is taken as a raw Image, which must run at TEXT_OFFSET
    (0x8000) from a 16 MiB-aligned RAM base, since it derives PHYS_OFFSET from
    where it runs (arch/arm/kernel/head.S); it is loaded at RAM + 0x8000.
  - The initrd goes at RAM + min(RAM size / 2, 128 MiB), page aligned, and the
    DTB after it, 4 KiB aligned (QEMU: "some 32bit kernels will trash anything
    in the 4K page the initrd ends in").
"""

from __future__ import annotations

import lzma
import re
import struct
import zlib
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .errors import UsageError

ZIMAGE_MAGIC = 0x016F2818
ZIMAGE_LOAD_OFFSET = 0x10000  # QEMU's KERNEL_LOAD_ADDR
TEXT_OFFSET = 0x8000  # where the decompressed (or raw) kernel runs from RAM's start
LINUX_MACHINE_DT = 0xFFFFFFFF  # r1: no machine number, use the device tree
PAGE = 0x1000


@dataclass
class Image:
    entry: int
    segments: list[tuple[int, bytes, int]]  # (paddr, file bytes, memsz)
    kind: str = "elf"  # "elf", "zimage" or "raw"

    @property
    def linux(self) -> bool:
        return self.kind != "elf"

    @property
    def low(self) -> int:
        return min(p for p, _, _ in self.segments)

    @property
    def high(self) -> int:
        return max(p + m for p, _, m in self.segments)


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise UsageError(f"could not load {what} '{path}': No such file or directory") from None
    except OSError as exc:
        raise UsageError(f"could not load {what} '{path}': {exc.strerror or exc}") from None


def load_kernel(path: str, ram_base: int) -> Image:
    data = read_file(path, "kernel")
    if data[:4] == b"\x7fELF":
        return load_elf(path)
    if not data:
        raise UsageError(f"could not load kernel '{path}': empty file")
    if len(data) >= 0x30 and struct.unpack_from("<I", data, 0x24)[0] == ZIMAGE_MAGIC:
        at = ram_base + ZIMAGE_LOAD_OFFSET
        return Image(at, [(at, data, len(data))], "zimage")
    at = ram_base + TEXT_OFFSET
    return Image(at, [(at, data, len(data))], "raw")


def load_elf(path: str) -> Image:
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            if elf.get_machine_arch() != "ARM" or elf.elfclass != 32:
                raise UsageError(f"{path}: not a 32-bit Arm ELF image")
            segments = [
                (seg["p_paddr"], seg.data(), seg["p_memsz"])
                for seg in elf.iter_segments()
                if seg["p_type"] == "PT_LOAD" and seg["p_memsz"]
            ]
            entry = elf.header["e_entry"]
    except FileNotFoundError:
        raise UsageError(f"could not load kernel '{path}': No such file or directory") from None
    except (ELFError, OSError, struct.error) as exc:
        raise UsageError(f"could not load kernel '{path}': {exc}") from None
    if not segments:
        raise UsageError(f"{path}: no loadable segments")
    return Image(entry, segments)


def dtb_address(image: Image, ram_base: int, dtb_size: int) -> int | None:
    """Where QEMU would put the DTB for a bare-metal ELF image, or None if it would not."""
    if image.low <= ram_base < image.high:
        return None
    limit = image.low if image.low > ram_base else None
    if limit is not None and ram_base + dtb_size > limit:
        return None
    return ram_base


def align_up(value: int, align: int) -> int:
    return (value + align - 1) & ~(align - 1)


def initrd_address(image: Image, ram_base: int, ram_size: int) -> int:
    """QEMU's initrd_start: halfway into small RAMs, 128 MiB in from 256 MiB on."""
    start = ram_base + min(ram_size // 2, 128 << 20)
    if image.kind == "raw":  # its size is known: never overlay it
        start = max(start, image.high)
    return align_up(start, PAGE)


def linux_dtb_address(initrd_end: int) -> int:
    return align_up(initrd_end, PAGE)


# Compressed payloads a zImage may carry that Python's standard library reads:
# magic -> a decompressor (xz: 0xfd "7zXZ" 0 plus stream flags 0 0x01|0x04|0x0a;
# gzip: 1f 8b 08; legacy lzma: properties 0x5d, dictionary size).
_PAYLOADS = (
    (re.compile(re.escape(b"\xfd7zXZ\x00\x00") + b"[\x01\x04\x0a]"), lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)),
    (re.compile(b"\x1f\x8b\x08"), lambda: zlib.decompressobj(31)),
    (re.compile(b"\x5d\x00\x00[\x00-\x80]\x00\xff\xff\xff\xff"), lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE)),
)


def kernel_text(image: Image) -> bytes:
    """The kernel as it will run: a raw Image itself, or a zImage's payload decompressed.

    The first candidate that decompresses to its end is the payload (the
    decompressor's own strings can contain a magic).
    """
    data = image.segments[0][1]
    if image.kind == "raw":
        return data
    for pattern, make in _PAYLOADS:
        for match in pattern.finditer(data):
            decompressor = make()
            try:
                out = decompressor.decompress(data[match.start():])
            except (lzma.LZMAError, zlib.error, EOFError):
                continue
            if getattr(decompressor, "eof", True) and len(out) > 0x10000:
                return out
    raise UsageError("zImage: its compressed kernel is not xz, gzip or lzma "
                     "(the generic timer needs it decoded); boot the raw Image instead")
