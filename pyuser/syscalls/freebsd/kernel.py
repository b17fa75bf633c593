"""FreeBsdKernel: the FreeBSD families on the shared dispatch core."""

from __future__ import annotations

from pyuser.syscalls.exec import ExecCalls
from pyuser.syscalls.freebsd.files import FreeBsdFileCalls
from pyuser.syscalls.freebsd.kevent import KeventCalls
from pyuser.syscalls.freebsd.memory import FreeBsdMemoryCalls
from pyuser.syscalls.freebsd.network import FreeBsdNetworkCalls
from pyuser.syscalls.freebsd.processes import FreeBsdProcessCalls
from pyuser.syscalls.freebsd.signals import FreeBsdSignalCalls
from pyuser.syscalls.freebsd.sysctl import SysctlCalls
from pyuser.syscalls.freebsd.threads import FreeBsdThreadCalls
from pyuser.syscalls.freebsd.time import FreeBsdTimeCalls
from pyuser.syscalls.kernel import KernelCore


class FreeBsdKernel(FreeBsdFileCalls, FreeBsdMemoryCalls, FreeBsdProcessCalls,
                    FreeBsdSignalCalls, FreeBsdThreadCalls, FreeBsdTimeCalls, SysctlCalls,
                    KeventCalls, FreeBsdNetworkCalls, ExecCalls, KernelCore):
    """FreeBSD's syscalls; execve is Linux's (the emulator re-executes itself,
    and the new program's personality comes from its ELF header again)."""
