"""`-d in_asm` and `-d exec`: a block hook, installed only when asked for.

A Python block hook costs ~350 ns per block (shared UNICORN_FACTS.md), so
plain runs never have one.  in_asm disassembles each block once, the first
time it runs (as QEMU logs each block when it is translated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyuser.memory import GuestFault

if TYPE_CHECKING:
    from pyuser.cpu import CpuLoop
    from pyuser.log import Log


def install_block_tracing(cpu: CpuLoop, log: Log) -> None:
    show_asm = log.enabled("in_asm")
    show_exec = log.enabled("exec")
    seen: set[int] = set()
    disassemblers = cpu.target.disassemblers() if show_asm else {}
    mem = cpu.process.memory
    uc = cpu.uc

    def on_block(address: int, size: int) -> None:
        if show_exec:
            log.write(f"Trace: [{address:08x}]")
        if show_asm and address not in seen:
            seen.add(address)
            mode = cpu.target.disassembly_mode(uc)
            try:
                code = mem.read(address, size)
            except GuestFault:
                code = bytes(uc.mem_read(address, size))
            log.write("IN:")
            for insn in disassemblers[mode].disasm(code, address):
                log.write(f"0x{insn.address:08x}:  {insn.mnemonic} {insn.op_str}".rstrip())
            log.write("")

    cpu.hooks.on_block(cpu.guard(on_block))
