"""Sockets with FreeBSD's numbers and its sockaddr with a length byte.

FreeBSD's struct sockaddr starts with u8 sa_len, u8 sa_family (sys/sys/
socket.h); Linux's with a u16 family.  The rest of sockaddr_in (16 bytes)
and sockaddr_in6 (28) is the same; sockaddr_un holds 104 path bytes
(FreeBSD) against 108.  Families (AF_INET6 28, not 10), SOCK_* flags
(SOCK_CLOEXEC 0x10000000, SOCK_NONBLOCK 0x20000000), SOL_SOCKET (0xffff)
and the option numbers are FreeBSD's, translated by name to the host's.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.files import guest_fd
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, InPtr, OutPtr, Ptr, SyscallError, UInt

_libc = ctypes.CDLL(None, use_errno=True)
# the others return an int, ctypes' default (a wider restype would read the
# int -1 as 4294967295)
for _name in ("sendto", "recvfrom", "sendmsg", "recvmsg"):
    getattr(_libc, _name).restype = ctypes.c_ssize_t

_SOCK_CLOEXEC, _SOCK_NONBLOCK = 0x10000000, 0x20000000
_SOL_SOCKET = 0xFFFF
_FAMILIES = {1: socket.AF_UNIX, 2: socket.AF_INET, 28: socket.AF_INET6, 0: socket.AF_UNSPEC}
_FAMILIES_BACK = {v: k for k, v in _FAMILIES.items()}
_LEVELS = {_SOL_SOCKET: socket.SOL_SOCKET, 0: socket.IPPROTO_IP, 6: socket.IPPROTO_TCP,
           17: socket.IPPROTO_UDP, 41: socket.IPPROTO_IPV6}
# MSG_* that differ (sys/sys/socket.h): MSG_DONTWAIT 0x80 (Linux 0x40),
# MSG_EOR 0x8 (0x80), MSG_WAITALL 0x40 (0x100), MSG_NOSIGNAL 0x20000 (0x4000)
_MSG = [(0x1, 0x1), (0x2, 0x2), (0x4, 0x4), (0x8, 0x80), (0x10, 0x8), (0x20, 0x20),
        (0x40, 0x100), (0x80, 0x40), (0x20000, 0x4000)]


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def _msg_flags(flags: int) -> int:
    return sum(host for guest, host in _MSG if flags & guest)


class FreeBsdNetworkCalls(SyscallFamily):
    def setup_family(self) -> None:
        c = self.abi.CONST
        self._options: dict[tuple[int, int], tuple[int, int]] = {}
        for prefix, level in (("SO_", _SOL_SOCKET), ("TCP_", 6), ("IPV6_", 41), ("IP_", 0)):
            for name, value in c.items():
                host = getattr(socket, name, None)
                if name.startswith(prefix) and isinstance(host, int):
                    self._options.setdefault((level, value), (_LEVELS[level], host))

    # ------------------------------------------------------------ addresses
    def _host_sockaddr(self, address: int, length: int) -> bytes:
        if length < 2 or length > 256:
            raise SyscallError("EINVAL")
        raw = self.mem.read(address, length)
        family = _FAMILIES.get(raw[1])
        if family is None:
            raise SyscallError("EAFNOSUPPORT")
        return struct.pack("<H", family) + raw[2:]

    def _guest_sockaddr(self, host: bytes, address: int, length_ptr: int) -> None:
        if not address or not length_ptr:
            return
        room = struct.unpack("<I", self.mem.read(length_ptr, 4))[0]
        (family,) = struct.unpack_from("<H", host)
        body = host[2:]
        if family == socket.AF_UNIX:
            body = body.split(b"\0", 1)[0][:103] + b"\0" if len(body) > 0 else b""
            size = 2 + len(body)
        else:
            size = len(host)
        guest = bytes([size & 0xFF, _FAMILIES_BACK.get(family, family)]) + body
        self.mem.write(address, guest[:room])
        self.mem.write(length_ptr, struct.pack("<I", size))

    def _call_out_addr(self, fn, fd: int, address: int, length_ptr: int) -> int:
        buf = ctypes.create_string_buffer(128)
        size = ctypes.c_uint32(128)
        result = _check(fn(fd, buf, ctypes.byref(size)))
        self._guest_sockaddr(buf.raw[:size.value], address, length_ptr)
        return result

    # ------------------------------------------------------------ calls
    @syscall
    def socket(self, domain: int, type_: int, protocol: int) -> int:
        family = _FAMILIES.get(domain)
        if family is None:
            raise SyscallError("EAFNOSUPPORT")
        kind = type_ & 0xFFFF
        host_type = kind | (socket.SOCK_NONBLOCK if type_ & _SOCK_NONBLOCK else 0)
        fd = _check(_libc.socket(family, host_type | socket.SOCK_CLOEXEC, protocol))
        return guest_fd(fd, bool(type_ & _SOCK_CLOEXEC))

    @syscall
    def socketpair(self, domain: int, type_: int, protocol: int, sv: Ptr) -> int:
        kind = type_ & 0xFFFF
        host_type = kind | (socket.SOCK_NONBLOCK if type_ & _SOCK_NONBLOCK else 0)
        pair = (ctypes.c_int * 2)()
        _check(_libc.socketpair(_FAMILIES.get(domain, domain),
                                host_type | socket.SOCK_CLOEXEC, protocol, pair))
        cloexec = bool(type_ & _SOCK_CLOEXEC)
        self.mem.write(sv, struct.pack("<ii", guest_fd(pair[0], cloexec),
                                       guest_fd(pair[1], cloexec)))
        return 0

    @syscall
    def bind(self, fd: Fd, addr: Ptr, length: UInt) -> int:
        raw = self._host_sockaddr(addr, length)
        return _check(_libc.bind(fd, raw, len(raw)))

    @syscall
    def connect(self, fd: Fd, addr: Ptr, length: UInt) -> int:
        raw = self._host_sockaddr(addr, length)
        return self.blocking(lambda: _check(_libc.connect(fd, raw, len(raw))))

    @syscall
    def listen(self, fd: Fd, backlog: int) -> int:
        return _check(_libc.listen(fd, backlog))

    @syscall
    def accept4(self, fd: Fd, addr: Ptr, length: Ptr, flags: int) -> int:
        buf = ctypes.create_string_buffer(128)
        size = ctypes.c_uint32(128)
        host_flags = socket.SOCK_CLOEXEC | (socket.SOCK_NONBLOCK if flags & _SOCK_NONBLOCK else 0)
        new = self.blocking(lambda: _check(_libc.accept4(fd, buf, ctypes.byref(size),
                                                         host_flags)))
        self._guest_sockaddr(buf.raw[:size.value], addr, length)
        return guest_fd(new, bool(flags & _SOCK_CLOEXEC))

    @syscall
    def accept(self, fd: Fd, addr: Ptr, length: Ptr) -> int:
        return self.accept4(fd, addr, length, 0)

    @syscall
    def getsockname(self, fd: Fd, addr: Ptr, length: Ptr) -> int:
        return self._call_out_addr(_libc.getsockname, fd, addr, length)

    @syscall
    def getpeername(self, fd: Fd, addr: Ptr, length: Ptr) -> int:
        return self._call_out_addr(_libc.getpeername, fd, addr, length)

    @syscall
    def shutdown(self, fd: Fd, how: int) -> int:
        return _check(_libc.shutdown(fd, how))

    @syscall
    def sendto(self, fd: Fd, buf: InPtr, length: UInt, flags: int, addr: Ptr,
               addrlen: UInt) -> int:
        data = self.mem.read(buf, length)
        raw = self._host_sockaddr(addr, addrlen) if addr else None
        return self.blocking(lambda: _check(_libc.sendto(
            fd, data, ctypes.c_size_t(len(data)), _msg_flags(flags), raw, len(raw) if raw else 0)))

    @syscall
    def recvfrom(self, fd: Fd, buf: OutPtr, length: UInt, flags: int, addr: Ptr,
                 addrlen: Ptr) -> int:
        self.mem.writable(buf, length)
        sa = ctypes.create_string_buffer(128)
        size = ctypes.c_uint32(128)
        got = self.blocking(lambda: _check(_libc.recvfrom(
            fd, ctypes.c_void_p(self.mem.host_pointer(buf)), ctypes.c_size_t(length), _msg_flags(flags),
            sa if addr else None, ctypes.byref(size) if addr else None)))
        if addr:
            self._guest_sockaddr(sa.raw[:size.value], addr, addrlen)
        return got

    def _host_option(self, level: int, name: int) -> tuple[int, int]:
        found = self._options.get((level, name))
        if found is None:
            if self.log.enabled("unimp"):
                self.log.write(f"Unsupported socket option: level {level:#x} name {name:#x}")
            raise SyscallError("ENOPROTOOPT")
        return found

    @syscall
    def setsockopt(self, fd: Fd, level: int, name: int, value: Ptr, length: UInt) -> int:
        host_level, host_name = self._host_option(level, name)
        data = self.mem.read(value, length) if length else b""
        if (host_level, host_name) in ((socket.SOL_SOCKET, socket.SO_RCVTIMEO),
                                       (socket.SOL_SOCKET, socket.SO_SNDTIMEO),
                                       (socket.SOL_SOCKET, socket.SO_LINGER)):
            pass  # struct timeval / struct linger: the same layouts on both
        return _check(_libc.setsockopt(fd, host_level, host_name, data, len(data)))

    @syscall
    def getsockopt(self, fd: Fd, level: int, name: int, value: Ptr, length_ptr: Ptr) -> int:
        host_level, host_name = self._host_option(level, name)
        room = struct.unpack("<I", self.mem.read(length_ptr, 4))[0]
        buf = ctypes.create_string_buffer(max(room, 4))
        size = ctypes.c_uint32(max(room, 4))
        _check(_libc.getsockopt(fd, host_level, host_name, buf, ctypes.byref(size)))
        data = buf.raw[:size.value]
        if host_level == socket.SOL_SOCKET and host_name == socket.SO_ERROR and len(data) >= 4:
            (err,) = struct.unpack_from("<i", data)
            data = struct.pack("<i", self.guest_errno(err) if err else 0)
        elif host_level == socket.SOL_SOCKET and host_name == socket.SO_TYPE and len(data) >= 4:
            pass  # SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_RAW 3, SOCK_SEQPACKET 5: the same
        self.mem.write(value, data[:room])
        self.mem.write(length_ptr, struct.pack("<I", min(len(data), room)))
        return 0

    # ------------------------------------------------------------ messages
    # struct msghdr (sys/sys/socket.h, Go's ztypes Msghdr): name @0, namelen
    # u32 @8, iov @16, iovlen int @24, control @32, controllen u32 @40,
    # flags int @44; struct cmsghdr {u32 len; int level; int type} with the
    # data 8-aligned after it (_ALIGN), as Linux's is after its 16-byte header.
    def _host_control(self, data: bytes) -> bytes:
        out = b""
        at = 0
        while at + 12 <= len(data):
            length, level, kind = struct.unpack_from("<Iii", data, at)
            if length < 12 or at + length > len(data):
                raise SyscallError("EINVAL")
            if (level, kind) != (_SOL_SOCKET, 1):  # only SCM_RIGHTS
                raise SyscallError("EINVAL")
            body = data[at + 16:at + length]
            out += struct.pack("<Qii", 16 + len(body), socket.SOL_SOCKET, socket.SCM_RIGHTS) \
                + body + bytes((-len(body)) % 8)
            at += (length + 7) & ~7
        return out

    def _guest_control(self, data: bytes) -> bytes:
        out = b""
        at = 0
        while at + 16 <= len(data):
            length, level, kind = struct.unpack_from("<Qii", data, at)
            body = data[at + 16:at + length]
            if (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS):
                for i in range(0, len(body) - 3, 4):
                    os.set_inheritable(struct.unpack_from("<i", body, i)[0], True)
                out += struct.pack("<Iii", 16 + len(body), _SOL_SOCKET, 1) + bytes(4) + body \
                    + bytes((-len(body)) % 8)
            at += (length + 7) & ~7
        return out

    def _msghdr(self, msg: int, writable: bool) -> tuple:
        name, namelen, iov, iovlen, control, controllen, flags = struct.unpack(
            "<QI4xQi4xQIi", self.mem.read(msg, 48))
        buffers = self.host_iovecs(iov, iovlen, writable)
        array = (ctypes.c_size_t * (2 * len(buffers)))(*[v for b in buffers for v in b])
        return name, namelen, array, len(buffers), control, controllen, flags

    @syscall
    def sendmsg(self, fd: Fd, msg: Ptr, flags: int) -> int:
        name, namelen, iov, count, control, controllen, _ = self._msghdr(msg, False)
        raw_name = self._host_sockaddr(name, namelen) if name else b""
        if controllen > 2048:  # MCLBYTES (sys/kern/uipc_syscalls.c sockargs)
            raise SyscallError("EINVAL")
        cmsg = self._host_control(self.mem.read(control, controllen)) if controllen else b""
        name_buf = ctypes.create_string_buffer(raw_name, max(len(raw_name), 1))
        cmsg_buf = ctypes.create_string_buffer(cmsg, max(len(cmsg), 1))
        header = struct.pack("<QI4xQQQQi4x", ctypes.addressof(name_buf) if raw_name else 0,
                             len(raw_name), ctypes.addressof(iov), count,
                             ctypes.addressof(cmsg_buf) if cmsg else 0, len(cmsg), 0)
        host_msg = ctypes.create_string_buffer(header, len(header))
        return self.blocking(lambda: _check(_libc.sendmsg(fd, host_msg, _msg_flags(flags))))

    @syscall
    def recvmsg(self, fd: Fd, msg: Ptr, flags: int) -> int:
        name, namelen, iov, count, control, controllen, _ = self._msghdr(msg, True)
        name_buf = ctypes.create_string_buffer(128)
        cmsg_buf = ctypes.create_string_buffer(min(max(2 * controllen, 64), 65536))
        header = struct.pack("<QI4xQQQQi4x", ctypes.addressof(name_buf), 128,
                             ctypes.addressof(iov), count, ctypes.addressof(cmsg_buf),
                             len(cmsg_buf), 0)
        host_msg = ctypes.create_string_buffer(header, len(header))
        got = self.blocking(lambda: _check(_libc.recvmsg(fd, host_msg, _msg_flags(flags)
                                                         | socket.MSG_CMSG_CLOEXEC)))
        host_namelen, = struct.unpack_from("<I", host_msg.raw, 8)
        host_controllen, host_flags = struct.unpack_from("<Qi", host_msg.raw, 40)
        control_out = self._guest_control(cmsg_buf.raw[:host_controllen])[:controllen]
        if control:
            self.mem.write(control, control_out)
        if name and host_namelen:
            self._guest_sockaddr(name_buf.raw[:host_namelen], name, msg + 8)
        elif name:
            self.mem.write(msg + 8, struct.pack("<I", 0))
        guest_flags = sum(guest for guest, host in _MSG if host_flags & host)
        self.mem.write(msg + 40, struct.pack("<Ii", len(control_out), guest_flags))
        return got
