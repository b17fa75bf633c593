"""x86_64 (amd64): everything that is x86_64-specific.

Facts used here, with their sources:
- Syscalls: `syscall`, number in rax, arguments rdi, rsi, rdx, r10, r8, r9,
  result in rax (syscall(2)).  Unicorn reports `syscall` through
  UC_HOOK_INSN (UC_X86_INS_SYSCALL) with RIP already past it.
- TLS: arch_prctl(ARCH_SET_FS) sets the FS base (pyuser.syscalls.arch.x86_64).
- 4-level paging (Intel SDM vol. 3, 4.5): PML4 -> PDPT -> PD -> PT, 4 KiB
  pages; PTE bits P(0) RW(1) US(2) A(5) D(6) NX(63); CR0.WP makes read-only
  pages read-only for ring 0 too, EFER.NXE enables NX.  Unicorn runs the guest
  at CPL 0 in long mode; with these tables stores take the fast path
  (measured: 4 ns per store vs 44 ns with paging off), page faults arrive as
  interrupt 14 with CR2 holding the address, and a 64 GiB space works.
- Exceptions: #DE 0, #DB 1, #BP 3, #UD 6 (Unicorn reports UC_ERR_INSN_INVALID
  instead), #GP 13, #PF 14.
- QEMU's x86 keeps the "exception in flight" (CPUX86State.old_exception,
  target/i386/excp_helper.c check_exception) to turn a fault during a fault
  into #DF and then a triple fault; only the delivery through the guest IDT
  clears it, which Unicorn never does.  So after one #PF the next becomes #DF
  (interrupt 8) and the one after a triple fault: a silent EXCP_HLT, no
  interrupt hook, emu_start returns OK.  ExceptionLatch clears the field (a
  CPU context save, patch, restore: ~0.7 us) after every fault.
- uc_ctl(TB_REMOVE_CACHE) translates its start address as an instruction
  fetch through the guest MMU (qemu/accel/tcg/translate-all.c
  uc_invalidate_tb): on a non-present or NX page that raises a #PF it
  swallows, leaving exception_index set -- delivered as a spurious #PF at the
  next block exit -- and invalidates nothing.  So invalidation goes through
  CODE_ALIAS, an always-executable second mapping of guest memory.
"""

from __future__ import annotations

import ctypes
import mmap
from array import array
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_X86, UC_MODE_64, Uc
from unicorn import unicorn_const as UC
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from pyuser.limits import fit_translation_buffer
from pyuser.memory import PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE
from pyuser.targets.base import Fault, SyscallConvention, Target
from pyuser.targets.generated import x86_64_abi
from pyuser.targets.pages import SharedTables
from pyuser.targets.x86_64_signal import X86_64SignalFrames

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyuser.memory import GuestMemory

ADDRESS_SPACE = 64 << 30
PAGE_TABLE_BASE = ADDRESS_SPACE  # guest-physical, above user space (PA == VA below it)
_PD_COUNT = ADDRESS_SPACE >> 30
_PDPT = PAGE_TABLE_BASE + PAGE_SIZE
_PD_BASE = _PDPT + PAGE_SIZE
_PT_BASE = _PD_BASE + _PD_COUNT * PAGE_SIZE
_ALIAS_PD_BASE = _PT_BASE + (ADDRESS_SPACE >> 12) * 8
PAGE_TABLE_SIZE = _ALIAS_PD_BASE + _PD_COUNT * PAGE_SIZE - PAGE_TABLE_BASE
# [ADDRESS_SPACE, 2 * ADDRESS_SPACE) maps all of guest memory again, present
# and executable, with 2 MiB pages: code invalidation goes through it
# (X86_64Target.create_cpu), so it never faults.  The guest can reach it
# (it runs at CPL 0); nothing there is ever handed out.
CODE_ALIAS = ADDRESS_SPACE
_PS = 0x80  # PDE: 2 MiB page

CPU_MODELS = {"qemu64": X.UC_CPU_X86_QEMU64, "core2duo": X.UC_CPU_X86_CORE2DUO,
              "nehalem": X.UC_CPU_X86_NEHALEM, "haswell": X.UC_CPU_X86_HASWELL,
              "skylake-client": X.UC_CPU_X86_SKYLAKE_CLIENT, "epyc": X.UC_CPU_X86_EPYC}

_P, _RW, _US, _A, _D = 1, 2, 4, 0x20, 0x40
_NX = 1 << 63
_TABLE = _P | _RW | _US
_EFER = 0xC0000080
_EFER_NXE = 1 << 11
_CR0_PG, _CR0_WP = 1 << 31, 1 << 16
_CR4_PAE = 1 << 5
_CR4_OSFXSR_OSXMMEXCPT = (1 << 9) | (1 << 10)

