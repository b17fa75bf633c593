"""Sockets: descriptors are host sockets; addresses pass through for AF_UNIX/INET.

What differs per target is translated: socket types and SOL_SOCKET option
numbers (MIPS has its own: SOCK_STREAM 2, SOL_SOCKET 0xffff), and on a
big-endian guest the host-order fields: sockaddr's sa_family and the words of
option values.
"""

from __future__ import annotations

import ctypes
import struct

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import to_host
from pyuser.syscalls.files import guest_fd
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, InBuf, Ptr, SyscallError, UInt

_SOCKET_TYPES = ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET")


# socketcall(2)'s call numbers (include/uapi/linux/net.h): the call each
# stands for and how many argument words it reads (the missing ones are 0:
# send and recv are sendto and recvfrom without an address, accept is accept4
# without flags).
_SOCKETCALLS = {1: ("socket", 3), 2: ("bind", 3), 3: ("connect", 3), 4: ("listen", 2),
                5: ("accept4", 3), 6: ("getsockname", 3), 7: ("getpeername", 3),
                8: ("socketpair", 4), 9: ("sendto", 4), 10: ("recvfrom", 4),
                11: ("sendto", 6), 12: ("recvfrom", 6), 13: ("shutdown", 2),
                14: ("setsockopt", 5), 15: ("getsockopt", 5), 16: ("sendmsg", 3),
                17: ("recvmsg", 3), 18: ("accept4", 4), 19: ("recvmmsg", 5),
                20: ("sendmmsg", 4)}


class SocketNumbers:
    """A target's socket numbering against the host's, matched by name."""

    def __init__(self, types: dict[int, int], guest_types: dict[int, int], sol_socket: int,
                 options: dict[int, int], timeval_options: dict[int, tuple[int, str]]) -> None:
        self.types = types  # SOCK_*: target -> host
        self.guest_types = guest_types  # host -> target
        self.sol_socket = sol_socket  # the target's SOL_SOCKET
        self.options = options  # SO_*: target -> host
        # SO_RCVTIMEO/SO_SNDTIMEO carry a struct timeval: the _OLD ones in the
        # target's longs (8 bytes on 32-bit targets), the _NEW ones in 64-bit
        # fields; the host (x86_64) takes 16 bytes for either.  target -> (host
        # option, the guest's struct format)
        self.timeval_options = timeval_options

    @classmethod
    def of(cls, const: dict[str, int], long_format: str) -> SocketNumbers:
        import socket

        types = {const[name]: getattr(socket, name) for name in _SOCKET_TYPES
                 if name in const and hasattr(socket, name)}
        timeval_options: dict[int, tuple[int, str]] = {}
        for option, host_option in (("SO_RCVTIMEO", socket.SO_RCVTIMEO),
                                    ("SO_SNDTIMEO", socket.SO_SNDTIMEO)):
            if f"{option}_OLD" in const:
                timeval_options[const[f"{option}_OLD"]] = (host_option, long_format * 2)
            if f"{option}_NEW" in const:
                timeval_options[const[f"{option}_NEW"]] = (host_option, "qq")
        options = {value: getattr(socket, name) for name, value in const.items()
                   if name.startswith("SO_") and isinstance(getattr(socket, name, None), int)}
        return cls(types, {host: guest for guest, host in types.items()},
                   const.get("SOL_SOCKET", socket.SOL_SOCKET), options, timeval_options)


