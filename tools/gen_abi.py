#!/usr/bin/env python3
"""Generate pyuser/targets/generated/<arch>_abi.py from the cross toolchain's kernel headers.

Usage:  python3 tools/gen_abi.py [--arch arm] [--output PATH] [--verbose]

Every number in the generated module comes out of the cross compiler: we write small C
programs that include only the kernel UAPI headers (linux/*, asm/*, asm-generic/*, with
-nostdinc so glibc cannot interfere), compile them with `<triplet>-gcc -c`, and read the
results back from the object file with pyelftools:

* Integer macros: `gcc -E -dD` lists every macro together with the header that defined
  it, rules below pick the interesting ones by header and name, and a second program
  stores `(unsigned long long)(NAME)` and `(NAME) < 0` in arrays that we read from
  .rodata.  A `switch` case label per macro makes gcc reject anything that is not an
  integer constant expression (pointers such as SIG_DFL, strings, floats); those are
  dropped.
* Structures: a program compiled with -g declares a pointer to each wanted type; the
  DWARF debug info gives members, offsets, sizes and signedness.  A third program
  stores sizeof/offsetof/member sizeof for every member, and the generator checks the
  DWARF layout *and* the emitted ctypes classes against those numbers; any mismatch is
  a hard error.

A handful of things are not exported in the UAPI headers; they are listed in
LIBC_FALLBACK (constants taken from the same toolchain's glibc headers, only when the
kernel headers lack them) and SYNTHETIC_C (kernel-internal structs re-declared from
UAPI types, with the kernel source file they come from).

Adding an architecture
----------------------
1. Install the Debian cross packages: gcc-<triplet>, linux-libc-dev-<debarch>-cross
   (and libc6-dev-<debarch>-cross for LIBC_FALLBACK).
2. Add one `Arch(...)` row to ARCHS: name (the --arch value and output stem), compiler
   triplet, the two Debian package names, endianness, and where _NSIG comes from.
   Add arch-private syscall rules (like ARM's __ARM_NR_*), a different hwcap header,
   extra/omitted structs, or a different SYNTHETIC_C (e.g. MIPS's kernel sigaction has
   sa_flags first) only if that arch needs them.
   Use the -cross header packages even for the host arch: include_dir is
   /usr/<triplet>/include.
3. Run `python3 tools/gen_abi.py --arch <name>`.  It fails loudly if a header is
   missing, a name in REQUIRED is not found, a member type is unsupported (bitfields,
   anonymous members) or a ctypes layout does not match the compiler.  (pyelftools
   must know the arch's relocation types to read DWARF from a .o: 0.33 does for arm,
   aarch64, i386, x86_64 and mips but not riscv64, which will need the struct object
   linked first, e.g. with -nostdlib -shared.)
4. Add a few known facts for the arch to tests/test_gen_abi.py and commit the
   generated file together with this script.
"""

from __future__ import annotations

import argparse
import ctypes
import fnmatch
import keyword
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from elftools.dwarf.constants import (
    DW_ATE_boolean,
    DW_ATE_float,
    DW_ATE_signed,
    DW_ATE_signed_char,
    DW_ATE_unsigned,
    DW_ATE_unsigned_char,
)
from elftools.dwarf.die import DIE
from elftools.elf.elffile import ELFFile

REPO = Path(__file__).resolve().parent.parent
# Untranslated diagnostics: we parse gcc's "error:" lines.
C_LOCALE_ENV = {**os.environ, "LC_ALL": "C"}
OUT_DIR = REPO / "pyuser" / "targets" / "generated"


class GenError(Exception):
    """Anything that makes the generated tables untrustworthy."""


