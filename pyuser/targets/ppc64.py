"""PowerPC64, big-endian ELFv1 (ppc64, Debian's ppc64 port): the ppc target
with 64-bit registers and what differs.

Facts used here, with their sources and measurements:
- Unicorn 2.1.4 cannot select a 64-bit CPU model: `ctl_set_cpu_model` with
  any UC_CPU_PPC64_* index picks a 32-bit CPU (the index is not offset into
  QEMU's CPU list; unicorn-engine/unicorn issue #1779; measured: `std` then
  raised interrupt 96 on every one of them).  Its default 64-bit CPU is a
  POWER10 (`mfpvr` reads 0x00800100, measured) whose reset MSR lacks HV, so
  in real mode every instruction fetch raised interrupt 70 (HISI: QEMU's
  hash MMU takes a real-mode access outside hypervisor state through the
  virtual RMA, which nothing sets up).  `reg_write(MSR)` cannot set HV
  (QEMU's hreg_store_msr keeps the old HV bit), so `HypervisorState` saves
  the engine's context, sets HV in the saved MSR (found at its offset by
  writing two MSR values and comparing: 680 and 78656 in a 80072-byte
  context on 2.1.4) and restores it; a second MSR write recomputes QEMU's
  hflags.  Then real-mode addresses are engine addresses (the top 4 bits
  ignored) and `sc` raises interrupt 8 with the PC after it, as on ppc.
- MSR: SF (64-bit mode), FP, VEC, VSX.  `dcbz` clears 128 bytes on this CPU
  (measured): AT_DCACHEBSIZE/ICACHEBSIZE 128, as qemu-ppc64 passes.
- ELFv1: the ELF entry point, and a handler given to sigaction, is a function
  descriptor {entry, TOC, environment}; Linux's start_thread loads the entry
  and r2 from it, adding the load bias of the image that has it
  (arch/powerpc/kernel/process.c).
- TLS: r13.  HWCAP and HWCAP2: what qemu-ppc64 7.2 passes (0x58000580 and
  0x8ee00000: 64-bit, FPU, AltiVec, VSX, DFP, ISA 2.06 .. 3.00, measured with
  a guest that prints its auxv).
"""

from __future__ import annotations

import ctypes
import struct

from unicorn import UC_ARCH_PPC, UC_MODE_BIG_ENDIAN, UC_MODE_PPC64, Uc
from unicorn import ppc_const as P
from unicorn.unicorn_py3.unicorn import uclib

from pyuser.limits import fit_translation_buffer
from pyuser.targets.generated import ppc64_abi
from pyuser.targets.ppc import MSR_FP, MSR_VEC, PpcTarget

ADDRESS_SPACE = 0x1000000000  # 64 GiB
MSR_SF = 1 << 63
MSR_HV = 1 << 60
MSR_VSX = 1 << 23
_msr_offsets: tuple[int, ...] | None = None


class HypervisorState:
    """Sets MSR[HV] of one engine through a saved context (see the module
    docstring: reg_write cannot)."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._uch = ctypes.c_void_p(uc._uch.value)
        self._size = uclib.uc_context_size(self._uch)
        self._context = ctypes.c_void_p()
        if uclib.uc_context_alloc(self._uch, ctypes.byref(self._context)) != 0:
            raise RuntimeError("uc_context_alloc failed")

    def _offsets_of(self, msr: int) -> set[int]:
        self._uc.reg_write(P.UC_PPC_REG_MSR, msr)
        uclib.uc_context_save(self._uch, self._context)
        data = ctypes.string_at(self._context.value, self._size)
        needle = struct.pack("=Q", self._uc.reg_read(P.UC_PPC_REG_MSR))
        return {i for i in range(0, self._size - 7, 8) if data[i:i + 8] == needle}

    def enter(self, msr: int) -> None:
        """MSR := msr | HV."""
        global _msr_offsets
        if _msr_offsets is None:
            found = self._offsets_of(msr) & self._offsets_of(msr & ~(MSR_VEC | MSR_VSX))
            if not found:
                raise RuntimeError("cannot find the MSR in Unicorn's ppc64 context "
                                   "(pyuser needs unicorn 2.1.4)")
            _msr_offsets = tuple(sorted(found))
        self._uc.reg_write(P.UC_PPC_REG_MSR, msr)
        uclib.uc_context_save(self._uch, self._context)
        for offset in _msr_offsets:
            cell = ctypes.c_uint64.from_address(self._context.value + offset)
            cell.value |= MSR_HV
        uclib.uc_context_restore(self._uch, self._context)
        # QEMU keeps the HV bit it has now, and recomputes its hflags
        self._uc.reg_write(P.UC_PPC_REG_MSR, msr | MSR_HV)
        if not self._uc.reg_read(P.UC_PPC_REG_MSR) & MSR_HV:
            raise RuntimeError("could not set MSR[HV] on Unicorn's ppc64 CPU")

    def __del__(self) -> None:
        if self._context:
            uclib.uc_context_free(self._context)


class Ppc64Target(PpcTarget):
    name = "ppc64"
    uname_machine = "ppc64"
    address_space_size = ADDRESS_SPACE
    stack_top = ADDRESS_SPACE - 0x10000
    mmap_top = ADDRESS_SPACE - 0x100000000
    elf_et_dyn_base = 0x100000000  # ELF_ET_DYN_BASE of a 64-bit PowerPC task
    interp_base = ADDRESS_SPACE - 0x110000000
    vdso_page = ADDRESS_SPACE - 0x1000
    default_cpu = "power10"
    cpu_models = {"power10": -1}  # Unicorn's default (see the module docstring)
    abi = ppc64_abi
    tls_reg = P.UC_PPC_REG_13
    word_size = 8
    pairs_aligned = False
    mode = UC_MODE_PPC64
    msr_bits = MSR_SF | MSR_FP | MSR_VEC | MSR_VSX
    cache_block = 128
    syscall_families = ("wide64",)

    def create_cpu(self, model: str) -> Uc:
        uc = Uc(UC_ARCH_PPC, self.mode | UC_MODE_BIG_ENDIAN)
        fit_translation_buffer(uc)
        HypervisorState(uc).enter(self.msr_bits)
        return uc

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        super().set_entry_state(uc, entry, sp)
        # ELFv1: the entry point is a function descriptor (entry, TOC)
        code, toc = self.unpack("QQ", bytes(uc.mem_read(entry, 16)))
        if self.load_bias:
            code, toc = code + self.load_bias, toc + self.load_bias
        uc.reg_write(P.UC_PPC_REG_2, toc)
        uc.reg_write(P.UC_PPC_REG_PC, code)

    def hwcap(self, model: str) -> int:
        h = self.abi.HWCAP
        return sum(h[f"PPC_FEATURE_{n}"] for n in (
            "64", "HAS_FPU", "HAS_ALTIVEC", "HAS_DFP", "ARCH_2_06", "HAS_VSX"))

    def hwcap2(self, model: str) -> int:
        h = self.abi.HWCAP
        return sum(h[f"PPC_FEATURE2_{n}"] for n in (
            "ARCH_2_07", "ISEL", "TAR", "VEC_CRYPTO", "ARCH_3_00", "HAS_IEEE128", "DARN"))


TARGET = Ppc64Target
