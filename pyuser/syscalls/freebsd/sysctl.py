"""__sysctl and __sysctlbyname: the MIB nodes programs ask for (sys/sys/sysctl.h).

What a FreeBSD 14.0 machine with the host's CPUs and memory would answer.
Unknown nodes give ENOENT, as FreeBSD does for a name it does not have.
The name -> OID table (sysctl(3)'s "sysctl.name2oid", {0, 3}) serves
programs that look names up first (libc's sysctlbyname, Go's syscall.Sysctl).
"""

from __future__ import annotations

import os
import socket
import struct
import time

from pyuser.loader.freebsd import OSRELDATE, PAGE_SIZES
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError, UInt

# name -> OID, for the nodes with fixed numbers in sys/sys/sysctl.h, plus a
# few OID_AUTO nodes given numbers of pyuser's own above 0x1000 (FreeBSD
# hands those out dynamically from 0x100 up as well)
_NAMES: dict[bytes, tuple[int, ...]] = {
    b"kern.ostype": (1, 1), b"kern.osrelease": (1, 2), b"kern.osrevision": (1, 3),
    b"kern.version": (1, 4), b"kern.argmax": (1, 8), b"kern.hostname": (1, 10),
    b"kern.ngroups": (1, 18), b"kern.boottime": (1, 21), b"kern.osreldate": (1, 24),
    b"kern.maxfilesperproc": (1, 27), b"kern.ps_strings": (1, 32), b"kern.usrstack": (1, 33),
    b"kern.iov_max": (1, 35), b"kern.hostuuid": (1, 36), b"kern.arandom": (1, 37),
    b"hw.machine": (6, 1), b"hw.model": (6, 2), b"hw.ncpu": (6, 3), b"hw.physmem": (6, 5),
    b"hw.pagesize": (6, 7), b"hw.machine_arch": (6, 11), b"hw.realmem": (6, 12),
    b"hw.pagesizes": (6, 0x1001), b"kern.smp.cpus": (1, 0x1001),
    b"kern.proc.pathname": (1, 14, 12), b"kern.osproctype": (1, 0x1002),
    b"vm.overcommit": (2, 0x1001), b"kern.sched.cpusetsize": (1, 0x1003),
    b"kern.smp.maxcpus": (1, 0x1004), b"kern.ipc.soacceptqueue": (1, 0x1005),
    b"kern.ipc.somaxconn": (1, 0x1005), b"security.jail.jailed": (1, 0x1006),
    b"kern.features.inet6": (1, 0x1007),
}
_CPUSET_SIZE = 32  # CPU_SETSIZE 256 bits (sys/sys/_cpuset.h)


def _int(value: int) -> bytes:
    return struct.pack("<i", value)


def _host_int(path: str, default: int) -> int:
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return default


def _long(value: int) -> bytes:
    return struct.pack("<q", value)


