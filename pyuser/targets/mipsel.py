"""MIPS o32, little-endian (mipsel); pyuser.targets.mips is the same CPU big-endian.

Facts used here, with their sources:
- Syscalls: `syscall`, number in v0 (4000 + n), arguments a0-a3 and the 5th
  to 8th at sp+16..sp+28 (the o32 argument save area); the result is in v0,
  with a3 = 0, or a *positive* errno in v0 with a3 = 1 (arch/mips/kernel/scall32-o32.S).
  Unicorn delivers `syscall` as interrupt 17 (QEMU's EXCP_SYSCALL) with the
  PC already after it.  MIPS errno numbers differ from the generic ones
  (the generated tables map them by name).
- Unicorn's MIPS has no guest-walked page tables (the TLB is software
  refilled), so page permissions are Unicorn regions over the host
  reservation, one per run of same-permission pages (MemoryProtections):
  stores take Unicorn's slow path (~20 ns per store-loop iteration measured,
  vs 3-5 ns on the targets with guest page tables), and a fault is a failed
  emu_start (UC_ERR_*_UNMAPPED / *_PROT), reported as SIGSEGV at the PC.
- `ctl_set_cpu_model` crashes the process for MIPS32 in this build (the
  24Kf index segfaulted): the reset model is used.
- TLS: set_thread_area writes CP0_USERLOCAL, which glibc reads with
  `rdhwr $3, $29`.
- __builtin_trap is `teq $0, $0`: the trap exception, SIGTRAP as on Linux.
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import re
import struct
from types import ModuleType
from typing import TYPE_CHECKING

from unicorn import UC_ARCH_MIPS, UC_MODE_BIG_ENDIAN, UC_MODE_LITTLE_ENDIAN, UC_MODE_MIPS32, Uc
from unicorn import mips_const as M
from unicorn import unicorn_const as UC
from unicorn.unicorn_py3.unicorn import uclib

from pyuser.limits import fit_translation_buffer
from pyuser.memory import PROT_EXEC, PROT_READ, PROT_WRITE
from pyuser.targets.base import Fault, SyscallConvention, Target
from pyuser.targets.generated import mipsel_abi
from pyuser.targets.mips_signal import MipsSignalFrames
from pyuser.targets.pages import map_code_page
from pyuser.targets.siginfo import SigInfo

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyuser.memory import GuestMemory

ADDRESS_SPACE = 0x80000000  # kuseg
VDSO_PAGE = 0x7FFF0000

_EXCP_SYSCALL = 17
_EXCP_BREAK = 18
_EXCP_RI = 20
_EXCP_OVERFLOW = 21
_EXCP_TRAP = 22
_EXCP_FPE = 23


def access_address(uc: Uc, memory: GuestMemory, pc: int, byte_order: str,
                   mask: int = 0xFFFFFFFF) -> int:
    """The data address of the load or store at pc: base register + 16-bit offset
    (every MIPS32 load/store, FP and ll/sc included, is I-type; MIPS64's ld/sd
    too); `mask` is the word size's."""
    try:
        (insn,) = struct.unpack(byte_order + "I", memory.read(pc, 4))
    except Exception:  # noqa: BLE001 - an unreadable PC has no data address
        return 0
    if not 0x20 <= insn >> 26 <= 0x3F:
        return 0
    base = (insn >> 21) & 31
    offset = insn & 0xFFFF
    offset -= (offset & 0x8000) << 1
    value = uc.reg_read(M.UC_MIPS_REG_0 + base) if base else 0
    return (value + offset) & mask


# Unicorn 2.1.4's MIPS translator allocates a TCG temporary for every
# instruction of a block and never frees it (unicorn-engine/unicorn issue
# #2240): a block of more than ~370 straight-line instructions overflows the
# 512 temporaries and crashes the host process inside tcg_emit_op (measured:
# 360 nops in a row run, 380 crash, on MIPS32 and MIPS64 alike; OpenSSL's
# unrolled SHA-256 under python3's hashlib hit it).  A code hook makes the
# translator emit a helper call per instruction, so the op buffer (4000 ops)
# ends the block long before the temporaries run out (1000 nops then run).
# So every run of at least STRAIGHT_RUN_WORDS instructions without a branch
# in code that becomes executable gets a code hook whose callback is a C
# function that ignores its arguments (libc's abs): no Python per instruction.
STRAIGHT_RUN_WORDS = 200
_BRANCH_OPCODES = (1, 2, 3, 4, 5, 6, 7, 20, 21, 22, 23)  # REGIMM, J, JAL, B*, B*L
_NON_BRANCH_BYTE = re.compile(
    b"[" + re.escape(bytes(b for b in range(256) if b >> 2 not in _BRANCH_OPCODES))
    + b"]{%d,}" % STRAIGHT_RUN_WORDS)
