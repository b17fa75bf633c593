"""What the command line asks for: one run's settings.

Below both the command line (cli.py, which fills it in) and the runner
(runner.py, which reads it), so that neither imports the other's module for
it: inside pyuser.system, cli sits above runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Config:
    machine: str = ""
    cpu: str = "cortex-a15"
    kernel: str = ""
    ram: int = 128 << 20
    serial: str | None = None
    nographic: bool = False
    semihosting: bool = False
    qmp: str | None = None
    qmp_wait: bool = True
    devices: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    dtb_out: str | None = None
    dtb_in: str | None = None
    initrd: str | None = None
    drives: dict[str, dict[str, object]] = field(default_factory=dict)
    append: str | None = None
    start_paused: bool = False
    # -netdev user,id=ID: ID -> its host forwards (net.usernet.HostForward)
    netdevs: dict[str, list[Any]] = field(default_factory=dict)
    no_reboot: bool = False
    # debugging (gdbstub, log)
    gdb: tuple[str, int] | None = None
    log_items: set[str] = field(default_factory=set)
    log_file: str | None = None
