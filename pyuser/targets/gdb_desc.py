"""GDB target descriptions: the registers a CPU shows to gdb, as data.

Each target has a small data module (pyuser/targets/<arch>_gdb.py) listing
its register features in the order and with the names and numbers that
gdb's own descriptions use (gdb/features/*.xml: a feature is recognised by
its name, a register by its name; `regnum` fixes a register's number in the
`p`/`P` packets and its place in the `g` packet, which lists the registers
by increasing number).  This module turns that data into the XML gdb reads
with qXfer:features:read and into register bytes for the `g`/`p` packets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Register kinds: how a value moves between Unicorn and the packet's bytes
INT = "int"  # an integer register of `bits` bits
# an 80-bit x87 stack register ST(index): Unicorn's FP registers are the
# physical ones, as (mantissa, exponent); ST(i) is physical (TOP + i) mod 8,
# TOP being bits 11-13 of the status word (register `aux`); uc_id is FP0's id
X87 = "x87"
ZERO = "zero"  # shown to gdb but not held by the engine: reads 0, writes ignored


@dataclass(frozen=True)
class Reg:
    name: str
    bits: int
    uc_id: int | None  # Unicorn register id; None for ZERO registers
    type: str = "int"  # the XML type attribute
    kind: str = INT
    group: str = ""  # XML group attribute ("float", "vector", ...)
    index: int = 0  # X87: the stack position
    aux: int | None = None  # X87: the status word's Unicorn id


@dataclass(frozen=True)
class Feature:
    name: str  # e.g. org.gnu.gdb.arm.core
    regs: Sequence[Reg]
    first_regnum: int | None = None  # regnum of the first register, if not the next free
    types: str = ""  # XML type definitions this feature's registers use
    # regnum overrides for registers that are not numbered consecutively
    regnums: dict[str, int] = field(default_factory=dict)


@dataclass
class Description:
    """A CPU's registers as gdb sees them, numbered as gdb numbers them."""

    architecture: str  # the <architecture> element: arm, aarch64, i386:x86-64, ...
    features: Sequence[Feature]
    little_endian: bool = True
    osabi: str = "GNU/Linux"

    def __post_init__(self) -> None:
        self.numbered: list[tuple[int, Reg, Feature]] = []
        regnum = 0
        for feature in self.features:
            if feature.first_regnum is not None:
                regnum = feature.first_regnum
            for reg in feature.regs:
                regnum = feature.regnums.get(reg.name, regnum)
                self.numbered.append((regnum, reg, feature))
                regnum += 1
        self.numbered.sort(key=lambda entry: entry[0])
        self.by_number = {number: reg for number, reg, _ in self.numbered}
        self.by_name = {reg.name: reg for _, reg, _ in self.numbered}

    # ------------------------------------------------------------ XML
    def xml(self) -> str:
        """target.xml: every feature inline (no xi:include, one qXfer object)."""
        numbers = {id(reg): number for number, reg, _ in self.numbered}
        parts = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
                 "<target>", f"<architecture>{self.architecture}</architecture>"]
        if self.osabi:  # none for a machine (system mode): gdb then follows the ELF
            parts.append(f"<osabi>{self.osabi}</osabi>")
        for feature in self.features:
            parts.append(f'<feature name="{feature.name}">')
            if feature.types:
                parts.append(feature.types.strip())
            for reg in feature.regs:
                group = f' group="{reg.group}"' if reg.group else ""
                parts.append(f'<reg name="{reg.name}" bitsize="{reg.bits}" type="{reg.type}"'
                             f' regnum="{numbers[id(reg)]}"{group}/>')
            parts.append("</feature>")
        parts.append("</target>")
        return "\n".join(parts) + "\n"

    # ------------------------------------------------------------ values
    def read(self, regs: Any, reg: Reg) -> bytes:
        """The register's bytes in target order; `regs` has reg_read (a Uc)."""
        order = "little" if self.little_endian else "big"
        if reg.kind == ZERO:
            return bytes(reg.bits // 8)
        if reg.kind == X87:
            value = regs.reg_read(self._physical(regs, reg))
            if isinstance(value, int):
                # a saved context (another thread's registers) reads the
                # 80-bit register as one number, not the engine's pair
                return (value & ((1 << 80) - 1)).to_bytes(10, "little")
            mantissa, exponent = value
            return mantissa.to_bytes(8, "little") + exponent.to_bytes(2, "little")
        value = regs.reg_read(reg.uc_id)
        return (value & ((1 << reg.bits) - 1)).to_bytes(reg.bits // 8, order)

    def write(self, regs: Any, reg: Reg, data: bytes) -> None:
        if reg.kind == ZERO or len(data) != reg.bits // 8:
            return
        if reg.kind == X87:
            regs.reg_write(self._physical(regs, reg), (int.from_bytes(data[:8], "little"),
                                       int.from_bytes(data[8:10], "little")))
            return
        order = "little" if self.little_endian else "big"
        regs.reg_write(reg.uc_id, int.from_bytes(data, order))

    @staticmethod
    def _physical(regs: Any, reg: Reg) -> int:
        top = (regs.reg_read(reg.aux) >> 11) & 7
        return reg.uc_id + ((top + reg.index) & 7)  # type: ignore[operator]

    def read_all(self, regs: Any) -> bytes:
        """The `g` packet's bytes: every register by increasing number."""
        return b"".join(self.read(regs, reg) for _, reg, _ in self.numbered)

    def write_all(self, regs: Any, data: bytes) -> None:
        offset = 0
        for _, reg, _ in self.numbered:
            size = reg.bits // 8
            if offset + size > len(data):
                break
            self.write(regs, reg, data[offset:offset + size])
            offset += size


def int_regs(names: Sequence[str], bits: int, ids: Sequence[int], type_: str = "int",
             group: str = "") -> list[Reg]:
    return [Reg(name, bits, uc_id, type_, group=group) for name, uc_id in zip(names, ids,
                                                                            strict=True)]
