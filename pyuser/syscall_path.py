"""The one syscall hot path: from the guest's syscall instruction to the handler and back.

Every target declares its calling convention (targets.base.SyscallConvention:
which interrupt or instruction, where the number, arguments and result
are, how an error is flagged); :func:`install_syscall_path` builds the hook
for it.  The hook runs inside emu_start, on the emulating thread, at an
instruction boundary: it reads the argument registers with one library call,
dispatches, writes the result, and stops the engine (a safe point) when a
signal is to be delivered.  An exception (exit, sigreturn, a call that may
block, a fault) is parked in cpu.stop_reason for the CPU loop.

One Python frame per syscall on the plainest convention (the value or
-errno in one register); each other convention's step costs its own
register access, done raw (pyuser.engine), never through the binding.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyuser.engine import RegisterBank, RegisterWriter
from pyuser.errors import FaultStop, SigReturn

if TYPE_CHECKING:
    from pyuser.cpu import CpuLoop
    from pyuser.targets.base import SyscallConvention


def install_syscall_path(cpu: CpuLoop) -> None:
    """Hook the target's syscall instruction and its CPU exceptions on cpu's
    engine, and set cpu.serve_syscall (the same body, for a call served again
    from outside emu_start)."""
    target = cpu.target
    convention = target.syscall_convention
    uc = cpu.uc
    fault_of = target.fault_classifier(uc, cpu.process.memory)
    plain = _is_plain(convention)
    if plain:
        serve = _plain_serve(cpu)
    else:
        serve = _general_serve(cpu, convention)
    cpu.serve_syscall = serve
    syscall_interrupt = convention.interrupt if convention.instruction is None else None
    advance = convention.pc_advance_in_hook
    pc_reg = target.pc_reg

    if syscall_interrupt is not None and not advance and plain:
        on_interrupt = _plain_interrupt_hook(cpu, syscall_interrupt, fault_of)
    else:
        # the PC moved past the syscall instruction (s390x, m68k) with raw
        # calls: the binding's reg_read and reg_write cost about 1.5 us more
        # per syscall (measured on m68k's getppid)
        read_pc = RegisterBank(uc, [pc_reg]).read
        write_pc = RegisterWriter(uc, pc_reg)

        def on_interrupt(_uc: int, intno: int, _user_data: int) -> None:
            try:
                if intno == syscall_interrupt:
                    if advance:
                        write_pc(read_pc()[0] + advance)
                    serve()
                else:
                    cpu.stop_reason = FaultStop(fault_of(intno))
                    uc.emu_stop()
            except BaseException as e:  # noqa: BLE001 - re-raised by CpuLoop.run
                cpu.stop_reason = e
                uc.emu_stop()

    cpu.hooks.on_interrupt(on_interrupt)
    if convention.instruction is not None:
        back = target.pc_advance_after_syscall_hook

        def on_instruction(_uc: int, _user_data: int) -> None:
            try:
                serve()
            except BaseException as e:  # noqa: BLE001 - re-raised by CpuLoop.run
                if back and isinstance(e, SigReturn):
                    # the engine adds the instruction's length to the PC after
                    # this hook: cancel it for the PC sigreturn restored
                    uc.reg_write(pc_reg, uc.reg_read(pc_reg) - back)
                cpu.stop_reason = e
                uc.emu_stop()

        cpu.hooks.on_syscall_instruction(convention.instruction, on_instruction)
    target.install_cpu_hooks(cpu, cpu.process.memory)


def _is_plain(convention: SyscallConvention) -> bool:
    return (convention.error_reg is None and not convention.stack_arg_words
            and not convention.number_in_instruction)


def _plain_serve(cpu: CpuLoop) -> Callable[[], None]:
    """The value or -errno in the result register."""
    read = cpu.bank.read
    kernel = cpu.kernel  # kernel.dispatch is looked up per call: tracers wrap it
    write = cpu.write_result
    mask = cpu.word_mask
    neg_eintr = cpu.neg_eintr
    process = cpu.process
    signals = process.signals
    uc = cpu.uc

    def serve_plain() -> None:
        regs = read()
        result = kernel.dispatch(regs) & mask
        write(result)
        if result == neg_eintr:
            process.current.interrupted = (regs[0], regs[1])
            signals.check = True
        if signals.check:
            uc.emu_stop()

    return serve_plain


def _plain_interrupt_hook(cpu: CpuLoop, syscall_interrupt: int,
                          fault_of: Callable[[int], object]) -> Callable[[int, int, int], None]:
    """_plain_serve inlined into the interrupt hook: this is the hottest path
    there is, and a Python call costs as much as a register access."""
    read = cpu.bank.read
    kernel = cpu.kernel
    write = cpu.write_result
    mask = cpu.word_mask
    neg_eintr = cpu.neg_eintr
    process = cpu.process
    signals = process.signals
    uc = cpu.uc

    def on_interrupt(_uc: int, intno: int, _user_data: int) -> None:
        try:
            if intno == syscall_interrupt:
                regs = read()
                result = kernel.dispatch(regs) & mask
                write(result)
                if result == neg_eintr:
                    process.current.interrupted = (regs[0], regs[1])
                    signals.check = True
                if signals.check:
                    uc.emu_stop()
            else:
                cpu.stop_reason = FaultStop(fault_of(intno))
                uc.emu_stop()
        except BaseException as e:  # noqa: BLE001 - re-raised by CpuLoop.run
            cpu.stop_reason = e
            uc.emu_stop()

    return on_interrupt


def _general_serve(cpu: CpuLoop, convention: SyscallConvention) -> Callable[[], None]:
    """An error flag (MIPS a3, FreeBSD's carry), stack arguments (MIPS o32),
    or the number in the instruction (s390x), on top of the plain path."""
    target = cpu.target
    uc = cpu.uc
    memory = cpu.process.memory
    kernel = cpu.kernel
    mask = target.word_mask
    sign = target.sign_bit
    eintr = target.errno("EINTR")
    neg_eintr = cpu.neg_eintr
    process = cpu.process
    signals = process.signals
    write = cpu.write_result
    arg_count = len(target.syscall_arg_regs)
    registers = [target.syscall_number_reg, *target.syscall_arg_regs]
    flag_reg = convention.error_reg
    flag_bit = convention.error_bit
    flag_at = sp_at = -1
    if flag_reg is not None:
        if flag_reg in registers:  # MIPS: a3 is also the fourth argument
            flag_at = registers.index(flag_reg)
        elif flag_bit:  # a flags register, read in the same batch (FreeBSD)
            flag_at = len(registers)
            registers.append(flag_reg)
        # else a whole register that only the result writes (PowerPC's CR0
        # field): nothing to read
    write_flag = RegisterWriter(uc, flag_reg) if flag_reg is not None else None
    words = convention.stack_arg_words
    if words:
        sp_at = len(registers)
        registers.append(target.sp_reg)
    unpack_words = struct.Struct(target.byte_order + f"{words}I").unpack if words else None
    stack_offset = convention.stack_arg_offset
    read = RegisterBank(uc, registers).read
    number_in_instruction = convention.number_in_instruction
    pc_reg = target.pc_reg
    # MIPS: the flag overwrote the fourth argument, which a restart needs back
    # (Target.restore_after_rewind)
    keep_flag_arg = flag_at != -1 and flag_at <= arg_count

    def serve_general() -> None:
        raw = read()
        flags = raw[flag_at] if flag_at > arg_count else 0
        regs = list(raw[:arg_count + 1])
        if unpack_words is not None:
            try:
                regs += unpack_words(memory.read(raw[sp_at] + stack_offset, 4 * words))
            except Exception:  # noqa: BLE001 - no stack words: fewer arguments
                regs += [0] * words
        if number_in_instruction:
            code = memory.read(uc.reg_read(pc_reg) - 1, 1)[0]
            if code:
                regs[0] = code
        result = kernel.dispatch(regs) & mask
        if write_flag is None:
            write(result)
            if result == neg_eintr:
                process.current.interrupted = (regs[0], regs[1])
                signals.check = True
        elif result & sign and result > mask - 4095:  # -4096 < result < 0
            write(mask + 1 - result)
            write_flag(flags | flag_bit if flag_bit else 1)
            if mask + 1 - result == eintr:
                process.current.interrupted = \
                    (regs[0], regs[1], regs[flag_at]) if keep_flag_arg else (regs[0], regs[1])
                signals.check = True
        else:
            write(result)
            write_flag(flags & ~flag_bit if flag_bit else 0)
        if signals.check:
            uc.emu_stop()

    return serve_general
