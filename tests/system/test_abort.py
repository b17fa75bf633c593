"""Abort classification: the table walk's fault codes and the decoded accesses.

Page tables are built by hand in a dict "memory" (ARMv7-A ARM B3.5); the
expected fault status codes are the architecture's (table B3-23).
"""

from __future__ import annotations

import struct

import pytest

from pyuser.system.abort import memory_accesses
from pyuser.system.mmu import (
    EXECUTE,
    FS_DOMAIN_SECTION,
    FS_EXTERNAL_WALK_L2,
    FS_PERMISSION_PAGE,
    FS_PERMISSION_SECTION,
    FS_TRANSLATION_PAGE,
    FS_TRANSLATION_SECTION,
    FSR_WNR,
    READ,
    WRITE,
    MmuFault,
    Translation,
)

TTB = 0x40004000
L2 = 0x40010000


def tables() -> dict[int, int]:
    words: dict[int, int] = {}
    # 0x00000000: section, domain 0, AP=011 (full access)
    words[TTB + 0] = 0x40000000 | (3 << 10) | 2
    # 0x00100000: section, domain 1, AP=001 (privileged only), XN
    words[TTB + 4] = 0x40100000 | (1 << 10) | (1 << 5) | (1 << 4) | 2
    # 0x00200000: page table, domain 0; page 0 AP=010 (user read-only), page 1 invalid
    words[TTB + 8] = L2 | 1
    words[L2 + 0] = 0x40200000 | (2 << 4) | 2
    words[L2 + 4] = 0
    # 0x00300000: section in domain 2 (no access in DACR)
    words[TTB + 12] = 0x40300000 | (2 << 5) | (3 << 10) | 2
    # 0x00400000: page table whose second level is not in memory
    words[TTB + 16] = 0x10000000 | 1
    return words


def mmu() -> Translation:
    words = tables()
    dacr = 0b01 | (0b01 << 2)  # domains 0 and 1 client, 2 no access
    return Translation(sctlr=1, ttbcr=0, ttbr0=TTB, ttbr1=0, dacr=dacr,
                       read_word=lambda pa: words.get(pa, 0) if pa >= 0x40000000 else None)


@pytest.mark.parametrize("va, access, privileged, fs", [
    (0x00000010, WRITE, False, None),
    (0x00100010, READ, False, FS_PERMISSION_SECTION),
    (0x00100010, READ, True, None),
    (0x00100010, EXECUTE, True, FS_PERMISSION_SECTION),  # XN
    (0x00200010, READ, False, None),
    (0x00200010, WRITE, False, FS_PERMISSION_PAGE),
    (0x00201010, READ, True, FS_TRANSLATION_PAGE),
    (0x00300000, READ, True, FS_DOMAIN_SECTION),
    (0x00400000, READ, True, FS_EXTERNAL_WALK_L2),
    (0x00500000, READ, True, FS_TRANSLATION_SECTION),
])
def test_walk_faults(va: int, access: str, privileged: bool, fs: int | None) -> None:
    if fs is None:
        assert mmu().walk(va, access, privileged) == 0x40000000 + va
        return
    with pytest.raises(MmuFault) as info:
        mmu().walk(va, access, privileged)
    assert info.value.fs == fs


def test_fsr_layout() -> None:
    # FS[3:0], domain in [7:4], FS[4] in bit 10, WnR in bit 11 (B4.1.52).
    assert MmuFault(FS_PERMISSION_PAGE, domain=1).fsr(write=True) == 0xF | 0x10 | FSR_WNR
    assert MmuFault(0b10110).fsr() == 0x6 | (1 << 10)


def regs(values: dict[str, int]):
    return lambda name: values.get(name, 0)


@pytest.mark.parametrize("word, values, expected", [
    (0xE5910004, {"r1": 0x1000}, [(0x1004, 4, False)]),  # ldr r0, [r1, #4]
    (0xE5010004, {"r1": 0x1000}, [(0x0FFC, 4, True)]),  # str r0, [r1, #-4]
    (0xE4910004, {"r1": 0x1000}, [(0x1000, 4, False)]),  # ldr r0, [r1], #4 (post-indexed)
    (0xE7910102, {"r1": 0x1000, "r2": 3}, [(0x100C, 4, False)]),  # ldr r0, [r1, r2, lsl #2]
    (0xE1D100B2, {"r1": 0x1000}, [(0x1002, 2, False)]),  # ldrh r0, [r1, #2]
    (0xE92D4010, {"sp": 0x2000}, [(0x1FF8, 4, True), (0x1FFC, 4, True)]),  # push {r4, lr}
    (0xE8BD8010, {"sp": 0x2000}, [(0x2000, 4, False), (0x2004, 4, False)]),  # pop {r4, pc}
    (0xE1910F9F, {"r1": 0x1000}, [(0x1000, 4, False)]),  # ldrex r0, [r1]
])
def test_decoded_accesses(word: int, values: dict[str, int], expected) -> None:
    got = memory_accesses(struct.pack("<I", word), 0x8000, False, regs(values))
    assert [(a.address, a.size, a.write) for a in got] == expected


def test_unprivileged_and_exclusive_flags() -> None:
    ldrt = memory_accesses(struct.pack("<I", 0xE4B10000), 0, False, regs({"r1": 0x100}))  # ldrt r0, [r1]
    assert ldrt[0].unprivileged
    ldrex = memory_accesses(struct.pack("<I", 0xE1910F9F), 0, False, regs({"r1": 0x102}))
    assert ldrex[0].align == 4
