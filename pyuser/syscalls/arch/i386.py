"""i386's private syscalls: the TLS segment in the GDT."""

from __future__ import annotations

import struct

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr, SyscallError
from pyuser.targets.i386 import GDT_TLS_MAX, GDT_TLS_MIN


class I386PrivateCalls(SyscallFamily):
    """set_thread_area / get_thread_area: the TLS segment."""

    @syscall
    def set_thread_area(self, u_info: Ptr) -> int:
        self.proc.page_tables.write_tls_entry(self.mem, u_info)
        return 0

    @syscall
    def get_thread_area(self, u_info: Ptr) -> int:
        (entry,) = struct.unpack("<i", self.mem.read(u_info, 4))
        if not GDT_TLS_MIN <= entry <= GDT_TLS_MAX:
            raise SyscallError("EINVAL")
        low, high = struct.unpack("<II", bytes(self.proc.page_tables.gdt[8 * entry:8 * entry + 8]))
        base = (low >> 16) | ((high & 0xFF) << 16) | (high & 0xFF000000)
        limit = (low & 0xFFFF) | (high & 0xF0000)
        flags = (((high >> 22) & 1) | (((high >> 10) & 3) << 1) | ((((high >> 9) & 1) ^ 1) << 3)
                 | (((high >> 23) & 1) << 4) | ((((high >> 15) & 1) ^ 1) << 5)
                 | (((high >> 20) & 1) << 6))
        self.mem.write(u_info, struct.pack("<iIII", entry, base, limit, flags))
        return 0


FAMILY = I386PrivateCalls
