"""Loading a bare-metal ELF as QEMU's -kernel does for a non-Linux image.

Segments go to their physical addresses (p_paddr), the CPU starts at
e_entry.  The DTB goes at the start of RAM when the image does not cover that
address, and must fit below the image (hw/arm/boot.c: for ELF images
dtb_start = loader_start, dtb_limit = the image's lowest address).
"""

from __future__ import annotations

from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .errors import UsageError


@dataclass
class Image:
    entry: int
    segments: list[tuple[int, bytes, int]]  # (paddr, file bytes, memsz)

    @property
    def low(self) -> int:
        return min(p for p, _, _ in self.segments)

    @property
    def high(self) -> int:
        return max(p + m for p, _, m in self.segments)


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
    except (ELFError, OSError) as exc:
        raise UsageError(f"could not load kernel '{path}': {exc}") from None
    if not segments:
        raise UsageError(f"{path}: no loadable segments")
    return Image(entry, segments)


def dtb_address(image: Image, ram_base: int, dtb_size: int) -> int | None:
    """Where QEMU would put the DTB for this image, or None if it would not."""
    if image.low <= ram_base < image.high:
        return None
    limit = image.low if image.low > ram_base else None
    if limit is not None and ram_base + dtb_size > limit:
        return None
    return ram_base