class NetworkCalls(SyscallFamily):
    def setup_family(self) -> None:
        self._socket_numbers: SocketNumbers | None = None

    def sockets(self) -> SocketNumbers:
        """The socket numbering, built at the first socket call (importing the
        host's socket module is left out of start-up)."""
        if self._socket_numbers is None:
            self._socket_numbers = SocketNumbers.of(self.abi.CONST, self.target.long_format)
        return self._socket_numbers

    def _option(self, level: int, name: int) -> tuple[int, int]:
        """A (level, name) of the guest's as the host's numbers."""
        import socket

        numbers = self.sockets()
        if level == numbers.sol_socket:
            return socket.SOL_SOCKET, numbers.options.get(name, name)
        return level, name

    def sockaddr_bytes(self, data: bytes) -> bytes:
        """A sockaddr between guest and host (a swap, the same either way):
        sa_family is a host-order u16, the rest is in network order."""
        if len(data) < 2:
            return data
        return to_host(self.target, "H", data[:2]) + data[2:]

    def _option_bytes(self, data: bytes) -> bytes:
        """An option value between guest and host (a swap, the same either way):
        ints, or structs of ints and longs (linger, timeval, ucred), 32-bit words
        on a 32-bit guest.  A string value (SO_BINDTODEVICE) is not told apart."""
        if len(data) % 4:
            return data
        return to_host(self.target, f"{len(data) // 4}I", data)

    @syscall
    def socketpair(self, domain: int, type_: int, protocol: int, sv: Ptr) -> int:
        import socket

        a, b = socket.socketpair(domain, self.socket_type(type_), protocol)
        cloexec = bool(type_ & self.abi.CONST["O_CLOEXEC"])
        fds = [guest_fd(s.detach(), cloexec) for s in (a, b)]
        self.mem.write(sv, self.target.pack("ii", *fds))
        return 0

    @syscall
    def socketcall(self, call: int, args: Ptr) -> int:
        """The one socket syscall of old ABIs (i386's glibc still uses it):
        the arguments are an array of words in guest memory."""
        known = _SOCKETCALLS.get(call)
        number = self.target.syscall_numbers.get(known[0]) if known else None
        if known is None or number is None:
            raise SyscallError("EINVAL")
        count = known[1]
        words = self.target.unpack(("I" if self.target.word_size == 4 else "Q") * count,
                                   self.mem.read(args, count * self.target.word_size))
        return self.dispatch([number, *words, 0, 0])

    @syscall
    def socket(self, domain: int, type_: int, protocol: int) -> int:
        import socket

        fd = socket.socket(domain, self.socket_type(type_), protocol).detach()
        # Python makes every socket close-on-exec; the guest decides
        return guest_fd(fd, bool(type_ & self.abi.CONST["O_CLOEXEC"]))

    @syscall
    def connect(self, fd: Fd, addr: InBuf, addrlen: UInt) -> int:
        # glibc's NSS asks nscd through an AF_UNIX socket (ls -l, id, ...)
        return self.blocking(hostcalls.connect, fd, self.sockaddr_bytes(addr))

    # ------------------------------------------------------------ addresses
    # A sockaddr is laid out the same on every Linux architecture for
    # AF_UNIX, AF_INET and AF_INET6, and MSG_* flags are the generic ones on
    # every target: bytes and numbers pass through; buffers are read and
    # written in place in guest memory, then a big-endian guest's sa_family
    # (or option words) swapped there.
    def _sockaddr_out(self, addr: int, addrlen: int) -> tuple[object, object, int]:
        """(pointer, socklen_t cell, room) for a call that fills in an address."""
        if not addr:
            return None, None, 0
        (room,) = self.target.unpack("I", self.mem.read(addrlen, 4))
        self.mem.writable(addr, room)
        return ctypes.c_void_p(self.mem.host_pointer(addr)), ctypes.c_uint32(room), room

    def _sockaddr_done(self, addr: int, addrlen: int, cell: object,
                       room: int = 0, swap=None) -> None:
        """Give the guest the length the host wrote (and, on a big-endian guest,
        the first min(length, room) bytes at addr in its byte order)."""
        if cell is None:
            return
        length = cell.value  # type: ignore[attr-defined]
        size = min(length, room)
        if not self.target.little_endian and size:
            self.mem.write(addr, (swap or self.sockaddr_bytes)(self.mem.read(addr, size)))
        self.mem.write(addrlen, self.target.pack("I", length))

    def _buffer(self, buf: int, length: int, writable: bool) -> ctypes.c_void_p:
        (self.mem.writable if writable else self.mem.readable)(buf, length)
        return ctypes.c_void_p(self.mem.host_pointer(buf))

    @syscall
    def bind(self, fd: Fd, addr: InBuf, addrlen: UInt) -> int:
        return hostcalls.libc("bind", fd, self.sockaddr_bytes(addr), len(addr))

    @syscall
    def listen(self, fd: Fd, backlog: int) -> int:
        return hostcalls.libc("listen", fd, backlog)

    @syscall
    def accept4(self, fd: Fd, addr: Ptr, addrlen: Ptr, flags: UInt) -> int:
        pointer, cell, room = self._sockaddr_out(addr, addrlen)
        new = self.blocking(hostcalls.libc, "accept4", fd, pointer,
                            ctypes.byref(cell) if cell is not None else None,
                            self.socket_type(flags) & ~0xF)
        self._sockaddr_done(addr, addrlen, cell, room)
        return new

    @syscall
    def accept(self, fd: Fd, addr: Ptr, addrlen: Ptr) -> int:
        return self.accept4(fd, addr, addrlen, 0)

    def _name(self, which: str, fd: int, addr: int, addrlen: int) -> int:
        pointer, cell, room = self._sockaddr_out(addr, addrlen)
        if cell is None:
            raise SyscallError("EFAULT")
        hostcalls.libc(which, fd, pointer, ctypes.byref(cell))
        self._sockaddr_done(addr, addrlen, cell, room)
        return 0

    @syscall
    def getsockname(self, fd: Fd, addr: Ptr, addrlen: Ptr) -> int:
        return self._name("getsockname", fd, addr, addrlen)

    @syscall
    def getpeername(self, fd: Fd, addr: Ptr, addrlen: Ptr) -> int:
        return self._name("getpeername", fd, addr, addrlen)

    @syscall
    def sendto(self, fd: Fd, buf: Ptr, length: UInt, flags: UInt, addr: Ptr,
               addrlen: UInt) -> int:
        to = self.sockaddr_bytes(self.mem.read(addr, addrlen)) if addr else None
        return self.blocking(hostcalls.libc, "sendto", fd, self._buffer(buf, length, False),
                             ctypes.c_size_t(length), flags, to, len(to) if to else 0)

    @syscall
    def send(self, fd: Fd, buf: Ptr, length: UInt, flags: UInt) -> int:
        return self.sendto(fd, buf, length, flags, 0, 0)

    @syscall
    def recvfrom(self, fd: Fd, buf: Ptr, length: UInt, flags: UInt, addr: Ptr,
                 addrlen: Ptr) -> int:
        pointer, cell, room = self._sockaddr_out(addr, addrlen)
        got = self.blocking(hostcalls.libc, "recvfrom", fd, self._buffer(buf, length, True),
                            ctypes.c_size_t(length), flags, pointer,
                            ctypes.byref(cell) if cell is not None else None)
        self._sockaddr_done(addr, addrlen, cell, room)
        return got

    @syscall
    def recv(self, fd: Fd, buf: Ptr, length: UInt, flags: UInt) -> int:
        return self.recvfrom(fd, buf, length, flags, 0, 0)

    @syscall
    def shutdown(self, fd: Fd, how: int) -> int:
        return hostcalls.libc("shutdown", fd, how)

    @syscall
    def setsockopt(self, fd: Fd, level: int, name: int, value: Ptr,
                   length: UInt) -> int:
        import socket

        timeval_options = self.sockets().timeval_options
        if level == self.sockets().sol_socket and name in timeval_options:
            host_name, layout = timeval_options[name]
            if length < struct.calcsize("<" + layout):
                raise SyscallError("EINVAL")
            data = struct.pack("<qq", *self.target.unpack(layout, self.mem.read(value, length)))
            return hostcalls.libc("setsockopt", fd, socket.SOL_SOCKET, host_name, data, 16)
        data = self._option_bytes(self.mem.read(value, length)) if length else None
        return hostcalls.libc("setsockopt", fd, *self._option(level, name), data, length)

    @syscall
    def getsockopt(self, fd: Fd, level: int, name: int, value: Ptr,
                   length: Ptr) -> int:
        import socket

        if level == self.sockets().sol_socket and name in self.sockets().timeval_options:
            return self._get_timeval_option(fd, name, value, length)
        pointer, cell, room = self._sockaddr_out(value, length)
        host_option = self._option(level, name)
        hostcalls.libc("getsockopt", fd, *host_option, pointer,
                       ctypes.byref(cell) if cell is not None else None)
        self._sockaddr_done(value, length, cell, room, self._option_bytes)
        if host_option == (socket.SOL_SOCKET, socket.SO_TYPE) and room >= 4:
            # a socket type: the guest's number
            (host_type,) = self.target.unpack("i", self.mem.read(value, 4))
            self.mem.write(value, self.target.pack("i", self.sockets().guest_types.get(
                host_type, host_type)))
        return 0

    def _get_timeval_option(self, fd: int, name: int, value: int, length: int) -> int:
        import socket

        host_name, layout = self.sockets().timeval_options[name]
        (room,) = self.target.unpack("I", self.mem.read(length, 4))
        host = ctypes.create_string_buffer(16)
        host_length = ctypes.c_uint32(16)
        hostcalls.libc("getsockopt", fd, socket.SOL_SOCKET, host_name, host,
                       ctypes.byref(host_length))
        guest = self.target.pack(layout, *struct.unpack("<qq", host.raw))
        size = min(room, len(guest))
        self.mem.write(value, guest[:size])
        self.mem.write(length, self.target.pack("I", size))
        return 0

    def socket_type(self, type_: int) -> int:
        """SOCK_NONBLOCK/SOCK_CLOEXEC are O_NONBLOCK/O_CLOEXEC values of the target."""
        import socket

        c = self.abi.CONST
        base = self.sockets().types.get(type_ & 0xF, type_ & 0xF)
        if type_ & c["O_NONBLOCK"]:
            base |= socket.SOCK_NONBLOCK
        if type_ & c["O_CLOEXEC"]:
            base |= socket.SOCK_CLOEXEC
        return base
