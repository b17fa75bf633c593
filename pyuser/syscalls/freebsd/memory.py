"""mmap and friends with FreeBSD's flags (sys/sys/mman.h), on GuestMemory."""

from __future__ import annotations

import os

from pyuser.memory import PAGE_MASK, page_ceil
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Long, Ptr, SyscallError, UInt

_MAP_SHARED, _MAP_FIXED, _MAP_GUARD, _MAP_ANON, _MAP_EXCL = 0x1, 0x10, 0x2000, 0x1000, 0x4000
_MAP_ALIGNMENT_SHIFT = 24
_MADV_DONTNEED, _MADV_FREE = 4, 5


class FreeBsdMemoryCalls(SyscallFamily):
    @syscall
    def mmap(self, addr: Ptr, length: UInt, prot: int, flags: int, fd: Fd,
             offset: Long) -> int:
        mem = self.mem
        if length == 0 or offset & PAGE_MASK or (addr & PAGE_MASK and flags & _MAP_FIXED):
            raise SyscallError("EINVAL")
        size = page_ceil(length)
        if size > mem.size:
            raise SyscallError("ENOMEM")
        align_shift = (flags >> _MAP_ALIGNMENT_SHIFT) & 0xFF
        if flags & _MAP_FIXED:
            if addr + size > mem.size:
                raise SyscallError("ENOMEM")
            if flags & _MAP_EXCL and not mem.is_free(addr, addr + size):
                raise SyscallError("ENOMEM")
            start = addr
        elif align_shift > 12 and align_shift < 40:
            # MAP_ALIGNED(n): look with room to spare, then round up inside it
            align = 1 << align_shift
            spare = mem.find_free(size + align, addr & ~PAGE_MASK)
            start = (spare + align - 1) & ~(align - 1)
        else:
            start = mem.find_free(size, addr & ~PAGE_MASK)
        if flags & _MAP_GUARD:  # reserved, inaccessible
            mem.map(start, size, 0)
            return start
        prot &= 7
        shared = bool(flags & _MAP_SHARED)
        if flags & _MAP_ANON:
            mem.map(start, size, prot, shared=shared)
            return start
        info = os.fstat(fd)
        mem.map_file(start, size, prot, fd, offset, shared=shared, name=self.proc.fd_path(fd),
                     dev=info.st_dev, inode=info.st_ino, file_size=info.st_size)
        return start

    @syscall
    def munmap(self, addr: Ptr, length: UInt) -> int:
        if addr & PAGE_MASK or length == 0:
            raise SyscallError("EINVAL")
        end = page_ceil(addr + length)
        if end > self.mem.size:
            raise SyscallError("EINVAL")
        self.mem.unmap(addr, end - addr)
        return 0

    @syscall
    def mprotect(self, addr: Ptr, length: UInt, prot: int) -> int:
        if addr & PAGE_MASK:
            raise SyscallError("EINVAL")
        end = page_ceil(addr + length)
        if end > self.mem.size:
            raise SyscallError("ENOMEM")
        if length:
            self.mem.protect(addr, end - addr, prot & 7)
        return 0

    @syscall
    def madvise(self, addr: Ptr, length: UInt, advice: int) -> int:
        if addr & PAGE_MASK or not 0 <= advice <= 9:
            raise SyscallError("EINVAL")
        if advice in (_MADV_DONTNEED, _MADV_FREE) and length:
            # FreeBSD may keep the contents; zeroing private anonymous pages
            # is one of the outcomes it allows, and what Linux's DONTNEED does
            end = page_ceil(addr + length)
            if advice == _MADV_DONTNEED:
                for m in self.mem._overlapping(addr, end):
                    if m.kind != "file" and not m.shared:
                        self.mem.zero_host(max(m.start, addr), min(m.end, end))
        return 0

    @syscall
    def minherit(self, addr: Ptr, length: UInt, inherit: int) -> int:
        return 0

    @syscall
    def mlock(self, addr: Ptr, length: UInt) -> int:
        return 0

    @syscall
    def munlock(self, addr: Ptr, length: UInt) -> int:
        return 0

    @syscall
    def msync(self, addr: Ptr, length: UInt, flags: int) -> int:
        if addr & PAGE_MASK:
            raise SyscallError("EINVAL")
        return 0
