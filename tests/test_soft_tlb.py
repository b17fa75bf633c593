"""The soft TLB policy (pyuser/soft_tlb.py): a guest that maps a lot of memory
gets a TLB that covers it, since Unicorn only resizes its TLB at a flush."""

from __future__ import annotations

import pytest

import pyuser
from pyuser.launch import new_process
from pyuser.process import Options
from pyuser.soft_tlb import SoftTlb
from pyuser.targets import load_target, target_names


@pytest.mark.parametrize("arch", target_names())
def test_the_tlb_descriptors_are_found(arch):
    """The engine's TLB is found by content (a Unicorn whose layout differs
    makes this fail, and the policy is then off)."""
    target = load_target(arch)
    process = new_process(target, Options())
    tlb = SoftTlb.find(process.uc, target.sp_reg, target.word_mask)
    assert tlb is not None
    sizes = [tlb.size(mode) for mode in range(tlb.mode_count)]
    assert sizes and all(64 <= size <= 256 for size in sizes)


def test_a_big_mapping_grows_the_tlb(guest_bins):
    """The sieve callocs 8 MB (2,048 pages): the TLB of the MMU mode the guest
    uses grows from 256 entries to cover it (4,096), by QEMU's own resizing."""
    emulator = pyuser.Emulator([guest_bins / "sieve", "8000000"])
    assert emulator.run() == 0
    tlb = emulator.process.cpu._tlb
    assert tlb is not None
    assert max(tlb.size(mode) for mode in range(tlb.mode_count)) >= 4096