# --------------------------------------------------------------------------------------
# What to extract: macro rules and tables
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Select macros defined in `headers` whose name fully matches `pattern`.

    headers are fnmatch patterns on the header path relative to the include directory
    (e.g. "asm-generic/fcntl.h").  The key is the regex group "key" if present, else the
    whole name, with `prefix` prepended.
    """

    headers: tuple[str, ...]
    pattern: str
    prefix: str = ""


@dataclass(frozen=True)
class Table:
    """One output dict: which headers to include and which macros to keep.

    An include ending in "?" is optional (guarded by __has_include), for headers that
    only newer kernels export.  libc=True compiles against the toolchain's libc headers
    instead of the bare UAPI headers (see LIBC_FALLBACK).
    """

    name: str
    includes: tuple[str, ...]
    rules: tuple[Rule, ...]
    libc: bool = False
    hex_from: int | None = None  # print values >= this in hex (None: always decimal)


# Names made of capitals, digits and underscores: constants, not include guards (which
# start with "_") nor lowercase helpers like st_atime / sa_handler.
UPPER = r"[A-Z][A-Z0-9_]*"

SYSCALLS = Table(
    "SYSCALLS",
    includes=("asm/unistd.h",),
    rules=(
        # Lowercase only: skips helpers such as __NR_SYSCALL_BASE; the lookahead drops the
        # asm-generic bookkeeping macros that are not syscalls.
        Rule(
            ("asm/unistd*.h", "asm-generic/unistd.h"),
            r"__NR_(?P<key>(?!syscalls$|arch_specific_syscall$)[a-z0-9_]+)",
        ),
    ),
    hex_from=0x10000,
)

ERRNO = Table(
    "ERRNO",
    includes=("linux/errno.h",),
    rules=(
        Rule(("asm/errno.h", "asm-generic/errno.h", "asm-generic/errno-base.h"), r"E[A-Z0-9]+"),
    ),
)

# The auxv AT_* tags share a prefix with the fcntl AT_* flags; keeping them in their own
# table (selected by header) avoids the clash.
AUXV = Table(
    "AUXV",
    includes=("linux/auxvec.h",),
    rules=(Rule(("linux/auxvec.h", "asm/auxvec.h"), r"AT_(?!VECTOR_SIZE)[A-Z0-9_]+"),),
)

CONST = Table(
    "CONST",
    includes=(
        # first: MIPS's asm/fcntl.h tests __BITS_PER_LONG for its F_*LK64 numbers
        # (33-35 on o32; without it the generic 12-14 would be read)
        "asm/bitsperlong.h",
        "linux/fcntl.h",
        "linux/fs.h",
        "linux/stat.h",
        "linux/mman.h",
        "linux/sched.h",
        "linux/signal.h",
        "linux/time.h",
        # termbits before ioctls: TCGETS2 and friends take sizeof(struct termios2).
        "asm/termbits.h",
        "asm/ioctls.h",
        "asm/termios.h",
        "linux/resource.h",
        "linux/prctl.h",
        "linux/random.h",
        "linux/futex.h",
        "linux/wait.h",
        "linux/eventfd.h?",  # exported since Linux 6.2; LIBC_FALLBACK covers older headers
        "linux/poll.h",
        "linux/eventpoll.h",
        "linux/limits.h",
        "linux/falloc.h",
        "linux/memfd.h",
        "linux/close_range.h",
        "asm/socket.h",
        "asm/sockios.h",
        "linux/sockios.h",
        "linux/in.h",
        "linux/un.h",
    ),
    rules=(
        Rule(("asm/fcntl.h", "asm-generic/fcntl.h", "linux/fcntl.h", "linux/openat2.h"), UPPER),
        # linux/fs.h is a grab-bag of ioctls; only take what the syscall layer needs.
        Rule(("linux/fs.h",), r"(SEEK|RENAME)_[A-Z0-9_]+"),
        Rule(("linux/stat.h",), UPPER),
        Rule(
            ("asm/mman.h", "asm-generic/mman.h", "asm-generic/mman-common.h", "linux/mman.h"), UPPER
        ),
        Rule(("linux/sched.h",), UPPER),
        Rule(
            (
                "asm/signal.h",
                "asm-generic/signal.h",
                "asm-generic/signal-defs.h",
                "linux/signal.h",
                "asm/siginfo.h",
                "asm-generic/siginfo.h",
            ),
            UPPER,
        ),
        Rule(("linux/time.h",), UPPER),
        Rule(
            (
                "asm/termbits.h",
                "asm-generic/termbits.h",
                "asm-generic/termbits-common.h",
                "asm/termios.h",
                "asm-generic/termios.h",
                "asm/ioctls.h",
                "asm-generic/ioctls.h",
            ),
            UPPER,
        ),
        Rule(("asm/resource.h", "asm-generic/resource.h", "linux/resource.h"), UPPER),
        Rule(("linux/prctl.h",), UPPER),
        Rule(("linux/random.h",), UPPER),
        Rule(("linux/futex.h",), UPPER),
        Rule(("linux/wait.h",), UPPER + r"|__W[A-Z]+"),
        Rule(("linux/eventfd.h",), UPPER),
        Rule(("asm/poll.h", "asm-generic/poll.h"), UPPER),
        Rule(("linux/eventpoll.h",), UPPER),
        Rule(("linux/limits.h",), UPPER),
        Rule(("linux/falloc.h", "linux/memfd.h", "linux/close_range.h"), UPPER),
        Rule(
            ("asm/socket.h", "asm-generic/socket.h", "asm/sockios.h", "asm-generic/sockios.h"),
            UPPER,
        ),
        Rule(("linux/sockios.h",), r"SIOC[A-Z0-9_]+"),
        Rule(("linux/in.h",), r"(IPPROTO|INADDR)_[A-Z0-9_]+"),
        Rule(("linux/un.h",), UPPER),
    ),
    hex_from=0x100,
)

# Constants the syscall layer needs that these UAPI headers do not export (O_ASYNC is a
# libc name for the kernel's FASYNC, UTIME_* and AF_*/SOCK_* live in kernel-internal
# headers, linux/eventfd.h is only exported since 6.2).  They are read from the same
# toolchain's glibc headers -- whose values are the kernel ABI -- and only fill names the
# UAPI tables lack.
LIBC_FALLBACK = Table(
    "CONST",
    includes=("fcntl.h", "sys/stat.h", "sys/eventfd.h", "sys/socket.h"),
    rules=(
        Rule(("bits/fcntl-linux.h", "bits/fcntl.h"), r"O_ASYNC"),
        Rule(("bits/stat.h", "bits/struct_stat.h", "sys/stat.h"), r"UTIME_(NOW|OMIT)"),
        Rule(("bits/eventfd.h", "sys/eventfd.h"), r"EFD_[A-Z0-9_]+"),
        # AF_MAX/PF_MAX only count the families this libc knows about: not ABI.
        Rule(
            ("bits/socket.h", "bits/socket_type.h"), r"(AF|PF|SOCK|MSG|SHUT|SCM)_(?!MAX$)[A-Z0-9_]+"
        ),
    ),
    libc=True,
)

# _NSIG is the kernel's signal count (and sigset_t size).  Some arches export it in
# asm/signal.h (mips: 128); others, like arm and x86, keep it in the kernel-internal
# asm/signal.h, where it equals the asm-generic value.  Each Arch row names the header to
# read it from; it is also #defined (when missing) for the CONST and struct programs so
# SIGRTMAX and the kernel sigset_t can be evaluated.
NSIG_NAME = "_NSIG"

# Names that must come out of every arch; catches a header that silently moved.
REQUIRED: dict[str, tuple[str, ...]] = {
    "SYSCALLS": tuple("read write openat close exit_group rt_sigaction clone".split()),
    "ERRNO": tuple("EPERM ENOENT EAGAIN ENOSYS EINVAL EOPNOTSUPP EWOULDBLOCK".split()),
    "AUXV": tuple(
        """AT_NULL AT_PHDR AT_ENTRY AT_RANDOM AT_HWCAP AT_HWCAP2 AT_EXECFN AT_MINSIGSTKSZ
        AT_SYSINFO_EHDR""".split()
    ),
    "CONST": tuple(
        """O_RDONLY O_WRONLY O_RDWR O_ACCMODE O_CREAT O_EXCL O_NOCTTY O_TRUNC O_APPEND
        O_NONBLOCK O_NDELAY O_DSYNC O_SYNC O_ASYNC O_DIRECT O_LARGEFILE O_DIRECTORY
        O_NOFOLLOW O_NOATIME O_CLOEXEC O_PATH O_TMPFILE
        F_DUPFD F_GETFD F_SETFD F_GETFL F_SETFL F_GETLK F_SETLK F_SETLKW F_SETOWN F_GETOWN
        F_DUPFD_CLOEXEC F_SETPIPE_SZ F_GETPIPE_SZ F_OFD_GETLK F_OFD_SETLK F_OFD_SETLKW
        F_ADD_SEALS F_GET_SEALS FD_CLOEXEC
        AT_FDCWD AT_SYMLINK_NOFOLLOW AT_REMOVEDIR AT_SYMLINK_FOLLOW AT_NO_AUTOMOUNT
        AT_EMPTY_PATH AT_EACCESS AT_STATX_SYNC_AS_STAT RENAME_NOREPLACE
        MAP_SHARED MAP_PRIVATE MAP_FIXED MAP_ANONYMOUS MAP_FIXED_NOREPLACE PROT_READ
        PROT_WRITE PROT_EXEC MREMAP_MAYMOVE MADV_DONTNEED MS_ASYNC MS_SYNC MS_INVALIDATE
        CLONE_VM CLONE_THREAD CLONE_SETTLS
        SIGHUP SIGKILL SIGSEGV SIGCHLD SIGSYS SIGRTMIN _NSIG SA_SIGINFO SA_RESTART SIG_BLOCK
        SIG_UNBLOCK SIG_SETMASK SS_ONSTACK SS_DISABLE MINSIGSTKSZ
        CLOCK_REALTIME CLOCK_MONOTONIC TIMER_ABSTIME
        TCGETS TCSETS TIOCGWINSZ TIOCSWINSZ FIONREAD FIONBIO FIOCLEX
        RLIMIT_STACK RLIMIT_NOFILE RLIM_INFINITY PR_SET_NAME GRND_NONBLOCK
        S_IFMT S_IFDIR STATX_BASIC_STATS SEEK_SET SEEK_END
        FUTEX_WAIT FUTEX_WAKE FUTEX_PRIVATE_FLAG
        P_ALL P_PID P_PGID P_PIDFD WNOHANG WUNTRACED WCONTINUED WEXITED WSTOPPED WNOWAIT
        __WALL __WCLONE
        EFD_CLOEXEC EFD_NONBLOCK EFD_SEMAPHORE POLLIN POLLOUT EPOLLIN EPOLL_CTL_ADD
        EPOLL_CLOEXEC UTIME_NOW UTIME_OMIT AF_UNIX AF_INET""".split()
    ),
}


# --------------------------------------------------------------------------------------
# Structures
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StructSpec:
    """A ctypes class to emit: its Python name and the C type it mirrors.

    flex_const names the module constant that receives the offset of a trailing
    flexible array member (which the class itself omits); note is copied as a comment.
    """

    cls: str
    c_type: str
    flex_const: str | None = None
    note: str = ""


STRUCT_INCLUDES = (
    "asm/bitsperlong.h",  # before the headers that test __BITS_PER_LONG (asm-generic/shmbuf.h)
    "asm/stat.h",
    "linux/stat.h",
    "linux/time_types.h",
    "linux/time.h",
    "linux/resource.h",
    "linux/utsname.h",
    "linux/sysinfo.h",
    "linux/uio.h",
    "asm/termbits.h",
    "asm/termios.h",
    "linux/times.h",
    "asm/statfs.h",
    "asm/poll.h",
    "asm/signal.h",
    "linux/sched/types.h",
    "asm/fcntl.h",
    "linux/eventpoll.h",
    "linux/un.h",
    "linux/in.h",
    "asm/shmbuf.h",
    "linux/sem.h",
    "linux/msg.h",
)

# Kernel-internal structs that the UAPI headers do not export, re-declared from UAPI
# types.  Only the declarations are written here; their layout still comes from the
# compiler.  An Arch row may replace this text.
SYNTHETIC_C = """\
/*
 * The struct sigaction that rt_sigaction(2) reads and writes: the kernel-internal one
 * from include/linux/signal_types.h.  UAPI does not export it for most arches (arm's
 * <asm/signal.h> "struct sigaction" is the old sigaction(2) layout with the mask
 * first).  sa_restorer exists when the kernel defines __ARCH_HAS_SA_RESTORER, which is
 * exactly the arches whose UAPI headers define SA_RESTORER; sa_mask is the kernel
 * sigset_t, _NSIG bits in unsigned longs.  (MIPS orders it differently: override.)
 */
