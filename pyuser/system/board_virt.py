"""The `virt` board: QEMU's Arm virt memory map and interrupt map, 32-bit, one CPU.

Addresses and SPI numbers from QEMU's hw/arm/virt.c (base_memmap and
a15irqmap): GIC distributor 0x08000000 and CPU interface 0x08010000 (0x10000
each), PL011 UART 0x09000000 SPI 1, PL031 RTC 0x09010000 SPI 2, platform bus
0x0c000000 (SPIs 112-175), 32 virtio-mmio transports from 0x0a000000 (0x200
apart, SPIs 16-47), RAM from 0x40000000.

The tree::

    /machine                      (owns RAM)
      main-system-bus
        gic                       arm_gic, publishes interrupt inputs 16..287
        timer                     arm-generic-timer -> PPIs 14 (phys), 11 (virt)
        uart0                     pl011 @ 0x09000000, SPI 1, chardev serial0
        rtc                       pl031 @ 0x09010000, SPI 2
        virtio-mmio[0..31]        virtio-mmio @ 0x0a000000 + 0x200 n, SPI 16 + n
          virtio-mmio-bus.n       one virtio device (virtio-blk-device)
        platform-bus              platform-bus-device
          platform-bus.0          hotplug: device_add lands here
"""

from __future__ import annotations

import os
import time
from typing import Any

from .chardev import Chardev, NullChardev
from .cpu import ArmCpu
from .devices.gic import GICv2
from .devices.pl011 import PL011
from .devices.pl031 import PL031
from .devices.platform import PlatformBusDevice
from .devices.timer import GenericTimer
from .devices.virtio import (
    VIRTIO_MMIO_BASE,
    VIRTIO_MMIO_COUNT,
    VIRTIO_MMIO_FIRST_SPI,
    VIRTIO_MMIO_SIZE,
    GuestRam,
    VirtioMmio,
)
from .memory import MemoryRegion, UnicornListener
from .psci import PSCI_CPU_OFF, PSCI_CPU_ON, PSCI_CPU_SUSPEND, PSCI_MIGRATE
from .qdev import Machine

RAM_BASE = 0x40000000
GIC_DIST, GIC_CPU = 0x08000000, 0x08010000
UART_BASE, UART_SPI = 0x09000000, 1
RTC_BASE, RTC_SPI = 0x09010000, 2
NUM_IRQS = 256  # SPIs, as QEMU virt's NUM_IRQS
APB_PCLK_HZ = 24_000_000  # QEMU virt's fixed "apb-pclk" clock


