"""Kernel data shared with the host, for a guest of the other byte order.

Some structs have the same layout on every Linux architecture and pass
between guest memory and the host kernel as bytes (pollfd, fd_set, ioctl and
socket option arguments; statx and getdents64, which the host writes straight
into guest memory): a big-endian guest needs each field's bytes reversed on
the way.  For a little-endian guest every function here is the identity.
"""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType

    from pyuser.targets.base import Target


def swap_struct(layout: type, data: bytes) -> bytes:
    """`data` laid out as `layout` with every scalar field's bytes reversed
    (one byte order to the other: the same function both ways)."""
    out = bytearray(data)
    _swap(layout, out, 0)
    return bytes(out)


def _swap(kind: type, buf: bytearray, offset: int) -> None:
    if issubclass(kind, (ctypes.Structure, ctypes.Union)):
        for name, field_type, *_ in kind._fields_:
            _swap(field_type, buf, offset + getattr(kind, name).offset)
    elif issubclass(kind, ctypes.Array):
        size = ctypes.sizeof(kind._type_)
        if size > 1:
            for i in range(kind._length_):
                _swap(kind._type_, buf, offset + i * size)
    else:
        size = ctypes.sizeof(kind)
        buf[offset:offset + size] = buf[offset:offset + size][::-1]


def swap_dirents64(data: bytes) -> bytes:
    """The host's linux_dirent64 records (u64 d_ino, s64 d_off, u16 d_reclen,
    u8 d_type, name) with the numbers in big-endian order."""
    out = bytearray(data)
    position = 0
    while position + 19 <= len(out):
        ino, off, reclen = struct.unpack_from("<QqH", out, position)
        struct.pack_into(">QqH", out, position, ino, off, reclen)
        position += reclen or len(out)
    return bytes(out)


HOST_ORDER = "<"  # the x86_64 host's


def host_abi() -> ModuleType:
    """The x86_64 host's generated layouts (msghdr, shmid64_ds, ...), loaded on
    first use rather than at start-up (the module takes ~9 ms to import)."""
    from pyuser.targets.generated import x86_64_abi

    return x86_64_abi


def to_host(target: Target, layout: str, data: bytes) -> bytes:
    """Guest bytes laid out as the struct format `layout` (no prefix), in the
    host's byte order (the same bytes for a little-endian guest)."""
    if target.little_endian:
        return data
    return struct.pack(HOST_ORDER + layout, *target.unpack(layout, data))


def to_guest(target: Target, layout: str, data: bytes) -> bytes:
    """Host bytes laid out as `layout`, in the guest's byte order."""
    if target.little_endian:
        return data
    return target.pack(layout, *struct.unpack_from(HOST_ORDER + layout, data))
