"""Memory-mapped devices with one register window and (optionally) one SPI."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import PropertyError, SystemError_
from ..irq import IrqLine
from ..memory import MemoryRegion
from ..qdev import Device, Prop

GIC_SPI_BASE = 32  # GIC interrupt ID of SPI 0 (GICv2 architecture spec, 2.2.1)


class SysBusDevice(Device):
    """A device with one MMIO window at `addr` and one interrupt at SPI `irq`."""

    props: ClassVar[tuple[Prop, ...]] = (
        Prop("addr", int, None, "base address of the register window"),
        Prop("irq", int, None, "GIC SPI number (interrupt ID - 32)"),
    )
    mmio_size: ClassVar[int] = 0x1000
    # Devicetree "compatible" strings, most specific first.
    compatible: ClassVar[tuple[str, ...]] = ()
    fdt_name: ClassVar[str] = "device"

    def __init__(self, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id)
        self.region = MemoryRegion(self.type_name, self.mmio_size, self.mmio_read, self.mmio_write)
        self.irq_line = IrqLine(f"{self.type_name}.irq")

    def realize_hook(self) -> None:
        if self.prop("addr") is None:
            raise PropertyError("property 'addr' is not set")

    def mappings(self) -> list[tuple[MemoryRegion, int]]:
        return [(self.region, self.prop("addr"))]

    def irq_routes(self) -> list[tuple[IrqLine, int]]:
        irq = self.prop("irq")
        return [] if irq is None else [(self.irq_line, GIC_SPI_BASE + irq)]

    def mmio_read(self, offset: int, size: int) -> int:
        return 0

    def unimplemented(self, offset: int, size: int, write: bool) -> None:
        """A register the model lacks: reads 0, writes are dropped; `-d unimp` says so once."""
        try:
            report = self.context().unimp
        except SystemError_:
            return
        if report is not None:
            access = "write" if write else "read"
            report(f"{self.type_name}: unimplemented register {access} at offset {offset:#x} (size {size})")

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        pass

    def fdt_node(self, tree: Any) -> None:
        addr, irq = self.prop("addr"), self.prop("irq")
        props: dict[str, Any] = {
            "compatible": list(self.compatible),
            "reg": [0, addr, 0, self.mmio_size],
        }
        if irq is not None:
            props["interrupts"] = [0, irq, 4]  # SPI, number, IRQ_TYPE_LEVEL_HIGH
        props.update(self.fdt_extra(tree))
        tree.add_node(f"{self.fdt_name}@{addr:x}", props)

    def fdt_extra(self, tree: Any) -> dict[str, Any]:
        return {}


# PrimeCell identification registers at 0xfe0..0xffc, one byte per word:
# PeriphID0-3 then CellID 0x0d 0xf0 0x05 0xb1 (ARM PrimeCell TRMs, e.g. DDI0183 3.3.14).
PRIMECELL_ID = (0x0D, 0xF0, 0x05, 0xB1)


def primecell_id(offset: int, periph_id: tuple[int, int, int, int]) -> int | None:
    if 0xFE0 <= offset < 0x1000:
        index = (offset - 0xFE0) >> 2
        return (periph_id + PRIMECELL_ID)[index]
    return None