_NOOP_CODE_CALLBACK = ctypes.cast(ctypes.CDLL(None).abs, ctypes.c_void_p)


def straight_runs(code: bytes, big_endian: bool) -> list[tuple[int, int]]:
    """(first, end) byte offsets of the runs of at least STRAIGHT_RUN_WORDS
    instructions in `code` whose major opcode is no branch or jump.  Runs that
    are mostly zero words are zero-filled memory (nops only), never code that
    runs: left out, or the loader's freshly mapped, still empty segments would
    be hooked whole (every code hook costs a helper call per instruction)."""
    opcodes = code[0::4] if big_endian else code[3::4]
    runs = []
    for m in _NON_BRANCH_BYTE.finditer(opcodes):
        first, end = 4 * m.start(), 4 * m.end()
        if code.count(b"\0\0\0\0", first, end) * 8 < end - first:
            runs.append((first, end))
    return runs


def hook_code_range(uc: Uc, first: int, last: int) -> None:
    """A do-nothing native code hook over [first, last] (inclusive)."""
    handle = ctypes.c_size_t()
    status = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC.UC_HOOK_CODE,
                               _NOOP_CODE_CALLBACK, None, ctypes.c_uint64(first),
                               ctypes.c_uint64(last))
    if status != UC.UC_ERR_OK:
        raise RuntimeError(f"uc_hook_add(code) failed: {status}")


def _perms(prot: int) -> int:
    return ((UC.UC_PROT_READ if prot & (PROT_READ | PROT_WRITE | PROT_EXEC) else 0)
            | (UC.UC_PROT_WRITE if prot & PROT_WRITE else 0)
            | (UC.UC_PROT_EXEC if prot & PROT_EXEC else 0))


class MemoryProtections:
    """GuestMemory's page permissions as Unicorn regions, in the process's engine.

    The engine's cost per region change grows with the number of regions and
    `mem_protect` inside a region splits it, which costs more again (measured
    in Unicorn 2.1: 3,000 page-sized mem_protects into one 2 GiB region took
    150 s).  So only accessible pages are mapped, each maximal run of pages
    with the same permissions as one `mem_map_ptr` region over the host
    reservation; a change unmaps the runs it touches (whole, never split) and
    maps the new runs, merged with same-permission neighbours.  PROT_NONE and
    unmapped pages have no region: touching them is a failed emu_start
    (UC_ERR_*_UNMAPPED), reported as SIGSEGV.
    """

    def __init__(self, uc: Uc, host_base: int, big_endian: bool = False, *,
                 scan_code: bool = True) -> None:
        self._ucs = [uc]
        self._host_base = host_base
        self._big_endian = big_endian
        self._scan_code = scan_code  # MIPS code: hook long straight runs
        self._hooked_runs: set[tuple[int, int]] = set()  # see STRAIGHT_RUN_WORDS
        # the regions mapped in the engine: sorted, disjoint (start, end, perms)
        self._starts: list[int] = []
        self._runs: list[tuple[int, int, int]] = []

    def set_pages(self, start: int, end: int, prot: int) -> None:
        self._apply(start, end, _perms(prot))
        if prot & PROT_EXEC and self._scan_code:
            self._hook_straight_runs(start, end)

    def hook_executable_runs(self) -> None:
        """Look for straight runs in all executable memory again (after the
        loader has copied the program's segments in)."""
        for lo, hi, perms in list(self._runs):
            if perms & UC.UC_PROT_EXEC:
                self._hook_straight_runs(lo, hi)

    def _hook_straight_runs(self, start: int, end: int) -> None:
        code = ctypes.string_at(self._host_base + start, end - start)
        for first, stop in straight_runs(code, self._big_endian):
            run = (start + first, start + stop - 1)
            if run not in self._hooked_runs:
                self._hooked_runs.add(run)
                for uc in self._ucs:
                    hook_code_range(uc, *run)

    def clear_pages(self, start: int, end: int) -> None:
        self._apply(start, end, UC.UC_PROT_NONE)

    def flush(self) -> None:
        """Region changes take effect at once."""

    def _apply(self, start: int, end: int, perms: int) -> None:
        runs = self._runs
        # the runs that overlap [start, end), and the same-permission runs that
        # touch it (to merge with)
        first = bisect.bisect_left(self._starts, start)
        if first:
            _, before_end, before_perms = runs[first - 1]
            if before_end > start or (before_end == start and before_perms == perms):
                first -= 1
        last = first
        while last < len(runs) and (runs[last][0] < end or
                                    (runs[last][0] == end and runs[last][2] == perms)):
            last += 1
        old = runs[first:last]
        # what stays of those runs outside [start, end), and the change itself
        pieces = [(lo, min(hi, start), p) for lo, hi, p in old if lo < start]
        pieces.append((start, end, perms))
        pieces += [(max(lo, end), hi, p) for lo, hi, p in old if hi > end]
        new: list[tuple[int, int, int]] = []
        for lo, hi, p in pieces:
            if lo >= hi or p == UC.UC_PROT_NONE:
                continue
            if new and new[-1][1] == lo and new[-1][2] == p:
                new[-1] = (new[-1][0], hi, p)
            else:
                new.append((lo, hi, p))
        if new == old:
            return
        for uc in self._ucs:
            for lo, hi, _ in old:
                uc.mem_unmap(lo, hi - lo)
            for lo, hi, p in new:
                uc.mem_map_ptr(lo, hi - lo, p, self._host_base + lo)
        runs[first:last] = new
        self._starts[first:last] = [lo for lo, _, _ in new]