# Where CPUX86State.old_exception sits in a uc_context of Unicorn 2.1.4 (found
# by running two #DE: -1 -> 0 -> 8 at one place only); checked on each new
# CPU, which must read -1 there (x86_cpu_reset), else found again by probing.
_CONTEXT_SIZE, _OLD_EXCEPTION_OFFSET = 5608, 5536
_old_exception_offset: int | None = None


def _probe_old_exception_offset() -> int | None:
    """Find old_exception in a scratch CPU's context: two #DE make it -1, 0, 8."""
    scratch = Uc(UC_ARCH_X86, UC_MODE_64)
    scratch.mem_map(0x1000, PAGE_SIZE)
    scratch.mem_write(0x1000, b"\x31\xc9\xf7\xf1")  # xor ecx, ecx; div ecx
    scratch.hook_add(UC.UC_HOOK_INTR, lambda u, _i, _d: u.emu_stop())
    snaps = []
    for run in range(3):
        snaps.append(bytes(scratch.context_save()))
        if run < 2:
            scratch.emu_start(0x1000, 0, count=5)
    found = [off for off in range(0, min(map(len, snaps)) - 3, 4)
             if [int.from_bytes(s[off:off + 4], "little", signed=True) for s in snaps]
             == [-1, 0, 8]]
    return found[0] if len(found) == 1 else None


class ExceptionLatch:
    """Clears QEMU's x86 "exception in flight" of one CPU (see the module docstring)."""

    def __init__(self, uc: Uc) -> None:
        global _old_exception_offset
        self._uch = ctypes.c_void_p(uc._uch.value)
        size = uclib.uc_context_size(self._uch)
        self._context = ctypes.c_void_p()
        if uclib.uc_context_alloc(self._uch, ctypes.byref(self._context)) != UC.UC_ERR_OK:
            raise RuntimeError("uc_context_alloc failed")
        uclib.uc_context_save(self._uch, self._context)
        if _old_exception_offset is None:
            offset = _OLD_EXCEPTION_OFFSET
            fresh = ctypes.c_int32.from_address(self._context.value + offset).value
            if size != _CONTEXT_SIZE or fresh != -1:
                offset = _probe_old_exception_offset()
                if offset is None:
                    raise RuntimeError("cannot find old_exception (pyuser needs unicorn 2.1.4)")
            _old_exception_offset = offset
        self._cell = ctypes.c_int32.from_address(self._context.value + _old_exception_offset)

    def clear(self) -> None:
        uclib.uc_context_save(self._uch, self._context)
        if self._cell.value != -1:
            self._cell.value = -1
            uclib.uc_context_restore(self._uch, self._context)

    def __del__(self) -> None:
        if self._context:
            uclib.uc_context_free(self._context)


