"""brk, mmap and friends, on top of pyuser.memory.GuestMemory."""

from __future__ import annotations

import ctypes
import os

from pyuser.memory import PAGE_MASK, PAGE_SIZE, OutOfMemory, page_ceil
from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Ptr, SyscallError, UInt

_libc = ctypes.CDLL(None, use_errno=True)
_libc.msync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


class MemoryCalls(SyscallFamily):
    def setup_family(self) -> None:
        c = self.abi.CONST
        self._map_shared = c["MAP_SHARED"]
        self._map_fixed = c["MAP_FIXED"]
        self._map_anonymous = c["MAP_ANONYMOUS"]
        self._map_fixed_noreplace = c.get("MAP_FIXED_NOREPLACE", 0x100000)
        self._map_type_mask = c.get("MAP_TYPE", 0xF)
        self._map_shared_validate = c.get("MAP_SHARED_VALIDATE", 3)
        self._mremap_maymove = c["MREMAP_MAYMOVE"]
        self._mremap_fixed = c["MREMAP_FIXED"]
        self._madv_dontneed = c["MADV_DONTNEED"]

    # ------------------------------------------------------------ brk
    @syscall
    def brk(self, address: Ptr) -> int:
        proc = self.proc
        if address < proc.brk_start:
            return proc.brk
        old_top = page_ceil(proc.brk)
        new_top = page_ceil(address)
        if new_top > old_top:
            if not self.mem.is_free(old_top, new_top) or new_top > self.mem.size:
                return proc.brk
            self.mem.map(old_top, new_top - old_top, 3, kind="heap", name="[heap]")
        elif new_top < old_top:
            self.mem.unmap(new_top, old_top - new_top)
        proc.brk = address
        return address

    # ------------------------------------------------------------ mmap
    @syscall
    def mmap2(self, addr: Ptr, length: UInt, prot: UInt, flags: UInt, fd: Fd,
              pgoffset: UInt) -> int:
        return self.do_mmap(addr, length, prot, flags, fd, pgoffset * PAGE_SIZE)

    @syscall("mmap")
    def mmap_bytes(self, addr: Ptr, length: UInt, prot: UInt, flags: UInt, fd: Fd,
                   offset: UInt) -> int:
        if offset & PAGE_MASK:
            raise SyscallError("EINVAL")
        return self.do_mmap(addr, length, prot, flags, fd, offset)

    @syscall
    def old_mmap(self, args: Ptr) -> int:
        """mmap's first form, one pointer to six longs (addr, len, prot, flags,
        fd, offset: struct mmap_arg_struct, mm/mmap.c sys_old_mmap); what
        i386's and s390x's tables call mmap (their syscall_entry_points)."""
        w = self.target.word_size
        addr, length, prot, flags, fd, offset = self.target.unpack(
            ("I" if w == 4 else "Q") * 6, self.mem.read(args, 6 * w))
        fd = ((fd & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000  # an int, in a long
        if offset & PAGE_MASK:
            raise SyscallError("EINVAL")
        return self.do_mmap(addr, length, prot, flags, fd, offset)

    def do_mmap(self, addr: int, length: int, prot: int, flags: int, fd: int,
              offset: int) -> int:
        mem = self.mem
        if length == 0 or (addr & PAGE_MASK and flags & self._map_fixed):
            raise SyscallError("EINVAL")
        size = page_ceil(length)
        if size == 0 or size > mem.size:
            raise SyscallError("ENOMEM")
        map_type = flags & self._map_type_mask
        shared = map_type in (self._map_shared, self._map_shared_validate)
        if flags & self._map_fixed:
            if addr + size > mem.size:
                raise SyscallError("ENOMEM")
            start = addr
        elif flags & self._map_fixed_noreplace:
            if addr & PAGE_MASK or addr + size > mem.size:
                raise SyscallError("EINVAL")
            if not mem.is_free(addr, addr + size):
                raise SyscallError("EEXIST")
            start = addr
        else:
            start = mem.find_free(size, addr & ~PAGE_MASK)
        prot &= 7
        if flags & self._map_anonymous:
            mem.map(start, size, prot, shared=shared)
            return start
        info = os.fstat(fd)
        name = self.proc.fd_path(fd)
        mem.map_file(start, size, prot, fd, offset, shared=shared, name=name,
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
    def mprotect(self, addr: Ptr, length: UInt, prot: UInt) -> int:
        if addr & PAGE_MASK:
            raise SyscallError("EINVAL")
        if length == 0:
            return 0
        end = page_ceil(addr + length)
        if end > self.mem.size:
            raise SyscallError("ENOMEM")
        self.mem.protect(addr, end - addr, prot & 7)
        return 0

    @syscall
    def mremap(self, old: Ptr, old_size: UInt, new_size: UInt, flags: UInt,
               new_address: Ptr) -> int:
        mem = self.mem
        if old & PAGE_MASK or new_size == 0:
            raise SyscallError("EINVAL")
        old_size, new_size = page_ceil(old_size), page_ceil(new_size)
        mapping = mem.find_mapping(old)
        if old_size == 0:
            # Linux duplicates a shared mapping's pages there (and refuses a
            # private one): a second view of the same pages is not something
            # the one host reservation can give
            raise SyscallError("EINVAL")
        if mapping is None or not mem.all_mapped(old, old + old_size):
            raise SyscallError("EFAULT")
        if flags & self._mremap_fixed:
            raise SyscallError("EINVAL")  # not needed by glibc's malloc; say so plainly
        if new_size <= old_size:
            if new_size < old_size:
                mem.unmap(old + new_size, old_size - new_size)
            return old
        if mem.is_free(old + old_size, old + new_size) and old + new_size <= mem.size:
            mem.map(old + old_size, new_size - old_size, mapping.prot, kind=mapping.kind,
                    name=mapping.name)
            return old
        if not flags & self._mremap_maymove:
            raise SyscallError("ENOMEM")
        try:
            start = mem.find_free(new_size)
        except OutOfMemory:
            raise SyscallError("ENOMEM") from None
        mem.map(start, new_size, mapping.prot, kind=mapping.kind, name=mapping.name)
        mem.host[start:start + old_size] = mem.host[old:old + old_size]
        mem.unmap(old, old_size)
        return start

    @syscall
    def madvise(self, addr: Ptr, length: UInt, advice: int) -> int:
        if addr & PAGE_MASK:
            raise SyscallError("EINVAL")
        end = page_ceil(addr + length)
        if end > self.target.word_mask:
            raise SyscallError("EINVAL")  # the range wraps around
        if advice == self._madv_dontneed and end > addr:
            if end > self.mem.size:
                raise SyscallError("ENOMEM")
            for m in self.mem._overlapping(addr, end):
                self.mem.discard(max(m.start, addr), min(m.end, end))
            if not self.mem.all_mapped(addr, end):
                raise SyscallError("ENOMEM")  # after the mapped parts, as Linux does
        return 0

    @syscall
    def msync(self, addr: Ptr, length: UInt, flags: int) -> int:
        if addr & PAGE_MASK:
            raise SyscallError("EINVAL")
        if length and not self.mem.all_mapped(addr, addr + length):
            raise SyscallError("ENOMEM")
        if length:
            _libc.msync(self.mem.host_pointer(addr), page_ceil(length), 4)  # MS_SYNC
        return 0

    @syscall
    def mincore(self, addr: Ptr, length: UInt, vec: Ptr) -> int:
        """Which pages are resident: the host's answer for the guest's pages
        (one byte each, bit 0), ENOMEM where the guest has no mapping."""
        if addr & PAGE_MASK:
            raise SyscallError("EINVAL")
        end = page_ceil(addr + length)
        if not self.mem.all_mapped(addr, end):
            raise SyscallError("ENOMEM")
        pages = (end - addr) // PAGE_SIZE
        out = self.mem.writable(vec, pages)
        host = (ctypes.c_ubyte * pages)()
        if pages and _libc.mincore(ctypes.c_void_p(self.mem.host_pointer(addr)),
                                   ctypes.c_size_t(end - addr), host) != 0:
            raise SyscallError("ENOMEM")
        out[:] = bytes(host)
        return 0

    @syscall
    def mlock(self, addr: Ptr, length: UInt) -> int:
        return 0

    @syscall
    def mlock2(self, addr: Ptr, length: UInt, flags: UInt) -> int:
        return 0  # as mlock (MLOCK_ONFAULT only defers the faults)

    @syscall
    def munlock(self, addr: Ptr, length: UInt) -> int:
        return 0

    @syscall
    def mlockall(self, flags: UInt) -> int:
        return 0

    @syscall
    def munlockall(self) -> int:
        return 0