class SysctlCalls(SyscallFamily):
    def _sysctl_value(self, mib: tuple[int, ...]) -> bytes | None:
        proc = self.proc
        uname = os.uname()
        machine = self.target.uname_machine.encode()
        ncpu = len(os.sched_getaffinity(0))
        physmem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        values = {
            (1, 1): b"FreeBSD\0", (1, 2): b"14.0-RELEASE\0", (1, 3): _int(199506),
            (1, 4): f"FreeBSD 14.0-RELEASE (pyuser on Linux {uname.release})\n\0".encode(),
            (1, 8): _int(os.sysconf("SC_ARG_MAX")), (1, 10): socket.gethostname().encode() + b"\0",
            (1, 18): _int(os.sysconf("SC_NGROUPS_MAX") + 1),
            (1, 21): struct.pack("<qq", int(boot), int((boot % 1) * 1e6)),
            (1, 24): _int(OSRELDATE), (1, 27): _int(os.sysconf("SC_OPEN_MAX")),
            (1, 32): _long(self.target.shared_page - 32), (1, 33): _long(self.target.shared_page),
            (1, 35): _int(1024), (1, 36): b"00000000-0000-0000-0000-000000000000\0",
            (1, 0x1001): _int(ncpu), (1, 0x1004): _int(256),
            (1, 0x1006): _int(0), (1, 0x1007): _int(1),
            (1, 0x1005): _int(_host_int("/proc/sys/net/core/somaxconn", 128)), (1, 0x1002): b"FreeBSD\0", (1, 0x1003): _int(_CPUSET_SIZE),
            (6, 1): machine + b"\0", (6, 2): b"pyuser virtual CPU\0", (6, 3): _int(ncpu),
            (6, 5): _long(physmem), (6, 7): _int(4096), (6, 11): machine + b"\0",
            (6, 12): _long(physmem),
            (6, 0x1001): struct.pack(f"<{len(PAGE_SIZES)}q", *PAGE_SIZES),
            (2, 0x1001): _int(0),
        }
        if mib[:3] == (1, 14, 12) and (len(mib) < 4 or mib[3] in (-1, os.getpid())):
            return os.fsencode(proc.exe_guest_path or proc.exe_host_path) + b"\0"
        return values.get(mib)

    def _sysctl_answer(self, value: bytes, old: int, oldlenp: int) -> int:
        if oldlenp:
            size = struct.unpack("<Q", self.mem.read(oldlenp, 8))[0]
            if old:
                if size < len(value):
                    self.mem.write(old, value[:size])
                    self.mem.write(oldlenp, struct.pack("<Q", size))
                    raise SyscallError("ENOMEM")
                self.mem.write(old, value)
            self.mem.write(oldlenp, struct.pack("<Q", len(value)))
        elif old:
            raise SyscallError("EINVAL")
        return 0

    @syscall("__sysctl")
    def sysctl(self, name: Ptr, namelen: UInt, old: Ptr, oldlenp: Ptr, new: Ptr,
               newlen: UInt) -> int:
        if not 2 <= namelen <= 24:
            raise SyscallError("EINVAL")
        mib = struct.unpack(f"<{namelen}i", self.mem.read(name, 4 * namelen))
        if mib[:2] == (0, 3):  # sysctl.name2oid: the OID of the name in `new`
            wanted = self.mem.read(new, newlen).rstrip(b"\0")
            oid = _NAMES.get(wanted)
            if oid is None:
                if self.log.enabled("unimp"):
                    self.log.write(f"Unsupported sysctl: {wanted.decode(errors='replace')}")
                raise SyscallError("ENOENT")
            return self._sysctl_answer(struct.pack(f"<{len(oid)}i", *oid), old, oldlenp)
        if mib == (1, 37):  # kern.arandom: up to 256 random bytes
            size = struct.unpack("<Q", self.mem.read(oldlenp, 8))[0] if oldlenp else 0
            return self._sysctl_answer(self.proc.random_bytes(min(size, 256)), old, oldlenp)
        if new:
            raise SyscallError("EPERM")  # nothing here may be set
        value = self._sysctl_value(tuple(mib))
        if value is None:
            if self.log.enabled("unimp"):
                self.log.write(f"Unsupported sysctl: {'.'.join(map(str, mib))}")
            raise SyscallError("ENOENT")
        return self._sysctl_answer(value, old, oldlenp)

    @syscall("__sysctlbyname")
    def sysctlbyname(self, name: Ptr, namelen: UInt, old: Ptr, oldlenp: Ptr, new: Ptr,
                     newlen: UInt) -> int:
        oid = _NAMES.get(self.mem.read(name, namelen).rstrip(b"\0"))
        if oid is None:
            raise SyscallError("ENOENT")
        if oid == (1, 37):
            size = struct.unpack("<Q", self.mem.read(oldlenp, 8))[0] if oldlenp else 0
            return self._sysctl_answer(self.proc.random_bytes(min(size, 256)), old, oldlenp)
        value = self._sysctl_value(oid)
        if value is None:
            raise SyscallError("ENOENT")
        return self._sysctl_answer(value, old, oldlenp)