@functools.cache
def _si_codes_from_host(abi: ModuleType) -> dict[int, int]:
    """The host's negative si_codes -> the target's, where they differ (by name)."""
    from pyuser.targets.generated import x86_64_abi  # the host's; ~9 ms, on first use

    host = x86_64_abi.CONST
    return {host[name]: value for name, value in abi.CONST.items()
            if name.startswith("SI_") and value < 0 and name in host and host[name] != value}


class MipselTarget(Target):
    name = "mipsel"
    uname_machine = "mips"
    platform = ""  # Linux/MIPS passes none for ordinary CPUs (ELF_PLATFORM NULL)
    address_space_size = ADDRESS_SPACE
    stack_top = 0x7F000000
    mmap_top = 0x77000000
    elf_et_dyn_base = 0x00400000
    interp_base = 0x77F00000
    default_cpu = "24Kf"
    cpu_models = {"24Kf": 0}  # Unicorn's reset model (see the module docstring)
    abi = mipsel_abi
    syscall_number_reg = M.UC_MIPS_REG_V0
    syscall_arg_regs = (M.UC_MIPS_REG_A0, M.UC_MIPS_REG_A1, M.UC_MIPS_REG_A2,
                        M.UC_MIPS_REG_A3)
    syscall_return_reg = M.UC_MIPS_REG_V0
    pc_reg = M.UC_MIPS_REG_PC
    sp_reg = M.UC_MIPS_REG_SP
    word_size = 4
    pairs_aligned = True
    siginfo_code_offset = 4

    def encode_siginfo(self, info: SigInfo) -> bytes:
        """MIPS numbers SI_TIMER, SI_MESGQ and SI_ASYNCIO its own way, and its
        siginfo_t has si_code before si_errno (arch/mips/include/uapi/asm/siginfo.h,
        __ARCH_HAS_SWAPPED_SIGINFO)."""
        data = super().encode_siginfo(info)
        code = _si_codes_from_host(self.abi).get(info.code)
        if code is not None:
            data = data[:8] + code.to_bytes(4, self.byteorder, signed=True) + data[12:]
        return data[:4] + data[8:12] + data[4:8] + data[12:]
    stack_t_size_before_flags = True
    syscall_families = ("mips",)
    # o32 passes the 5th to 8th syscall arguments at sp+16..sp+28 (n64: none)
    stack_arg_words = 4
    # the page holding the signal return code (where Linux has its vDSO)
    vdso_page = VDSO_PAGE

    def __init__(self) -> None:
        super().__init__()
        self._tables: MemoryProtections | None = None
        # syscall: the result in v0, a3 set for an error (then v0 holds the
        # positive errno); o32's arguments 5-8 on the stack
        # (arch/mips/kernel/scall32-o32.S)
        self.syscall_convention = SyscallConvention(
            interrupt=_EXCP_SYSCALL, error_reg=M.UC_MIPS_REG_A3,
            stack_arg_words=self.stack_arg_words)

    def create_cpu(self, model: str) -> Uc:
        order = UC_MODE_LITTLE_ENDIAN if self.little_endian else UC_MODE_BIG_ENDIAN
        uc = Uc(UC_ARCH_MIPS, UC_MODE_MIPS32 | order)
        fit_translation_buffer(uc)  # before the engine allocates it (ulimit -v)
        return uc

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> MemoryProtections:
        self._tables = MemoryProtections(uc, memory.host_base, not self.little_endian)
        return self._tables

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: MemoryProtections) -> None:
        # the signal return code, where Linux has its vDSO's sigreturn
        li_v0 = 0x24020000  # addiu v0, zero, imm
        code = self.pack("4I", li_v0 | self.abi.SYSCALLS["sigreturn"], 0x0000000C,
                           li_v0 | self.abi.SYSCALLS["rt_sigreturn"], 0x0000000C)
        map_code_page(memory, self.vdso_page, code, "[vdso]")

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        # the program and its interpreter are in memory now (see STRAIGHT_RUN_WORDS)
        if self._tables is not None:
            self._tables.hook_executable_runs()
        uc.reg_write(M.UC_MIPS_REG_SP, sp)
        uc.reg_write(M.UC_MIPS_REG_PC, entry)
        uc.reg_write(M.UC_MIPS_REG_T9, entry)  # PIC entry code computes gp from t9
        uc.reg_write(M.UC_MIPS_REG_V0, 0)  # no atexit function for the libc

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        c = self.const
        sigsegv, sigill, sigtrap, sigfpe = (c(n) for n in ("SIGSEGV", "SIGILL", "SIGTRAP",
                                                           "SIGFPE"))

        def fault_of(intno: int) -> Fault:
            pc = uc.reg_read(M.UC_MIPS_REG_PC)
            if intno in (_EXCP_BREAK, _EXCP_TRAP):
                return Fault(sigtrap, 1, pc, pc, intno)
            if intno in (_EXCP_OVERFLOW, _EXCP_FPE):
                return Fault(sigfpe, 0, pc, pc, intno)
            if intno == _EXCP_RI:
                return Fault(sigill, 1, pc, pc, intno)
            return Fault(sigsegv, 1, pc, pc, intno)

        return fault_of


    def engine_fault(self, uc: Uc, error: int, memory: GuestMemory) -> Fault | None:
        pc = uc.reg_read(M.UC_MIPS_REG_PC)
        if error in (UC.UC_ERR_INSN_INVALID, UC.UC_ERR_EXCEPTION):
            return Fault(self.const("SIGILL"), 1, pc, pc)
        if error in (UC.UC_ERR_FETCH_UNMAPPED, UC.UC_ERR_FETCH_PROT):
            return Fault(self.const("SIGSEGV"), 1, pc, pc)
        return Fault(self.const("SIGSEGV"), 1,
                     access_address(uc, memory, pc, self.byte_order, self.word_mask), pc)

    def set_tls(self, uc: Uc, value: int) -> None:
        uc.reg_write(M.UC_MIPS_REG_CP0_USERLOCAL, value)

    def get_tls(self, uc: Uc) -> int:
        return uc.reg_read(M.UC_MIPS_REG_CP0_USERLOCAL)

    def signal_frames(self) -> MipsSignalFrames:
        return MipsSignalFrames(self, self.vdso_page, self.vdso_page + 8)

    def restore_after_rewind(self, uc: Uc, interrupted: tuple[int, ...]) -> None:
        """Put back a3, which the EINTR result overwrote with the error flag."""
        uc.reg_write(M.UC_MIPS_REG_A3, interrupted[2] if len(interrupted) > 2 else 0)

    def set_clone_child_result(self, uc: Uc) -> None:
        uc.reg_write(M.UC_MIPS_REG_V0, 0)
        uc.reg_write(M.UC_MIPS_REG_A3, 0)  # no error

    def syscall_insn_size(self, uc: Uc) -> int:
        return 4

    def disassemblers(self) -> dict[str, object]:
        import capstone

        mode = capstone.CS_MODE_MIPS32 | (capstone.CS_MODE_LITTLE_ENDIAN if self.little_endian
                                          else capstone.CS_MODE_BIG_ENDIAN)
        return {"mips": capstone.Cs(capstone.CS_ARCH_MIPS, mode)}

    def disassembly_mode(self, uc: Uc) -> str:
        return "mips"

    def gdb_description(self):
        from pyuser.targets.mips_gdb import description

        return description(self.little_endian)

    def cpu_dump(self, uc: Uc) -> str:
        """-d cpu, in qemu-mips's layout: pc, HI, LO, then the GPRs four to a line."""
        names = ["r0", "at", "v0", "v1", "a0", "a1", "a2", "a3", *(f"t{i}" for i in range(8)),
                 *(f"s{i}" for i in range(8)), "t8", "t9", "k0", "k1", "gp", "sp", "s8", "ra"]
        w = 2 * self.word_size  # hex digits: 8, or 16 on MIPS64
        lines = [f"pc=0x{uc.reg_read(M.UC_MIPS_REG_PC):0{w}x} "
                 f"HI=0x{uc.reg_read(M.UC_MIPS_REG_HI):0{w}x}"
                 f" LO=0x{uc.reg_read(M.UC_MIPS_REG_LO):0{w}x}"]
        for row in range(0, 32, 4):
            cells = " ".join(f"{names[i]} {uc.reg_read(getattr(M, f'UC_MIPS_REG_{i}')):0{w}x}"
                             for i in range(row, row + 4))
            lines.append(f"GPR{row:02d}: {cells}")
        return "\n".join(lines)


TARGET = MipselTarget
