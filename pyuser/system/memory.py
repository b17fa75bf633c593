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
        except BaseException:  # an interrupt rolls back too
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


PAGE = 0x1000  # Unicorn's page size here (create_arm_cpu), the grain of its mappings


class UnicornListener:
    """Drives Unicorn's mem_map/mmio_map/mem_unmap from the address map.

    Unicorn maps whole pages only.  Regions smaller than a page (the 0x200
    virtio-mmio windows) share one MMIO page that dispatches each access to
    the region under it; the page goes away with its last region.
    """

    def __init__(self, uc) -> None:  # uc: unicorn.Uc (imported lazily by the caller)
        self.uc = uc
        self.shared: dict[int, list[MemoryRegion]] = {}

    def region_add(self, region: MemoryRegion) -> None:
        assert region.base is not None
        if region.is_ram:
            self.uc.mem_map(region.base, region.size)
            return
        if region.base % PAGE == 0 and region.size % PAGE == 0:
            self.uc.mmio_map(region.base, region.size, *self._callbacks(lambda offset: (region, offset)))
            return
        pages = range(region.base // PAGE * PAGE, region.end, PAGE)
        fresh = [page for page in pages if page not in self.shared]
        for i, page in enumerate(fresh):
            try:
                self.uc.mmio_map(page, PAGE, *self._callbacks(lambda offset, p=page: self._lookup(p + offset)))
            except Exception:
                for done in fresh[:i]:
                    self.uc.mem_unmap(done, PAGE)
                raise
        for page in pages:
            self.shared.setdefault(page, []).append(region)

    def _lookup(self, addr: int) -> tuple[MemoryRegion, int] | None:
        for region in self.shared.get(addr // PAGE * PAGE, ()):
            if region.base <= addr < region.end:  # type: ignore[operator]
                return region, addr - region.base  # type: ignore[operator]
        return None

    @staticmethod
    def _callbacks(find: Callable[[int], tuple[MemoryRegion, int] | None]):
        # Unicorn calls these on the emulating thread, between guest instructions.
        def on_read(_uc, offset: int, size: int, _data) -> int:
            hit = find(offset)
            if hit is None or hit[0].read is None:
                return 0
            return hit[0].read(hit[1], size)

        def on_write(_uc, offset: int, size: int, value: int, _data) -> None:
            hit = find(offset)
            if hit is not None and hit[0].write is not None:
                hit[0].write(hit[1], size, value)

        return on_read, None, on_write, None

    def region_del(self, region: MemoryRegion) -> None:
        assert region.base is not None
        if region.is_ram or (region.base % PAGE == 0 and region.size % PAGE == 0):
            self.uc.mem_unmap(region.base, region.size)
            return
        for page in range(region.base // PAGE * PAGE, region.end, PAGE):
            users = self.shared[page]
            users.remove(region)
            if not users:
                del self.shared[page]
                self.uc.mem_unmap(page, PAGE)
