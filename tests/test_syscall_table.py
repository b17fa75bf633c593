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
