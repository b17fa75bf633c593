"""`-d in_asm`, `-d exec`, `-d cpu`, `-d nochain`: a block hook, installed only when asked for.

A Python block hook costs ~350 ns per block (measured with Unicorn 2.1.4),
so plain runs never have one.  in_asm disassembles each block once, the
first time it runs (as QEMU logs each block when it is translated).  cpu
logs the registers before each block, as QEMU's `-d cpu` does at each
block execution, in the layout of QEMU's dump for that CPU (the general
registers, the PC and the flags; each target's cpu_dump).  nochain stops the engine before every block but the one it was
started at, so that each block is dispatched from pyuser's CPU loop (the
engine's own block chaining is never used): for chasing a problem that
depends on blocks running back to back.
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
    dump = cpu.target.cpu_dump if log.enabled("cpu") else None
    nochain = log.enabled("nochain")
    # thread -> the block it was stopped before (threads share the engine, and
    # the CPU may go to another thread at each stop)
    resume_at: dict[int, int] = {}
    seen: set[int] = set()
    disassemblers = cpu.target.disassemblers() if show_asm else {}
    mem = cpu.process.memory
    uc = cpu.uc

    def on_block(address: int, size: int) -> None:
        if nochain:
            tid = cpu.process.current.tid
            if resume_at.get(tid) != address:
                resume_at[tid] = address
                uc.emu_stop()  # before the block: the CPU loop starts it again
                return
            del resume_at[tid]
        if dump is not None:
            log.write(dump(uc))
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
