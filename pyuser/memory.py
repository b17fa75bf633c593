"""Guest memory: one host reservation, page permissions, and the guest's mappings.

Design:
- The whole guest user address space is one host mmap (reserved with
  MAP_NORESERVE, so untouched pages cost nothing) handed to Unicorn once with
  mem_map_ptr.  Unicorn slows down as regions multiply; one region never does.
- What is mapped, and with which permissions, is enforced by the guest MMU with
  page tables the target builds (:class:`PageTableSync`), so that stores stay
  on Unicorn's fast path and faults arrive as CPU exceptions.
- Python reads and writes guest memory through the same host buffer, without
  copies; every access checks the page permissions and raises GuestFault,
  which the syscall layer turns into EFAULT.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import os
from collections.abc import Callable
from typing import Protocol

from pyuser.limits import reservation_error

PAGE_SIZE = 4096
PAGE_MASK = PAGE_SIZE - 1

PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4
# A flag of our own in the page table: the page belongs to a mapping (even a
# PROT_NONE one), so an access to it is an ACCERR rather than a MAPERR.
PAGE_MAPPED = 8

MAP_NORESERVE = 0x4000  # Linux x86_64 host value; Python 3.11's mmap lacks it

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long,
]
_HOST_MAP_FIXED = 0x10
_HOST_MAP_PRIVATE = 0x02
_HOST_MAP_SHARED = 0x01
_HOST_MAP_ANONYMOUS = 0x20
_HOST_MAP_FAILED = ctypes.c_void_p(-1).value


class GuestFault(Exception):
    """A guest address that the access may not touch (becomes EFAULT)."""

    def __init__(self, address: int) -> None:
        super().__init__(f"bad guest address {address:#x}")
        self.address = address


class OutOfMemory(Exception):
    """No free guest range large enough (becomes ENOMEM)."""


def page_floor(x: int) -> int:
    return x & ~PAGE_MASK


def page_ceil(x: int) -> int:
    return (x + PAGE_MASK) & ~PAGE_MASK


class PageTableSync(Protocol):
    """What a target's MMU backend does when guest permissions change."""

    def set_pages(self, start: int, end: int, prot: int) -> None: ...
    def clear_pages(self, start: int, end: int) -> None: ...
    def flush(self) -> None: ...


class Mapping:
    """One guest mapping, as /proc/self/maps lists it."""

    def __init__(self, start: int, end: int, prot: int, shared: bool = False, name: str = "",
                 offset: int = 0, dev: int = 0, inode: int = 0, kind: str = "anon") -> None:
        self.start = start
        self.end = end
        self.prot = prot
        self.shared = shared
        self.name = name
        self.offset = offset
        self.dev = dev
        self.inode = inode
        self.kind = kind  # anon, file, heap, stack, vectors

    def __repr__(self) -> str:
        return (f"Mapping({self.start:#x}-{self.end:#x} prot={self.prot} {self.kind}"
                f"{' shared' if self.shared else ''} {self.name!r})")

    def split_at(self, address: int) -> Mapping:
        """Cut this mapping at `address`; returns the upper part."""
        upper = Mapping(address, self.end, self.prot, self.shared, self.name,
                        self.offset + (address - self.start) if self.kind == "file" else 0,
                        self.dev, self.inode, self.kind)
        self.end = address
        return upper


# translate() tables: a page's flag byte -> 1 when it grants what is asked.
def _grant_table(need: int) -> bytes:
    return bytes(1 if (f & need) == need else 0 for f in range(256))


_READABLE = _grant_table(PROT_READ)
_WRITABLE = _grant_table(PROT_WRITE)


