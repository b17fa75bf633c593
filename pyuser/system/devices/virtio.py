"""virtio-mmio transports (virtio 1.1 spec, 4.2 "Virtio Over MMIO", version 2)
and virtio-blk behind them (5.2 "Block Device").

QEMU's virt board lays out 32 transports from 0x0a000000, 0x200 apart, on SPIs
16 to 47, edge-triggered (hw/arm/virt.c: VIRT_MMIO, NUM_VIRTIO_TRANSPORTS,
create_virtio_devices).  A transport with nothing plugged answers DeviceID 0,
which Linux skips.  Each transport has its own bus, "virtio-mmio-bus.N", which
takes one device; a device added without a bus goes to the free bus QEMU
would pick, the one with the highest address (QEMU's buses list is built
newest first).

Requests are served synchronously in the QueueNotify write, on the
emulating thread: descriptors and buffers are read from and written to guest
RAM by physical address, the used ring is updated, and the interrupt is
raised (InterruptStatus bit 0 until the driver acknowledges it).
"""

from __future__ import annotations

import os
import struct
from typing import Any, ClassVar

from ..errors import PropertyError, SystemError_
from ..qdev import Bus, Device, Prop, device_type
from .sysbus import SysBusDevice

VIRTIO_MMIO_BASE, VIRTIO_MMIO_SIZE, VIRTIO_MMIO_COUNT, VIRTIO_MMIO_FIRST_SPI = 0x0A000000, 0x200, 32, 16

MAGIC, VERSION, DEVICE_ID, VENDOR_ID = 0x000, 0x004, 0x008, 0x00C
DEVICE_FEATURES, DEVICE_FEATURES_SEL, DRIVER_FEATURES, DRIVER_FEATURES_SEL = 0x010, 0x014, 0x020, 0x024
QUEUE_SEL, QUEUE_NUM_MAX, QUEUE_NUM, QUEUE_READY, QUEUE_NOTIFY = 0x030, 0x034, 0x038, 0x044, 0x050
INTERRUPT_STATUS, INTERRUPT_ACK, STATUS = 0x060, 0x064, 0x070
QUEUE_DESC_LOW, QUEUE_DESC_HIGH, QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH = 0x080, 0x084, 0x090, 0x094
QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH, CONFIG_GENERATION, CONFIG = 0x0A0, 0x0A4, 0x0FC, 0x100
MAGIC_VALUE = 0x74726976  # "virt"
VENDOR_QEMU = 0x554D4551  # "QEMU", as QEMU's transports answer
QUEUE_MAX = 256
F_VERSION_1 = 1 << 32
VRING_DESC_F_NEXT, VRING_DESC_F_WRITE = 1, 2


class GuestRam:
    """Physical guest memory, for devices that do DMA (the board provides it)."""

    def __init__(self, uc: Any) -> None:
        self.uc = uc

    def read(self, pa: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(pa, size))

    def write(self, pa: int, data: bytes) -> None:
        self.uc.mem_write(pa, data)


class Virtqueue:
    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.num = 0
        self.ready = False
        self.desc = self.driver = self.device = 0
        self.last_avail = 0

    def chains(self, ram: GuestRam):
        """Yield (head, [(addr, len, device-writable)]) for each new available chain."""
        while (chain := self.pop(ram)) is not None:
            yield chain

    def pop(self, ram: GuestRam) -> tuple[int, list[tuple[int, int, bool]]] | None:
        """The next available chain, or None when the driver has made none available."""
        if not self.ready or not self.num:
            return None
        avail_idx = struct.unpack("<H", ram.read(self.driver + 2, 2))[0]
        if self.last_avail == avail_idx:
            return None
        slot = self.driver + 4 + 2 * (self.last_avail % self.num)
        head = struct.unpack("<H", ram.read(slot, 2))[0]
        self.last_avail = (self.last_avail + 1) & 0xFFFF
        buffers, index = [], head
        for _ in range(self.num):
            addr, length, flags, nxt = struct.unpack("<QIHH", ram.read(self.desc + 16 * index, 16))
            buffers.append((addr, length, bool(flags & VRING_DESC_F_WRITE)))
            if not flags & VRING_DESC_F_NEXT:
                break
            index = nxt
        return head, buffers

    def push_used(self, ram: GuestRam, head: int, written: int) -> None:
        used_idx = struct.unpack("<H", ram.read(self.device + 2, 2))[0]
        ram.write(self.device + 4 + 8 * (used_idx % self.num), struct.pack("<II", head, written))
        ram.write(self.device + 2, struct.pack("<H", (used_idx + 1) & 0xFFFF))


class VirtioBus(Bus):
    type_name = "virtio-mmio-bus"


