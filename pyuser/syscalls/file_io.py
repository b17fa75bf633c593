"""Reading and writing files: read/write and their vector and positioned
forms, seeking, copying between descriptors (sendfile, splice,
copy_file_range), sizes and syncing."""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Callable

from pyuser.syscalls import hostcalls
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import to_guest, to_host
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import (
    Fd,
    InBuf,
    InPtr,
    Int64,
    Long,
    OutBuf,
    OutPtr,
    Path,
    Ptr,
    SyscallError,
    UInt,
)


def _host_order_kind(fd: int) -> str:
    """What a big-endian guest's read or write of `fd` must swap: "counter" for
    an eventfd's or timerfd's u64, "inotify" for inotify event headers, ""
    otherwise (looked up only for such a guest)."""
    try:
        link = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""
    if link in ("anon_inode:[eventfd]", "anon_inode:[timerfd]"):
        return "counter"
    return "inotify" if link == "anon_inode:inotify" else ""


def _swap_inotify_events(data: bytes) -> bytes:
    """struct inotify_event headers (int wd; u32 mask, cookie, len) to big-endian."""
    out = bytearray(data)
    position = 0
    while position + 16 <= len(out):
        fields = struct.unpack_from("<iIII", out, position)
        struct.pack_into(">iIII", out, position, *fields)
        position += 16 + fields[3]
    return bytes(out)


