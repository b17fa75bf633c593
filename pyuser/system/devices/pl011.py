"""ARM PrimeCell UART (PL011): transmit, receive FIFO and its interrupt.

Register map and bits from the PL011 TRM (ARM DDI 0183).  Transmission is
instantaneous (TXFE always set), as QEMU does.  The receive interrupt is
raised while the FIFO holds at least one character: QEMU's pl011 also ignores
UARTIFLS and uses a trigger level of one (hw/char/pl011.c, read_trigger).
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

from ..chardev import Chardev
from ..errors import PropertyError
from ..qdev import Prop, device_type
from .sysbus import SysBusDevice, primecell_id

DR, RSR, FR, ILPR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, MIS, ICR, DMACR = (
    0x00, 0x04, 0x18, 0x20, 0x24, 0x28, 0x2C, 0x30, 0x34, 0x38, 0x3C, 0x40, 0x44, 0x48)
FR_RXFE, FR_TXFF, FR_RXFF, FR_TXFE = 1 << 4, 1 << 5, 1 << 6, 1 << 7
INT_RX, INT_TX, INT_RT = 1 << 4, 1 << 5, 1 << 6
LCR_H_FEN = 1 << 4
FIFO_DEPTH = 16
PERIPH_ID = (0x11, 0x10, 0x14, 0x00)  # PL011 r1p4


@device_type
class PL011(SysBusDevice):
    type_name = "pl011"
    user_creatable = True
    props: ClassVar[tuple[Prop, ...]] = SysBusDevice.props + (
        Prop("chardev", str, "null", "character backend id (see -serial)"),
    )
    compatible = ("arm,pl011", "arm,primecell")
    fdt_name = "pl011"

    def __init__(self, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id)
        self.chardev: Chardev | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self.rx: deque[int] = deque()
        self.lcr_h = self.cr = self.imsc = self.ibrd = self.fbrd = self.ifls = self.dmacr = 0
        self.cr = 0x300  # TXE|RXE at reset (DDI 0183, UARTCR reset value)
        self.ifls = 0x12
        self.tx_int = False

    # -- lifecycle

    def realize_hook(self) -> None:
        super().realize_hook()
        name = self.prop("chardev")
        backend = self.context().backends.get(name)
        if backend is None:
            raise PropertyError(f"Property 'chardev' can't find value '{name}'")
        backend.attach(self.path, self.on_input)
        self.chardev = backend

    def unrealize_hook(self) -> None:
        if self.chardev is not None:
            self.chardev.detach()
            self.chardev = None

    def reset(self) -> None:
        self._reset_state()
        self._update()

    def vmstate(self) -> dict[str, Any]:
        return {"rx": list(self.rx), "lcr_h": self.lcr_h, "cr": self.cr, "imsc": self.imsc}

    # -- receive path (emulation thread only)

    def on_input(self) -> None:
        """The backend has bytes: take what the FIFO can hold."""
        if self.chardev is None:
            return
        depth = FIFO_DEPTH if self.lcr_h & LCR_H_FEN else 1
        while len(self.rx) < depth:
            byte = self.chardev.read_byte()
            if byte is None:
                break
            self.rx.append(byte)
        self._update()

    def poll(self, now_ns: int) -> int | None:
        self.on_input()
        return None

    # -- registers

    def _ris(self) -> int:
        return (INT_RX | INT_RT if self.rx else 0) | (INT_TX if self.tx_int else 0)

    def _update(self) -> None:
        self.irq_line.set(bool(self._ris() & self.imsc))

    def mmio_read(self, offset: int, size: int) -> int:
        ident = primecell_id(offset, PERIPH_ID)
        if ident is not None:
            return ident
        if offset == DR:
            self.on_input()
            value = self.rx.popleft() if self.rx else 0
            self.on_input()  # refill from the backend
            return value
        if offset == FR:
            self.on_input()
            depth = FIFO_DEPTH if self.lcr_h & LCR_H_FEN else 1
            fr = FR_TXFE
            fr |= FR_RXFE if not self.rx else 0
            fr |= FR_RXFF if len(self.rx) >= depth else 0
            return fr
        value = {
            RSR: 0, ILPR: 0, IBRD: self.ibrd, FBRD: self.fbrd, LCR_H: self.lcr_h, CR: self.cr,
            IFLS: self.ifls, IMSC: self.imsc, RIS: self._ris(), MIS: self._ris() & self.imsc,
            DMACR: self.dmacr,
        }.get(offset)
        if value is None:
            self.unimplemented(offset, size, write=False)
            return 0
        return value

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == DR:
            if self.chardev is not None:
                self.chardev.write(bytes([value & 0xFF]))
            self.tx_int = True  # the (instant) transmit FIFO drained below its level
        elif offset == IBRD:
            self.ibrd = value & 0xFFFF
        elif offset == FBRD:
            self.fbrd = value & 0x3F
        elif offset == LCR_H:
            if (self.lcr_h ^ value) & LCR_H_FEN:
                self.rx.clear()  # DDI 0183: changing FEN flushes the FIFOs
            self.lcr_h = value & 0xFF
        elif offset == CR:
            self.cr = value & 0xFFFF
        elif offset == IFLS:
            self.ifls = value & 0x3F
        elif offset == IMSC:
            self.imsc = value & 0x7FF
        elif offset == ICR:
            if value & INT_TX:
                self.tx_int = False
        elif offset == DMACR:
            self.dmacr = value & 0x7
        elif offset not in (RSR, ILPR):  # error clear and IrDA: nothing to model
            self.unimplemented(offset, size, write=True)
        self._update()

    def fdt_extra(self, tree: Any) -> dict[str, Any]:
        clk = tree.phandle("apb-pclk")
        return {"clock-names": ["uartclk", "apb_pclk"], "clocks": [clk, clk]}
