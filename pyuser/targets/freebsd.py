"""What the FreeBSD targets share: the carry-flag syscall convention, siginfo.

FreeBSD returns a syscall's error as a positive errno with the carry flag
set (amd64: RFLAGS.CF, sys/amd64/amd64/vm_machdep.c cpu_set_syscall_retval;
arm64: PSTATE.C, sys/arm64/arm64/vm_machdep.c), its value with the carry
clear.  The kernel's handlers return Linux-style -errno; one place turns
that into the carry convention.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyuser.targets.base import LINUX_MAY_BLOCK

if TYPE_CHECKING:
    from pyuser.targets.siginfo import SigInfo

# Signals FreeBSD discards by default beyond those Linux does too
# (sys/kern/kern_sig.c sigproptbl: SIGPROP_IGNORE); Linux terminates on SIGIO
FREEBSD_IGNORED_BY_DEFAULT = ("SIGIO", "SIGINFO", "SIGTHR", "SIGLIBRT")

# FreeBSD's syscalls that may block in the host, besides the names it shares
# with Linux (read, wait4, nanosleep, poll, accept, ...): served with the engine
# stopped once a second thread exists.  kevent applies its change list before
# it waits, so it must not be stopped at its blocking point and served again
# (an EV_DELETE would fail the second time).  _umtx_op is not here: like
# futex it asks for the stopped engine only when it will wait.
FREEBSD_MAY_BLOCK = LINUX_MAY_BLOCK | frozenset({
    "kevent", "freebsd11_kevent", "wait6", "pread", "pwrite", "pselect",
    "sigwait", "sigwaitinfo", "sigtimedwait", "thr_suspend",
})

# struct __siginfo (sys/sys/signal.h; Go's runtime/defs_freebsd_amd64.go siginfo):
# si_signo 0, si_errno 4, si_code 8, si_pid 12, si_uid 16, si_status 20,
# si_addr 24, si_value 32, _reason 40 (timer: _trapno/_timerid 40, _overrun 44)
SIGINFO_SIZE = 80
# Linux si_code (pyuser's internal numbering) -> FreeBSD's (sys/sys/signal.h)
_SI_CODES = {0: 0x10001, -1: 0x10002, -2: 0x10003, -3: 0x10005, -4: 0x10004,
             -6: 0x10007, 0x80: 0x10006}


def encode_freebsd_siginfo(info: SigInfo, sigchld: int) -> bytes:
    buf = bytearray(SIGINFO_SIZE)
    code = info.code if info.fault or info.signo == sigchld and info.code > 0 \
        else _SI_CODES.get(info.code, info.code)
    status = info.status
    buf[0:24] = b"".join((v & 0xFFFFFFFF).to_bytes(4, "little") for v in (
        info.signo, info.errno, code, info.pid, info.uid, status))
    buf[24:32] = (info.addr & (2**64 - 1)).to_bytes(8, "little")
    buf[32:40] = (info.value & (2**64 - 1)).to_bytes(8, "little")
    if info.code == -2:
        buf[40:48] = info.timerid.to_bytes(4, "little") + info.overrun.to_bytes(4, "little")
    return bytes(buf)
