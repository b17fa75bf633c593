"""virtio-net behind a virtio-mmio transport (virtio 1.1, 5.1 "Network Device").

Two queues, receiveq1 (0) and transmitq1 (1); the only feature besides
VIRTIO_F_VERSION_1 is VIRTIO_NET_F_MAC (the MAC in the config space, QEMU's
default 52:54:00:12:34:56).  No checksum offload (so both sides compute full
checksums), no merged receive buffers, no control queue, no link status
(without VIRTIO_NET_F_STATUS the driver takes the link as up).  With
VERSION_1 every frame is preceded by the 12-byte struct virtio_net_hdr
(5.1.6), which says nothing here but num_buffers = 1.

The device carries frames between the guest and a network back end
(`-netdev ID`, in the machine's backends as "netdev:ID"), which has
`from_guest(frame)`, a `to_guest` queue and `poll(now_ns)`.  Transmitted
frames go to the back end in the QueueNotify write; frames for the guest are
put in the receive queue's buffers there and at every safe point (poll),
when the guest has made buffers available.  A back end serves one device.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar, Protocol

from ..errors import PropertyError
from ..qdev import Prop, device_type
from .virtio import F_VERSION_1, GuestRam, VirtioDevice, Virtqueue

VIRTIO_NET_F_MAC = 1 << 5
NET_HDR = struct.pack("<BBHHHHH", 0, 0, 0, 0, 0, 0, 1)  # flags, gso_type, hdr_len, gso_size, csum_*, num_buffers
RECEIVEQ, TRANSMITQ = 0, 1
MAX_PENDING = 512  # frames held for a guest that posts no receive buffers; older ones are dropped, as a NIC drops


class NetBackend(Protocol):
    id: str
    in_use_by: str | None
    to_guest: Any  # a deque of frames

    def from_guest(self, frame: bytes) -> None: ...
    def poll(self, now_ns: int) -> int | None: ...


def parse_mac(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise PropertyError(f"Property 'mac' doesn't take value '{text}'")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise PropertyError(f"Property 'mac' doesn't take value '{text}'") from None


@device_type
class VirtioNet(VirtioDevice):
    type_name = "virtio-net-device"
    user_creatable = True
    device_id = 1
    num_queues = 2
    features = F_VERSION_1 | VIRTIO_NET_F_MAC
    props: ClassVar[tuple[Prop, ...]] = (
        Prop("netdev", str, None, "id of a -netdev"),
        Prop("mac", str, "52:54:00:12:34:56", "the MAC address"),
    )

    def __init__(self, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id)
        self.net: NetBackend | None = None
        self.mac = b""

    def realize_hook(self) -> None:
        name = self.prop("netdev")
        if name is None:
            raise PropertyError("netdev property not set")
        mac = parse_mac(self.prop("mac"))
        net = self.context().backends.get(f"netdev:{name}")
        if net is None:
            raise PropertyError(f"Property 'netdev' can't find value '{name}'")
        if net.in_use_by is not None:
            raise PropertyError(f"Property 'netdev' can't take value '{name}', it's in use")
        net.in_use_by = self.path
        self.net, self.mac = net, mac

    def unrealize_hook(self) -> None:
        if self.net is not None:
            self.net.in_use_by = None
            self.net.to_guest.clear()
            self.net = None

    def config(self) -> bytes:
        return self.mac

    def notify(self, queue: Virtqueue, ram: GuestRam) -> bool:
        used = False
        if queue.index == TRANSMITQ and self.net is not None:
            for head, buffers in queue.chains(ram):
                frame = b"".join(ram.read(addr, length) for addr, length, writable in buffers if not writable)
                self.net.from_guest(frame[len(NET_HDR):])
                queue.push_used(ram, head, 0)
                used = True
        return self._receive(ram) or used

    def poll(self, now_ns: int) -> int | None:
        if self.net is None:
            return None
        deadline = self.net.poll(now_ns)
        transport = self.transport
        if transport is not None and transport.ram is not None and self._receive(transport.ram):
            transport.used_buffer_notification()
        return deadline

    def _receive(self, ram: GuestRam) -> bool:
        """Frames from the back end into the guest's receive buffers; True if any went in."""
        net, transport = self.net, self.transport
        if net is None or transport is None or not net.to_guest:
            return False
        while len(net.to_guest) > MAX_PENDING:
            net.to_guest.popleft()
        if len(transport.queues) <= RECEIVEQ:
            return False
        queue = transport.queues[RECEIVEQ]
        used = False
        while net.to_guest:
            chain = queue.pop(ram)
            if chain is None:
                break
            head, buffers = chain
            data = NET_HDR + net.to_guest.popleft()
            written = 0
            for addr, length, writable in buffers:
                if writable and written < len(data):
                    piece = data[written:written + length]
                    ram.write(addr, piece)
                    written += len(piece)
            queue.push_used(ram, head, written)
            used = True
        return used

    def vmstate(self) -> dict[str, Any]:
        return {"mac": self.mac.hex(":")}
