"""ARM PrimeCell RTC (PL031): a seconds counter from host time, with an alarm.

Register map from the PL031 TRM (ARM DDI 0224): DR counts seconds, LR loads
it, MR is the match (alarm) value, RIS bit 0 is the match interrupt.
"""

from __future__ import annotations

import time
from typing import Any

from ..qdev import device_type
from .sysbus import SysBusDevice, primecell_id

DR, MR, LR, CR, IMSC, RIS, MIS, ICR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x1C
PERIPH_ID = (0x31, 0x10, 0x14, 0x00)  # as QEMU's pl031_id
NS = 1_000_000_000


@device_type
class PL031(SysBusDevice):
    type_name = "pl031"
    user_creatable = True
    compatible = ("arm,pl031", "arm,primecell")
    fdt_name = "pl031"

    def __init__(self, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id)
        self.reset_state()

    def reset_state(self) -> None:
        self.offset = 0  # DR = host seconds + offset
        self.mr = self.imsc = self.ris = 0
        self.alarm_ns: int | None = None

    def reset(self) -> None:
        self.reset_state()
        self.irq_line.set(False)

    def _now(self) -> int:
        return (int(time.time()) + self.offset) & 0xFFFFFFFF

    def _update(self) -> None:
        self.irq_line.set(bool(self.ris & self.imsc))

    def poll(self, now_ns: int) -> int | None:
        if self.alarm_ns is not None and now_ns >= self.alarm_ns:
            self.alarm_ns = None
            self.ris |= 1
            self._update()
        return self.alarm_ns

    def mmio_read(self, offset: int, size: int) -> int:
        ident = primecell_id(offset, PERIPH_ID)
        if ident is not None:
            return ident
        value = {DR: self._now(), MR: self.mr, LR: self._now(), CR: 1, IMSC: self.imsc,
                 RIS: self.ris, MIS: self.ris & self.imsc}.get(offset)
        if value is None:
            self.unimplemented(offset, size, write=False)
            return 0
        return value

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == LR:
            self.offset = value - int(time.time())
        elif offset == MR:
            self.mr = value
            ahead = (value - self._now()) & 0xFFFFFFFF
            # The match fires when the counter reaches MR; far futures are "never".
            self.alarm_ns = time.monotonic_ns() + ahead * NS if 0 < ahead < 1 << 31 else None
        elif offset == IMSC:
            self.imsc = value & 1
        elif offset == ICR:
            self.ris &= ~value & 1
        elif offset != CR:  # CR: the RTC is always started
            self.unimplemented(offset, size, write=True)
        self._update()

    def fdt_extra(self, tree: Any) -> dict[str, Any]:
        # Linux's AMBA bus enables "apb_pclk" before it reads the PrimeCell ID:
        # without the clock the rtc-pl031 driver never binds (QEMU's virt has it).
        return {"clock-names": "apb_pclk", "clocks": tree.phandle("apb-pclk")}

    def vmstate(self) -> dict[str, Any]:
        return {"offset": self.offset, "mr": self.mr, "imsc": self.imsc, "ris": self.ris}