#undef sa_handler	/* UAPI <asm/signal.h> maps it into its own union */
struct pyuser_kernel_sigaction {
	__sighandler_t sa_handler;
	unsigned long sa_flags;
#ifdef SA_RESTORER
	__sigrestore_t sa_restorer;
#endif
	unsigned long sa_mask[_NSIG / (8 * sizeof(unsigned long))];
};

/* What sendmsg(2) and recvmsg(2) read: include/linux/socket.h's struct user_msghdr
 * and struct cmsghdr, not exported to UAPI (the C library's struct msghdr is the
 * same object). */
struct pyuser_user_msghdr {
	void *msg_name;
	int msg_namelen;
	struct iovec *msg_iov;
	__kernel_size_t msg_iovlen;
	void *msg_control;
	__kernel_size_t msg_controllen;
	unsigned int msg_flags;
};

struct pyuser_cmsghdr {
	__kernel_size_t cmsg_len;
	int cmsg_level;
	int cmsg_type;
};

/* What getdents64(2) writes: include/linux/dirent.h, not exported to UAPI. */
struct linux_dirent64 {
	__u64 d_ino;
	__s64 d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};
"""

# MIPS: the kernel's struct sigaction has sa_flags first and no sa_restorer
# (arch/mips/include/asm/signal.h, include/linux/signal_types.h).
MIPS_SYNTHETIC_C = SYNTHETIC_C.replace(
    "\t__sighandler_t sa_handler;\n\tunsigned long sa_flags;\n",
    "\tunsigned int sa_flags;\n\t__sighandler_t sa_handler;\n",
)
assert MIPS_SYNTHETIC_C != SYNTHETIC_C
# MIPS o32's struct flock has l_sysid *before* l_pid, as glibc's bits/fcntl.h and
# the kernels before 6.1 lay it out (arch/mips/include/uapi/asm/fcntl.h); the 6.1
# UAPI header's generic struct puts __ARCH_FLOCK_EXTRA_SYSID after l_pid, which no
# program compiled against glibc uses.
MIPS_SYNTHETIC_C += """
struct pyuser_mips_flock {
	short l_type;
	short l_whence;
	__kernel_off_t l_start;
	__kernel_off_t l_len;
	long l_sysid;
	__kernel_pid_t l_pid;
	long pad[4];
};
"""
MIPS_FLOCK = StructSpec("flock", "struct pyuser_mips_flock",
                        note="o32: l_sysid before l_pid, as glibc's bits/fcntl.h")

STRUCTS: tuple[StructSpec, ...] = (
    StructSpec("stat", "struct stat"),
    StructSpec("stat64", "struct stat64"),
    StructSpec("statx_timestamp", "struct statx_timestamp"),
    StructSpec("statx", "struct statx"),
    StructSpec("kernel_timespec", "struct __kernel_timespec"),
    StructSpec("kernel_itimerspec", "struct __kernel_itimerspec"),
    StructSpec("old_timespec32", "struct timespec"),
    StructSpec("old_timeval32", "struct timeval"),
    StructSpec("old_itimerspec32", "struct itimerspec"),
    StructSpec("old_itimerval32", "struct itimerval"),
    StructSpec("timezone", "struct timezone"),
    StructSpec("rlimit", "struct rlimit"),
    StructSpec("rlimit64", "struct rlimit64"),
    StructSpec("rusage", "struct rusage"),
    StructSpec("new_utsname", "struct new_utsname"),
    StructSpec("sysinfo", "struct sysinfo"),
    StructSpec("iovec", "struct iovec"),
    StructSpec(
        "linux_dirent64",
        "struct linux_dirent64",
        flex_const="LINUX_DIRENT64_NAME_OFFSET",
        note="include/linux/dirent.h; d_name[] at LINUX_DIRENT64_NAME_OFFSET",
    ),
    StructSpec("winsize", "struct winsize"),
    StructSpec("termios", "struct termios"),
    StructSpec("termios2", "struct termios2"),
    StructSpec("tms", "struct tms"),
    StructSpec("statfs", "struct statfs"),
    StructSpec("statfs64", "struct statfs64"),
    StructSpec("pollfd", "struct pollfd"),
    StructSpec(
        "sigaction",
        "struct pyuser_kernel_sigaction",
        note="rt_sigaction's, from include/linux/signal_types.h",
    ),
    StructSpec("sigaltstack", "struct sigaltstack"),
    StructSpec("sched_param", "struct sched_param"),
    StructSpec("flock", "struct flock"),
    StructSpec("flock64", "struct flock64"),
    StructSpec("epoll_event", "struct epoll_event"),
    StructSpec("sockaddr_un", "struct sockaddr_un"),
    StructSpec("sockaddr_in", "struct sockaddr_in"),
    StructSpec("msghdr", "struct pyuser_user_msghdr",
               note="sendmsg's, include/linux/socket.h struct user_msghdr"),
    StructSpec("cmsghdr", "struct pyuser_cmsghdr", note="include/linux/socket.h"),
    StructSpec("shmid64_ds", "struct shmid64_ds", note="shmctl's with IPC_64"),
    StructSpec("semid64_ds", "struct semid64_ds", note="semctl's with IPC_64"),
    StructSpec("msqid64_ds", "struct msqid64_ds", note="msgctl's with IPC_64"),
    StructSpec("sembuf", "struct sembuf", note="semop's"),
    StructSpec("seminfo", "struct seminfo", note="semctl's IPC_INFO and SEM_INFO"),
    StructSpec("msginfo", "struct msginfo", note="msgctl's IPC_INFO and MSG_INFO"),
)

# Nested types that are the same ABI object under another kernel name: members of this
# C type use the given class.  The generator verifies the layouts are identical.
STRUCT_ALIASES: tuple[tuple[str, str], ...] = (
    ("struct __kernel_old_timeval", "old_timeval32"),  # rusage.ru_utime / ru_stime
)


# --------------------------------------------------------------------------------------
# Architectures
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arch:
    name: str  # --arch value; output is <name>_abi.py
    triplet: str  # compiler is <triplet>-gcc
    kernel_package: str  # Debian package providing the UAPI headers (version recorded)
    libc_package: str  # Debian package providing the libc headers used by LIBC_FALLBACK
    endian: str  # "little" or "big"
    nsig_header: str  # header whose _NSIG is the kernel's (see NSIG_NAME)
    syscall_rules: tuple[Rule, ...] = ()  # arch-private syscall numbers
    hwcap_headers: tuple[str, ...] = ("asm/hwcap.h",)
    hwcap_pattern: str = r"HWCAP2?_\w+"  # PowerPC names its bits PPC_FEATURE(2)_*
    extra_structs: tuple[StructSpec, ...] = ()
    omit_structs: frozenset[str] = frozenset()
    synthetic_c: str = SYNTHETIC_C
    required: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # pyelftools cannot apply this arch's DWARF relocations: link the struct object first
    link_debug: bool = False
    # REQUIRED names this arch does not have (m68k: no vDSO, no AT_SYSINFO_EHDR)
    not_required: frozenset[str] = frozenset()

    @property
    def include_dir(self) -> str:
        # Debian's cross packages install both kernel and libc headers here.
        return f"/usr/{self.triplet}/include"

    @property
    def cc(self) -> str:
        return f"{self.triplet}-gcc"


ARCHS: dict[str, Arch] = {
    "arm": Arch(
        name="arm",
        triplet="arm-linux-gnueabihf",
        kernel_package="linux-libc-dev-armhf-cross",
        libc_package="libc6-dev-armhf-cross",
        endian="little",
        # arm's UAPI asm/signal.h only has the legacy NSIG (32); the kernel's
        # arch/arm/include/asm/signal.h uses the generic _NSIG.
        nsig_header="asm-generic/signal.h",
        # ARM private syscalls (set_tls, cacheflush, ...), keyed "ARM_set_tls".
        syscall_rules=(Rule(("asm/unistd.h",), r"__ARM_NR_(?P<key>[a-z0-9_]+)", prefix="ARM_"),),
        required={"SYSCALLS": ("ARM_set_tls", "ARM_cacheflush", "ARM_breakpoint")},
    ),
    # The rows below are issue 6's targets.  64-bit arches have no stat64/statfs64/
    # flock64 in their UAPI headers (struct stat is already 64-bit): omitted.
    # armel (EABI soft-float): the same kernel UAPI as armhf; generated only to
    # check that (tests/test_gen_abi.py), the armel target uses arm_abi.
    "armel": Arch(
        name="armel",
        triplet="arm-linux-gnueabi",
        kernel_package="linux-libc-dev-armel-cross",
        libc_package="libc6-dev-armel-cross",
        endian="little",
        nsig_header="asm-generic/signal.h",
        syscall_rules=(Rule(("asm/unistd.h",), r"__ARM_NR_(?P<key>[a-z0-9_]+)", prefix="ARM_"),),
        required={"SYSCALLS": ("ARM_set_tls", "ARM_cacheflush", "ARM_breakpoint")},
    ),
    "aarch64": Arch(
        name="aarch64",
        triplet="aarch64-linux-gnu",
        kernel_package="linux-libc-dev-arm64-cross",
        libc_package="libc6-dev-arm64-cross",
        endian="little",
        nsig_header="asm-generic/signal.h",
        omit_structs=frozenset({"stat64", "statfs64", "flock64"}),
    ),
    "x86_64": Arch(
        name="x86_64",
        triplet="x86_64-linux-gnu",
        kernel_package="linux-libc-dev-amd64-cross",
        libc_package="libc6-dev-amd64-cross",
        endian="little",
        # x86's UAPI asm/signal.h has only the legacy NSIG; the kernel uses 64.
        nsig_header="asm-generic/signal.h",
        hwcap_headers=("asm/hwcap2.h",),
        omit_structs=frozenset({"stat64", "statfs64", "flock64"}),
    ),
    "i386": Arch(
        name="i386",
        triplet="i686-linux-gnu",
        kernel_package="linux-libc-dev-i386-cross",
        libc_package="libc6-dev-i386-cross",
        endian="little",
        nsig_header="asm-generic/signal.h",
        hwcap_headers=("asm/hwcap2.h",),
    ),
    "riscv64": Arch(
        name="riscv64",
        triplet="riscv64-linux-gnu",
        kernel_package="linux-libc-dev-riscv64-cross",
        libc_package="libc6-dev-riscv64-cross",
        endian="little",
        nsig_header="asm-generic/signal.h",
        # riscv private syscalls (flush_icache, hwprobe), keyed "riscv_flush_icache".
        syscall_rules=(
            Rule(("asm/unistd.h",), r"__NR_riscv_(?P<key>[a-z0-9_]+)", prefix="riscv_"),
        ),
        omit_structs=frozenset({"stat64", "statfs64", "flock64", "termios2"}),
        link_debug=True,
    ),
    # MIPS o32 in both byte orders: the same ABI but for the struct layouts' order
    **{name: Arch(
        name=name,
        triplet=f"{name}-linux-gnu",
        kernel_package=f"linux-libc-dev-{name}-cross",
        libc_package=f"libc6-dev-{name}-cross",
        endian=endian,
        nsig_header="asm/signal.h",
        synthetic_c=MIPS_SYNTHETIC_C,
        omit_structs=frozenset({"flock"}),
        extra_structs=(MIPS_FLOCK,),
    ) for name, endian in (("mipsel", "little"), ("mips", "big"))},
    "s390x": Arch(
        name="s390x",
        triplet="s390x-linux-gnu",
        kernel_package="linux-libc-dev-s390x-cross",
        libc_package="libc6-dev-s390x-cross",
        endian="big",
        nsig_header="asm-generic/signal.h",
        # no UAPI hwcap header on s390x (glibc's bits/hwcap.h has the bits)
        hwcap_headers=(),
        omit_structs=frozenset({"stat64", "statfs64", "flock64", "termios2"}),
        link_debug=True,
    ),
    # PowerPC, 32-bit big-endian: asm/signal.h's _NSIG is the kernel's (64);
    # the HWCAP bits are in asm/cputable.h (PPC_FEATURE_*), not asm/hwcap.h.
    "ppc": Arch(
        name="ppc",
        triplet="powerpc-linux-gnu",
        kernel_package="linux-libc-dev-powerpc-cross",
        libc_package="libc6-dev-powerpc-cross",
        endian="big",
        nsig_header="asm/signal.h",
        hwcap_headers=("asm/cputable.h",),
        hwcap_pattern=r"PPC_FEATURE2?_\w+",
        # PowerPC's asm/termbits.h has no struct termios2 (its termios has the speeds)
        omit_structs=frozenset({"termios2"}),
        link_debug=True,
    ),
    # PowerPC64, ELFv1 big-endian (Debian's ppc64 port): struct stat is 64-bit
    # already, no stat64/statfs64/flock64.
    "ppc64": Arch(
        name="ppc64",
        triplet="powerpc64-linux-gnu",
        kernel_package="linux-libc-dev-ppc64-cross",
        libc_package="libc6-dev-ppc64-cross",
        endian="big",
        nsig_header="asm/signal.h",
        hwcap_headers=("asm/cputable.h",),
        hwcap_pattern=r"PPC_FEATURE2?_\w+",
        omit_structs=frozenset({"stat64", "statfs64", "flock64", "termios2"}),
        link_debug=True,
    ),
    # m68k (Debian's m68k port): no UAPI hwcap header (Linux passes none),
    # the generic _NSIG
    "m68k": Arch(
        name="m68k",
        triplet="m68k-linux-gnu",
        kernel_package="linux-libc-dev-m68k-cross",
        libc_package="libc6-dev-m68k-cross",
        endian="big",
        nsig_header="asm-generic/signal.h",
        hwcap_headers=(),
        link_debug=True,
        not_required=frozenset({"AT_SYSINFO_EHDR"}),
        # the kernel's arch/m68k/include/asm/signal.h has __ARCH_HAS_SA_RESTORER
        # (rt_sigaction's struct has sa_restorer before sa_mask, as glibc passes
        # it), but the UAPI headers never define SA_RESTORER
        synthetic_c="#define SA_RESTORER 0x04000000\n" + SYNTHETIC_C,
    ),
    # MIPS n64: the generic struct flock (no l_sysid), no stat64/flock64.
    **{name: Arch(
        name=name,
        triplet=f"{name}-linux-gnuabi64",
        kernel_package=f"linux-libc-dev-{name}-cross",
        libc_package=f"libc6-dev-{name}-cross",
        endian=endian,
        nsig_header="asm/signal.h",
        synthetic_c=MIPS_SYNTHETIC_C,
        omit_structs=frozenset({"stat64", "flock64"}),
    ) for name, endian in (("mips64el", "little"), ("mips64", "big"))},
}


# --------------------------------------------------------------------------------------
# Running the compiler
# --------------------------------------------------------------------------------------


@dataclass
class Compiled:
    returncode: int
    stderr: str
    obj: Path


class Compiler:
    """Runs <triplet>-gcc on generated sources inside a scratch directory.

    Sources are compiled by relative name from inside the scratch directory so that
    diagnostics say "values.c:12:" and never mention temporary paths.
    """

    # -ftrack-macro-expansion=0 reports errors at the line where the macro is used (ours)
    # rather than inside the header that defines it; -w keeps stderr to errors only.
    BASE_FLAGS = ("-std=gnu11", "-O0", "-w", "-ftrack-macro-expansion=0", "-fno-common")

    def __init__(self, arch: Arch, workdir: Path) -> None:
        self.arch = arch
        self.workdir = workdir

    def _flags(self, libc: bool) -> list[str]:
        flags = list(self.BASE_FLAGS)
        if not libc:
            # Only the kernel headers: no glibc, not even gcc's own stddef.h.
            flags += ["-nostdinc", "-isystem", self.arch.include_dir]
        return flags

    def _write(self, name: str, source: str) -> None:
        (self.workdir / name).write_text(source)

    def preprocess_dd(self, name: str, source: str, libc: bool) -> str:
        """Preprocessed output with #define lines kept (-dD) and line markers."""
        self._write(name, source)
        proc = subprocess.run(
            [self.arch.cc, *self._flags(libc), "-E", "-dD", name],
            cwd=self.workdir,
            env=C_LOCALE_ENV,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise GenError(f"{self.arch.cc} -E failed on {name}:\n{proc.stderr}")
        return proc.stdout

    def compile(self, name: str, source: str, libc: bool = False, debug: bool = False) -> Compiled:
        self._write(name, source)
        obj = self.workdir / (Path(name).stem + ".o")
        # DWARF 4 is pinned so a compiler default change cannot change what we parse.
        extra = ["-gdwarf-4"] if debug else []
        proc = subprocess.run(
            [self.arch.cc, *self._flags(libc), *extra, "-c", name, "-o", obj.name],
            cwd=self.workdir,
            env=C_LOCALE_ENV,
            capture_output=True,
            text=True,
        )
        return Compiled(proc.returncode, proc.stderr, obj)

    def compile_ok(self, name: str, source: str, debug: bool = False) -> Path:
        result = self.compile(name, source, debug=debug)
        if result.returncode != 0:
            raise GenError(f"{self.arch.cc} failed on {name}:\n{result.stderr}")
        if debug and self.arch.link_debug:
            return self._link(result.obj)
        return result.obj

    def _link(self, obj: Path) -> Path:
        """Link a debug object so its DWARF needs no relocations (Arch.link_debug)."""
        linked = obj.with_suffix(".so")
        proc = subprocess.run(
            [self.arch.cc, "-nostdlib", "-shared", obj.name, "-o", linked.name],
            cwd=self.workdir, env=C_LOCALE_ENV, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise GenError(f"{self.arch.cc} could not link {obj.name}:\n{proc.stderr}")
        return linked


def include_block(includes: Iterable[str]) -> str:
    lines = []
    for inc in includes:
        if inc.endswith("?"):
            inc = inc[:-1]
            lines += [f"#if __has_include(<{inc}>)", f"#include <{inc}>", "#endif"]
        else:
            lines.append(f"#include <{inc}>")
    return "\n".join(lines) + "\n"


def nsig_prelude(nsig: int) -> str:
    return f"#ifndef {NSIG_NAME}\n#define {NSIG_NAME} {nsig}\n#endif\n"


# --------------------------------------------------------------------------------------
# Reading an object file
# --------------------------------------------------------------------------------------


def check_endian(elf: ELFFile, arch: Arch) -> str:
    """struct-module byte order prefix, after checking the row's endianness."""
    actual = "little" if elf.little_endian else "big"
    if actual != arch.endian:
        raise GenError(f"{arch.name}: row says {arch.endian}-endian but {arch.cc} emits {actual}")
    return "<" if elf.little_endian else ">"


def symbol_bytes(elf: ELFFile, name: str) -> bytes:
    """Initialised bytes of a data symbol in a relocatable object."""
    symtab = elf.get_section_by_name(".symtab")
    syms = symtab.get_symbol_by_name(name) if symtab else None
    if not syms:
        raise GenError(f"symbol {name} not found in object")
    sym = syms[0]
    data = elf.get_section(sym["st_shndx"]).data()
    # In an ET_REL object, st_value is the offset inside the symbol's section.
    return data[sym["st_value"] : sym["st_value"] + sym["st_size"]]


def read_u64_array(obj: Path, arch: Arch, name: str, count: int) -> list[int]:
    with obj.open("rb") as fh:
        elf = ELFFile(fh)
        order = check_endian(elf, arch)
        raw = symbol_bytes(elf, name)
    if len(raw) != 8 * count:
        raise GenError(f"{name}: expected {count} entries, object has {len(raw) // 8}")
    return list(struct.unpack(f"{order}{count}Q", raw))


# --------------------------------------------------------------------------------------
# Macros
# --------------------------------------------------------------------------------------

LINEMARKER = re.compile(r'^# \d+ "(?P<file>[^"]*)"')
DEFINE = re.compile(r"^#define (?P<name>\w+)(?P<fn>\()?")
UNDEF = re.compile(r"^#undef (?P<name>\w+)")


def relative_header(path: str, include_dir: str) -> str:
    path = os.path.normpath(path)
    if path.startswith(include_dir + "/"):
        return path[len(include_dir) + 1 :]
    return path  # <built-in>, gcc's own headers, our source: matched by no rule


def macro_origins(preprocessed: str, include_dir: str) -> dict[str, str]:
    """Object-like macros still defined at the end, mapped to the header defining them."""
    origins: dict[str, str] = {}
    current = ""
    for line in preprocessed.splitlines():
        if m := LINEMARKER.match(line):
            current = relative_header(m["file"], include_dir)
        elif m := DEFINE.match(line):
            if m["fn"]:
                origins.pop(m["name"], None)  # function-like: never a constant
            else:
                origins[m["name"]] = current
        elif m := UNDEF.match(line):
            origins.pop(m["name"], None)
    return origins


def select_macros(origins: dict[str, str], rules: Sequence[Rule]) -> dict[str, str]:
    """Macro name -> output key for every macro some rule accepts."""
    chosen: dict[str, str] = {}
    for name, header in sorted(origins.items()):
        for rule in rules:
            if not any(fnmatch.fnmatchcase(header, pat) for pat in rule.headers):
                continue
            m = re.fullmatch(rule.pattern, name)
            if m:
                key = m["key"] if "key" in m.re.groupindex else name
                chosen[name] = rule.prefix + key
                break
    return chosen


def value_program(head: str, names: Sequence[str]) -> tuple[str, dict[int, str]]:
    """C source storing each macro's value and sign; also maps source lines to names.

    Each macro gets its own tiny function whose case label only accepts an integer
    constant expression, so pointers, strings and floats fail on a line we can map back
    to the name.  Separate functions stop gcc from reporting an undeclared identifier only
    once per function.
    """
    lines = head.splitlines()
    line_of: dict[int, str] = {}

    def add(text: str, name: str | None = None) -> None:
        lines.append(text)
        if name is not None:
            line_of[len(lines)] = name

    for i, name in enumerate(names):
        add(
            f"static void pyuser_check_{i}(void) {{ switch (0) {{ case ({name}): break; }} }}", name
        )
    add("const unsigned long long pyuser_values[] = {")
    for name in names:
        add(f"\t(unsigned long long)({name}),", name)
    add("};")
    add("const unsigned long long pyuser_negative[] = {")
    for name in names:
        add(f"\t({name}) < 0,", name)
    add("};")
    return "\n".join(lines) + "\n", line_of


ERROR_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):\d+: (?:fatal )?error:", re.M)


def evaluate_macros(
    cc: Compiler, name: str, head: str, names: Sequence[str], libc: bool, verbose: bool
) -> dict[str, int]:
    """Integer value of each macro that is an integer constant expression."""
    remaining = list(names)
    for _ in range(8):
        if not remaining:
            return {}
        source, line_of = value_program(head, remaining)
        result = cc.compile(name, source, libc=libc)
        if result.returncode == 0:
            values = read_u64_array(result.obj, cc.arch, "pyuser_values", len(remaining))
            negative = read_u64_array(result.obj, cc.arch, "pyuser_negative", len(remaining))
            # The unsigned 64-bit pattern plus the sign gives the C value exactly.
            return {
                n: v - (1 << 64) if neg else v
                for n, v, neg in zip(remaining, values, negative, strict=True)
            }
        bad = {
            line_of[int(m["line"])]
            for m in ERROR_LINE.finditer(result.stderr)
            if m["file"] == name and int(m["line"]) in line_of
        }
        if not bad:
            raise GenError(
                f"{cc.arch.cc} failed on {name} outside the value lines:\n{result.stderr}"
            )
        if verbose:
            print(f"{name}: not integer constants: {' '.join(sorted(bad))}", file=sys.stderr)
        remaining = [n for n in remaining if n not in bad]
    raise GenError(f"{name}: gave up after repeated compile errors")


def extract_table(
    cc: Compiler,
    table: Table,
    *,
    extra_rules: Sequence[Rule] = (),
    prelude: str = "",
    verbose: bool = False,
) -> dict[str, int]:
    """Build one output dict: find the macros, then let the compiler evaluate them."""
    head = include_block(table.includes)
    if table.libc:
        head = "#define _GNU_SOURCE 1\n" + head
    head += prelude
    stem = f"{table.name.lower()}{'_libc' if table.libc else ''}"
    origins = macro_origins(cc.preprocess_dd(f"{stem}_dd.c", head, table.libc), cc.arch.include_dir)
    keys = select_macros(origins, (*table.rules, *extra_rules))
    values = evaluate_macros(cc, f"{stem}.c", head, sorted(keys), table.libc, verbose)
    out: dict[str, int] = {}
    for macro, value in values.items():
        key = keys[macro]
        if key in out and out[key] != value:
            raise GenError(f"{table.name}: {key} has two values ({out[key]} and {value})")
        out[key] = value
    return out


def hwcap_table(arch: Arch) -> Table:
    # The header differs between arches (x86 has asm/hwcap2.h), and PowerPC's
    # names too (asm/cputable.h's PPC_FEATURE_* and PPC_FEATURE2_*).
    return Table("HWCAP", arch.hwcap_headers, (Rule(arch.hwcap_headers, arch.hwcap_pattern),))


def read_nsig(cc: Compiler, verbose: bool) -> int:
    head = include_block([cc.arch.nsig_header])
    values = evaluate_macros(cc, "nsig.c", head, [NSIG_NAME], False, verbose)
    if NSIG_NAME not in values:
        raise GenError(f"{NSIG_NAME} not defined by {cc.arch.nsig_header}")
    return values[NSIG_NAME]


# --------------------------------------------------------------------------------------
# Structures: DWARF -> layout model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scalar:
    size: int
    signed: bool
    is_float: bool = False


@dataclass(frozen=True)
class Array:
    elem: FieldType
    count: int | None  # None: flexible array member


@dataclass(frozen=True)
class RecordRef:
    cls: str


FieldType = Scalar | Array | RecordRef


@dataclass
class Member:
    name: str
    offset: int
    type: FieldType


@dataclass
class Record:
    cls: str
    c_type: str  # C spelling, usable in sizeof()/offsetof()
    kind: str  # "struct" or "union"
    size: int
    members: list[Member] = field(default_factory=list)
    flex: Member | None = None  # trailing flexible array member (not emitted)
    spec: StructSpec | None = None  # None for nested types pulled in automatically


def attr(die: DIE, name: str, default: object = None) -> object:
    a = die.attributes.get(name)
    return default if a is None else a.value


def die_name(die: DIE) -> str | None:
    value = attr(die, "DW_AT_name")
    return value.decode() if isinstance(value, bytes) else None


def strip_qualifiers(die: DIE) -> DIE:
    """Follow typedefs and cv-qualifiers to the underlying type."""
    while die.tag in ("DW_TAG_typedef", *QUALIFIERS):
        die = die.get_DIE_from_attribute("DW_AT_type")
    return die


QUALIFIERS = (
    "DW_TAG_const_type",
    "DW_TAG_volatile_type",
    "DW_TAG_restrict_type",
    "DW_TAG_atomic_type",
)
SIGNED_ENCODINGS = {DW_ATE_signed, DW_ATE_signed_char}
UNSIGNED_ENCODINGS = {DW_ATE_unsigned, DW_ATE_unsigned_char, DW_ATE_boolean}


class LayoutReader:
    """Turns DWARF types into Records, naming nested types as it goes.

    Records are appended to `order` after the records they contain, so emitting them
    in that order never references a class before it is defined.
    """

    def __init__(self, wanted: dict[int, StructSpec], aliases: dict[int, str]) -> None:
        self.wanted = wanted  # DIE offset -> spec, for the classes we were asked for
        self.aliases = aliases  # DIE offset -> class it must be identical to
        self.records: dict[int, Record] = {}
        self.order: list[Record] = []

    def record(
        self, die: DIE, cls: str, c_type: str, spec: StructSpec | None, emit: bool = True
    ) -> Record:
        if die.offset in self.records:
            return self.records[die.offset]
        if attr(die, "DW_AT_declaration"):
            raise GenError(f"{c_type}: only declared, never defined, in the included headers")
        kind = "union" if die.tag == "DW_TAG_union_type" else "struct"
        rec = Record(cls, c_type, kind, int(attr(die, "DW_AT_byte_size")), spec=spec)
        for child in die.iter_children():
            if child.tag != "DW_TAG_member":
                continue
            name = die_name(child)
            if name is None:
                raise GenError(f"{c_type}: anonymous member not supported yet")
            if "DW_AT_bit_size" in child.attributes:
                raise GenError(f"{c_type}.{name}: bitfields not supported")
            offset = attr(child, "DW_AT_data_member_location", 0)
            if not isinstance(offset, int):
                raise GenError(f"{c_type}.{name}: non-constant member location")
            ftype = self.field_type(
                child.get_DIE_from_attribute("DW_AT_type"), f"(({c_type} *)0)->{name}", cls, name
            )
            member = Member(name, offset, ftype)
            if isinstance(ftype, Array) and ftype.count is None:
                rec.flex = member
            elif rec.flex is not None:
                raise GenError(f"{c_type}: member {name} after a flexible array")
            else:
                rec.members.append(member)
        if emit:
            self.records[die.offset] = rec
            self.order.append(rec)
        return rec

    def field_type(
        self, die: DIE, c_expr: str, owner: str, member: str, typedef: str | None = None
    ) -> FieldType:
        tag = die.tag
        if tag == "DW_TAG_typedef":
            # Remember the innermost typedef: it names otherwise anonymous structs.
            return self.field_type(
                die.get_DIE_from_attribute("DW_AT_type"), c_expr, owner, member, die_name(die)
            )
        if tag in QUALIFIERS:
            return self.field_type(
                die.get_DIE_from_attribute("DW_AT_type"), c_expr, owner, member, typedef
            )
        if tag == "DW_TAG_base_type":
            return base_scalar(die)
        if tag == "DW_TAG_pointer_type":
            # Guest pointers are plain unsigned addresses on the host side.
            return Scalar(int(attr(die, "DW_AT_byte_size")), signed=False)
        if tag == "DW_TAG_enumeration_type":
            under = (
                die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None
            )
            signed = base_scalar(strip_qualifiers(under)).signed if under is not None else False
            return Scalar(int(attr(die, "DW_AT_byte_size")), signed)
        if tag == "DW_TAG_array_type":
            return self.array_type(die, c_expr, owner, member)
        if tag in ("DW_TAG_structure_type", "DW_TAG_union_type"):
            return RecordRef(self.nested(die, c_expr, owner, member, typedef))
        raise GenError(f"{owner}.{member}: unsupported DWARF type {tag}")

    def array_type(self, die: DIE, c_expr: str, owner: str, member: str) -> FieldType:
        counts: list[int | None] = []
        for sub in die.iter_children():
            if sub.tag != "DW_TAG_subrange_type":
                continue
            if "DW_AT_count" in sub.attributes:
                counts.append(int(attr(sub, "DW_AT_count")))
            elif "DW_AT_upper_bound" in sub.attributes:
                counts.append(int(attr(sub, "DW_AT_upper_bound")) + 1)
            else:
                counts.append(None)  # flexible array member
        elem_expr = c_expr + "[0]" * len(counts)
        ftype = self.field_type(die.get_DIE_from_attribute("DW_AT_type"), elem_expr, owner, member)
        # DWARF lists dimensions outermost first; ctypes builds them innermost first.
        for count in reversed(counts):
            ftype = Array(ftype, count)
        return ftype

    def nested(self, die: DIE, c_expr: str, owner: str, member: str, typedef: str | None) -> str:
        """Class name for a struct/union used as a member, defining it if needed."""
        if die.offset in self.aliases:
            return self.aliases[die.offset]
        if die.offset in self.wanted:
            spec = self.wanted[die.offset]
            return self.record(die, spec.cls, spec.c_type, spec).cls
        kind = "union" if die.tag == "DW_TAG_union_type" else "struct"
        tag = die_name(die)
        if tag is not None:
            cls, c_type = tag.lstrip("_"), f"{kind} {tag}"
        elif typedef is not None:
            cls, c_type = typedef.lstrip("_"), typedef
        else:
            cls, c_type = f"{owner}_{member}", f"__typeof__({c_expr})"
        return self.record(die, cls, c_type, None).cls


def base_scalar(die: DIE) -> Scalar:
    size = int(attr(die, "DW_AT_byte_size"))
    enc = attr(die, "DW_AT_encoding")
    if enc in SIGNED_ENCODINGS:
        return Scalar(size, True)
    if enc in UNSIGNED_ENCODINGS:
        return Scalar(size, False)
    if enc == DW_ATE_float:
        return Scalar(size, True, is_float=True)
    raise GenError(f"unsupported base type {die_name(die)} (encoding {enc})")


def type_variables(obj: Path, arch: Arch) -> dict[str, DIE]:
    """The pyuser_type_* pointer variables of the struct program, by name."""
    found: dict[str, DIE] = {}
    with obj.open("rb") as fh:
        elf = ELFFile(fh)
        check_endian(elf, arch)
        dwarf = elf.get_dwarf_info()  # pyelftools applies the .rel.debug_* relocations
        for cu in dwarf.iter_CUs():
            for die in cu.get_top_DIE().iter_children():
                name = die_name(die)
                if die.tag == "DW_TAG_variable" and name and name.startswith("pyuser_type_"):
                    pointer = die.get_DIE_from_attribute("DW_AT_type")
                    found[name] = strip_qualifiers(pointer.get_DIE_from_attribute("DW_AT_type"))
    return found


def structs_for(arch: Arch) -> list[StructSpec]:
    specs = [s for s in STRUCTS if s.cls not in arch.omit_structs] + list(arch.extra_structs)
    names = [s.cls for s in specs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise GenError(f"duplicate struct classes: {sorted(dup)}")
    return specs


def struct_head(arch: Arch, nsig: int) -> str:
    return include_block(STRUCT_INCLUDES) + nsig_prelude(nsig) + arch.synthetic_c


def read_layouts(cc: Compiler, specs: Sequence[StructSpec], head: str) -> list[Record]:
    """Compile the wanted types with debug info and turn their DWARF into Records."""
    lines = [head]
    for i, spec in enumerate(specs):
        lines.append(f"{spec.c_type} *pyuser_type_s{i};")
    for i, (c_type, _cls) in enumerate(STRUCT_ALIASES):
        lines.append(f"{c_type} *pyuser_type_a{i};")
    obj = cc.compile_ok("structs.c", "\n".join(lines) + "\n", debug=True)
    dies = type_variables(obj, cc.arch)

    wanted = {dies[f"pyuser_type_s{i}"].offset: spec for i, spec in enumerate(specs)}
    aliases = {dies[f"pyuser_type_a{i}"].offset: cls for i, (_c, cls) in enumerate(STRUCT_ALIASES)}
    reader = LayoutReader(wanted, aliases)
    for i, spec in enumerate(specs):
        reader.record(dies[f"pyuser_type_s{i}"], spec.cls, spec.c_type, spec)

    # An alias is only safe if it really is the same layout as the class it points to.
    by_cls = {rec.cls: rec for rec in reader.order}
    for i, (c_type, cls) in enumerate(STRUCT_ALIASES):
        alias = reader.record(dies[f"pyuser_type_a{i}"], cls, c_type, None, emit=False)
        target = by_cls.get(cls)
        if target is None or layout_key(alias) != layout_key(target):
            raise GenError(f"{c_type} is not layout-identical to {cls}")

    for rec in reader.order:
        wants_flex = rec.spec is not None and rec.spec.flex_const is not None
        if (rec.flex is not None) != wants_flex:
            raise GenError(
                f"{rec.cls}: flexible array member needs a StructSpec.flex_const (and only then)"
            )

    names = [rec.cls for rec in reader.order]
    names += [rec.spec.flex_const for rec in reader.order if rec.spec and rec.spec.flex_const]
    clashes = {n for n in names if names.count(n) > 1 or keyword.iskeyword(n) or n in MODULE_NAMES}
    if clashes:
        raise GenError(f"generated names clash: {sorted(clashes)}")
    return reader.order


# Top-level names of the generated module that a class must not shadow.
MODULE_NAMES = {"ctypes", "ARCH", "SYSCALLS", "ERRNO", "CONST", "AUXV", "HWCAP", "STRUCT_SIZES"}


def layout_key(rec: Record) -> tuple[object, ...]:
    return (rec.kind, rec.size, tuple((m.name, m.offset, m.type) for m in rec.members))


# --------------------------------------------------------------------------------------
# Structures: checking against sizeof/offsetof
# --------------------------------------------------------------------------------------


@dataclass
class CLayout:
    """What the compiler says, independently of DWARF: sizeof and per-member numbers."""

    size: dict[str, int] = field(default_factory=dict)
    offset: dict[tuple[str, str], int] = field(default_factory=dict)
    member_size: dict[tuple[str, str], int] = field(default_factory=dict)


def measure(cc: Compiler, records: Sequence[Record], head: str) -> CLayout:
    exprs: list[tuple[str, tuple[str, ...]]] = []  # (C expression, what it measures)
    for rec in records:
        exprs.append((f"sizeof({rec.c_type})", ("size", rec.cls)))
        for m in rec.members:
            exprs.append(
                (f"__builtin_offsetof({rec.c_type}, {m.name})", ("offset", rec.cls, m.name))
            )
            exprs.append(
                (f"sizeof((({rec.c_type} *)0)->{m.name})", ("member_size", rec.cls, m.name))
            )
        if rec.flex is not None:
            exprs.append(
                (
                    f"__builtin_offsetof({rec.c_type}, {rec.flex.name})",
                    ("offset", rec.cls, rec.flex.name),
                )
            )
    body = ",\n".join(f"\t{e}" for e, _ in exprs)
    source = f"{head}\nconst unsigned long long pyuser_layout[] = {{\n{body}\n}};\n"
    obj = cc.compile_ok("layout.c", source)
    values = read_u64_array(obj, cc.arch, "pyuser_layout", len(exprs))
    out = CLayout()
    for (_, what), value in zip(exprs, values, strict=True):
        if what[0] == "size":
            out.size[what[1]] = value
        else:
            getattr(out, what[0])[(what[1], what[2])] = value
    return out


def ftype_size(ftype: FieldType, by_cls: dict[str, Record]) -> int:
    if isinstance(ftype, Scalar):
        return ftype.size
    if isinstance(ftype, Array):
        return ftype_size(ftype.elem, by_cls) * (ftype.count or 0)
    return by_cls[ftype.cls].size


def check_dwarf(records: Sequence[Record], c: CLayout) -> None:
    """DWARF and sizeof/offsetof must tell the same story."""
    by_cls = {r.cls: r for r in records}
    for rec in records:
        if rec.size != c.size[rec.cls]:
            raise GenError(f"{rec.cls}: DWARF size {rec.size} != sizeof {c.size[rec.cls]}")
        for m in rec.members:
            key = (rec.cls, m.name)
            if (m.offset, ftype_size(m.type, by_cls)) != (c.offset[key], c.member_size[key]):
                raise GenError(
                    f"{rec.cls}.{m.name}: DWARF offset/size disagree with offsetof/sizeof"
                )
        if rec.flex is not None and rec.flex.offset != c.offset[(rec.cls, rec.flex.name)]:
            raise GenError(f"{rec.cls}.{rec.flex.name}: DWARF offset disagrees with offsetof")


def check_ctypes(module_text: str, records: Sequence[Record], c: CLayout) -> None:
    """Execute the generated module and compare every class with the compiler."""
    ns: dict[str, object] = {}
    exec(compile(module_text, "<generated>", "exec"), ns)  # our own output, never user input
    for rec in records:
        cls = ns[rec.cls]
        if ctypes.sizeof(cls) != c.size[rec.cls]:
            raise GenError(f"ctypes {rec.cls}: sizeof {ctypes.sizeof(cls)} != C {c.size[rec.cls]}")
        for m in rec.members:
            desc = getattr(cls, m.name)
            key = (rec.cls, m.name)
            if (desc.offset, desc.size) != (c.offset[key], c.member_size[key]):
                raise GenError(
                    f"ctypes {rec.cls}.{m.name}: offset/size {desc.offset}/{desc.size} != "
                    f"C {c.offset[key]}/{c.member_size[key]}"
                )
        if rec.spec and rec.spec.flex_const:
            if ns[rec.spec.flex_const] != c.offset[(rec.cls, rec.flex.name)]:
                raise GenError(f"{rec.spec.flex_const} does not match offsetof")


# --------------------------------------------------------------------------------------
# Rendering the module
# --------------------------------------------------------------------------------------


def ctype_expr(ftype: FieldType) -> str:
    if isinstance(ftype, Scalar):
        if ftype.is_float:
            return {4: "ctypes.c_float", 8: "ctypes.c_double"}[ftype.size]
        return f"ctypes.c_{'int' if ftype.signed else 'uint'}{8 * ftype.size}"
    if isinstance(ftype, Array):
        elem = ctype_expr(ftype.elem)
        if isinstance(ftype.elem, Array):
            elem = f"({elem})"
        return f"{elem} * {ftype.count}"
    return ftype.cls


def ctypes_fields(rec: Record, by_cls: dict[str, Record]) -> list[tuple[str, str]]:
    """(name, ctypes expression) with explicit _pad<N> byte arrays filling the holes."""
    fields: list[tuple[str, str]] = []
    pads = 0
    member_names = {m.name for m in rec.members}

    def pad(nbytes: int) -> None:
        nonlocal pads
        name = f"_pad{pads}"
        if name in member_names:
            raise GenError(f"{rec.cls}: padding name {name} clashes with a member")
        fields.append((name, f"ctypes.c_uint8 * {nbytes}"))
        pads += 1

    if rec.kind == "union":
        # Members all start at 0; a full-size byte array pins the union's size.
        fields = [(m.name, ctype_expr(m.type)) for m in rec.members]
        if max((ftype_size(m.type, by_cls) for m in rec.members), default=0) < rec.size:
            pad(rec.size)
        return fields

    cursor = 0
    for m in sorted(rec.members, key=lambda m: m.offset):
        if m.offset < cursor:
            raise GenError(f"{rec.cls}.{m.name}: overlaps the previous member")
        if m.offset > cursor:
            pad(m.offset - cursor)
        fields.append((m.name, ctype_expr(m.type)))
        cursor = m.offset + ftype_size(m.type, by_cls)
    if cursor < rec.size:
        pad(rec.size - cursor)
    return fields


def render_class(rec: Record, arch: Arch, by_cls: dict[str, Record]) -> str:
    endian = "LittleEndian" if arch.endian == "little" else "BigEndian"
    base = f"ctypes.{endian}{'Union' if rec.kind == 'union' else 'Structure'}"
    comment = f"# {rec.c_type}, {rec.size} bytes"
    if rec.spec and rec.spec.note:
        comment += f"; {rec.spec.note}"
    lines = [comment, f"class {rec.cls}({base}):", "    _pack_ = 1", "    _fields_ = ["]
    lines += [f'        ("{name}", {expr}),' for name, expr in ctypes_fields(rec, by_cls)]
    lines.append("    ]")
    return "\n".join(lines)


def format_int(value: int, hex_from: int | None) -> str:
    if hex_from is not None and value >= hex_from:
        return f"{value:#x}"
    return str(value)


def render_dict(name: str, items: Iterable[tuple[str, int]], hex_from: int | None) -> str:
    body = "".join(f'    "{k}": {format_int(v, hex_from)},\n' for k, v in items)
    return f"{name}: dict[str, int] = {{\n{body}}}\n"


def by_value(table: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(table.items(), key=lambda kv: (kv[1], kv[0]))


def by_name(table: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(table.items())


def render_module(
    arch: Arch,
    versions: dict[str, str],
    tables: dict[str, dict[str, int]],
    fallback_names: Sequence[str],
    records: Sequence[Record],
) -> str:
    by_cls = {r.cls: r for r in records}
    out = [
        f"# Generated by tools/gen_abi.py from {arch.kernel_package} "
        f"{versions[arch.kernel_package]}; do not edit.\n",
        f"# Regenerate with: python3 tools/gen_abi.py --arch {arch.name}\n",
    ]
    if fallback_names:
        out.append(
            f"# Not exported by those UAPI headers, so taken from {arch.libc_package} "
            f"{versions[arch.libc_package]}:\n"
        )
        out.append(f"#   {summarize(fallback_names)}\n")
    out.append(
        f'"""Linux ABI tables for {arch.name} ({arch.triplet}), read back from the compiler."""\n\n'
    )
    out.append("import ctypes\n\n")
    out.append(f'ARCH = "{arch.name}"\n\n')
    out.append(render_dict("SYSCALLS", by_value(tables["SYSCALLS"]), SYSCALLS.hex_from) + "\n")
    out.append(render_dict("ERRNO", by_value(tables["ERRNO"]), ERRNO.hex_from) + "\n")
    out.append(render_dict("CONST", by_name(tables["CONST"]), CONST.hex_from) + "\n")
    out.append(render_dict("AUXV", by_value(tables["AUXV"]), AUXV.hex_from) + "\n")
    hw = sorted(tables["HWCAP"].items(), key=lambda kv: (kv[0].split("_")[0], kv[1], kv[0]))
    out.append(render_dict("HWCAP", hw, 0) + "\n")
    for rec in records:
        out.append("\n" + render_class(rec, arch, by_cls) + "\n\n")
        if rec.spec and rec.spec.flex_const:
            out.append(f"{rec.spec.flex_const} = {rec.flex.offset}\n\n")
    sizes = [(r.cls, r.size) for r in records]
    out.append("\n" + render_dict("STRUCT_SIZES", sizes, None))
    return "".join(out)


def summarize(names: Sequence[str]) -> str:
    """ "AF_* O_ASYNC ...": names sharing a first word collapse into one pattern."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.split("_")[0], []).append(name)
    return " ".join(g[0] if len(g) == 1 else f"{prefix}_*" for prefix, g in sorted(groups.items()))


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------


def package_version(package: str) -> str:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package],
        env=C_LOCALE_ENV,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise GenError(
            f"cannot get the version of {package} (is it installed?): {proc.stderr.strip()}"
        )
    return proc.stdout


def check_required(arch: Arch, tables: dict[str, dict[str, int]]) -> None:
    missing = []
    for source in (REQUIRED, arch.required):
        for table, names in source.items():
            missing += [f"{table}[{name}]" for name in names
                        if name not in tables[table] and name not in arch.not_required]
    if missing:
        raise GenError("required names not found: " + ", ".join(missing))


def generate(arch: Arch, verbose: bool = False) -> str:
    if shutil.which(arch.cc) is None:
        raise GenError(f"{arch.cc} not found (install gcc-{arch.triplet})")
    versions = {p: package_version(p) for p in (arch.kernel_package, arch.libc_package)}
    with tempfile.TemporaryDirectory(prefix="gen_abi.") as tmp:
        cc = Compiler(arch, Path(tmp))
        nsig = read_nsig(cc, verbose)
        prelude = nsig_prelude(nsig)
        tables = {
            "SYSCALLS": extract_table(
                cc, SYSCALLS, extra_rules=arch.syscall_rules, verbose=verbose
            ),
            "ERRNO": extract_table(cc, ERRNO, verbose=verbose),
            "CONST": extract_table(cc, CONST, prelude=prelude, verbose=verbose),
            "AUXV": extract_table(cc, AUXV, verbose=verbose),
            "HWCAP": extract_table(cc, hwcap_table(arch), verbose=verbose),
        }
        tables["CONST"][NSIG_NAME] = nsig
        # UAPI values win; libc only fills the gaps (see LIBC_FALLBACK).
        fallback = extract_table(cc, LIBC_FALLBACK, verbose=verbose)
        fallback_names = sorted(k for k in fallback if k not in tables["CONST"])
        tables["CONST"].update({k: fallback[k] for k in fallback_names})
        check_required(arch, tables)

        head = struct_head(arch, nsig)
        records = read_layouts(cc, structs_for(arch), head)
        measured = measure(cc, records, head)
        check_dwarf(records, measured)

    text = render_module(arch, versions, tables, fallback_names, records)
    check_ctypes(text, records, measured)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="arm", choices=sorted(ARCHS))
    parser.add_argument(
        "--output", type=Path, help="default: pyuser/targets/generated/<arch>_abi.py"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="list macros skipped as non-integers"
    )
    args = parser.parse_args(argv)
    arch = ARCHS[args.arch]
    try:
        text = generate(arch, args.verbose)
    except GenError as exc:
        print(f"gen_abi: {exc}", file=sys.stderr)
        return 1
    output = args.output or OUT_DIR / f"{arch.name}_abi.py"
    output.write_text(text)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
