"""The platform bus: where dynamic (hot-plugged) memory-mapped devices go.

QEMU's virt board reserves a window for dynamically instantiated sysbus
devices (hw/arm/virt.c: VIRT_PLATFORM_BUS at 0x0c000000, size 0x02000000,
SPIs 112 to 112 + PLATFORM_BUS_NUM_IRQS(64) - 1).  Here the window is where a
device without an `addr` gets placed, and those SPIs are where one without
an `irq` gets wired; explicit values are honoured and checked by the address
map and the IRQ registry like any other.
"""

from __future__ import annotations

from typing import ClassVar

from ..errors import SystemError_
from ..qdev import Bus, Device, Prop, device_type
from .sysbus import GIC_SPI_BASE, SysBusDevice

PLATFORM_BUS_BASE = 0x0C000000
PLATFORM_BUS_SIZE = 0x02000000
PLATFORM_BUS_FIRST_SPI = 112
PLATFORM_BUS_NUM_IRQS = 64


@device_type
class PlatformBusDevice(Device):
    type_name = "platform-bus-device"
    props: ClassVar[tuple[Prop, ...]] = (
        Prop("base", int, PLATFORM_BUS_BASE),
        Prop("size", int, PLATFORM_BUS_SIZE),
        Prop("first-spi", int, PLATFORM_BUS_FIRST_SPI),
        Prop("num-irqs", int, PLATFORM_BUS_NUM_IRQS),
    )

    def __init__(self, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id)
        self.bus = self.add_bus(Bus("platform-bus.0", hotplug_handler=self))

    # -- HotplugHandler

    def pre_plug(self, bus: Bus, dev: Device) -> None:
        if not isinstance(dev, SysBusDevice):
            raise SystemError_(f"device type '{dev.type_name}' cannot go on {bus.name}")
        ctx = self.context()
        if dev.prop("addr") is None:
            dev.set_prop("addr", self._free_slot(ctx, dev.mmio_size))
        if dev.prop("irq") is None:
            dev.set_prop("irq", self._free_spi(ctx))

    def plug(self, bus: Bus, dev: Device) -> None:
        pass

    def unplug(self, bus: Bus, dev: Device) -> None:
        pass

    def _free_slot(self, ctx, size: int) -> int:
        base, end = self.prop("base"), self.prop("base") + self.prop("size")
        addr = base
        while addr + size <= end:
            clash = next((r for r in ctx.memory.regions if addr < r.end and r.base < addr + size), None)
            if clash is None:
                return addr
            addr = (clash.end + size - 1) // size * size
        raise SystemError_(f"{bus_name(self)}: no free space left in the platform bus window")

    def _free_spi(self, ctx) -> int:
        first = self.prop("first-spi")
        for spi in range(first, first + self.prop("num-irqs")):
            if GIC_SPI_BASE + spi not in ctx.irqs.claims:
                return spi
        raise SystemError_(f"{bus_name(self)}: no free interrupt left on the platform bus")


def bus_name(dev: PlatformBusDevice) -> str:
    return dev.bus.path