class VirtMachine(Machine):
    type_name = "virt-machine"

    def __init__(self, ram_size: int = 128 << 20, cpu: ArmCpu | None = None,
                 serial: Chardev | None = None) -> None:
        super().__init__()
        self.cpu = cpu
        self.ram = MemoryRegion("ram", ram_size)
        # Extra /chosen properties: bootargs, linux,initrd-start/-end (set by the runner).
        self.chosen: dict[str, Any] = {}
        # Checks to run at the CPU loop's safe points until they return True.
        self.boot_hooks: list[Any] = []
        self.reseed()
        self.ctx.backends["null"] = NullChardev("null")
        self.ctx.backends["serial0"] = serial or NullChardev("serial0")
        if cpu is not None:
            self.ctx.memory.listeners.append(UnicornListener(cpu.uc))
            self.ctx.backends["guest-ram"] = GuestRam(cpu.uc)

        self.gic = GICv2()
        self.gic.set_prop("num-irq", NUM_IRQS + 32)
        self.add(self.gic, "gic")
        self.timer = GenericTimer(cpu)
        self.add(self.timer, "timer")
        self.uart = PL011()
        for name, value in (("addr", UART_BASE), ("irq", UART_SPI), ("chardev", "serial0")):
            self.uart.set_prop(name, value)
        self.add(self.uart, "uart0")
        self.rtc = PL031()
        self.rtc.set_prop("addr", RTC_BASE)
        self.rtc.set_prop("irq", RTC_SPI)
        self.add(self.rtc, "rtc")
        self.virtio = []
        for i in range(VIRTIO_MMIO_COUNT):
            transport = VirtioMmio(index=i)
            transport.set_prop("addr", VIRTIO_MMIO_BASE + i * VIRTIO_MMIO_SIZE)
            transport.set_prop("irq", VIRTIO_MMIO_FIRST_SPI + i)
            self.add(transport, f"virtio-mmio[{i}]")
            self.virtio.append(transport)
        self.platform_bus = PlatformBusDevice()
        self.add(self.platform_bus, "platform-bus")

        if cpu is not None:
            self.gic.cpu_irq.connect(cpu.set_irq)
        self.gic.refresh = lambda: self.poll_devices(time.monotonic_ns())

    def reseed(self) -> None:
        """New /chosen rng-seed (32 bytes) and kaslr-seed (8), as QEMU's virt draws at
        creation and again at each reset (hw/arm/virt.c create_fdt, qemu_fdt_randomize_seeds)."""
        self.seeds = {"rng-seed": os.urandom(32), "kaslr-seed": os.urandom(8)}

    def mappings(self) -> list[tuple[MemoryRegion, int]]:
        return [(self.ram, RAM_BASE)]

    def poll_devices(self, now_ns: int) -> int | None:
        """Bring every time- or host-driven device up to date; the earliest deadline."""
        deadline: int | None = None
        for dev in list(self.ctx.pollers.values()):
            due = dev.poll(now_ns)
            if due is not None and (deadline is None or due < deadline):
                deadline = due
        return deadline

    def fdt_root(self, tree: Any) -> None:
        # Phandles in the order QEMU's virt allocates them: the clock, the CPU, the GIC.
        for label in ("apb-pclk", "cpu0", "intc"):
            tree.phandle(label)
        tree.set_root({
            "compatible": "linux,dummy-virt",
            "#address-cells": 2,
            "#size-cells": 2,
            "interrupt-parent": tree.phandle("intc"),
            "model": "linux,dummy-virt",
        })
        tree.add_node("chosen", {"stdout-path": f"/pl011@{UART_BASE:x}", **self.seeds, **self.chosen})
        tree.add_node("psci", {
            # QEMU's virt without EL2/EL3 firmware uses the HVC conduit and
            # advertises PSCI 1.0 with the 0.2 function IDs (hw/arm/virt.c fdt_add_psci_node).
            "compatible": ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"],
            "method": "hvc",
            "cpu_suspend": PSCI_CPU_SUSPEND,
            "cpu_off": PSCI_CPU_OFF,
            "cpu_on": PSCI_CPU_ON,
            "migrate": PSCI_MIGRATE,
        })
        tree.add_node(f"memory@{RAM_BASE:x}", {
            "device_type": "memory",
            "reg": [0, RAM_BASE, self.ram.size >> 32, self.ram.size & 0xFFFFFFFF],
        })
        tree.add_node("cpus", {"#address-cells": 1, "#size-cells": 0})
        tree.add_node("cpus/cpu-map", {})
        tree.add_node("cpus/cpu-map/socket0", {})
        tree.add_node("cpus/cpu-map/socket0/cluster0", {})
        tree.add_node("cpus/cpu-map/socket0/cluster0/core0", {"cpu": tree.phandle("cpu0")})
        tree.add_node("cpus/cpu@0", {"device_type": "cpu", "compatible": "arm,cortex-a15", "reg": 0,
                                     "phandle": tree.phandle("cpu0")})
        tree.add_node("apb-pclk", {
            "compatible": "fixed-clock",
            "#clock-cells": 0,
            "clock-frequency": APB_PCLK_HZ,
            "clock-output-names": "clk24mhz",
            "phandle": tree.phandle("apb-pclk"),
        })
