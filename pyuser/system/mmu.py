"""The guest's short-descriptor translation, with the checks that make a fault.

Unicorn reports a guest MMU fault only as "exception 4" (data abort) or "3"
(prefetch abort): it never fills in DFSR/DFAR or IFSR/IFAR, because those are
written by QEMU's exception entry, which Unicorn does not run.  So the fault
is worked out again here, as the ARMv7-A ARM describes the VMSA (B3.5 the
short-descriptor format, B3.7 access permissions, B3.12 fault checking
sequence, B4.1.52 DFSR): the table walk, the domain check (DACR), AP[2:0]
with SCTLR.AFE clear, XN and PXN.  :func:`walk` either returns the physical
address or raises :class:`MmuFault` with the fault status (FS) and domain the
DFSR/IFSR wants.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

# Fault status codes, short-descriptor format (ARMv7-A ARM table B3-23).
FS_ALIGNMENT = 0b00001
FS_TRANSLATION_SECTION, FS_TRANSLATION_PAGE = 0b00101, 0b00111
FS_DOMAIN_SECTION, FS_DOMAIN_PAGE = 0b01001, 0b01011
FS_PERMISSION_SECTION, FS_PERMISSION_PAGE = 0b01101, 0b01111
FS_EXTERNAL = 0b01000
FS_EXTERNAL_WALK_L1, FS_EXTERNAL_WALK_L2 = 0b01100, 0b01110
FSR_WNR = 1 << 11

READ, WRITE, EXECUTE = "read", "write", "execute"


class MmuFault(Exception):
    def __init__(self, fs: int, domain: int = 0) -> None:
        super().__init__(f"fault status {fs:#x}")
        self.fs = fs
        self.domain = domain

    def fsr(self, write: bool = False) -> int:
        """The DFSR/IFSR value: FS[3:0], domain, FS[4] at bit 10, WnR."""
        value = (self.fs & 0xF) | ((self.fs >> 4) << 10) | ((self.domain & 0xF) << 4)
        return value | (FSR_WNR if write else 0)


class Translation:
    """The translation registers as they are now, and a word reader for tables."""

    def __init__(self, sctlr: int, ttbcr: int, ttbr0: int, ttbr1: int, dacr: int,
                 read_word: Callable[[int], int | None]) -> None:
        self.sctlr, self.ttbcr, self.ttbr0, self.ttbr1, self.dacr = sctlr, ttbcr, ttbr0, ttbr1, dacr
        self.read_word = read_word  # None: no memory there (an external abort on the walk)

    @property
    def enabled(self) -> bool:
        return bool(self.sctlr & 1)

    def walk(self, va: int, access: str, privileged: bool) -> int:
        """The physical address of `va`, or MmuFault."""
        if not self.enabled:
            return va
        if self.ttbcr & (1 << 31):
            raise NotImplementedError("long-descriptor (LPAE) translation")
        n = self.ttbcr & 7
        if n and va >> (32 - n):
            table = self.ttbr1 & 0xFFFFC000
        else:
            table = self.ttbr0 & (0xFFFFFFFF << (14 - n)) & 0xFFFFFFFF
        first = self._descriptor(table | ((va >> 20) << 2), FS_EXTERNAL_WALK_L1, 0)
        kind = first & 3
        if kind == 0:
            raise MmuFault(FS_TRANSLATION_SECTION)
        if kind == 1:  # page table
            domain = (first >> 5) & 0xF
            pxn = bool(first & (1 << 2))
            second = self._descriptor((first & 0xFFFFFC00) | (((va >> 12) & 0xFF) << 2), FS_EXTERNAL_WALK_L2, domain)
            if second & 3 == 0:
                raise MmuFault(FS_TRANSLATION_PAGE, domain)
            if second & 2:  # small page
                pa = (second & 0xFFFFF000) | (va & 0xFFF)
                xn = bool(second & 1)
            else:  # large page
                pa = (second & 0xFFFF0000) | (va & 0xFFFF)
                xn = bool(second & (1 << 15))
            ap = ((second >> 4) & 3) | ((second >> 7) & 4)
            self._check(domain, ap, xn, pxn, access, privileged, FS_DOMAIN_PAGE, FS_PERMISSION_PAGE)
            return pa
        # section or supersection (bit 0 is PXN on a CPU with the LPAE extension)
        pxn = bool(first & 1)
        if first & (1 << 18):
            domain = 0  # supersections are always domain 0
            pa = (first & 0xFF000000) | (va & 0x00FFFFFF)
        else:
            domain = (first >> 5) & 0xF
            pa = (first & 0xFFF00000) | (va & 0x000FFFFF)
        ap = ((first >> 10) & 3) | ((first >> 13) & 4)
        self._check(domain, ap, bool(first & (1 << 4)), pxn, access, privileged,
                    FS_DOMAIN_SECTION, FS_PERMISSION_SECTION)
        return pa

    def _descriptor(self, pa: int, external_fs: int, domain: int) -> int:
        word = self.read_word(pa)
        if word is None:
            raise MmuFault(external_fs, domain)
        return word

    def _check(self, domain: int, ap: int, xn: bool, pxn: bool, access: str, privileged: bool,
               fs_domain: int, fs_permission: int) -> None:
        kind = (self.dacr >> (2 * domain)) & 3
        if kind in (0, 2):  # no access (0b10 is reserved, treated as no access)
            raise MmuFault(fs_domain, domain)
        if access == EXECUTE and (xn or (pxn and privileged)):
            raise MmuFault(fs_permission, domain)  # XN applies in manager domains too
        if kind == 3:
            return  # manager: no permission checks
        if not allowed(ap, access, privileged):
            raise MmuFault(fs_permission, domain)


def allowed(ap: int, access: str, privileged: bool) -> bool:
    """AP[2:0] with SCTLR.AFE clear (ARMv7-A ARM table B3-8)."""
    if ap in (0, 4):
        return False  # no access (0b100 is reserved)
    if ap == 1:
        return privileged
    if ap == 2:
        return privileged or access != WRITE
    if ap == 3:
        return True
    if ap == 5:
        return privileged and access != WRITE
    return access != WRITE  # 0b110, 0b111: read-only at every level


def word_reader(mem_read: Callable[[int, int], bytes], is_ram: Callable[[int], bool]) -> Callable[[int], int | None]:
    def read_word(pa: int) -> int | None:
        if not is_ram(pa):
            return None
        return struct.unpack("<I", mem_read(pa, 4))[0]
    return read_word
