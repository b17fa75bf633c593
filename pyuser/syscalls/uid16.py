"""The 16-bit-id calls of arm and i386 (the kernel's kernel/uid16.c).

Those ABIs began with a 16-bit uid_t and kept the old calls under the plain
names (chown, setuid, getgroups, ...) when the 32-bit ones came as chown32,
setuid32, getgroups32.  glibc uses only the *32 calls; older binaries, and
programs making raw syscalls, use these.  The table binds a name to its
`<name>16` handler here on targets that also have `<name>32`
(pyuser.syscalls.table.build_table).

An id passed in is its low 16 bits, 0xffff meaning -1 (low2highuid); an id
handed back that does not fit in 16 bits becomes the overflow id, 65534 unless
/proc/sys/kernel/overflowuid says otherwise (high2lowuid,
include/linux/highuid.h).
"""

from __future__ import annotations

import os

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Id16, Path, Ptr, SyscallError

NGROUPS_MAX = 65536  # include/uapi/linux/limits.h
_DEFAULT_OVERFLOW_ID = 65534  # DEFAULT_OVERFLOWUID, kernel/sys.c
_overflow_ids: dict[str, int] = {}


def _overflow_id(kind: str) -> int:
    """The host's overflowuid or overflowgid, read once."""
    if kind not in _overflow_ids:
        try:
            with open(f"/proc/sys/kernel/overflow{kind}", "rb") as f:
                _overflow_ids[kind] = int(f.read())
        except (OSError, ValueError):
            _overflow_ids[kind] = _DEFAULT_OVERFLOW_ID
    return _overflow_ids[kind]


def low_uid(uid: int) -> int:
    return uid if uid <= 0xFFFF else _overflow_id("uid")


def low_gid(gid: int) -> int:
    return gid if gid <= 0xFFFF else _overflow_id("gid")


class Uid16Calls(SyscallFamily):
    def _put_ids16(self, addresses: tuple[int, ...], values: list[int]) -> int:
        for address, value in zip(addresses, values, strict=True):
            self.mem.write(address, self.target.pack("H", value))
        return 0

    @syscall
    def getuid16(self) -> int:
        return low_uid(os.getuid())

    @syscall
    def geteuid16(self) -> int:
        return low_uid(os.geteuid())

    @syscall
    def getgid16(self) -> int:
        return low_gid(os.getgid())

    @syscall
    def getegid16(self) -> int:
        return low_gid(os.getegid())

    @syscall
    def getresuid16(self, ruid: Ptr, euid: Ptr, suid: Ptr) -> int:
        return self._put_ids16((ruid, euid, suid), [low_uid(i) for i in os.getresuid()])

    @syscall
    def getresgid16(self, rgid: Ptr, egid: Ptr, sgid: Ptr) -> int:
        return self._put_ids16((rgid, egid, sgid), [low_gid(i) for i in os.getresgid()])

    @syscall
    def getgroups16(self, size: int, groups: Ptr) -> int:
        host = os.getgroups()
        if size == 0:
            return len(host)
        if size < len(host):
            raise SyscallError("EINVAL")
        self.mem.write(groups, self.target.pack(f"{len(host)}H", *map(low_gid, host)))
        return len(host)

    @syscall
    def setgroups16(self, size: int, groups: Ptr) -> int:
        if size < 0 or size > NGROUPS_MAX:
            raise SyscallError("EINVAL")
        raw = self.target.unpack(f"{size}H", self.mem.read(groups, 2 * size)) if size else ()
        # 0xffff is (gid_t)-1 there, which the host refuses as it should
        os.setgroups([-1 if gid == 0xFFFF else gid for gid in raw])
        return 0

    @syscall
    def setuid16(self, uid: Id16) -> int:
        os.setuid(uid)
        return 0

    @syscall
    def setgid16(self, gid: Id16) -> int:
        os.setgid(gid)
        return 0

    @syscall
    def setreuid16(self, r: Id16, e: Id16) -> int:
        os.setreuid(r, e)
        return 0

    @syscall
    def setregid16(self, r: Id16, e: Id16) -> int:
        os.setregid(r, e)
        return 0

    @syscall
    def setresuid16(self, r: Id16, e: Id16, s: Id16) -> int:
        os.setresuid(r, e, s)
        return 0

    @syscall
    def setresgid16(self, r: Id16, e: Id16, s: Id16) -> int:
        os.setresgid(r, e, s)
        return 0

    @syscall
    def setfsuid16(self, uid: Id16) -> int:
        return hostcalls.setfsuid(uid)

    @syscall
    def setfsgid16(self, gid: Id16) -> int:
        return hostcalls.setfsgid(gid)

    @syscall
    def chown16(self, path: Path, uid: Id16, gid: Id16) -> int:
        os.chown(path, uid, gid)
        return 0

    @syscall
    def lchown16(self, path: Path, uid: Id16, gid: Id16) -> int:
        os.lchown(path, uid, gid)
        return 0

    @syscall
    def fchown16(self, fd: Fd, uid: Id16, gid: Id16) -> int:
        os.fchown(fd, uid, gid)
        return 0
