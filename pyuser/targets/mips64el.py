"""MIPS64 n64, little-endian (mips64el, Debian's port); pyuser.targets.mips64 is
the same CPU big-endian.

The CPU, syscall instruction, a3 error flag, errno and signal numbering, TLS
and page permissions are mipsel's (pyuser.targets.mipsel).  What n64 changes,
with the sources:
- Syscalls: number in v0 (5000 + n, arch/mips/kernel/syscalls/syscall_n64.tbl
  through the generated table), six arguments in a0-a5 ($4-$9), none on the
  stack; 64-bit results (arch/mips/kernel/scall64-n64.S).
- Addresses above 2 GiB.  Unicorn runs the MIPS CPU in kernel mode with
  Status.ERL set, where the first 2 GiB of useg are unmapped (guest virtual
  = engine physical); xuseg above them goes through the CPU's TLB (QEMU's
  get_physical_address, target/mips/tlb_helper.c), which Unicorn never
  refills: a miss is a TLB refill exception.  So each new engine first runs
  a few `tlbwi`s that fill the TLB with 256 MiB identity page pairs (the
  largest PageMask QEMU 5's r4k TLB accepts: 0x1FFFE000), global and
  writable, over the whole guest address space; page permissions stay
  Unicorn regions, as on mipsel.  MIPS64R2-generic has 64 TLB entries
  (Config1.MMUSize 63) and PABITS 36: 64 pairs of 256 MiB cover 32 GiB,
  the guest address space here.  Measured: loads and stores at 4.5 GiB
  (Debian's non-PIE link address 0x120000000) and near 32 GiB work; without
  the entries they raise exception 26 (TLB refill).
- Status: KX, SX and UX enable 64-bit segments (addresses above 4 GiB are
  otherwise address errors); FR=1 gives the 32 64-bit FP registers n64 code
  uses (Linux sets FR for 64-bit tasks).
- Signal frames: n64's rt frame only (mips64_signal.py).
- ELF: Debian's mips64el is MIPS64r2; Unicorn's MIPS64R2-generic model runs
  it (the default model, R4000, lacks rdhwr: glibc's TLS reads trap).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_MIPS, UC_MODE_BIG_ENDIAN, UC_MODE_LITTLE_ENDIAN, UC_MODE_MIPS64, Uc
from unicorn import mips_const as M

from pyuser.targets.generated import mips64el_abi
from pyuser.targets.linux64 import Wide64Calls
from pyuser.targets.mips64_signal import Mips64SignalFrames
from pyuser.targets.mipsel import MipselTarget, MipsPrivateCalls
from pyuser.targets.pages import map_code_page

if TYPE_CHECKING:
    from pyuser.memory import GuestMemory
    from pyuser.targets.mipsel import MemoryProtections

ADDRESS_SPACE = 0x800000000  # 32 GiB: 64 TLB entries of two 256 MiB pages
PAIR_SIZE = 0x20000000
PAGE_MASK_256M = 0x1FFFE000
STATUS_FR = 1 << 26
STATUS_KX_SX_UX = 0xE0
ENTRYLO_FLAGS = (3 << 3) | 4 | 2 | 1  # cacheable, dirty (writable), valid, global
TLB_ENTRIES = 64
SCRATCH = 0x1000  # where the TLB set-up code runs, before guest memory exists


def _tlb_setup_code() -> list[int]:
    """dmtc0 $8,EntryHi; dmtc0 $9,EntryLo0; dmtc0 $10,EntryLo1; mtc0 $11,PageMask;
    mtc0 $12,Index; tlbwi (MIPS64 COP0 encodings)."""
    def dmtc0(rt: int, rd: int) -> int:
        return 0x40A00000 | rt << 16 | rd << 11

    def mtc0(rt: int, rd: int) -> int:
        return 0x40800000 | rt << 16 | rd << 11

    return [dmtc0(8, 10), dmtc0(9, 2), dmtc0(10, 3), mtc0(11, 5), mtc0(12, 0), 0x42000002]


class Mips64elTarget(MipselTarget):
    name = "mips64el"
    uname_machine = "mips64"
    address_space_size = ADDRESS_SPACE
    stack_top = ADDRESS_SPACE - 0x10000
    mmap_top = ADDRESS_SPACE - 0x100000000
    elf_et_dyn_base = 0x555554000
    interp_base = ADDRESS_SPACE - 0x110000000
    vdso_page = ADDRESS_SPACE - 0x1000
    default_cpu = "MIPS64R2-generic"
    cpu_models = {"MIPS64R2-generic": M.UC_CPU_MIPS64_MIPS64R2_GENERIC,
                  "5KEf": M.UC_CPU_MIPS64_5KEF, "5Kf": M.UC_CPU_MIPS64_5KF,
                  "20Kc": M.UC_CPU_MIPS64_20KC}
    abi = mips64el_abi
    syscall_arg_regs = (M.UC_MIPS_REG_A0, M.UC_MIPS_REG_A1, M.UC_MIPS_REG_A2,
                        M.UC_MIPS_REG_A3, M.UC_MIPS_REG_T0, M.UC_MIPS_REG_T1)  # $8, $9
    word_size = 8
    pairs_aligned = False
    stack_arg_words = 0
    syscall_mixins = (Wide64Calls, MipsPrivateCalls)

    def create_cpu(self, model: str) -> Uc:
        order = UC_MODE_LITTLE_ENDIAN if self.little_endian else UC_MODE_BIG_ENDIAN
        uc = Uc(UC_ARCH_MIPS, UC_MODE_MIPS64 | order)
        uc.ctl_set_cpu_model(self.cpu_models[model])
        status = uc.reg_read(M.UC_MIPS_REG_CP0_STATUS)
        uc.reg_write(M.UC_MIPS_REG_CP0_STATUS, status | STATUS_KX_SX_UX | STATUS_FR)
        self._fill_tlb(uc)
        return uc

    def _fill_tlb(self, uc: Uc) -> None:
        code = _tlb_setup_code()
        uc.mem_map(SCRATCH, 0x1000)
        uc.mem_write(SCRATCH, struct.pack(self.byte_order + f"{len(code)}I", *code))
        end = SCRATCH + 4 * len(code)
        for index in range(TLB_ENTRIES):
            base = index * PAIR_SIZE
            half = PAIR_SIZE // 2
            uc.reg_write_batch([
                (M.UC_MIPS_REG_8, base),
                (M.UC_MIPS_REG_9, (base >> 12) << 6 | ENTRYLO_FLAGS),
                (M.UC_MIPS_REG_10, ((base + half) >> 12) << 6 | ENTRYLO_FLAGS),
                (M.UC_MIPS_REG_11, PAGE_MASK_256M),
                (M.UC_MIPS_REG_12, index),
            ])
            uc.emu_start(SCRATCH, end)
        uc.mem_unmap(SCRATCH, 0x1000)
        uc.reg_write_batch([(M.UC_MIPS_REG_8 + i, 0) for i in range(5)])

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: MemoryProtections) -> None:
        # the signal return code, where Linux has its vDSO's sigreturn
        code = self.pack("II", 0x24020000 | self.abi.SYSCALLS["rt_sigreturn"], 0x0000000C)
        map_code_page(memory, self.vdso_page, code, "[vdso]")

    def signal_frames(self) -> Mips64SignalFrames:
        return Mips64SignalFrames(self, self.vdso_page)

    def disassemblers(self) -> dict[str, object]:
        import capstone

        mode = capstone.CS_MODE_MIPS64 | (capstone.CS_MODE_LITTLE_ENDIAN if self.little_endian
                                          else capstone.CS_MODE_BIG_ENDIAN)
        return {"mips": capstone.Cs(capstone.CS_ARCH_MIPS, mode)}

    def gdb_description(self):
        """None yet: mipsel's 32-bit register layout would show n64's
        registers truncated; -g says so in one line."""
        raise NotImplementedError


TARGET = Mips64elTarget
