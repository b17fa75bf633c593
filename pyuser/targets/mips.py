"""MIPS o32, big-endian (mips): the mipsel target in the other byte order.

Everything but the byte order is shared with pyuser.targets.mipsel (the CPU,
syscall convention, errno numbers, signal frames, TLS).  What the byte order
changes is handled where the data is: the generated tables are big-endian
ctypes structures, the syscall families pack guest words with the target's
`pack`/`unpack`, and a 64-bit syscall argument in a register pair is (high,
low) in o32 big-endian (the kernel's merge_64, arch/mips/kernel/linux32.c).
"""

from __future__ import annotations

from pyuser.targets.generated import mips_abi
from pyuser.targets.mipsel import MipselTarget


class MipsTarget(MipselTarget):
    name = "mips"
    abi = mips_abi


TARGET = MipsTarget
