"""The board's address map, as a Python model that Unicorn follows.

Devices own :class:`MemoryRegion` objects; realize maps them into the
:class:`AddressMap`, which refuses overlaps (an :class:`AddressClashError`
names both owners) and tells its listeners.  Unicorn is one such listener
(:class:`UnicornListener`): it is never asked to map anything the model has
not accepted, so the model and ``uc.mem_regions()`` cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .errors import AddressClashError
from .undo import UndoStack

ReadFn = Callable[[int, int], int]  # (offset, size) -> value
WriteFn = Callable[[int, int, int], None]  # (offset, size, value)


@dataclass(eq=False)
class MemoryRegion:
    """RAM (no callbacks) or MMIO (read/write callbacks on offsets)."""

    name: str
    size: int
    read: ReadFn | None = None
    write: WriteFn | None = None
    # Set while mapped, so listeners and clash messages can name them.
    base: int | None = None
    owner: str = ""

    @property
    def is_ram(self) -> bool:
        return self.read is None and self.write is None

    @property
    def end(self) -> int:
        assert self.base is not None
        return self.base + self.size

    def describe(self) -> str:
        where = f"[{self.base:#010x}-{self.base + self.size - 1:#010x}]" if self.base is not None else ""
        return f"{self.owner or '?'} region '{self.name}' {where}"


class MemoryListener(Protocol):
    def region_add(self, region: MemoryRegion) -> None: ...
    def region_del(self, region: MemoryRegion) -> None: ...


@dataclass
class AddressMap:
    """Non-overlapping regions of one address space, plus their listeners."""

    regions: list[MemoryRegion] = field(default_factory=list)
    listeners: list[MemoryListener] = field(default_factory=list)

    def map(self, region: MemoryRegion, base: int, owner: str) -> None:
        """Add `region` at `base`; atomic: on any failure nothing changed."""
        if region.base is not None:
            raise AddressClashError(f"{region.describe()} is already mapped")
        if region.size <= 0 or base < 0 or base + region.size > 1 << 32:
            raise AddressClashError(f"{owner}: region '{region.name}' at {base:#x} size {region.size:#x} is outside the address space")
        for other in self.regions:
            if base < other.end and other.base < base + region.size:  # type: ignore[operator]
                raise AddressClashError(
                    f"{owner}: region '{region.name}' [{base:#010x}-{base + region.size - 1:#010x}] "
                    f"clashes with {other.describe()}"
                )
        region.base, region.owner = base, owner
        self.regions.append(region)
        self.regions.sort(key=lambda r: r.base)  # type: ignore[arg-type, return-value]
        done = UndoStack(f"mapping of {region.describe()}")
        try:
            for listener in self.listeners:
                listener.region_add(region)
                done.push(f"{type(listener).__name__}.region_add", lambda li=listener: li.region_del(region))
        except Exception:
            done.unwind()
            self.regions.remove(region)
            region.base, region.owner = None, ""
            raise

    def unmap(self, region: MemoryRegion) -> None:
        """Remove `region`; listeners hear about it in reverse order."""
        for listener in reversed(self.listeners):
            listener.region_del(region)
        self.regions.remove(region)
        region.base, region.owner = None, ""

    def find(self, addr: int) -> MemoryRegion | None:
        for region in self.regions:
            if region.base <= addr < region.end:  # type: ignore[operator]
                return region
        return None

    def snapshot(self) -> list[tuple[int, int, str, str]]:
        """A comparable picture of the map (used by the tests)."""
        return [(r.base, r.size, r.owner, r.name) for r in self.regions]  # type: ignore[misc]


class UnicornListener:
    """Drives Unicorn's mem_map/mmio_map/mem_unmap from the address map."""

    def __init__(self, uc) -> None:  # uc: unicorn.Uc (imported lazily by the caller)
        self.uc = uc

    def region_add(self, region: MemoryRegion) -> None:
        assert region.base is not None
        if region.is_ram:
            self.uc.mem_map(region.base, region.size)
            return
        read, write = region.read, region.write

        # Unicorn calls these on the emulating thread, between guest instructions.
        def on_read(_uc, offset: int, size: int, _data) -> int:
            return read(offset, size) if read else 0

        def on_write(_uc, offset: int, size: int, value: int, _data) -> None:
            if write:
                write(offset, size, value)

        self.uc.mmio_map(region.base, region.size, on_read, None, on_write, None)

    def region_del(self, region: MemoryRegion) -> None:
        assert region.base is not None
        self.uc.mem_unmap(region.base, region.size)
