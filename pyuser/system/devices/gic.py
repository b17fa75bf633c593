"""GICv2 distributor and CPU interface, for one CPU without security extensions.

Register offsets and semantics from the ARM GIC Architecture Specification
v2 (IHI 0048B), chapter 4.  Modelled: enable, pending (latched for edges and
software, following the input level for level-sensitive interrupts), active,
priority, PMR, running priority with nested acknowledges, SGIs via GICD_SGIR.
Not modelled: groups/FIQ, binary-point preemption, multiple CPUs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ..irq import IrqLine
from ..memory import MemoryRegion
from ..qdev import Device, Prop, device_type

SPURIOUS = 1023
# Distributor
D_CTLR, D_TYPER, D_IIDR = 0x000, 0x004, 0x008
D_IGROUPR, D_ISENABLER, D_ICENABLER = 0x080, 0x100, 0x180
D_ISPENDR, D_ICPENDR, D_ISACTIVER, D_ICACTIVER = 0x200, 0x280, 0x300, 0x380
D_IPRIORITYR, D_ITARGETSR, D_ICFGR, D_SGIR = 0x400, 0x800, 0xC00, 0xF00
# CPU interface
C_CTLR, C_PMR, C_BPR, C_IAR, C_EOIR, C_RPR, C_HPPIR, C_IIDR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0xFC
# PIDR2 with ArchRev = 2 (IHI 0048B 4.3.13); the rest of the ID block as QEMU's arm_gic.
DIST_ID = {0xFD0: 0x04, 0xFE0: 0x90, 0xFE4: 0xB4, 0xFE8: 0x2B, 0xFF0: 0x0D, 0xFF4: 0xF0, 0xFF8: 0x05, 0xFFC: 0xB1}
# GICD_IIDR: implementer ARM (JEP106 0x43B), ProductID, Variant and Revision 0:
# what qemu-system-arm 7.2's arm_gic answers (read by tests/guest_bins/system/hello.c).
IIDR = 0x0000043B
# GICC_IIDR has its own layout (IHI 0048B 4.4.15): ProductID [31:20], architecture
# version [19:16] = 2 (GICv2), revision [15:12], implementer [11:0]; QEMU's
# arm_gic answers (revision << 16) | 0x43b.
CPU_IIDR = (2 << 16) | 0x43B


@device_type
class GICv2(Device):
    type_name = "arm_gic"
    props: ClassVar[tuple[Prop, ...]] = (
        Prop("dist-addr", int, 0x08000000),
        Prop("cpu-addr", int, 0x08010000),
        Prop("num-irq", int, 288, "interrupt IDs, including the 32 SGIs/PPIs"),
    )

    def __init__(self, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id)
        self.dist = MemoryRegion("gic-dist", 0x10000, self.dist_read, self.dist_write)
        self.cpuif = MemoryRegion("gic-cpu", 0x10000, self.cpu_read, self.cpu_write)
        self.cpu_irq = IrqLine("gic.cpu-irq")
        # Brings time-driven sources up to date before the GIC answers a question.
        self.refresh: Callable[[], None] | None = None
        self._alloc(288)

    def _alloc(self, n: int) -> None:
        self.n = n
        self.enabled = [False] * n
        self.latched = [False] * n
        self.level = [False] * n
        self.active = [False] * n
        self.edge = [i < 16 for i in range(n)]  # SGIs are edge-triggered
        self.priority = [0] * n
        self.group = [0] * n
        self.targets = [1] * n
        self.d_ctlr = self.c_ctlr = self.pmr = self.bpr = 0
        self.active_stack: list[int] = []

    # -- lifecycle

    def realize_hook(self) -> None:
        n = self.prop("num-irq")
        if n % 32 or not 32 <= n <= 1020:
            raise ValueError(f"num-irq {n} must be a multiple of 32 between 32 and 1020")
        self._alloc(n)

    def mappings(self) -> list[tuple[MemoryRegion, int]]:
        return [(self.dist, self.prop("dist-addr")), (self.cpuif, self.prop("cpu-addr"))]

    def irq_inputs(self) -> tuple[range, Callable[[int], Callable[[bool], None]]]:
        # PPIs and SPIs are wires; SGIs are raised only by GICD_SGIR.
        return range(16, self.n), lambda i: lambda level: self.set_input(i, level)

    def reset(self) -> None:
        levels = self.level
        self._alloc(self.n)
        self.level = levels  # wires keep their levels across a reset
        self._update()

    def vmstate(self) -> dict[str, Any]:
        return {"enabled": list(self.enabled), "latched": list(self.latched), "active": list(self.active),
                "priority": list(self.priority), "pmr": self.pmr, "ctlr": (self.d_ctlr, self.c_ctlr)}

    # -- inputs and the output

    def set_input(self, irq: int, level: bool) -> None:
        if self.edge[irq] and level and not self.level[irq]:
            self.latched[irq] = True
        self.level[irq] = level
        self._update()

    def _pending(self, irq: int) -> bool:
        return self.latched[irq] or (self.level[irq] and not self.edge[irq])

    def _running_priority(self) -> int:
        return self.priority[self.active_stack[-1]] if self.active_stack else 0x100

    def highest_pending(self) -> int:
        if not self.d_ctlr & 1:
            return SPURIOUS
        best, best_prio = SPURIOUS, min(self.pmr, self._running_priority())
        for irq in range(self.n):
            if self.enabled[irq] and not self.active[irq] and self._pending(irq) and self.priority[irq] < best_prio:
                best, best_prio = irq, self.priority[irq]
        return best

    def _update(self) -> None:
        self.cpu_irq.set(bool(self.c_ctlr & 1) and self.highest_pending() != SPURIOUS)

    # -- distributor registers

    def _bitmap(self, table: list[bool], offset: int) -> int:
        base = offset * 8
        return sum(1 << b for b in range(32) if base + b < self.n and table[base + b])

    def _bits(self, offset: int, value: int):
        base = offset * 8
        return (base + b for b in range(32) if value >> b & 1 and base + b < self.n)

    def dist_read(self, offset: int, size: int) -> int:
        if offset == D_CTLR:
            return self.d_ctlr
        if offset == D_TYPER:
            return self.n // 32 - 1  # ITLinesNumber; CPUNumber 0 = one CPU
        if offset == D_IIDR:
            return IIDR
        for base, table in ((D_IGROUPR, None), (D_ISENABLER, self.enabled), (D_ICENABLER, self.enabled),
                            (D_ISPENDR, None), (D_ICPENDR, None),
                            (D_ISACTIVER, self.active), (D_ICACTIVER, self.active)):
            if base <= offset < base + 0x80:
                if table is None and base == D_IGROUPR:
                    return sum(self.group[i] << (i % 32) for i in range((offset - base) * 8, min(self.n, (offset - base) * 8 + 32)))
                if table is None:
                    return sum(1 << b for b in range(32) if (offset - base) * 8 + b < self.n and self._pending((offset - base) * 8 + b))
                return self._bitmap(table, offset - base)
        if D_IPRIORITYR <= offset < D_IPRIORITYR + self.n:
            return self._bytes(self.priority, offset - D_IPRIORITYR, size)
        if D_ITARGETSR <= offset < D_ITARGETSR + self.n:
            return self._bytes(self.targets, offset - D_ITARGETSR, size)
        if D_ICFGR <= offset < D_ICFGR + self.n // 4:
            first = (offset - D_ICFGR) * 4
            return sum(2 << (2 * k) for k in range(16) if first + k < self.n and self.edge[first + k])
        return DIST_ID.get(offset, 0)

    def _bytes(self, table: list[int], index: int, size: int) -> int:
        return sum(table[index + k] << (8 * k) for k in range(size) if index + k < self.n)

    def dist_write(self, offset: int, size: int, value: int) -> None:
        if offset == D_CTLR:
            self.d_ctlr = value & 1
        elif D_IGROUPR <= offset < D_IGROUPR + 0x80:
            first = (offset - D_IGROUPR) * 8
            for b in range(32):
                if first + b < self.n:
                    self.group[first + b] = value >> b & 1
        elif D_ISENABLER <= offset < D_ISENABLER + 0x80:
            for i in self._bits(offset - D_ISENABLER, value):
                self.enabled[i] = True
        elif D_ICENABLER <= offset < D_ICENABLER + 0x80:
            for i in self._bits(offset - D_ICENABLER, value):
                self.enabled[i] = False
        elif D_ISPENDR <= offset < D_ISPENDR + 0x80:
            for i in self._bits(offset - D_ISPENDR, value):
                self.latched[i] = True
        elif D_ICPENDR <= offset < D_ICPENDR + 0x80:
            for i in self._bits(offset - D_ICPENDR, value):
                self.latched[i] = False
        elif D_ISACTIVER <= offset < D_ISACTIVER + 0x80:
            for i in self._bits(offset - D_ISACTIVER, value):
                self.active[i] = True
        elif D_ICACTIVER <= offset < D_ICACTIVER + 0x80:
            for i in self._bits(offset - D_ICACTIVER, value):
                self.active[i] = False
                if i in self.active_stack:
                    self.active_stack.remove(i)
        elif D_IPRIORITYR <= offset < D_IPRIORITYR + self.n:
            for k in range(size):
                if offset - D_IPRIORITYR + k < self.n:
                    self.priority[offset - D_IPRIORITYR + k] = value >> (8 * k) & 0xFF
        elif D_ITARGETSR + 32 <= offset < D_ITARGETSR + self.n:  # SGI/PPI targets are read-only
            for k in range(size):
                if offset - D_ITARGETSR + k < self.n:
                    self.targets[offset - D_ITARGETSR + k] = value >> (8 * k) & 0xFF
        elif D_ICFGR + 8 <= offset < D_ICFGR + self.n // 4:  # SGI/PPI configuration is fixed here
            first = (offset - D_ICFGR) * 4
            for k in range(16):
                if first + k < self.n:
                    self.edge[first + k] = bool(value >> (2 * k + 1) & 1)
        elif offset == D_SGIR:
            # TargetListFilter 0/1/2 all reach the one CPU except "others only" (IHI 0048B 4.3.15).
            if (value >> 24) & 3 != 1:
                self.latched[value & 0xF] = True
        self._update()

    # -- CPU interface registers

    def cpu_read(self, offset: int, size: int) -> int:
        if offset == C_IAR:
            return self.acknowledge()
        if offset == C_HPPIR:
            if self.refresh:
                self.refresh()
            return self.highest_pending()
        return {C_CTLR: self.c_ctlr, C_PMR: self.pmr, C_BPR: self.bpr, C_RPR: self._running_priority() & 0xFF,
                C_IIDR: CPU_IIDR}.get(offset, 0)

    def cpu_write(self, offset: int, size: int, value: int) -> None:
        if offset == C_CTLR:
            self.c_ctlr = value & 1
        elif offset == C_PMR:
            self.pmr = value & 0xFF
        elif offset == C_BPR:
            self.bpr = value & 7
        elif offset == C_EOIR:
            self.end_of_interrupt(value & 0x3FF)
        self._update()

    def acknowledge(self) -> int:
        if self.refresh:
            self.refresh()  # a timer the handler just re-armed must not look pending
        irq = self.highest_pending() if self.c_ctlr & 1 else SPURIOUS
        if irq != SPURIOUS:
            self.active[irq] = True
            self.latched[irq] = False
            self.active_stack.append(irq)
        self._update()
        return irq

    def end_of_interrupt(self, irq: int) -> None:
        if irq < self.n and self.active[irq]:
            self.active[irq] = False
            if irq in self.active_stack:
                self.active_stack.remove(irq)

    def fdt_node(self, tree: Any) -> None:
        tree.add_node(f"intc@{self.prop('dist-addr'):x}", {
            "compatible": ["arm,cortex-a15-gic"],
            "#interrupt-cells": 3,
            "interrupt-controller": None,
            # As QEMU's (create_gic), which gives the node cells and ranges for a
            # GICv2m child; there is no such child here, and they are harmless.
            "#address-cells": 2,
            "#size-cells": 2,
            "ranges": None,
            "reg": [0, self.prop("dist-addr"), 0, 0x10000, 0, self.prop("cpu-addr"), 0, 0x10000],
            "phandle": tree.phandle("intc"),
        })
