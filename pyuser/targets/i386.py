"""i386 (x86, 32-bit, i686): everything that is i386-specific.

Facts used here, with their sources:
- Syscalls: `int $0x80`, number in eax, arguments ebx, ecx, edx, esi, edi,
  ebp, result in eax (syscall(2)); 64-bit arguments in two consecutive
  registers, no alignment.  Unicorn reports `int $0x80` as interrupt 0x80
  with EIP already past it.  A static glibc without AT_SYSINFO calls
  `int $0x80` itself (no vsyscall page is needed).
- MMU: PAE paging (CR4.PAE, EFER.NXE, CR0.PG|WP; Intel SDM vol. 3, 4.4):
  PDPT -> 4 page directories -> page tables, 4 KiB pages, NX in bit 63.
  The guest runs at CPL 0 (Unicorn's UC_MODE_32 reset state), so read-only
  relies on CR0.WP.  User space is [0, 3 GiB) as on Linux/i386.
- TLS: set_thread_area(struct user_desc *) installs a GDT entry (6-8,
  GDT_ENTRY_TLS_MIN..MAX, arch/x86/include/asm/segment.h) that glibc then
  loads into %gs.  pyuser keeps a GDT page at linear 0xFFFFF000 (GDTR) and
  writes the 8-byte descriptors (SDM vol. 3, 3.4.5) itself.
- Unicorn's UC_MODE_32 reset leaves SS without the B (32-bit) flag while
  its hflags say 32-bit stack; the first segment load (glibc's %gs)
  recomputes the flags from SS and pushes then wrap at 64 KiB.  So SS is
  loaded from a flat 32-bit GDT descriptor at start.
- Exceptions as on x86_64 (#PF 14 with CR2, #GP 13, #DE 0, #BP 3; #UD makes
  emu_start fail with UC_ERR_INSN_INVALID), with the same QEMU
  "exception in flight" latch to clear (pyuser.targets.x86_64.ExceptionLatch).
- Code invalidation: there is no room for an executable alias of user space
  in 4 GiB, so uc_ctl(TB_REMOVE_CACHE) is only given runs of pages that are
  executable now (anything else would raise and swallow a #PF, see
  x86_64.py); every way to execute a page again goes through map/mprotect
  with PROT_EXEC, which invalidates then.
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from array import array
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_X86, UC_MODE_32, Uc
from unicorn import x86_const as X

from pyuser.limits import fit_translation_buffer
from pyuser.memory import PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE
from pyuser.syscalls.types import SyscallError
from pyuser.targets.base import Fault, SyscallConvention, Target
from pyuser.targets.generated import i386_abi
from pyuser.targets.i386_signal import I386SignalFrames
from pyuser.targets.pages import SharedTables
from pyuser.targets.x86_64 import ExceptionLatch

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyuser.memory import GuestMemory

ADDRESS_SPACE = 0xC0000000
LINEAR = 1 << 32
TABLES_PA = ADDRESS_SPACE  # guest-physical, right above user space (PA == VA below)
_PD_BASE = TABLES_PA + PAGE_SIZE  # 4 page directories after the PDPT page
_PT_BASE = _PD_BASE + 4 * PAGE_SIZE
_GDT_PA = _PT_BASE + (LINEAR >> 12) * 8
TABLES_SIZE = _GDT_PA + PAGE_SIZE - TABLES_PA
GDT_LINEAR = 0xFFFFF000
GDT_TLS_MIN, GDT_TLS_MAX = 6, 8
# flat 4 GiB segments at Linux/i386's GDT slots (asm/segment.h): kernel CS 12,
# kernel DS 13, user CS 14, user DS 15
_FLAT_SEGMENTS = {12: 0x00CF9B000000FFFF, 13: 0x00CF93000000FFFF,
                  14: 0x00CFFB000000FFFF, 15: 0x00CFF3000000FFFF}
_KERNEL_DS = 13 << 3

CPU_MODELS = {"qemu32": X.UC_CPU_X86_QEMU32, "pentium3": X.UC_CPU_X86_PENTIUM3,
              "core2duo": X.UC_CPU_X86_CORE2DUO, "nehalem": X.UC_CPU_X86_NEHALEM,
              "haswell": X.UC_CPU_X86_HASWELL}

_P, _RW, _US, _A, _D = 1, 2, 4, 0x20, 0x40
_NX = 1 << 63
_TABLE = _P | _RW | _US
_EFER = 0xC0000080
_EFER_NXE = 1 << 11
_CR0_PG, _CR0_WP = 1 << 31, 1 << 16
_CR4_PAE = 1 << 5
_CR4_OSFXSR_OSXMMEXCPT = (1 << 9) | (1 << 10)


class PaePageTables(SharedTables):
    """Keeps PAE page tables (and the GDT page) in step with GuestMemory."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._buffer = mmap.mmap(-1, TABLES_SIZE,
                                 flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._buffer))
        self._ucs, self._table_base = [], TABLES_PA
        self._table_size, self._table_address = TABLES_SIZE, address
        self.attach(uc)
        q = memoryview(self._buffer).cast("Q")
        q[0:4] = array("Q", (_PD_BASE + i * PAGE_SIZE | _P for i in range(4)))  # PDPTEs
        q[512:512 + 2048] = array("Q", (_PT_BASE + i * PAGE_SIZE | _TABLE for i in range(2048)))
        self._pte = q[(_PT_BASE - TABLES_PA) // 8:(_GDT_PA - TABLES_PA) // 8]
        self._pte[GDT_LINEAR >> 12] = _GDT_PA | _P | _RW | _A | _D | _NX
        self.gdt = memoryview(self._buffer)[_GDT_PA - TABLES_PA:]
        self._dirty = False

    @staticmethod
    def entry_bits(prot: int) -> int:
        if not prot & (PROT_READ | PROT_WRITE | PROT_EXEC):
            return 0
        return (_P | _US | _A | _D | (_RW if prot & PROT_WRITE else 0)
                | (0 if prot & PROT_EXEC else _NX))

    def set_pages(self, start: int, end: int, prot: int) -> None:
        bits = self.entry_bits(prot)
        if bits:
            self._pte[start >> 12:end >> 12] = array("Q", (p | bits for p in
                                                           range(start, end, PAGE_SIZE)))
        else:
            self.clear_pages(start, end)
        self._dirty = True

    def clear_pages(self, start: int, end: int) -> None:
        self._pte[start >> 12:end >> 12] = array("Q", bytes(8 * ((end - start) >> 12)))
        self._dirty = True

    def executable_runs(self, start: int, end: int) -> list[tuple[int, int]]:
        runs: list[tuple[int, int]] = []
        for page in range(start >> 12, min(end, ADDRESS_SPACE) >> 12):
            entry = self._pte[page]
            if entry & _P and not entry & _NX:
                if runs and runs[-1][1] == page << 12:
                    runs[-1] = (runs[-1][0], (page + 1) << 12)
                else:
                    runs.append((page << 12, (page + 1) << 12))
        return runs

    def enable(self, uc: Uc | None = None) -> None:
        uc = uc or self._uc
        for entry, descriptor in _FLAT_SEGMENTS.items():
            self.gdt[8 * entry:8 * entry + 8] = struct.pack("<Q", descriptor)
        uc.reg_write(X.UC_X86_REG_GDTR, (0, GDT_LINEAR, PAGE_SIZE - 1, 0))
        uc.reg_write(X.UC_X86_REG_CR3, TABLES_PA)
        uc.reg_write(X.UC_X86_REG_CR4, uc.reg_read(X.UC_X86_REG_CR4) | _CR4_PAE
                     | _CR4_OSFXSR_OSXMMEXCPT)
        uc.reg_write(X.UC_X86_REG_MSR, (_EFER, uc.reg_read(X.UC_X86_REG_MSR, _EFER) | _EFER_NXE))
        uc.reg_write(X.UC_X86_REG_CR0, uc.reg_read(X.UC_X86_REG_CR0) | _CR0_PG | _CR0_WP)
        uc.reg_write(X.UC_X86_REG_SS, _KERNEL_DS)

    def write_tls_entry(self, mem: GuestMemory, u_info: int) -> int:
        """set_thread_area: install the struct user_desc at u_info in the GDT;
        returns the entry number."""
        entry, base, limit, flags = struct.unpack("<iIII", mem.read(u_info, 16))
        if entry == -1:
            entry = GDT_TLS_MIN
            for candidate in range(GDT_TLS_MIN, GDT_TLS_MAX + 1):
                if not any(self.gdt[8 * candidate:8 * candidate + 8]):
                    entry = candidate
                    break
            mem.write(u_info, struct.pack("<i", entry))
        if not GDT_TLS_MIN <= entry <= GDT_TLS_MAX:
            raise SyscallError("EINVAL")
        seg_32bit, contents = flags & 1, (flags >> 1) & 3
        read_exec_only, limit_in_pages = (flags >> 3) & 1, (flags >> 4) & 1
        not_present, useable = (flags >> 5) & 1, (flags >> 6) & 1
        if not base and not limit and flags & ~(1 << 5) == 0x8:  # LDT_empty: clear it
            self.gdt[8 * entry:8 * entry + 8] = bytes(8)
            return entry
        kind = 0x1 | ((read_exec_only ^ 1) << 1) | (contents << 2)  # accessed, writable
        low = (limit & 0xFFFF) | ((base & 0xFFFF) << 16)
        high = (((base >> 16) & 0xFF) | (kind << 8) | (1 << 12) | (3 << 13)
                | ((not_present ^ 1) << 15) | (limit & 0xF0000) | (useable << 20)
                | (seg_32bit << 22) | (limit_in_pages << 23) | (base & 0xFF000000))
        self.gdt[8 * entry:8 * entry + 8] = struct.pack("<II", low, high)
        return entry


def _invalidate_executable_only(uc: Uc, tables: PaePageTables) -> None:
    """uc_ctl(TB_REMOVE_CACHE) only on runs of executable pages (module docstring)."""
    remove_cache = uc.ctl_remove_cache

    def ctl_remove_cache(start: int, end: int) -> None:
        for run_start, run_end in tables.executable_runs(start, end):
            remove_cache(run_start, run_end)

    uc.ctl_remove_cache = ctl_remove_cache  # type: ignore[method-assign]


class I386Target(Target):
    name = "i386"
    uname_machine = "i686"
    platform = "i686"
    address_space_size = ADDRESS_SPACE
    stack_top = 0xBF000000
    mmap_top = 0xB6000000
    elf_et_dyn_base = 0x00400000
    interp_base = 0xB6F00000
    default_cpu = "core2duo"  # qemu32 has no NX: EFER.NXE stays clear
    cpu_models = CPU_MODELS
    abi = i386_abi
    syscall_number_reg = X.UC_X86_REG_EAX
    syscall_arg_regs = (X.UC_X86_REG_EBX, X.UC_X86_REG_ECX, X.UC_X86_REG_EDX,
                        X.UC_X86_REG_ESI, X.UC_X86_REG_EDI, X.UC_X86_REG_EBP)
    syscall_return_reg = X.UC_X86_REG_EAX
    pc_reg = X.UC_X86_REG_EIP
    sp_reg = X.UC_X86_REG_ESP
    word_size = 4
    syscall_families = ("i386",)
    # arch/x86/entry/syscalls/syscall_32.tbl: 90 i386 mmap sys_old_mmap
    syscall_entry_points = {"mmap": "old_mmap"}

    def create_cpu(self, model: str) -> Uc:
        uc = Uc(UC_ARCH_X86, UC_MODE_32)
        uc.ctl_set_cpu_model(CPU_MODELS[model])
        fit_translation_buffer(uc)  # before the engine allocates it (ulimit -v)
        return uc

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> PaePageTables:
        tables = PaePageTables(uc)
        self._tables, self._memory = tables, memory  # for set_tls (clone)
        uc.mem_map_ptr(0, memory.size, 7, memory.host_base)
        _invalidate_executable_only(uc, tables)
        return tables

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: PaePageTables) -> None:
        tables.enable()

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        uc.reg_write(X.UC_X86_REG_ESP, sp)
        uc.reg_write(X.UC_X86_REG_EIP, entry)
        uc.reg_write(X.UC_X86_REG_EDX, 0)  # no atexit function for the libc
        # Linux starts a process with fninit's x87 state (double-extended
        # precision); Unicorn's reset leaves the control word 0 (single)
        uc.reg_write(X.UC_X86_REG_FPCW, 0x37F)
        uc.reg_write(X.UC_X86_REG_MXCSR, 0x1F80)

    syscall_convention = SyscallConvention(interrupt=0x80)  # int $0x80

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        c = self.const
        sigsegv, sigill, sigtrap, sigfpe = (c(n) for n in ("SIGSEGV", "SIGILL", "SIGTRAP",
                                                           "SIGFPE"))
        latch = ExceptionLatch(uc)

        def fault_of(intno: int) -> Fault:
            latch.clear()  # else the next fault is a double fault
            pc = uc.reg_read(X.UC_X86_REG_EIP)
            if intno == 14:
                return Fault(sigsegv, 1, uc.reg_read(X.UC_X86_REG_CR2), pc, 14)
            if intno == 13:
                return Fault(sigsegv, 0x80, 0, pc, 13)  # SI_KERNEL
            if intno == 0:
                return Fault(sigfpe, 1, pc, pc, 0)  # FPE_INTDIV
            if intno in (1, 3):
                return Fault(sigtrap, 0x80 if intno == 3 else 2, 0, pc, intno)
            return Fault(sigill, 2, pc, pc, 6)  # ILL_ILLOPN

        return fault_of

    def set_tls(self, uc: Uc, value: int) -> None:
        """clone(CLONE_SETTLS): value points at a struct user_desc.

        All engines share one GDT, so the entry is written and loaded into
        the new engine's %gs at once: each engine keeps the base in its
        segment cache (glibc does not reload %gs in a running thread).
        """
        entry = self._tables.write_tls_entry(self._memory, value)
        uc.reg_write(X.UC_X86_REG_GS, (entry << 3) | 3)

    def signal_frames(self) -> I386SignalFrames:
        return I386SignalFrames()

    def syscall_insn_size(self, uc: Uc) -> int:
        return 2

    def hwcap(self, model: str) -> int:
        # CPUID.1:EDX of the qemu32 model (arch/x86/include/asm/elf.h ELF_HWCAP)
        return 0x0781ABFD

    def disassemblers(self) -> dict[str, object]:
        import capstone

        return {"i386": capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)}

    def disassembly_mode(self, uc: Uc) -> str:
        return "i386"

    def gdb_description(self):
        from pyuser.targets.x86_gdb import DESCRIPTION_32

        return DESCRIPTION_32

    def cpu_dump(self, uc: Uc) -> str:
        """-d cpu, in qemu's x86 layout: the general registers four to a line,
        then the PC and the flags (D, O, S, Z, A, P, C)."""
        wide = self.word_size == 8
        names = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
                 *(f"r{i}" for i in range(8, 16))] if wide else \
            ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp"]
        digits = 16 if wide else 8
        cells = [f"{n.upper():<3}={uc.reg_read(getattr(X, f'UC_X86_REG_{n.upper()}')):0{digits}x}"
                 for n in names]
        lines = [" ".join(cells[i:i + 4]) for i in range(0, len(cells), 4)]
        flags = uc.reg_read(X.UC_X86_REG_EFLAGS)
        shown = "".join(c if flags >> bit & 1 else "-"
                        for c, bit in zip("DOSZAPC", (10, 11, 7, 6, 4, 2, 0), strict=True))
        pc = uc.reg_read(X.UC_X86_REG_RIP if wide else X.UC_X86_REG_EIP)
        lines.append(f"{'RIP' if wide else 'EIP'}={pc:0{digits}x} {'RFL' if wide else 'EFL'}="
                     f"{flags:08x} [{shown}] CPL=3")
        return "\n".join(lines)


TARGET = I386Target
