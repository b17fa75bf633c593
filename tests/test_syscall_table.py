"""The dispatch table: every handler's signature marshals, on every target.

Entries are completed (their argument converters made) at first use, so a
handler whose annotations the marshaller cannot serve would otherwise only
fail when a guest first calls it.
"""

from __future__ import annotations

import pytest

from pyuser.launch import new_process
from pyuser.process import Options
from pyuser.targets import load_target, target_names


@pytest.mark.parametrize("arch", target_names())
def test_every_entry_completes(arch: str) -> None:
    process = new_process(load_target(arch), Options())
    kernel = process.kernel
    numbers = [n for n, e in enumerate(kernel.table) if e is not None] + list(kernel.sparse)
    # Linux's tables serve over 200 calls; FreeBSD's personality 136 or more
    assert len(numbers) > (130 if arch.startswith("freebsd-") else 200)
    for number in numbers:
        entry = kernel.entry(number)
        assert entry is not None
        assert entry.invoke.__name__ != "first_call", entry.name
        # the registers each parameter comes from: after the number, in order
        regs = [p.reg for p in entry.params]
        assert regs == sorted(regs) and all(r >= 1 for r in regs), entry.name


@pytest.mark.parametrize("arch", ["i386", "s390x"])
def test_mmap_is_old_mmap_where_the_table_says_so(arch: str) -> None:
    """i386's and s390x's mmap (90) is sys_old_mmap: one pointer to six longs
    (addr, len, prot, flags, fd, offset), not six registers."""
    process = new_process(load_target(arch), Options())
    kernel, target, memory = process.kernel, process.target, process.memory
    c, errno = target.abi.CONST, target.abi.ERRNO
    long_format = "I" if target.word_size == 4 else "Q"
    block = 0x10000
    memory.map(block, 0x1000, 3)

    word_mask = (1 << 8 * target.word_size) - 1

    def old_mmap(offset: int) -> int:
        """The result register: an address, or -errno in [-4095, -1]."""
        memory.write(block, target.pack(6 * long_format, 0, 0x2000, 3,
                                        c["MAP_PRIVATE"] | c["MAP_ANONYMOUS"], word_mask, offset))
        regs = [target.syscall_numbers["mmap"], block, 0, 0, 0, 0, 0, 0, 0]
        return kernel.dispatch(regs) & word_mask

    address = old_mmap(0)
    assert 0 < address < word_mask - 4095 and address % 0x1000 == 0
    mapping = memory.find_mapping(address)
    assert mapping is not None and mapping.prot == 3 and mapping.end - address == 0x2000
    assert old_mmap(0x800) == word_mask + 1 - errno["EINVAL"]  # an offset inside a page
