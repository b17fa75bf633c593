"""siginfo_t: what a signal carries, and its bytes in a Linux target's layout.

The one place a siginfo is encoded: Target.encode_siginfo calls
:func:`encode_linux_siginfo` (a personality or an architecture with a layout
of its own, FreeBSD or MIPS, overrides it), and everything that hands a
siginfo to the guest (a handler's frame, waitid, rt_sigtimedwait, signalfd,
gdb's qXfer:siginfo) asks the target.  SigInfo.code holds the host's
(asm-generic) numbering, which every Linux target but MIPS shares.
"""

from __future__ import annotations

from typing import Literal

# si_code values (include/uapi/asm-generic/siginfo.h)
SI_USER = 0
SI_KERNEL = 0x80
SI_QUEUE = -1
SI_TIMER = -2
SI_TKILL = -6


class SigInfo:
    """A siginfo_t, in target signal numbers; encoded per target when delivered."""

    def __init__(self, signo: int, code: int = SI_USER, errno: int = 0, pid: int = 0,
                 uid: int = 0, addr: int = 0, status: int = 0, value: int = 0, timerid: int = 0,
                 overrun: int = 0, utime: int = 0, stime: int = 0, band: int = 0, fd: int = 0,
                 fault: bool = False) -> None:
        self.signo = signo
        self.code = code
        self.errno = errno
        self.pid = pid
        self.uid = uid
        self.addr = addr  # SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP
        self.status = status  # SIGCHLD
        self.value = value  # sigqueue / timers
        self.timerid = timerid
        self.overrun = overrun
        self.utime = utime
        self.stime = stime
        self.band = band
        self.fd = fd
        self.fault = fault  # a synchronous CPU fault

    def __repr__(self) -> str:
        return f"SigInfo({self.signo}, code={self.code}, pid={self.pid}, addr={self.addr:#x})"


def encode_linux_siginfo(info: SigInfo, sigchld: int, word_size: int,
                         byteorder: Literal["little", "big"]) -> bytes:
    """siginfo_t in a Linux target's layout (128 bytes): fields placed by union member.

    Offsets for 32-bit targets: signo 0, errno 4, code 8, then the union at 12
    (pid/addr/timerid at 12, uid/overrun at 16, status/value at 20); on 64-bit
    targets the union starts at 16 and pointers are 8 bytes.
    """
    buf = bytearray(128)
    w = word_size
    base = 12 if w == 4 else 16

    def put(offset: int, value: int, size: int = 4) -> None:
        buf[offset:offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, byteorder)

    put(0, info.signo)
    put(4, info.errno)
    put(8, info.code)
    if info.fault:
        put(base, info.addr, w)
    elif info.code == SI_TIMER:
        put(base, info.timerid)
        put(base + 4, info.overrun)
        put(base + 8, info.value, w)
    elif info.signo == sigchld and info.code > 0:
        put(base, info.pid)
        put(base + 4, info.uid)
        put(base + 8, info.status)
        put(base + 8 + w, info.utime, w)
        put(base + 8 + 2 * w, info.stime, w)
    else:
        put(base, info.pid)
        put(base + 4, info.uid)
        if info.code in (SI_QUEUE, SI_TIMER) or info.code < 0:
            put(base + 8, info.value, w)
    return bytes(buf)
