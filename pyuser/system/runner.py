"""Putting a run together: board, image, device tree, monitor, CPU loop."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from . import devices  # noqa: F401  (registers the device types)
from .board_virt import RAM_BASE, VirtMachine
from .chardev import parse_serial
from .cpu import ArmCpu
from .cpu_loop import CpuLoop
from .devicetree import build_dtb
from .errors import RealizeError, UsageError
from .loader import dtb_address, load_elf
from .qdev import device_add
from .semihosting import Semihosting

if TYPE_CHECKING:
    from .cli import Config


def run(cfg: Config) -> int:
    loop: CpuLoop | None = None

    def quit_from_console() -> None:
        if loop is not None:
            loop.call(lambda: loop.shutdown(0, "host-signal"))

    spec = cfg.serial or "stdio"  # -nographic and the default both mean stdio here
    serial = parse_serial(spec, "serial0", mux=cfg.nographic and cfg.serial is None, on_quit=quit_from_console)
    image = load_elf(cfg.kernel)
    cpu = ArmCpu(cfg.cpu)
    machine = VirtMachine(cfg.ram, cpu, serial)
    machine.realize()
    qmp = None
    try:
        for driver, props in cfg.devices:
            device_add(machine, driver, props)
        for paddr, data, memsz in image.segments:
            if not (RAM_BASE <= paddr and paddr + memsz <= RAM_BASE + cfg.ram):
                raise UsageError(f"kernel segment at {paddr:#x} (size {memsz:#x}) is outside RAM")
            cpu.uc.mem_write(paddr, data + bytes(memsz - len(data)))
        machine.timer.trap_ctl_accesses([(p, d) for p, d, _ in image.segments])
        dtb = build_dtb(machine)
        if cfg.dtb_out:
            with open(cfg.dtb_out, "wb") as f:
                f.write(dtb)
        at = dtb_address(image, RAM_BASE, len(dtb))
        if at is not None:
            cpu.uc.mem_write(at, dtb)

        console = _SemihostingConsole(machine)
        semihosting = Semihosting(cpu, console, cmdline=cfg.kernel) if cfg.semihosting else None
        loop = CpuLoop(machine, cpu, semihosting)
        loop.paused = cfg.start_paused
        if cfg.qmp:
            from .qmp import QmpServer

            qmp = QmpServer(cfg.qmp, loop, machine)
            qmp.listen(cfg.qmp_wait)
        serial.start(loop.wake.set)
        status = loop.run(image.entry)
    except RealizeError as exc:
        raise UsageError(f"-device: {exc}") from None
    finally:
        if qmp is not None:
            qmp.close()
        serial.close()
        machine.unrealize()
    return status


class _SemihostingConsole:
    """Semihosting text goes to stderr (as QEMU's), after any UART output before it."""

    def __init__(self, machine: VirtMachine) -> None:
        self.machine = machine

    def write(self, data: bytes) -> None:
        for backend in self.machine.ctx.backends.values():
            backend.flush()
        sys.stderr.buffer.write(data)
        sys.stderr.buffer.flush()

    def flush(self) -> None:
        for backend in self.machine.ctx.backends.values():
            backend.flush()
