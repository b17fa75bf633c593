"""sendmsg and recvmsg: a guest msghdr and its control messages as the host's.

The iovecs and the address point straight into guest memory; the control
buffer is rebuilt, since struct cmsghdr is the word size of the target
(12-byte header and 4-byte alignment on 32-bit targets, 16 and 8 on the
x86_64 host), its level may be numbered differently (MIPS's SOL_SOCKET is
0xffff) and a big-endian guest's SCM_RIGHTS descriptors and SCM_CREDENTIALS
ids are swapped, and receive timestamps take the target's time layout.
Other control messages pass their payload as bytes.
"""

from __future__ import annotations

import ctypes
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import host_abi, to_guest, to_host
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.network import SocketNumbers

_HOST_WORD = 8
_MSG_CTRUNC = 0x8  # the same in every Linux ABI
_MAX_CONTROL = 1 << 20


def _align(value: int, word: int) -> int:
    return (value + word - 1) & ~(word - 1)


class MessageCalls(SyscallFamily):
    # provided by the network family
    sockets: Callable[[], SocketNumbers]
    sockaddr_bytes: Callable[[bytes], bytes]

    # ------------------------------------------------------------ control messages
    def _control_to_host(self, data: bytes) -> bytes:
        import socket

        guest_header = self.abi.cmsghdr
        guest_size = ctypes.sizeof(guest_header)
        word = self.target.word_size
        out = bytearray()
        offset = 0
        while offset + guest_size <= len(data):
            header = guest_header.from_buffer_copy(data, offset)
            if header.cmsg_len < guest_size or offset + header.cmsg_len > len(data):
                raise SyscallError("EINVAL")
            payload = data[offset + guest_size:offset + header.cmsg_len]
            level, kind = header.cmsg_level, header.cmsg_type
            if level == self.sockets().sol_socket:
                level = socket.SOL_SOCKET
                if kind in (socket.SCM_RIGHTS, socket.SCM_CREDENTIALS):
                    payload = to_host(self.target, f"{len(payload) // 4}i",
                                      payload[:len(payload) // 4 * 4])
            host = host_abi().cmsghdr(ctypes.sizeof(host_abi().cmsghdr) + len(payload), level, kind)
            record = bytes(host) + payload
            out += record.ljust(_align(len(record), _HOST_WORD), b"\0")
            offset += _align(header.cmsg_len, word)
        return bytes(out)

    def _control_to_guest(self, data: bytes, room: int) -> tuple[bytes, bool]:
        """The host's control messages in the guest's layout, cut at `room`
        bytes (then MSG_CTRUNC, as the kernel does)."""
        import socket

        host_size = ctypes.sizeof(host_abi().cmsghdr)
        guest_header = self.abi.cmsghdr
        guest_size = ctypes.sizeof(guest_header)
        word = self.target.word_size
        out = bytearray()
        offset = 0
        while offset + host_size <= len(data):
            header = host_abi().cmsghdr.from_buffer_copy(data, offset)
            payload = data[offset + host_size:offset + header.cmsg_len]
            level, kind = header.cmsg_level, header.cmsg_type
            if level == socket.SOL_SOCKET:
                level = self.sockets().sol_socket
                if kind in (socket.SCM_RIGHTS, socket.SCM_CREDENTIALS):
                    payload = to_guest(self.target, f"{len(payload) // 4}i", payload)
                elif kind in self._timestamp_kinds():
                    kind, payload = self._timestamp_to_guest(kind, payload)
            record = bytes(guest_header(guest_size + len(payload), level, kind)) + payload
            if len(out) + len(record) > room:
                return bytes(out), True
            out += record.ljust(min(_align(len(record), word), room - len(out)), b"\0")
            offset += _align(header.cmsg_len, _HOST_WORD)
        return bytes(out), False

    # Receive timestamps (SO_TIMESTAMP and friends, include/uapi/asm-generic/
    # socket.h): the _OLD ones carry timevals or timespecs of the target's
    # longs (8 bytes on 32-bit targets), the _NEW ones 64-bit pairs; the
    # x86_64 host writes 64-bit pairs for both.  host type -> (name, pairs)
    _TIMESTAMPS = (("SO_TIMESTAMP_OLD", 1), ("SO_TIMESTAMPNS_OLD", 1),
                   ("SO_TIMESTAMPING_OLD", 3), ("SO_TIMESTAMP_NEW", 1),
                   ("SO_TIMESTAMPNS_NEW", 1), ("SO_TIMESTAMPING_NEW", 3))

    def _timestamp_kinds(self) -> dict[int, tuple[str, int]]:
        host = host_abi().CONST
        return {host[name]: (name, pairs) for name, pairs in self._TIMESTAMPS if name in host}

    def _timestamp_to_guest(self, kind: int, payload: bytes) -> tuple[int, bytes]:
        name, pairs = self._timestamp_kinds()[kind]
        values = struct.unpack_from(f"<{2 * pairs}q", payload)
        pair = self.target.long_format * 2 if name.endswith("_OLD") else "qq"
        return self.abi.CONST.get(name, kind), self.target.pack(pair * pairs, *values)

    # ------------------------------------------------------------ the calls
    def _host_msghdr(self, guest, writable: bool, control: bytes | None):
        """A host struct msghdr for the guest's, and what must stay alive with it."""
        host = host_abi().msghdr()
        if guest.msg_name and guest.msg_namelen > 0:
            (self.mem.writable if writable else self.mem.readable)(guest.msg_name,
                                                                   guest.msg_namelen)
            host.msg_name = self.mem.host_pointer(guest.msg_name)
            host.msg_namelen = guest.msg_namelen
        iovecs = hostcalls.iovec_array(self.host_iovecs(guest.msg_iov, guest.msg_iovlen,
                                                         writable))
        host.msg_iov = ctypes.addressof(iovecs)
        host.msg_iovlen = len(iovecs) // 2  # (base, length) pairs
        buffer = ctypes.create_string_buffer(control or b"", len(control or b""))
        if control:
            host.msg_control = ctypes.addressof(buffer)
            host.msg_controllen = len(control)
        return host, (iovecs, buffer)

    @syscall
    def sendmsg(self, fd: Fd, msg: Ptr, flags: UInt) -> int:
        guest = self.mem.read_struct(msg, self.abi.msghdr)
        if guest.msg_controllen > _MAX_CONTROL:
            raise SyscallError("ENOBUFS")
        control = self._control_to_host(self.mem.read(guest.msg_control, guest.msg_controllen)) \
            if guest.msg_control and guest.msg_controllen else None
        name = None
        if guest.msg_name and guest.msg_namelen > 0:  # sa_family in the host's order
            name = self.sockaddr_bytes(self.mem.read(guest.msg_name, guest.msg_namelen))
            guest.msg_name = 0
        host, keep = self._host_msghdr(guest, False, control)
        if name is not None:
            name_buffer = ctypes.create_string_buffer(name, len(name))
            host.msg_name, host.msg_namelen = ctypes.addressof(name_buffer), len(name)
        result = self.blocking(hostcalls.libc, "sendmsg", fd, ctypes.byref(host), flags)
        del keep
        return result

    @syscall
    def recvmsg(self, fd: Fd, msg: Ptr, flags: UInt) -> int:
        guest = self.mem.read_struct(msg, self.abi.msghdr)
        self.mem.writable(msg, ctypes.sizeof(guest))
        room = guest.msg_controllen if guest.msg_control else 0
        if room > _MAX_CONTROL:
            raise SyscallError("ENOBUFS")
        if room:
            self.mem.writable(guest.msg_control, room)
        # room for the host's larger headers (16 bytes, 8-aligned, per message)
        host_room = 2 * room + 64 if room else 0
        host, keep = self._host_msghdr(guest, True, bytes(host_room) if room else None)
        got = self.blocking(hostcalls.libc, "recvmsg", fd, ctypes.byref(host), flags)
        out_flags = host.msg_flags
        if room:
            control, cut = self._control_to_guest(
                ctypes.string_at(host.msg_control, host.msg_controllen), room)
            self.mem.write(guest.msg_control, control)
            guest.msg_controllen = len(control)
            out_flags |= _MSG_CTRUNC if cut else 0
        else:
            guest.msg_controllen = 0
        if guest.msg_name and guest.msg_namelen > 0:
            size = min(host.msg_namelen, guest.msg_namelen)
            if size:
                self.mem.write(guest.msg_name,
                               self.sockaddr_bytes(self.mem.read(guest.msg_name, size)))
        guest.msg_namelen = host.msg_namelen if guest.msg_name else 0
        guest.msg_flags = out_flags
        self.mem.write_struct(msg, guest)
        del keep
        return got

    # ------------------------------------------------------------ many at once
    # struct mmsghdr is a msghdr and the unsigned int byte count the kernel
    # fills in, padded to the word size.  Each message goes through
    # sendmsg/recvmsg; as the kernel does, an error after the first message
    # ends the batch with the count so far.
    def _mmsghdr_size(self) -> int:
        word = self.target.word_size
        return (ctypes.sizeof(self.abi.msghdr) + 4 + word - 1) // word * word

    def _batch(self, fd: int, vector: int, count: int, flags: int,
               send: bool, deadline_ns: int | None = None) -> int:
        size = self._mmsghdr_size()
        # MSG_WAITFORONE: only the first receive may wait
        wait_for_one = self.abi.CONST["MSG_WAITFORONE"]
        first_flags = flags & ~wait_for_one
        later_flags = first_flags | (self.abi.CONST["MSG_DONTWAIT"] if flags & wait_for_one
                                     else 0)
        done = 0
        for i in range(min(count, 1024)):  # UIO_MAXIOV
            entry = vector + i * size
            try:
                if send:
                    sent = self.sendmsg(fd, entry, flags)
                else:
                    sent = self.recvmsg(fd, entry, later_flags if i else first_flags)
            except (OSError, SyscallError):
                if done:
                    return done
                raise
            self.mem.write(entry + ctypes.sizeof(self.abi.msghdr), self.target.pack("I", sent))
            done += 1
            if deadline_ns is not None and time.monotonic_ns() >= deadline_ns:
                break
        return done

    @syscall
    def sendmmsg(self, fd: Fd, vector: Ptr, count: UInt, flags: UInt) -> int:
        return self._batch(fd, vector, count, flags, True)

    @syscall
    def recvmmsg(self, fd: Fd, vector: Ptr, count: UInt, flags: UInt,
                 timeout: Ptr) -> int:
        return self._recvmmsg(fd, vector, count, flags, timeout, False)

    @syscall
    def recvmmsg_time64(self, fd: Fd, vector: Ptr, count: UInt, flags: UInt,
                        timeout: Ptr) -> int:
        return self._recvmmsg(fd, vector, count, flags, timeout, True)

    def _recvmmsg(self, fd: int, vector: int, count: int, flags: int, timeout: int,
                  wide: bool) -> int:
        """As Linux (net/socket.c do_recvmmsg): the timeout is looked at only
        after each message, so it ends a batch but never a wait; what is left
        of it is written back when messages were received."""
        if not timeout:
            return self._batch(fd, vector, count, flags, False)
        deadline_ns = time.monotonic_ns() + self.read_timespec(timeout, wide)
        done = self._batch(fd, vector, count, flags, False, deadline_ns)
        if done:
            self.write_timespec(timeout, max(deadline_ns - time.monotonic_ns(), 0), wide)
        return done
