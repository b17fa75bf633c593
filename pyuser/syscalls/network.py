"""Sockets: descriptors are host sockets, addresses pass through for AF_UNIX/INET."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Ptr

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel


class NetworkCalls:
    @syscall
    def socketpair(self: Kernel, domain: int, type_: int, protocol: int, sv: Ptr) -> int:
        import socket

        a, b = socket.socketpair(domain, self.socket_type(type_), protocol)
        self.mem.write(sv, struct.pack("<ii", a.detach(), b.detach()))
        return 0

    @syscall
    def socket(self: Kernel, domain: int, type_: int, protocol: int) -> int:
        import socket

        return socket.socket(domain, self.socket_type(type_), protocol).detach()

    def socket_type(self: Kernel, type_: int) -> int:
        """SOCK_NONBLOCK/SOCK_CLOEXEC are O_NONBLOCK/O_CLOEXEC values of the target."""
        import socket

        c = self.abi.CONST
        base = type_ & 0xF
        if type_ & c["O_NONBLOCK"]:
            base |= socket.SOCK_NONBLOCK
        if type_ & c["O_CLOEXEC"]:
            base |= socket.SOCK_CLOEXEC
        return base
