"""FreeBSD amd64's sysarch(2): the FS and GS bases."""

from __future__ import annotations

from unicorn import x86_const as X

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError


class FreeBsdAmd64Calls(SyscallFamily):
    """sysarch(2): the FS/GS bases (sys/amd64/amd64/sys_machdep.c)."""

    @syscall
    def sysarch(self, op: int, parms: Ptr) -> int:
        c = self.abi.CONST
        uc = self.cpu.uc
        regs = {c["AMD64_SET_FSBASE"]: X.UC_X86_REG_FS_BASE,
                c["AMD64_SET_GSBASE"]: X.UC_X86_REG_GS_BASE}
        if op in regs:
            uc.reg_write(regs[op], int.from_bytes(self.mem.read(parms, 8), "little"))
            return 0
        gets = {c["AMD64_GET_FSBASE"]: X.UC_X86_REG_FS_BASE,
                c["AMD64_GET_GSBASE"]: X.UC_X86_REG_GS_BASE}
        if op in gets:
            self.mem.write(parms, uc.reg_read(gets[op]).to_bytes(8, "little"))
            return 0
        raise SyscallError("EINVAL")


FAMILY = FreeBsdAmd64Calls
