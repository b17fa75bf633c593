"""Packing and unpacking FreeBSD structs from the generated LAYOUTS tables."""

from __future__ import annotations

import struct
from functools import cache
from types import ModuleType


class Layout:
    """One struct: its size and named fields (nested ones as "a.b")."""

    def __init__(self, size: int, fields: dict[str, tuple[int, str]]) -> None:
        self.size = size
        self.fields = fields

    def pack(self, **values: int) -> bytes:
        buf = bytearray(self.size)
        for name, value in values.items():
            offset, code = self.fields[name.replace("__", ".")]
            struct.pack_into("<" + code, buf, offset, value)
        return bytes(buf)

    def get(self, data: bytes, name: str) -> int:
        offset, code = self.fields[name]
        return struct.unpack_from("<" + code, data, offset)[0]

    def offset(self, name: str) -> int:
        return self.fields[name][0]


@cache
def layout(abi: ModuleType, name: str) -> Layout:
    size, fields = abi.LAYOUTS[name]
    return Layout(size, fields)