class VirtioDevice(Device):
    """What a transport needs from the device behind it."""

    bus_type: ClassVar[str] = "virtio-mmio-bus"
    device_id: ClassVar[int] = 0
    num_queues: ClassVar[int] = 1
    features: ClassVar[int] = F_VERSION_1

    @property
    def transport(self) -> VirtioMmio | None:
        bus = self.parent_bus
        return bus.parent if bus is not None and isinstance(bus.parent, VirtioMmio) else None

    def config(self) -> bytes:
        return b""

    def notify(self, queue: Virtqueue, ram: GuestRam) -> bool:
        """Serve the queue; True if anything was used (an interrupt is due)."""
        return False


@device_type
class VirtioMmio(SysBusDevice):
    type_name = "virtio-mmio"
    mmio_size = VIRTIO_MMIO_SIZE
    compatible = ("virtio,mmio",)
    fdt_name = "virtio_mmio"

    def __init__(self, id: str | None = None, index: int = 0) -> None:  # noqa: A002
        super().__init__(id)
        self.bus = self.add_bus(VirtioBus(f"virtio-mmio-bus.{index}", hotplug_handler=self))
        self.ram: GuestRam | None = None
        self.reset_state()

    @property
    def backend(self) -> VirtioDevice | None:
        return next((d for d in self.bus.children if isinstance(d, VirtioDevice) and d.realized), None)

    def reset_state(self) -> None:
        self.status = self.interrupt_status = 0
        self.features_sel = self.driver_features_sel = self.queue_sel = 0
        self.driver_features = 0
        self.queues: list[Virtqueue] = []

    def reset(self) -> None:
        self.reset_state()
        self.irq_line.set(False)

    def realize_hook(self) -> None:
        super().realize_hook()
        self.ram = self.context().backends.get("guest-ram")

    # -- HotplugHandler: one device per transport
    def pre_plug(self, bus: Bus, dev: Device) -> None:
        if not isinstance(dev, VirtioDevice):
            raise SystemError_(f"device type '{dev.type_name}' cannot go on {bus.name}")
        if any(d is not dev for d in bus.children):
            raise SystemError_(f"Bus '{bus.name}' does not support more devices")

    def plug(self, bus: Bus, dev: Device) -> None:
        pass

    def unplug(self, bus: Bus, dev: Device) -> None:
        self.reset()

    # -- registers
    def _queue(self) -> Virtqueue:
        backend = self.backend
        count = backend.num_queues if backend else 0
        while len(self.queues) < count:
            self.queues.append(Virtqueue(len(self.queues)))
        if self.queue_sel >= count:
            return Virtqueue()  # a queue that does not exist: writes are dropped
        return self.queues[self.queue_sel]

    def mmio_read(self, offset: int, size: int) -> int:
        backend = self.backend
        if offset >= CONFIG:
            config = backend.config() if backend else b""
            chunk = config[offset - CONFIG:offset - CONFIG + size].ljust(size, b"\0")
            return int.from_bytes(chunk, "little")
        if offset == MAGIC:
            return MAGIC_VALUE
        if offset == VERSION:
            return 2
        if offset == DEVICE_ID:
            return backend.device_id if backend else 0
        if offset == VENDOR_ID:
            return VENDOR_QEMU
        if offset == DEVICE_FEATURES:
            features = backend.features if backend else 0
            return (features >> (32 * self.features_sel)) & 0xFFFFFFFF if self.features_sel < 2 else 0
        if offset == QUEUE_NUM_MAX:
            return QUEUE_MAX if backend and self.queue_sel < backend.num_queues else 0
        if offset == QUEUE_READY:
            return int(self._queue().ready)
        if offset == INTERRUPT_STATUS:
            return self.interrupt_status
        if offset == STATUS:
            return self.status
        return 0

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == DEVICE_FEATURES_SEL:
            self.features_sel = value
        elif offset == DRIVER_FEATURES:
            if self.driver_features_sel < 2:
                shift = 32 * self.driver_features_sel
                self.driver_features = (self.driver_features & ~(0xFFFFFFFF << shift)) | (value << shift)
        elif offset == DRIVER_FEATURES_SEL:
            self.driver_features_sel = value
        elif offset == QUEUE_SEL:
            self.queue_sel = value
        elif offset == QUEUE_NUM:
            self._queue().num = min(value, QUEUE_MAX)
        elif offset == QUEUE_READY:
            self._queue().ready = bool(value & 1)
        elif offset in (QUEUE_DESC_LOW, QUEUE_DESC_HIGH, QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH,
                        QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH):
            queue = self._queue()
            field = {QUEUE_DESC_LOW: "desc", QUEUE_DESC_HIGH: "desc", QUEUE_DRIVER_LOW: "driver",
                     QUEUE_DRIVER_HIGH: "driver", QUEUE_DEVICE_LOW: "device", QUEUE_DEVICE_HIGH: "device"}[offset]
            shift = 32 if offset & 4 else 0
            old = getattr(queue, field)
            setattr(queue, field, (old & ~(0xFFFFFFFF << shift)) | (value << shift))
        elif offset == QUEUE_NOTIFY:
            self._notify(value)
        elif offset == INTERRUPT_ACK:
            self.interrupt_status &= ~value
            self.irq_line.set(bool(self.interrupt_status))
        elif offset == STATUS:
            if value == 0:
                self.reset()
            else:
                self.status = value

    def _notify(self, index: int) -> None:
        backend = self.backend
        if backend is None or self.ram is None or index >= len(self.queues):
            return
        queue = self.queues[index]
        if queue.ready and queue.num and backend.notify(queue, self.ram):
            self.used_buffer_notification()

    def used_buffer_notification(self) -> None:
        """The device used buffers: InterruptStatus bit 0 and an edge on the line."""
        self.interrupt_status |= 1
        self.irq_line.set(False)  # an edge for each completion (the line is edge-triggered)
        self.irq_line.set(True)

    def fdt_node(self, tree: Any) -> None:
        addr, irq = self.prop("addr"), self.prop("irq")
        tree.add_node(f"virtio_mmio@{addr:x}", {
            "dma-coherent": None,
            "interrupts": [0, irq, 1],  # SPI, number, IRQ_TYPE_EDGE_RISING (as QEMU's virt)
            "reg": [0, addr, 0, VIRTIO_MMIO_SIZE],
            "compatible": "virtio,mmio",
        })

    def vmstate(self) -> dict[str, Any]:
        return {"status": self.status, "interrupt_status": self.interrupt_status}