class X86PageTables(SharedTables):
    """Keeps 4-level x86_64 page tables in step with GuestMemory."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self._buffer = mmap.mmap(-1, PAGE_TABLE_SIZE,
                                 flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._buffer))
        self._ucs, self._table_base = [], PAGE_TABLE_BASE
        self._table_size, self._table_address = PAGE_TABLE_SIZE, address
        self.attach(uc)
        q = memoryview(self._buffer).cast("Q")
        q[0] = _PDPT | _TABLE
        q[512:512 + _PD_COUNT] = array("Q", range(_PD_BASE | _TABLE, _PT_BASE, PAGE_SIZE))
        pds = _PD_COUNT * 512
        q[1024:1024 + pds] = array("Q", range(_PT_BASE | _TABLE,
                                              _PT_BASE + pds * PAGE_SIZE, PAGE_SIZE))
        self._pte = q[(_PT_BASE - PAGE_TABLE_BASE) // 8:]
        alias = (_ALIAS_PD_BASE - PAGE_TABLE_BASE) // 8
        q[512 + _PD_COUNT:512 + 2 * _PD_COUNT] = array(
            "Q", range(_ALIAS_PD_BASE | _TABLE, _ALIAS_PD_BASE + _PD_COUNT * PAGE_SIZE, PAGE_SIZE))
        q[alias:alias + pds] = array("Q", range(_P | _RW | _US | _A | _D | _PS,
                                                ADDRESS_SPACE, 2 << 20))
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
            self._pte[start >> 12:end >> 12] = array("Q", range(start | bits, end | bits,
                                                                PAGE_SIZE))
        else:
            self.clear_pages(start, end)
        self._dirty = True

    def clear_pages(self, start: int, end: int) -> None:
        self._pte[start >> 12:end >> 12] = array("Q", bytes(8 * ((end - start) >> 12)))
        self._dirty = True

    def enable(self, uc: Uc | None = None) -> None:
        uc = uc or self._uc
        uc.reg_write(X.UC_X86_REG_CR3, PAGE_TABLE_BASE)
        uc.reg_write(X.UC_X86_REG_CR4, uc.reg_read(X.UC_X86_REG_CR4) | _CR4_PAE
                     | _CR4_OSFXSR_OSXMMEXCPT)
        uc.reg_write(X.UC_X86_REG_MSR, (_EFER, uc.reg_read(X.UC_X86_REG_MSR, _EFER) | _EFER_NXE))
        uc.reg_write(X.UC_X86_REG_CR0, uc.reg_read(X.UC_X86_REG_CR0) | _CR0_PG | _CR0_WP)


class X86_64Target(Target):  # noqa: N801 - the architecture's name
    name = "x86_64"
    pc_on_syscall_in_hook = True
    uname_machine = "x86_64"
    platform = "x86_64"
    address_space_size = ADDRESS_SPACE
    stack_top = ADDRESS_SPACE - 0x10000
    mmap_top = ADDRESS_SPACE - 0x100000000
    elf_et_dyn_base = 0x555554000
    interp_base = ADDRESS_SPACE - 0x110000000
    default_cpu = "qemu64"
    cpu_models = CPU_MODELS
    abi = x86_64_abi
    syscall_number_reg = X.UC_X86_REG_RAX
    syscall_arg_regs = (X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX,
                        X.UC_X86_REG_R10, X.UC_X86_REG_R8, X.UC_X86_REG_R9)
    syscall_return_reg = X.UC_X86_REG_RAX
    pc_reg = X.UC_X86_REG_RIP
    sp_reg = X.UC_X86_REG_RSP
    word_size = 8
    clone_tls_before_child_tid = False
    pc_advance_after_syscall_hook = 2  # helper_syscall adds the length after the hook
    syscall_families = ("wide64", "x86_64")

    def create_cpu(self, model: str) -> Uc:
        uc = Uc(UC_ARCH_X86, UC_MODE_64)
        uc.ctl_set_cpu_model(CPU_MODELS[model])
        fit_translation_buffer(uc)  # before the engine allocates it (ulimit -v)
        remove_cache = uc.ctl_remove_cache

        def ctl_remove_cache(start: int, end: int) -> None:
            if end <= ADDRESS_SPACE:
                remove_cache(start + CODE_ALIAS, end + CODE_ALIAS)

        uc.ctl_remove_cache = ctl_remove_cache  # type: ignore[method-assign]
        return uc

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> X86PageTables:
        tables = X86PageTables(uc)
        uc.mem_map_ptr(0, memory.size, 7, memory.host_base)
        return tables

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: X86PageTables) -> None:
        tables.enable()

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        uc.reg_write(X.UC_X86_REG_RSP, sp)
        uc.reg_write(X.UC_X86_REG_RIP, entry)
        uc.reg_write(X.UC_X86_REG_RDX, 0)  # no atexit function for the libc

    # `syscall` arrives through UC_HOOK_INSN; every interrupt is a fault
    syscall_convention = SyscallConvention(interrupt=None, instruction=X.UC_X86_INS_SYSCALL)

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        c = self.const
        sigsegv, sigill, sigtrap, sigfpe = (c(n) for n in ("SIGSEGV", "SIGILL", "SIGTRAP",
                                                           "SIGFPE"))
        latch = ExceptionLatch(uc)

        def fault_of(intno: int) -> Fault:
            latch.clear()  # else the next fault is a double fault
            pc = uc.reg_read(X.UC_X86_REG_RIP)
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
        uc.reg_write(X.UC_X86_REG_FS_BASE, value)

    def get_tls(self, uc: Uc) -> int:
        return uc.reg_read(X.UC_X86_REG_FS_BASE)

    def signal_frames(self) -> X86_64SignalFrames:
        return X86_64SignalFrames()

    def syscall_insn_size(self, uc: Uc) -> int:
        return 2

    def hwcap(self, model: str) -> int:
        # AT_HWCAP on x86 is CPUID.1:EDX (arch/x86/include/asm/elf.h ELF_HWCAP):
        # the qemu64 model's features
        return 0x078BFBFD

    def disassemblers(self) -> dict[str, object]:
        import capstone

        return {"x86_64": capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)}

    def disassembly_mode(self, uc: Uc) -> str:
        return "x86_64"

    def gdb_description(self):
        from pyuser.targets.x86_gdb import DESCRIPTION_64

        return DESCRIPTION_64

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


TARGET = X86_64Target
