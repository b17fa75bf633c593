"""What every target CPU provides to the rest of pyuser.

A target is data plus a few small functions: how to make a CPU, how guest
memory permissions become page tables, where syscall numbers and arguments
live, how faults are reported, and the ABI tables generated from its kernel
headers.  Adding a CPU means writing one module that subclasses
:class:`Target` (and generating its ABI tables).
"""

from __future__ import annotations

import ctypes
import errno as host_errno
import signal as host_signal
import struct
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Literal, Protocol

from pyuser.targets import registry
from pyuser.targets.registry import TargetEntry
from pyuser.targets.siginfo import SigInfo, encode_linux_siginfo

if TYPE_CHECKING:
    from unicorn import Uc

    from pyuser.engine import RawHooks
    from pyuser.memory import GuestMemory, PageTableSync

# Linux syscalls that may block in the host: once a second thread exists the
# CPU loop (pyuser.cpu) serves them with the engine stopped from the start.
# Any other that turns out to block is found when it tries (EngineBusy) and
# joins them.  futex and
# sched_yield are not here: they ask for the stopped engine only when they
# will wait or hand the CPU on, so that wakes stay on the fast path.
LINUX_MAY_BLOCK = frozenset({
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "wait4", "waitid", "waitpid", "nanosleep", "clock_nanosleep",
    "clock_nanosleep_time64", "poll", "ppoll", "ppoll_time64", "select", "_newselect",
    "pselect6", "pselect6_time64", "epoll_wait", "epoll_pwait", "epoll_pwait2", "pause",
    "rt_sigsuspend", "sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "accept", "accept4", "connect", "recv", "recvfrom", "recvmsg", "send",
    "sendto", "sendmsg", "msgrcv", "msgsnd", "semop", "semtimedop", "semtimedop_time64",
    "mq_timedreceive", "mq_timedsend", "mq_timedreceive_time64", "mq_timedsend_time64",
    "flock", "sendfile", "sendfile64", "splice", "tee", "vmsplice", "vfork",
})


# Target attributes that are copies of the target's registry row
IDENTITY_FIELDS = ("elf_machine", "elf_machine_number", "elf_class", "little_endian", "os_name")


class Fault:
    """A synchronous CPU exception, as the target signal it means."""

    def __init__(self, signal: int, code: int = 0, address: int = 0, pc: int = 0,
                 trap_no: int = 0) -> None:
        self.signal = signal  # target signal number
        self.code = code  # si_code
        self.address = address  # si_addr
        self.pc = pc
        self.trap_no = trap_no  # the architecture's trap number, saved in the signal frame

    def __repr__(self) -> str:
        return (f"Fault(signal={self.signal}, code={self.code}, address={self.address:#x}, "
                f"pc={self.pc:#x}, trap_no={self.trap_no})")


class SyscallConvention:
    """How a target's guest asks for a syscall and finds its result.

    The CPU loop's one syscall hot path (pyuser.syscall_path) serves every
    target from this declaration, with the number, argument and result
    registers of the Target (syscall_number_reg, syscall_arg_regs,
    syscall_return_reg).  The plainest convention (a result register holding
    the value or -errno: arm, aarch64, riscv64, i386, x86_64) is its fastest
    path; each field below adds a step to it.
    """

    def __init__(self, interrupt: int | None, instruction: int | None = None,
                 error_reg: int | None = None, error_bit: int = 0, stack_arg_words: int = 0,
                 stack_arg_offset: int = 16, number_in_instruction: bool = False,
                 pc_advance_in_hook: int = 0) -> None:
        # the interrupt number the syscall instruction raises (UC_HOOK_INTR);
        # None: it arrives through UC_HOOK_INSN of `instruction` (x86_64's
        # `syscall`), and every interrupt is a fault
        self.interrupt = interrupt
        self.instruction = instruction
        # an error flag beside the result, which is then the positive errno: a
        # register set to 1 or 0 (MIPS: a3; PowerPC: the 4-bit CR0 field, 1
        # being SO alone), or one bit of a flags register (FreeBSD: the carry),
        # read and written back with the others; None: the result is -errno
        self.error_reg = error_reg
        self.error_bit = error_bit  # 0: the whole register is the flag
        # arguments beyond the registers, as words on the stack at sp + offset
        # (MIPS o32: the fifth to eighth at sp+16)
        self.stack_arg_words = stack_arg_words
        self.stack_arg_offset = stack_arg_offset
        # the syscall number is the instruction's 8-bit immediate when not 0
        # (s390x's `svc N`; svc 0 takes it from the number register)
        self.number_in_instruction = number_in_instruction
        # bytes the hook adds to the PC before serving: where the engine leaves
        # it on the syscall instruction (s390x's PSW)
        self.pc_advance_in_hook = pc_advance_in_hook

    def __repr__(self) -> str:
        return f"SyscallConvention({vars(self)})"


