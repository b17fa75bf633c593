"""Interrupt wires, and the registry of who drives which controller input.

An :class:`IrqLine` is a device's output (QEMU's qemu_irq, reduced to a level
and a sink).  Interrupt controllers publish their inputs in the
:class:`IrqRegistry`; a device's realize *claims* inputs there, which connects
its lines.  Two claims of one input are an :class:`IrqClashError`, and
releasing a claim drops the level the device was driving.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import IrqClashError

Sink = Callable[[bool], None]


class IrqLine:
    """A one-bit output; its level is remembered so a late connect sees it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.level = False
        self._sink: Sink | None = None

    def set(self, level: bool) -> None:
        level = bool(level)
        if level == self.level:
            return
        self.level = level
        if self._sink is not None:
            self._sink(level)

    def connect(self, sink: Sink) -> None:
        self._sink = sink
        sink(self.level)

    def disconnect(self) -> None:
        if self._sink is not None:
            self._sink(False)
        self._sink = None


@dataclass
class IrqRegistry:
    """Controller inputs by number, and the claims on them."""

    inputs: dict[int, Sink] = field(default_factory=dict)
    claims: dict[int, tuple[str, IrqLine]] = field(default_factory=dict)

    def publish(self, numbers: range, sink_for: Callable[[int], Sink]) -> None:
        for n in numbers:
            if n in self.inputs:
                raise IrqClashError(f"interrupt input {n} is published twice")
        for n in numbers:
            self.inputs[n] = sink_for(n)

    def withdraw(self, numbers: range) -> None:
        for n in numbers:
            del self.inputs[n]

    def claim(self, number: int, owner: str, line: IrqLine) -> None:
        if number not in self.inputs:
            raise IrqClashError(f"{owner}: no interrupt controller input {number}")
        if number in self.claims:
            raise IrqClashError(f"{owner}: interrupt {number} is already driven by {self.claims[number][0]}")
        self.claims[number] = (owner, line)
        line.connect(self.inputs[number])

    def release(self, number: int) -> None:
        _owner, line = self.claims.pop(number)
        line.disconnect()

    def snapshot(self) -> dict[int, str]:
        return {n: owner for n, (owner, _line) in self.claims.items()}
