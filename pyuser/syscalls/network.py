"""Sockets: descriptors are host sockets, addresses pass through for AF_UNIX/INET."""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING

from pyuser.syscalls import hostcalls
from pyuser.syscalls.files import guest_fd
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, InBuf, Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel


class NetworkCalls:
    @syscall
    def socketpair(self: Kernel, domain: int, type_: int, protocol: int, sv: Ptr) -> int:
        import socket

        a, b = socket.socketpair(domain, self.socket_type(type_), protocol)
        cloexec = bool(type_ & self.abi.CONST["O_CLOEXEC"])
        fds = [guest_fd(s.detach(), cloexec) for s in (a, b)]
        self.mem.write(sv, struct.pack("<ii", *fds))
        return 0

    @syscall
    def socket(self: Kernel, domain: int, type_: int, protocol: int) -> int:
        import socket

        fd = socket.socket(domain, self.socket_type(type_), protocol).detach()
        # Python makes every socket close-on-exec; the guest decides
        return guest_fd(fd, bool(type_ & self.abi.CONST["O_CLOEXEC"]))

    @syscall
    def connect(self: Kernel, fd: Fd, addr: InBuf, addrlen: UInt) -> int:
        # glibc's NSS asks nscd through an AF_UNIX socket (ls -l, id, ...)
        return self.blocking(hostcalls.connect, fd, addr)

    # ------------------------------------------------------------ addresses
    # A sockaddr is laid out the same on every Linux architecture for
    # AF_UNIX, AF_INET and AF_INET6, and MSG_* flags and SOL_SOCKET option
    # numbers are the generic ones on ARM: bytes and numbers pass through;
    # buffers are read and written in place in guest memory.
    def _sockaddr_out(self: Kernel, addr: int, addrlen: int) -> tuple[object, object]:
        """(pointer, socklen_t cell) for a call that fills in an address."""
        if not addr:
            return None, None
        (room,) = struct.unpack("<I", self.mem.read(addrlen, 4))
        self.mem.writable(addr, room)
        return ctypes.c_void_p(self.mem.host_pointer(addr)), ctypes.c_uint32(room)

    def _sockaddr_done(self: Kernel, addrlen: int, cell: object) -> None:
        if cell is not None:
            self.mem.write(addrlen, struct.pack("<I", cell.value))  # type: ignore[attr-defined]

    def _buffer(self: Kernel, buf: int, length: int, writable: bool) -> ctypes.c_void_p:
        (self.mem.writable if writable else self.mem.readable)(buf, length)
        return ctypes.c_void_p(self.mem.host_pointer(buf))

    @syscall
    def bind(self: Kernel, fd: Fd, addr: InBuf, addrlen: UInt) -> int:
        return hostcalls.libc("bind", fd, addr, len(addr))

    @syscall
    def listen(self: Kernel, fd: Fd, backlog: int) -> int:
        return hostcalls.libc("listen", fd, backlog)

    @syscall
    def accept4(self: Kernel, fd: Fd, addr: Ptr, addrlen: Ptr, flags: UInt) -> int:
        pointer, cell = self._sockaddr_out(addr, addrlen)
        new = self.blocking(hostcalls.libc, "accept4", fd, pointer,
                            ctypes.byref(cell) if cell is not None else None,
                            self.socket_type(flags) & ~0xF)
        self._sockaddr_done(addrlen, cell)
        return new

    @syscall
    def accept(self: Kernel, fd: Fd, addr: Ptr, addrlen: Ptr) -> int:
        return self.accept4(fd, addr, addrlen, 0)

    def _name(self: Kernel, which: str, fd: int, addr: int, addrlen: int) -> int:
        pointer, cell = self._sockaddr_out(addr, addrlen)
        if cell is None:
            raise SyscallError("EFAULT")
        hostcalls.libc(which, fd, pointer, ctypes.byref(cell))
        self._sockaddr_done(addrlen, cell)
        return 0

    @syscall
    def getsockname(self: Kernel, fd: Fd, addr: Ptr, addrlen: Ptr) -> int:
        return self._name("getsockname", fd, addr, addrlen)

    @syscall
    def getpeername(self: Kernel, fd: Fd, addr: Ptr, addrlen: Ptr) -> int:
        return self._name("getpeername", fd, addr, addrlen)

    @syscall
    def sendto(self: Kernel, fd: Fd, buf: Ptr, length: UInt, flags: UInt, addr: Ptr,
               addrlen: UInt) -> int:
        to = self.mem.read(addr, addrlen) if addr else None
        return self.blocking(hostcalls.libc, "sendto", fd, self._buffer(buf, length, False),
                             ctypes.c_size_t(length), flags, to, len(to) if to else 0)

    @syscall
    def send(self: Kernel, fd: Fd, buf: Ptr, length: UInt, flags: UInt) -> int:
        return self.sendto(fd, buf, length, flags, 0, 0)

    @syscall
    def recvfrom(self: Kernel, fd: Fd, buf: Ptr, length: UInt, flags: UInt, addr: Ptr,
                 addrlen: Ptr) -> int:
        pointer, cell = self._sockaddr_out(addr, addrlen)
        got = self.blocking(hostcalls.libc, "recvfrom", fd, self._buffer(buf, length, True),
                            ctypes.c_size_t(length), flags, pointer,
                            ctypes.byref(cell) if cell is not None else None)
        self._sockaddr_done(addrlen, cell)
        return got

    @syscall
    def recv(self: Kernel, fd: Fd, buf: Ptr, length: UInt, flags: UInt) -> int:
        return self.recvfrom(fd, buf, length, flags, 0, 0)

    @syscall
    def shutdown(self: Kernel, fd: Fd, how: int) -> int:
        return hostcalls.libc("shutdown", fd, how)

    @syscall
    def setsockopt(self: Kernel, fd: Fd, level: int, name: int, value: Ptr,
                   length: UInt) -> int:
        data = self.mem.read(value, length) if length else None
        return hostcalls.libc("setsockopt", fd, level, name, data, length)

    @syscall
    def getsockopt(self: Kernel, fd: Fd, level: int, name: int, value: Ptr,
                   length: Ptr) -> int:
        pointer, cell = self._sockaddr_out(value, length)
        hostcalls.libc("getsockopt", fd, level, name, pointer,
                       ctypes.byref(cell) if cell is not None else None)
        self._sockaddr_done(length, cell)
        return 0

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