class SignalFrames(Protocol):
    """What a target's signal frames provide (targets.<arch>_signal), for
    pyuser.delivery to run a handler and the sigreturn syscalls to unwind it."""

    def frame_size(self, rt: bool) -> int: ...

    def interrupted_sp(self, uc: Uc) -> int: ...

    def setup(self, uc: Uc, mem: GuestMemory, frame: int, *, signo: int, siginfo: bytes,
              rt: bool, handler: int, restorer: int, old_mask: int,
              altstack: tuple[int, int, int], fault_address: int, trap_no: int) -> None:
        """Write the frame at `frame` and point the CPU at the handler."""

    def restore(self, uc: Uc, mem: GuestMemory, rt: bool) -> tuple[int, tuple[int, int, int]]:
        """sigreturn: registers back from the frame; returns (mask, altstack)."""


class CpuHooks(Protocol):
    """What a target's extra hooks use of the CPU loop (pyuser.cpu.CpuLoop, a
    layer above; it calls Target.install_cpu_hooks)."""

    uc: Uc
    hooks: RawHooks
    stop_reason: BaseException | None

    def spin_hint_hook(self, is_spin_hint: Callable[[], bool]) -> Callable[[], bool]: ...


class Target:
    """Base class of the per-CPU modules in pyuser.targets."""

    # Identity: from the target's row in pyuser.targets.registry, filled in
    # by __init_subclass__ for a class that sets `name` (never set here).
    name: str  # "arm"
    identity: TargetEntry
    # the kernel personality: "linux", or "freebsd" (pyuser.syscalls.freebsd)
    os_name: str = "linux"
    # signals whose default action is to be ignored, beyond SIGCHLD, SIGURG,
    # SIGWINCH and SIGCONT (FreeBSD's SIGIO, SIGINFO, SIGTHR, SIGLIBRT)
    ignored_by_default: tuple[str, ...] = ()
    elf_machine: str  # pyelftools' e_machine name, e.g. "EM_ARM"
    elf_machine_number: int  # its value (include/uapi/linux/elf-em.h)
    elf_class: int  # 32 or 64
    little_endian: bool
    uname_machine: str  # what uname -m prints
    platform: str  # AT_PLATFORM string
    address_space_size: int  # guest user space: [0, size)
    stack_top: int
    mmap_top: int  # top-down mmap allocation starts below here
    elf_et_dyn_base: int  # load bias for ET_DYN main programs
    interp_base: int  # preferred base of the dynamic loader
    # The smallest user space the target may be given when the host's
    # RLIMIT_AS cannot hold address_space_size (pyuser.limits); None where
    # the size is fixed (the architecture's own split on 32-bit targets).
    min_address_space: int | None = None
    default_cpu: str
    cpu_models: dict[str, int]
    abi: ModuleType  # pyuser.targets.generated.<name>_abi
    # ABI of the syscall instruction: registers, in Unicorn ids
    syscall_number_reg: int
    syscall_arg_regs: tuple[int, ...]
    syscall_return_reg: int
    pc_reg: int
    sp_reg: int
    # 64-bit syscall arguments on 32-bit targets go in register pairs that
    # start at an even register on some ABIs (ARM EABI, MIPS o32).
    pairs_aligned: bool = False
    # clone's 4th and 5th arguments: tls then child_tid (arm, aarch64, riscv64,
    # i386, MIPS: where glibc's fork passes the child tid pointer fifth) or
    # child_tid then tls (x86_64: kernel/fork.c's plain order)
    clone_tls_before_child_tid: bool = True
    # clone's first two arguments swapped: (stack, flags, ...) on s390
    # (CLONE_BACKWARDS2)
    clone_stack_first: bool = False
    # s390's ipc(2) has five arguments: semtimedop's timeout comes in `third`
    # (arch/s390/kernel/syscall.c s390_ipc)
    ipc_fifth_is_third: bool = False
    # siginfo_t: where si_code is (MIPS swaps si_code and si_errno: 4)
    siginfo_code_offset: int = 8
    # stack_t: (ss_sp, ss_flags, ss_size), or MIPS's (ss_sp, ss_size, ss_flags)
    stack_t_size_before_flags: bool = False
    word_size: int = 4
    # bytes the engine adds to the PC after the syscall hook has returned
    # (x86_64's `syscall`: the hook sees the PC still on the instruction)
    pc_advance_after_syscall_hook: int = 0
    # in the syscall hook the PC is still on the syscall instruction (x86_64's
    # UC_HOOK_INSN; the engine adds its length after the hook), not after it
    pc_on_syscall_in_hook: bool = False
    # the syscall families only this target has (ARM's set_tls, the 64-bit
    # ABIs' stat, ...), by their names in pyuser.syscalls.arch.FAMILIES
    syscall_families: tuple[str, ...] = ()
    # the handler serving a syscall under another name, as the entry-point
    # column of the kernel's syscall table (s390x's mmap is sys_old_mmap)
    syscall_entry_points: dict[str, str] = {}
    # the names of the syscalls that may block in the host (a personality
    # with calls of its own adds them)
    may_block_syscalls: frozenset[str] = LINUX_MAY_BLOCK

    def __init_subclass__(cls, **kwargs) -> None:
        """A class that names its target takes its identity from the
        registry row of that name; setting an identity field in the class
        body too is an error (the row is the one place it is written)."""
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:
            return
        row = registry.entry(name)
        if row is None:
            raise TypeError(f"{cls.__name__}: no target '{name}' in pyuser.targets.registry")
        for field in IDENTITY_FIELDS:
            if field in cls.__dict__:
                raise TypeError(f"{cls.__name__}.{field}: comes from the registry row "
                                f"of '{name}', not the class")
            setattr(cls, field, getattr(row, field))
        cls.identity = row

    def __init__(self) -> None:
        # the guest's byte order, as struct's prefix and as int.to_bytes's name
        self.byte_order = "<" if self.little_endian else ">"
        self.byteorder: Literal["little", "big"] = "little" if self.little_endian else "big"
        # struct's code for a C long (time_t, the fields of timeval and itimerval)
        self.long_format = "i" if self.word_size == 4 else "q"
        self.word_mask = (1 << (8 * self.word_size)) - 1
        self.sign_bit = 1 << (8 * self.word_size - 1)
        self.errno_from_host = self._build_errno_map()
        self.signal_to_host, self.signal_from_host = self._build_signal_maps()
        self.syscall_numbers: dict[str, int] = dict(self.abi.SYSCALLS)
        self.syscall_names: dict[int, str] = {v: k for k, v in self.abi.SYSCALLS.items()}

    # ------------------------------------------------------------ tables
    def _build_errno_map(self) -> dict[int, int]:
        """host errno number -> target errno number, matched by name."""
        table = {}
        for number, name in host_errno.errorcode.items():
            if name in self.abi.ERRNO:
                table[number] = self.abi.ERRNO[name]
        return table

    def _build_signal_maps(self) -> tuple[dict[int, int], dict[int, int]]:
        to_host, from_host = {}, {}
        # Real-time signals go by number (the kernel's 32.._NSIG on both
        # sides, as far as the host's 64 go); the C library's SIGRTMIN (34 in
        # glibc) is not the kernel's.
        first_rt = self.abi.CONST.get("SIGRTMIN", 32)
        for number in range(first_rt, min(self.abi.CONST.get("_NSIG", 64), 64) + 1):
            to_host[number] = number
            from_host[number] = number
        for name, number in self.abi.CONST.items():
            if name in ("SIGRTMIN", "SIGRTMAX"):
                continue
            if name.startswith("SIG") and name[3:].isupper() and name[3:].isalnum():
                host = getattr(host_signal, name, None)
                if isinstance(host, int):
                    to_host[number] = int(host)
                    from_host[int(host)] = number
        return to_host, from_host

    def encode_siginfo(self, info: SigInfo) -> bytes:
        """The siginfo_t bytes the guest gets (a handler's frame, waitid,
        signalfd, gdb): Linux's layout; a personality or an architecture
        with its own (FreeBSD, MIPS) overrides this."""
        return encode_linux_siginfo(info, self.abi.CONST["SIGCHLD"], self.word_size,
                                    self.byteorder)

    def errno(self, name: str) -> int:
        return self.abi.ERRNO[name]

    def const(self, name: str) -> int:
        return self.abi.CONST[name]

    def struct(self, name: str) -> type[ctypes.Structure]:
        return getattr(self.abi, name)

    def pack(self, fmt: str, *values: int) -> bytes:
        """struct.pack in the guest's byte order (fmt without the prefix)."""
        return struct.pack(self.byte_order + fmt, *values)

    def unpack(self, fmt: str, data: bytes, offset: int = 0) -> tuple:
        """struct.unpack_from in the guest's byte order (fmt without the prefix)."""
        return struct.unpack_from(self.byte_order + fmt, data, offset)

    def sigset_value(self, raw: bytes) -> int:
        """A guest sigset_t (all of `raw`: 8 bytes, 16 on MIPS with its 128
        signals), an array of unsigned longs: word i holds signals from
        1 + i * bits (on a 32-bit big-endian guest the two words are not one
        big-endian u64)."""
        size = self.word_size
        words = self.unpack(f"{len(raw) // size}{'Q' if size == 8 else 'I'}", raw)
        return sum(word << (8 * size * i) for i, word in enumerate(words))

    def sigset_bytes(self, bits: int, size: int = 8) -> bytes:
        """A guest sigset_t of `size` bytes holding `bits` (bit n-1 is signal n)."""
        word = self.word_size
        count = -(-size // word)
        mask = (1 << (8 * word)) - 1
        data = self.pack(f"{count}{'Q' if word == 8 else 'I'}",
                         *((bits >> (8 * word * i)) & mask for i in range(count)))
        return data[:size]

    def to_signed(self, value: int) -> int:
        return value - (self.sign_bit << 1) if value & self.sign_bit else value

    # ------------------------------------------------------------ CPU
    def shrink_address_space(self, size: int) -> None:
        """Give this instance a user space of `size` bytes: the stack, the
        mmap area and the interpreter keep their distances from the top."""
        full = self.address_space_size
        for name in ("stack_top", "mmap_top", "interp_base"):
            setattr(self, name, size - (full - getattr(self, name)))
        self.address_space_size = size

    def create_cpu(self, model: str) -> Uc:
        raise NotImplementedError

    def create_page_tables(self, uc: Uc, memory: GuestMemory) -> PageTableSync:
        raise NotImplementedError

    def prepare_process(self, uc: Uc, memory: GuestMemory, tables: PageTableSync) -> None:
        """Target-specific pages and state of a new process (e.g. ARM's kuser
        page), with the page tables create_page_tables made for it."""

    def set_entry_state(self, uc: Uc, entry: int, sp: int) -> None:
        raise NotImplementedError

    # the load bias of the image the first thread starts in (the interpreter's,
    # or the program's), set by the loader before set_entry_state: ppc64
    # ELFv1's entry point is a function descriptor relocated by it
    load_bias: int = 0

    def resume_address(self, uc: Uc) -> int:
        """The address to pass to emu_start to continue where the CPU stopped."""
        return self.resume_address_from([uc.reg_read(r) for r in self.resume_registers()])

    def resume_registers(self) -> tuple[int, ...]:
        """The registers resume_address_from needs (the CPU loop reads them raw)."""
        return (self.pc_reg,)

    def resume_address_from(self, values) -> int:
        return values[0]

    # how the guest makes a syscall (each target sets it)
    syscall_convention: SyscallConvention

    def fault_classifier(self, uc: Uc, memory: GuestMemory) -> Callable[[int], Fault]:
        """For one engine: the fault an interrupt number that is not the
        syscall means (called from the interrupt hook, engine stopped there)."""
        raise NotImplementedError

    def install_cpu_hooks(self, cpu: CpuHooks, memory: GuestMemory) -> None:
        """Hooks beyond the syscall and fault ones, which the CPU loop
        installs itself (ARM's spin hints, RISC-V's ebreak): none by default."""

    def get_tls(self, uc: Uc) -> int:
        """The thread pointer the guest set (set_tls's counterpart)."""
        raise NotImplementedError

    def cpuinfo(self, uc: Uc, model: str) -> bytes | None:
        """/proc/cpuinfo for the guest; None: the host's."""
        return None

    def set_tls(self, uc: Uc, value: int) -> None:
        raise NotImplementedError

    def thread_switched(self, uc: Uc) -> None:
        """The engine now holds another thread's registers (all threads share
        it): bring up to date what belongs to the thread but lives outside the
        registers (armel: the kuser TLS word).  Nothing on most targets."""

    def set_clone_child_result(self, uc: Uc) -> None:
        """The registers of a new thread returning 0 from clone."""
        uc.reg_write(self.syscall_return_reg, 0)

    def signal_frames(self) -> SignalFrames:
        """The object that builds and unwinds this target's signal frames."""
        raise NotImplementedError

    def syscall_insn_size(self, uc: Uc) -> int:
        """Bytes of the syscall instruction just executed (to restart it)."""
        raise NotImplementedError

    def repair_after_stop(self, uc: Uc, memory: GuestMemory) -> None:
        """After a stop that may have landed mid-instruction (CpuLoop.unsafe_interrupt):
        make the instruction at the PC safe to run again.  Nothing by default."""

    def engine_fault(self, uc: Uc, error: int, memory: GuestMemory) -> Fault | None:
        """The fault a failed emu_start (UC_ERR_*) means, for targets whose
        faults arrive that way (no guest page tables); None: the generic one."""
        return None

    def restore_after_rewind(self, uc: Uc, interrupted: tuple[int, ...]) -> None:
        """A syscall is about to run again: undo what its result overwrote beyond
        the number and first argument (MIPS: the a3 error flag), from what the
        syscall hook saved after them in `interrupted`."""

    def set_pc(self, uc: Uc, pc: int) -> None:
        """Move the PC within the current instruction set."""
        uc.reg_write(self.pc_reg, pc)

    def hwcap(self, model: str) -> int:
        return 0

    def arch_auxv(self) -> list[tuple[str, int]]:
        """auxv entries the architecture puts before the generic ones (Linux's
        ARCH_DLINFO: PowerPC's cache block sizes)."""
        return []

    def hwcap2(self, model: str) -> int:
        return 0

    def disassemblers(self) -> dict[str, object]:
        """capstone instances by mode name, for -d in_asm."""
        raise NotImplementedError

    def disassembly_mode(self, uc: Uc) -> str:
        raise NotImplementedError

    def gdb_description(self):
        """The registers gdb sees (pyuser.targets.gdb_desc.Description), from
        the target's <arch>_gdb data module; imported only under -g."""
        raise NotImplementedError

    def cpu_dump(self, uc: Uc) -> str:
        """The registers as `-d cpu` logs them (each target: in qemu's layout)."""
        raise NotImplementedError

    def extra_maps(self) -> list[str]:
        """/proc/self/maps lines for pages outside guest memory (e.g. ARM's vectors)."""
        return []

    def binfmt_magic(self) -> tuple[bytes, bytes]:
        """binfmt_misc magic and mask for this target's ELF executables
        (TargetEntry.binfmt_magic)."""
        return self.identity.binfmt_magic()