class FileIoCalls(SyscallFamily):
    """Data in and out of descriptors."""

    # provided by the signal family
    read_signalfd: Callable[[int, int, int], int]

    @syscall
    def read(self, fd: Fd, buf: OutPtr, count: UInt) -> int:
        if fd in self.proc.signals.signalfds:
            return self.read_signalfd(fd, buf, count)
        self.mem.writable(buf, count)
        got = self.blocking(hostcalls.read, fd, self.mem.host_pointer(buf), count)
        if got >= 8 and not self.target.little_endian:
            kind = _host_order_kind(fd)
            if kind == "counter" and got == 8:
                self.mem.write(buf, to_guest(self.target, "Q", self.mem.read(buf, 8)))
            elif kind == "inotify":
                self.mem.write(buf, _swap_inotify_events(self.mem.read(buf, got)))
        return got

    @syscall
    def write(self, fd: Fd, buf: InPtr, count: UInt) -> int:
        self.mem.readable(buf, count)
        if count == 8 and not self.target.little_endian and _host_order_kind(fd) == "counter":
            swapped = ctypes.create_string_buffer(to_host(self.target, "Q", self.mem.read(buf, 8)), 8)
            return self.blocking(hostcalls.write, fd, ctypes.addressof(swapped), 8)
        return self.blocking(hostcalls.write, fd, self.mem.host_pointer(buf), count)

    @syscall
    def pread64(self, fd: Fd, buf: OutBuf, count: UInt, offset: Int64) -> int:
        return os.preadv(fd, [buf], offset) if count else 0

    @syscall
    def pwrite64(self, fd: Fd, buf: InBuf, count: UInt, offset: Int64) -> int:
        return os.pwrite(fd, buf, offset)

    @syscall
    def readv(self, fd: Fd, iov: Ptr, iovcnt: Long) -> int:
        buffers = self.host_iovecs(iov, iovcnt, True)
        return self.blocking(hostcalls.readv, fd, buffers) if buffers else 0

    @syscall
    def writev(self, fd: Fd, iov: Ptr, iovcnt: Long) -> int:
        buffers = self.host_iovecs(iov, iovcnt, False)
        return self.blocking(hostcalls.writev, fd, buffers) if buffers else 0

    @syscall
    def preadv(self, fd: Fd, iov: Ptr, iovcnt: Long, pos_l: UInt, pos_h: UInt) -> int:
        views = self.iovec_views(iov, iovcnt, True)
        return os.preadv(fd, views, pos_l | (pos_h << 32)) if views else 0

    @syscall
    def pwritev(self, fd: Fd, iov: Ptr, iovcnt: Long, pos_l: UInt, pos_h: UInt) -> int:
        views = self.iovec_views(iov, iovcnt, False)
        return os.pwritev(fd, views, pos_l | (pos_h << 32)) if views else 0

    @syscall
    def preadv2(self, fd: Fd, iov: Ptr, iovcnt: Long, pos_l: UInt, pos_h: UInt,
                flags: UInt) -> int:
        views = self.iovec_views(iov, iovcnt, True)
        return os.preadv(fd, views, self._iov_position(pos_l, pos_h), flags) if views else 0

    @syscall
    def pwritev2(self, fd: Fd, iov: Ptr, iovcnt: Long, pos_l: UInt, pos_h: UInt,
                 flags: UInt) -> int:
        views = self.iovec_views(iov, iovcnt, False)
        return os.pwritev(fd, views, self._iov_position(pos_l, pos_h), flags) if views else 0

    def _iov_position(self, low: int, high: int) -> int:
        """preadv2's offset from its two words; -1 is the file position."""
        position = low if self.target.word_size == 8 else low | high << 32
        return -1 if position == 2**64 - 1 else position

    @syscall
    def readahead(self, fd: Fd, offset: Int64, count: UInt) -> int:
        os.posix_fadvise(fd, offset, count, os.POSIX_FADV_WILLNEED)
        return 0

    @syscall
    def lseek(self, fd: Fd, offset: Long, whence: UInt) -> int:
        result = os.lseek(fd, offset, whence)
        if result > 0x7FFFFFFF and self.target.word_size == 4:
            raise SyscallError("EOVERFLOW")
        return result

    @syscall
    def _llseek(self, fd: Fd, high: UInt, low: UInt, result: Ptr, whence: UInt) -> int:
        offset = (high << 32) | low
        if offset & (1 << 63):
            offset -= 1 << 64
        position = os.lseek(fd, offset, whence)
        self.mem.write(result, self.target.pack("q", position))
        return 0

    @syscall
    def sendfile64(self, out_fd: Fd, in_fd: Fd, offset: Ptr, count: UInt) -> int:
        return self._sendfile(out_fd, in_fd, offset, count, "q")

    @syscall
    def sendfile(self, out_fd: Fd, in_fd: Fd, offset: Ptr, count: UInt) -> int:
        return self._sendfile(out_fd, in_fd, offset, count, self.target.long_format)

    def _sendfile(self, out_fd: int, in_fd: int, offset: int, count: int,
                  offset_format: str) -> int:
        # a socket's full buffer makes it wait, maybe for another guest thread
        # to read: the CPU is released meanwhile
        pos = None
        if offset:
            size = struct.calcsize(offset_format)
            pos = self.target.unpack(offset_format, self.mem.read(offset, size))[0]
            limit = 1 << (8 * size - 1)  # the off_t's range (fs/read_write.c do_sendfile)
            if pos >= limit - 1 and size == 4:
                raise SyscallError("EOVERFLOW")
            count = min(count, limit - 1 - pos)
        sent, pos = self.blocking(hostcalls.sendfile, out_fd, in_fd, pos, count)
        if offset:
            self.mem.write(offset, self.target.pack(offset_format, pos))
        return sent

    # splice, tee and vmsplice move data through pipes; they wait on a full or
    # empty pipe, so the CPU is released meanwhile.  Offsets are loff_t on
    # every target.
    def _loff(self, address: int) -> int | None:
        """A loff_t the guest points to (splice, copy_file_range), None for NULL."""
        return self.target.unpack("q", self.mem.read(address, 8))[0] if address else None

    def _put_loff(self, address: int, value: int) -> None:
        if address:
            self.mem.write(address, self.target.pack("q", value))

    @syscall
    def splice(self, fd_in: Fd, off_in: Ptr, fd_out: Fd, off_out: Ptr, length: UInt,
               flags: UInt) -> int:
        moved, pos_in, pos_out = self.blocking(hostcalls.splice, fd_in, self._loff(off_in),
                                               fd_out, self._loff(off_out), length, flags)
        self._put_loff(off_in, pos_in)
        self._put_loff(off_out, pos_out)
        return moved

    @syscall
    def tee(self, fd_in: Fd, fd_out: Fd, length: UInt, flags: UInt) -> int:
        return self.blocking(hostcalls.tee, fd_in, fd_out, length, flags)

    @syscall
    def vmsplice(self, fd: Fd, iov: Ptr, iovcnt: Long, flags: UInt) -> int:
        # the pages are copied into the pipe (SPLICE_F_GIFT is only a hint)
        buffers = self.host_iovecs(iov, iovcnt, False)
        return self.blocking(hostcalls.vmsplice, fd, buffers, flags) if buffers else 0

    @syscall
    def sync_file_range(self, fd: Fd, offset: Int64, nbytes: Int64, flags: UInt) -> int:
        return hostcalls.sync_file_range(fd, offset, nbytes, flags)

    @syscall("sync_file_range2", "arm_sync_file_range")
    def sync_file_range2(self, fd: Fd, flags: UInt, offset: Int64, nbytes: Int64) -> int:
        # ARM's order: flags second, so that the 64-bit values fall on even registers
        return hostcalls.sync_file_range(fd, offset, nbytes, flags)

    @syscall("copy_file_range")
    def copy_file_range(self, fd_in: Fd, off_in: Ptr, fd_out: Fd, off_out: Ptr,
                        length: UInt, flags: UInt) -> int:
        pos_in, pos_out = self._loff(off_in), self._loff(off_out)
        copied = os.copy_file_range(fd_in, fd_out, length, pos_in, pos_out)
        if pos_in is not None:
            self._put_loff(off_in, pos_in + copied)
        if pos_out is not None:
            self._put_loff(off_out, pos_out + copied)
        return copied

    # truncate, ftruncate and sendfile take an off_t: a C long (32 bits on the
    # 32-bit targets, whose *64 calls take the 64-bit loff_t)
    @syscall
    def truncate(self, path: Path, length: Long) -> int:
        os.truncate(path, length)
        return 0

    @syscall
    def ftruncate(self, fd: Fd, length: Long) -> int:
        os.ftruncate(fd, length)
        return 0

    @syscall
    def truncate64(self, path: Path, length: Int64) -> int:
        os.truncate(path, length)
        return 0

    @syscall
    def ftruncate64(self, fd: Fd, length: Int64) -> int:
        os.ftruncate(fd, length)
        return 0

    @syscall("arm_fadvise64_64", "fadvise64_64")
    def fadvise64_64(self, fd: Fd, advice: int, offset: Int64, length: Int64) -> int:
        # ARM puts the advice second so that the 64-bit values fall on even
        # register pairs; POSIX_FADV_* are the generic numbers
        os.posix_fadvise(fd, offset, length, advice)
        return 0

    @syscall
    def fallocate(self, fd: Fd, mode: int, offset: Int64, length: Int64) -> int:
        if mode:
            raise SyscallError("EOPNOTSUPP")
        os.posix_fallocate(fd, offset, length)
        return 0

    @syscall
    def fsync(self, fd: Fd) -> int:
        os.fsync(fd)
        return 0

    @syscall
    def fdatasync(self, fd: Fd) -> int:
        os.fdatasync(fd)
        return 0

    @syscall
    def sync(self) -> int:
        os.sync()
        return 0

    @syscall
    def syncfs(self, fd: Fd) -> int:
        os.fsync(fd)
        return 0