# virtio-blk request types and status (virtio 1.1, 5.2.6)
VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID = 0, 1, 4, 8
VIRTIO_BLK_S_OK, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_UNSUPP = 0, 1, 2
VIRTIO_BLK_F_RO, VIRTIO_BLK_F_FLUSH = 1 << 5, 1 << 9
SECTOR = 512


@device_type
class VirtioBlk(VirtioDevice):
    type_name = "virtio-blk-device"
    user_creatable = True
    device_id = 2
    props: ClassVar[tuple[Prop, ...]] = (
        Prop("drive", str, None, "id of a -drive"),
    )

    def __init__(self, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id)
        self.fd: int | None = None
        self.read_only = False
        self.sectors = 0

    @property
    def features(self) -> int:  # type: ignore[override]
        return F_VERSION_1 | VIRTIO_BLK_F_FLUSH | (VIRTIO_BLK_F_RO if self.read_only else 0)

    def realize_hook(self) -> None:
        name = self.prop("drive")
        if name is None:
            raise PropertyError("drive property not set")
        drive = self.context().backends.get(f"drive:{name}")
        if drive is None:
            raise PropertyError(f"Property 'drive' can't find value '{name}'")
        self.read_only = bool(drive.get("readonly"))
        self.fd = os.open(drive["file"], os.O_RDONLY if self.read_only else os.O_RDWR)
        self.sectors = os.fstat(self.fd).st_size // SECTOR

    def unrealize_hook(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def config(self) -> bytes:
        return struct.pack("<Q", self.sectors)  # capacity; the other fields need features not offered

    def notify(self, queue: Virtqueue, ram: GuestRam) -> bool:
        used = False
        for head, buffers in queue.chains(ram):
            written = self._request(buffers, ram)
            queue.push_used(ram, head, written)
            used = True
        return used

    def _request(self, buffers: list[tuple[int, int, bool]], ram: GuestRam) -> int:
        if len(buffers) < 2 or buffers[0][1] < 16 or buffers[-1][1] < 1:
            return 0
        kind, _reserved, sector = struct.unpack("<IIQ", ram.read(buffers[0][0], 16))
        data = buffers[1:-1]
        status_addr = buffers[-1][0]
        written, status = 0, VIRTIO_BLK_S_OK
        assert self.fd is not None
        try:
            offset = sector * SECTOR
            if kind == VIRTIO_BLK_T_IN:
                for addr, length, _ in data:
                    chunk = os.pread(self.fd, length, offset).ljust(length, b"\0")
                    ram.write(addr, chunk)
                    offset += length
                    written += length
            elif kind == VIRTIO_BLK_T_OUT:
                if self.read_only:
                    status = VIRTIO_BLK_S_IOERR
                else:
                    for addr, length, _ in data:
                        os.pwrite(self.fd, ram.read(addr, length), offset)
                        offset += length
            elif kind == VIRTIO_BLK_T_FLUSH:
                if not self.read_only:
                    os.fsync(self.fd)
            elif kind == VIRTIO_BLK_T_GET_ID:
                serial = b"".ljust(20, b"\0")
                if data:
                    ram.write(data[0][0], serial[:data[0][1]])
                    written += min(20, data[0][1])
            else:
                status = VIRTIO_BLK_S_UNSUPP
        except OSError:
            status = VIRTIO_BLK_S_IOERR
        ram.write(status_addr, bytes([status]))
        return written + 1