class GuestMemory:
    """The guest's address space [0, size)."""

    def __init__(self, size: int) -> None:
        self.size = size
        try:
            self.host = mmap.mmap(
                -1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE
            )
        except OSError as e:  # ENOMEM: RLIMIT_AS (ulimit -v) is below the reservation
            raise reservation_error(size, e) from None
        self.host_base = ctypes.addressof(ctypes.c_char.from_buffer(self.host))
        self.view = memoryview(self.host)
        # a flag byte per page, zero (unmapped) until set: an anonymous
        # mapping, whose untouched pages cost nothing, not a bytearray (which
        # writes every byte: 16 MiB and ~7 ms of each start for a 64 GiB space)
        self.pages: mmap.mmap | bytearray = mmap.mmap(
            -1, size // PAGE_SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE)
        self.mappings: list[Mapping] = []  # sorted, non-overlapping
        self._starts: list[int] = []
        self.mmu: PageTableSync | None = None
        self.mmap_top = size  # top-down allocation starts below this
        self._search_from = size  # where find_free looks first
        self.mmap_floor = 0x10000

    def release(self) -> None:
        """The address space is no more (an in-place exec): give its pages,
        file and shared mappings back to the host now.  The reservation goes
        with this object; while something still holds a view of it, it stays
        as inaccessible, empty address space until then."""
        self.mappings.clear()
        self._starts.clear()
        if isinstance(self.pages, mmap.mmap):
            self.pages.close()
        self.pages = bytearray(0)
        try:
            self.view.release()
            self.host.close()
            return
        except BufferError:
            pass
        flags = _HOST_MAP_FIXED | _HOST_MAP_PRIVATE | _HOST_MAP_ANONYMOUS | MAP_NORESERVE
        _libc.mmap(self.host_base, self.size, mmap.PROT_NONE, flags, -1, 0)

    # ----------------------------------------------------------- accesses
    def check(self, address: int, size: int, table: bytes) -> None:
        if size <= 0:
            if address >= self.size:
                raise GuestFault(address)
            return
        end = address + size
        if address < 0 or end > self.size:
            raise GuestFault(address)
        first = address >> 12
        last = (end - 1) >> 12
        if first == last:
            if not table[self.pages[first]]:
                raise GuestFault(address)
            return
        granted = self.pages[first:last + 1].translate(table)
        bad = granted.find(0)
        if bad >= 0:
            raise GuestFault(max(address, (first + bad) << 12))

    def read(self, address: int, size: int) -> bytes:
        self.check(address, size, _READABLE)
        return self.host[address:address + size]

    def readable(self, address: int, size: int) -> memoryview:
        self.check(address, size, _READABLE)
        return self.view[address:address + size]

    def writable(self, address: int, size: int) -> memoryview:
        """A live view of guest memory that a syscall may fill in place."""
        self.check(address, size, _WRITABLE)
        return self.view[address:address + size]

    def write(self, address: int, data: bytes | bytearray | memoryview) -> None:
        size = len(data)
        self.check(address, size, _WRITABLE)
        self.host[address:address + size] = data

    def read_cstr(self, address: int, limit: int = 1 << 20) -> bytes:
        """A NUL-terminated string; EFAULT if it runs into an unreadable page."""
        if address <= 0 or address >= self.size:
            raise GuestFault(address)
        end = min(address + limit, self.size)
        pos = address
        while pos < end:
            chunk_end = min(page_floor(pos) + PAGE_SIZE, end)
            if not _READABLE[self.pages[pos >> 12]]:
                raise GuestFault(pos)
            nul = self.host.find(b"\0", pos, chunk_end)
            if nul >= 0:
                return self.host[address:nul]
            pos = chunk_end
        raise GuestFault(pos)

    def read_struct(self, address: int, cls: type[ctypes.Structure]) -> ctypes.Structure:
        return cls.from_buffer_copy(self.read(address, ctypes.sizeof(cls)))

    def write_struct(self, address: int, value: ctypes.Structure) -> None:
        self.write(address, bytes(value))

    def host_pointer(self, address: int) -> int:
        return self.host_base + address

    def zero_host(self, start: int, end: int) -> None:
        """Give the range back to the host; it reads as zeros afterwards."""
        if end > start:
            self.host.madvise(mmap.MADV_DONTNEED, start, end - start)

    def discard(self, start: int, end: int) -> None:
        """madvise(MADV_DONTNEED) of mapped pages: a private page's own copy is
        dropped, so it reads back as its file's content (file mappings) or as
        zeros (anonymous ones); a shared page keeps its content.  The host's
        MADV_DONTNEED on the reservation does exactly that, since each guest
        mapping is a host mapping of the same kind."""
        if end > start:
            self.host.madvise(mmap.MADV_DONTNEED, start, end - start)
            self.invalidate_code(start, end)

    def invalidate_code(self, start: int, end: int) -> None:
        """Hook for the CPU: translated code in [start, end) is stale."""

    def accessible_grew(self, start: int, end: int) -> None:
        """Hook for the CPU: [start, end), at least a MiB, became readable or
        writable (the soft TLB policy, pyuser.soft_tlb), before the flush."""

    def accessible_pages(self) -> int:
        return sum((m.end - m.start) >> 12 for m in self.mappings
                   if m.prot & (PROT_READ | PROT_WRITE))

    # ----------------------------------------------------------- mappings
    def find_mapping(self, address: int) -> Mapping | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and self.mappings[i].end > address:
            return self.mappings[i]
        return None

    def is_free(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self._starts, end)
        return i == 0 or self.mappings[i - 1].end <= start

    def find_free(self, length: int, hint: int = 0) -> int:
        """A free range of `length` bytes: at `hint` if free, else top-down.

        The search starts below the last range it found (raised again when
        something above is unmapped), like Linux's old free_area_cache, so
        that thousands of mmaps do not each walk every mapping; only when
        nothing fits there does it search from the top.
        """
        length = page_ceil(length)
        if hint and hint + length <= self.size and self.is_free(hint, hint + length):
            if hint >= self.mmap_floor:
                return hint
        for top in (min(self._search_from, self.mmap_top), self.mmap_top):
            found = self._gap_below(top, length)
            if found is not None:
                self._search_from = found
                return found
        raise OutOfMemory()

    def _gap_below(self, top: int, length: int) -> int | None:
        """The highest free range of `length` bytes that ends at or below `top`."""
        i = bisect.bisect_left(self._starts, top)  # mappings[:i] start below top
        while True:
            below = self.mappings[i - 1] if i > 0 else None
            if below is not None and below.end > top:  # top is inside it
                top = below.start
                i -= 1
                continue
            floor = max(below.end if below is not None else 0, self.mmap_floor)
            if top - length >= floor:
                return top - length
            if below is None:
                return None
            top = below.start
            i -= 1

    def _carve(self, start: int, end: int) -> None:
        """Remove [start, end) from the mapping list, splitting neighbours."""
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        if i < len(self.mappings) and self.mappings[i].end <= start:
            i += 1
        j = bisect.bisect_left(self._starts, end, lo=i)  # mappings[i:j] overlap
        if i >= j:
            return
        pieces: list[Mapping] = []
        for m in self.mappings[i:j]:
            if m.start < start:
                upper = m.split_at(start)
                pieces.append(m)
                m = upper
            if m.end > end:
                pieces.append(m.split_at(end))
        self.mappings[i:j] = pieces
        self._starts[i:j] = [m.start for m in pieces]

    def _insert(self, mapping: Mapping) -> None:
        i = bisect.bisect_left(self._starts, mapping.start)
        self.mappings.insert(i, mapping)
        self._starts.insert(i, mapping.start)

    def _set_page_flags(self, start: int, end: int, prot: int) -> None:
        n = (end - start) >> 12
        self.pages[start >> 12:end >> 12] = bytes([prot | PAGE_MAPPED]) * n
        if n >= 256 and prot & (PROT_READ | PROT_WRITE):
            # before set_pages: MIPS's region change flushes the TLB at once,
            # and the policy looks at which modes were used since the last flush
            self.accessible_grew(start, end)
        if self.mmu is not None:
            self.mmu.set_pages(start, end, prot)

    def map(self, start: int, length: int, prot: int, *, kind: str = "anon", name: str = "",
            shared: bool = False, zero: bool = True) -> Mapping:
        """Map [start, start+length) anonymous (zero-filled), replacing what was there."""
        end = page_ceil(start + length)
        start = page_floor(start)
        self._carve(start, end)
        if zero:
            # a shared anonymous mapping is a shared host mapping, so that it
            # stays shared with the children of a fork (pyuser.syscalls.fork)
            self._restore_anonymous(start, end, shared=shared)
        mapping = Mapping(start, end, prot, shared, name, kind=kind)
        self._insert(mapping)
        self._set_page_flags(start, end, prot)
        self.invalidate_code(start, end)
        self._flush()
        return mapping

    def map_file(self, start: int, length: int, prot: int, fd: int, offset: int,
                 *, shared: bool, name: str, dev: int, inode: int, file_size: int) -> Mapping:
        """Map a file into guest memory by mapping it into the host reservation.

        Pages wholly past the end of the file are left anonymous (zero) rather
        than mapped, since touching them would raise SIGBUS in the emulator.
        """
        end = page_ceil(start + length)
        self._carve(start, end)
        self._restore_anonymous(start, end)
        file_bytes = max(0, min(end - start, page_ceil(file_size - offset) if file_size > offset else 0))
        if file_bytes:
            flags = _HOST_MAP_FIXED | (_HOST_MAP_SHARED if shared else _HOST_MAP_PRIVATE)
            # private pages are copy-on-write in the host, so always writable;
            # a shared mapping of a read-only file can only be mapped readable
            writable = not shared or prot & PROT_WRITE
            host_prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            result = _libc.mmap(self.host_base + start, file_bytes, host_prot, flags, fd, offset)
            if result == _HOST_MAP_FAILED:
                err = ctypes.get_errno()
                self._restore_anonymous(start, start + file_bytes)
                raise OSError(err, os.strerror(err))
        mapping = Mapping(start, end, prot, shared, name, offset, dev, inode, kind="file")
        self._insert(mapping)
        self._set_page_flags(start, end, prot)
        self.invalidate_code(start, end)
        self._flush()
        return mapping

    def map_host(self, start: int, length: int, prot: int, attach: Callable[[int], None], *,
                 name: str) -> Mapping:
        """Map [start, start+length) with pages the host attaches itself at the
        host address given to `attach` (SysV shared memory): shared pages that
        unmap() replaces like a shared file mapping's."""
        end = page_ceil(start + length)
        self._carve(start, end)
        attach(self.host_base + start)
        mapping = Mapping(start, end, prot, True, name, kind="file")
        self._insert(mapping)
        self._set_page_flags(start, end, prot)
        self.invalidate_code(start, end)
        self._flush()
        return mapping

    def _restore_anonymous(self, start: int, end: int, shared: bool = False) -> None:
        """Put private (or shared) zero pages back under [start, end) of the reservation."""
        if end <= start:
            return
        kind = _HOST_MAP_SHARED if shared else _HOST_MAP_PRIVATE
        flags = _HOST_MAP_FIXED | kind | _HOST_MAP_ANONYMOUS | MAP_NORESERVE
        result = _libc.mmap(self.host_base + start, end - start,
                            mmap.PROT_READ | mmap.PROT_WRITE, flags, -1, 0)
        if result == _HOST_MAP_FAILED:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def unmap(self, start: int, length: int) -> None:
        end = page_ceil(start + length)
        if end <= start:
            return  # nothing (the engine refuses an empty range to invalidate)
        # file and shared pages are host mappings of their own: replace them
        # (MADV_DONTNEED would leave a shared page's contents in place)
        had_file = any(m.kind == "file" or m.shared for m in self._overlapping(start, end))
        self._carve(start, end)
        self._search_from = max(self._search_from, end)
        if had_file:
            self._restore_anonymous(start, end)
        else:
            self.zero_host(start, end)
        self.pages[start >> 12:end >> 12] = bytes((end - start) >> 12)
        if self.mmu is not None:
            self.mmu.clear_pages(start, end)
        self.invalidate_code(start, end)
        self._flush()

    def protect(self, start: int, length: int, prot: int) -> None:
        """mprotect: every page of the range must be mapped (else ENOMEM)."""
        end = page_ceil(start + length)
        if self.pages[start >> 12:end >> 12].find(0) >= 0:
            raise OutOfMemory()  # a hole: mapped pages always have PAGE_MAPPED set
        for m in list(self._overlapping(start, end)):
            # before _carve: splitting m shortens it in place (Mapping.split_at)
            lo, hi = max(m.start, start), min(m.end, end)
            self._carve(lo, hi)
            piece = Mapping(lo, hi, prot, m.shared, m.name,
                            m.offset + (lo - m.start) if m.kind == "file" else 0,
                            m.dev, m.inode, m.kind)
            self._insert(piece)
        self._set_page_flags(start, end, prot)
        self.invalidate_code(start, end)
        self._flush()

    def _overlapping(self, start: int, end: int) -> list[Mapping]:
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        out = []
        while i < len(self.mappings) and self.mappings[i].start < end:
            if self.mappings[i].end > start:
                out.append(self.mappings[i])
            i += 1
        return out

    def _flush(self) -> None:
        if self.mmu is not None:
            self.mmu.flush()

    def all_mapped(self, start: int, end: int) -> bool:
        flags = self.pages[start >> 12:page_ceil(end) >> 12]
        return all(f & PAGE_MAPPED for f in flags)
