"""Instrumentation of a guest: the gdbstub (-g) and Python plugins (-plugin).

Layered on the emulator through one hub per process (pyuser.instrument.hub);
nothing here is imported by a plain run.  The package itself imports
nothing, so that system mode can use the gdb protocol core
(gdbstub.connection, gdbstub.packets) without the user-mode hub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyuser.instrument.hub import Client, Instruments
    from pyuser.process import Process


def install(process: Process, *, gdb_port: int | None = None,
            clients: list[Client] | None = None) -> Instruments | None:
    """Make the process's hub with the gdbstub and the given clients; None
    when nothing is asked for (a plain run)."""
    from pyuser.instrument.hub import Instruments

    chosen: list[Client] = list(clients or [])
    if gdb_port is not None:
        from pyuser.instrument.gdbstub.stub import GdbStub

        chosen.insert(0, GdbStub(process, gdb_port))
    if not chosen:
        return None
    return Instruments(process, chosen)
