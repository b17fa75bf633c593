"""ARM EABI soft-float (armel, Debian's ARMv5TE port): the arm target with what
an ARMv5/ARMv6 kernel and CPU offer.

The syscall ABI, struct layouts and signal frames are armhf's: the kernel
UAPI headers of linux-libc-dev-armel-cross generate a table identical to
arm_abi's (`tools/gen_abi.py --arch armel`, checked in tests/test_gen_abi.py),
and the soft-float ABI only changes how C passes floats, which the kernel
never sees.  What differs, per CPU model:
- Cores before ARMv7 (arm926, arm946, arm1026: ARMv5TE; arm1136, arm1176,
  arm11mpcore: ARMv6) walk the page tables in the ARMv5 format (ARMv6 too
  while SCTLR.XP is clear, as at reset): a small-page descriptor has four
  2-bit AP fields, one per 1 KiB subpage, and no XN bit (ARM DDI 0100I,
  B4.4.1; AP 01 privileged only, 10 user read-only, 11 user read/write).
  So there is no no-execute on them, as on such a kernel.
- TLS: an ARMv5 core has no TPIDRURO.  Linux keeps the thread pointer in
  the vectors page at 0xffff0ff0 and its `__kuser_get_tls` reads it
  (`ldr r0, [pc, #(16 - 8)]`, arch/arm/kernel/entry-armv.S); glibc's armel
  `__aeabi_read_tp` calls that helper.  The kernel rewrites that word when
  it switches threads (arch/arm/include/asm/tls.h, switch_tls), and so do
  we: all guest threads share one engine and one vectors page, each thread
  keeps its pointer in its saved registers (TPIDRURO, which Unicorn holds
  on every model and saves with the context), and `thread_switched` copies
  it into the word whenever another thread's registers are loaded.
- `__kuser_memory_barrier` is an empty helper on a uniprocessor ARMv5
  kernel (`dmb` does not exist before ARMv7).
- HWCAP, AT_PLATFORM and uname -m as qemu-arm 7.2 reports them for the same
  `-cpu` (measured: arm926 0xd7 v5l armv5tel, arm946 0x97, arm1136 0x80d7
  v6l armv6l, ...).
The cortex models behave as on the arm target.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_ARM, UC_MODE_ARM, Uc
from unicorn import arm_const as A

from pyuser.memory import PROT_EXEC, PROT_READ, PROT_WRITE
from pyuser.targets import arm_cpu
from pyuser.targets.arm import (
    _CACHEABLE,
    _SMALL_PAGE,
    ArmPageTables,
    ArmTarget,
)

if TYPE_CHECKING:
    from pyuser.memory import GuestMemory

# model -> (Unicorn model, HWCAP, AT_PLATFORM, uname -m, ARMv5-format tables)
MODELS: dict[str, tuple[int, int, str, str, bool]] = {
    "arm926": (A.UC_CPU_ARM_926, 0xD7, "v5l", "armv5tel", True),
    "arm946": (A.UC_CPU_ARM_946, 0x97, "v5l", "armv5tel", True),
    "arm1026": (A.UC_CPU_ARM_1026, 0xD7, "v5l", "armv5tel", True),
    "arm1136": (A.UC_CPU_ARM_1136, 0x80D7, "v6l", "armv6l", True),
    "arm1136-r2": (A.UC_CPU_ARM_1136_R2, 0xD7, "v6l", "armv6l", True),
    "arm1176": (A.UC_CPU_ARM_1176, 0x80D7, "v6l", "armv6l", True),
    "arm11mpcore": (A.UC_CPU_ARM_11MPCORE, 0x80D7, "v6l", "armv6l", True),
    "cortex-a8": (A.UC_CPU_ARM_CORTEX_A8, 0x8B8D7, "v7l", "armv7l", False),
    "cortex-a9": (A.UC_CPU_ARM_CORTEX_A9, 0x8B8D7, "v7l", "armv7l", False),
    "cortex-a15": (A.UC_CPU_ARM_CORTEX_A15, 0x1FB8D7, "v7l", "armv7l", False),
}
DEFAULT_MODEL = "arm926"

TLS_WORD = 0xFF0  # offset of the thread pointer in the vectors page
_V5_AP = {"none": 0b01, "ro": 0b10, "rw": 0b11}
_BARRIER_HELPER = 0xFA0
_GET_TLS_HELPER = 0xFE0
_NOP = 0xE1A00000  # mov r0, r0
_BX_LR = 0xE12FFF1E
_LDR_R0_TLS_WORD = 0xE59F0008  # ldr r0, [pc, #8]: the word at helper + 16


class ArmelPageTables(ArmPageTables):
    """The arm tables with ARMv5-format descriptors for the older cores."""

    def __init__(self, uc: Uc, v5_format: bool) -> None:
        self.v5_format = v5_format
        super().__init__(uc)

    def descriptor_bits(self, prot: int) -> int:  # type: ignore[override]
        if not self.v5_format:
            return ArmPageTables.descriptor_bits(prot)
        if not prot & (PROT_READ | PROT_WRITE | PROT_EXEC):
            ap = _V5_AP["none"]
        elif prot & PROT_WRITE:
            ap = _V5_AP["rw"]
        else:
            ap = _V5_AP["ro"]
        return _SMALL_PAGE | _CACHEABLE | (ap * 0x55) << 4  # AP0..AP3 alike


class ArmelTarget(ArmTarget):
    name = "armel"
    uname_machine = "armv5tel"
    platform = "v5l"
    default_cpu = DEFAULT_MODEL
    cpu_models = {name: spec[0] for name, spec in MODELS.items()}

    def __init__(self) -> None:
        super().__init__()
        self._tables: ArmelPageTables | None = None
        self._v5_format = True

    def create_cpu(self, model: str) -> Uc:
        uc_model, _hwcap, self.platform, self.uname_machine, self._v5_format = MODELS[model]
        uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
        uc.ctl_set_cpu_model(uc_model)
        uc.ctl_set_page_size(4096)
        if _hwcap & self.abi.HWCAP["HWCAP_VFP"]:
            arm_cpu.enable_vfp(uc)
        return uc

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> ArmelPageTables:
        tables = ArmelPageTables(uc, self._v5_format)
        uc.mem_map_ptr(0, memory.size, 7, memory.host_base)
        self._tables = tables
        return tables

    def _fill_vectors_page(self, tables: ArmPageTables) -> None:
        super()._fill_vectors_page(tables)
        if self._v5_format:
            page = tables.vectors
            struct.pack_into("<II", page, _BARRIER_HELPER, _NOP, _BX_LR)
            struct.pack_into("<II", page, _GET_TLS_HELPER, _LDR_R0_TLS_WORD, _BX_LR)

    def set_tls(self, uc: Uc, value: int) -> None:
        super().set_tls(uc, value)
        self.thread_switched(uc)

    def thread_switched(self, uc: Uc) -> None:
        """The loaded thread's pointer into the kuser TLS word, as the kernel's
        switch_tls does for a CPU without TPIDRURO."""
        if self._tables is not None:
            struct.pack_into("<I", self._tables.vectors, TLS_WORD, super().get_tls(uc))

    def hwcap(self, model: str) -> int:
        return MODELS[model][1]


TARGET = ArmelTarget
