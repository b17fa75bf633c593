"""Putting a run together: board, image, device tree, monitor, CPU loop."""

from __future__ import annotations

import sys
from collections.abc import Callable

from unicorn import arm_const as A

from . import devices  # noqa: F401  (registers the device types)
from .alignment import AlignmentChecks
from .board_virt import RAM_BASE, VirtMachine
from .chardev import Chardev, parse_serial
from .config import Config
from .cpu import SCTLR, SCTLR_M, ArmCpu, GuestMemoryError
from .cpu_loop import CpuLoop
from .devicetree import build_dtb, patch_dtb
from .errors import RealizeError, UsageError
from .loader import (
    LINUX_MACHINE_DT,
    Image,
    dtb_address,
    initrd_address,
    kernel_text,
    linux_dtb_address,
    load_kernel,
    read_file,
)
from .midr import MidrOverride
from .net.usernet import UserNet
from .qdev import device_add
from .semihosting import Semihosting

# The kernel's virtual address of RAM's start (CONFIG_PAGE_OFFSET of Debian's
# armmp kernels, the 3G/1G split every multi-platform ARM kernel uses).
LINUX_PAGE_OFFSET = 0xC0000000


def run(cfg: Config) -> int:
    loop: CpuLoop | None = None

    def quit_from_console() -> None:
        if loop is not None:
            loop.call(lambda: loop.shutdown(0, "host-signal"))

    spec = cfg.serial or "stdio"  # -nographic and the default both mean stdio here
    serial = parse_serial(spec, "serial0", mux=cfg.nographic and cfg.serial is None, on_quit=quit_from_console)
    image = load_kernel(cfg.kernel, RAM_BASE)
    initrd = read_file(cfg.initrd, "initrd") if cfg.initrd else None
    dtb_file = read_file(cfg.dtb_in, "device tree") if cfg.dtb_in else None
    if not image.linux and (initrd is not None or cfg.append):
        raise UsageError("-initrd and -append need a Linux kernel (a zImage or Image), not an ELF program")
    cpu = ArmCpu(cfg.cpu)
    machine = VirtMachine(cfg.ram, cpu, serial)
    alignment = AlignmentChecks(cpu, lambda fn: loop.call(fn) if loop else None,
                                lambda pc, fault: loop.data_abort_before(pc, fault) if loop else None)
    midr = MidrOverride(cpu, cfg.cpu)
    machine.realize()
    qmp = None
    netdevs: list[UserNet] = []
    try:
        for drive_id, drive in cfg.drives.items():
            machine.ctx.backends[f"drive:{drive_id}"] = drive
        for netdev_id, forwards in cfg.netdevs.items():
            netdev = UserNet(netdev_id, forwards)
            netdevs.append(netdev)
            machine.ctx.backends[f"netdev:{netdev_id}"] = netdev
        for driver, props in cfg.devices:
            device_add(machine, driver, props)
        entry = _load(cfg, machine, cpu, image, initrd, dtb_file, alignment, midr)
        if entry is None:
            return 0

        console = _SemihostingConsole(machine)
        semihosting = Semihosting(cpu, console, cmdline=cfg.kernel) if cfg.semihosting else None
        loop = CpuLoop(machine, cpu, semihosting)
        loop.paused = cfg.start_paused
        loop.boot_unticked = image.linux
        loop.safe_point_hooks.extend(machine.boot_hooks)
        loop.safe_point_hooks.append(alignment.sync)
        loop.no_reboot = cfg.no_reboot

        def reboot() -> int:
            """A guest reset: the board and CPU as at power-on, the images loaded again (as QEMU)."""
            assert loop is not None
            for reset in list(machine.ctx.resets.values()):
                reset()
            cpu.reset()
            machine.reseed()
            machine.timer.clear_traps()
            alignment.clear()
            midr.clear()
            machine.boot_hooks.clear()
            again = _load(cfg, machine, cpu, image, initrd, dtb_file, alignment, midr)
            assert again is not None  # only -M virt,dumpdtb stops at the load, and it stopped the first time
            loop.safe_point_hooks[:] = [*machine.boot_hooks, alignment.sync]
            return again

        loop.on_reset = reboot
        end_debugging = _install_debugging(cfg, machine, cpu, loop)
        if cfg.qmp:
            from .qmp import QmpServer

            qmp = QmpServer(cfg.qmp, loop, machine)
            qmp.listen(cfg.qmp_wait)
        serial.start(loop.wake.set)
        for netdev in netdevs:
            netdev.start(loop.wake.set)
        try:
            status = loop.run(entry)
        finally:
            end_debugging(loop.exit_status if loop.exit_status is not None else 1)
    except RealizeError as exc:
        raise UsageError(f"-device: {exc}") from None
    finally:
        if qmp is not None:
            qmp.close()
        serial.close()
        machine.unrealize()
        for netdev in netdevs:
            netdev.close()
    return status


def _load(cfg: Config, machine: VirtMachine, cpu: ArmCpu, image: Image, initrd: bytes | None,
          dtb_file: bytes | None, alignment: AlignmentChecks, midr: MidrOverride) -> int | None:
    """Put the images into RAM and the CPU's registers as the boot protocol wants: the entry point.

    At power-on and again at each reset (QEMU reloads its ROM blobs then);
    a bare-metal image's code hooks (the timer's CTL traps, the SCTLR-write
    and MIDR watchers) are armed here too, so that a reset, which drops
    them, finds them again.  None: -M virt,dumpdtb wrote the blob and the
    run stops.
    """
    for paddr, data, memsz in image.segments:
        _check_in_ram(cfg, "kernel", paddr, memsz)
        cpu.uc.mem_write(paddr, data + bytes(memsz - len(data)))
    if image.linux:
        return _boot_linux(cfg, machine, cpu, image, initrd, dtb_file, midr)
    else:
        segments = [(p, d) for p, d, _ in image.segments]
        machine.timer.trap_ctl_accesses(segments)
        alignment.watch(segments)
        midr.watch(segments)
        dtb = dtb_file if dtb_file is not None else build_dtb(machine)
        if cfg.dtb_out:
            _dump_dtb(cfg.dtb_out, dtb)
            return None
        at = dtb_address(image, RAM_BASE, len(dtb))
        if at is not None:
            cpu.uc.mem_write(at, dtb)
        entry = image.entry
    return entry


def _install_debugging(cfg: Config, machine: VirtMachine, cpu: ArmCpu, loop: CpuLoop) -> Callable[[int], None]:
    """-d/-D and -s/-gdb: nothing at all unless asked; returns what ends them."""
    enders: list[Callable[[int], None]] = []
    if cfg.log_file:
        try:  # as QEMU: -D makes the file (empty without -d) at start-up
            open(cfg.log_file, "w").close()
        except OSError as exc:
            raise UsageError(f"-D {cfg.log_file}: {exc.strerror}") from None
    if cfg.log_items:
        from .debuglog import InAsm, MachineLog, elf_functions

        log = MachineLog(cfg.log_items, cfg.log_file)
        cpu.log = log
        machine.ctx.unimp = log.unimp
        if log.enabled("in_asm"):
            InAsm(log, cpu.uc, cpu.read, elf_functions(cfg.kernel))
        enders.append(lambda _status: log.close())
    if cfg.gdb is not None:
        from .gdbstub import install

        enders.append(install(loop, cpu, cfg.gdb))

    def end(status: int) -> None:
        for ender in enders:
            ender(status)
    return end


def _check_in_ram(cfg: Config, what: str, paddr: int, size: int) -> None:
    if not (RAM_BASE <= paddr and paddr + size <= RAM_BASE + cfg.ram):
        raise UsageError(f"{what} at {paddr:#x} (size {size:#x}) does not fit in RAM ({cfg.ram >> 20} MiB)")


def _dump_dtb(path: str, dtb: bytes) -> int:
    """-M virt,dumpdtb=FILE: write the blob and stop, as QEMU does."""
    with open(path, "wb") as f:
        f.write(dtb)
    sys.stderr.write(f"pyuser-system-arm: info: dtb dumped to {path}. Exiting.\n")
    return 0


def _boot_linux(cfg: Config, machine: VirtMachine, cpu: ArmCpu, image: Image,
                initrd: bytes | None, dtb_file: bytes | None, midr: MidrOverride) -> int | None:
    """Place initrd and DTB, set r0-r2; the entry point (None: only dump the DTB)."""
    initrd_start = initrd_address(image, RAM_BASE, cfg.ram)
    chosen: dict = {}
    if cfg.append is not None:
        chosen["bootargs"] = cfg.append
    if initrd is not None:
        _check_in_ram(cfg, "initrd", initrd_start, len(initrd))
        cpu.uc.mem_write(initrd_start, initrd)
        chosen["linux,initrd-start"] = initrd_start
        chosen["linux,initrd-end"] = initrd_start + len(initrd)
    if dtb_file is not None:
        dtb = patch_dtb(dtb_file, chosen, RAM_BASE, cfg.ram)
    else:
        machine.chosen.update(chosen)
        dtb = build_dtb(machine)
    if cfg.dtb_out:
        _dump_dtb(cfg.dtb_out, dtb)
        return None
    dtb_start = linux_dtb_address(initrd_start + (len(initrd) if initrd else 0))
    _check_in_ram(cfg, "device tree", dtb_start, len(dtb))
    cpu.uc.mem_write(dtb_start, dtb)
    text = kernel_text(image)
    def find_kernel() -> bool:
        """Hook the timer's CTL accesses and the MIDR reads where the kernel
        runs them, once its MMU is on.

        The decompressor puts the kernel where it sees fit (measured: RAM +
        2 MiB + 0x8000 for a zImage at RAM + 0x10000), and its virtual
        address follows from the linear map the kernel sets up: PAGE_OFFSET
        maps PHYS_OFFSET.  Both are read back from the running kernel.
        """
        if not cpu.read_cp(SCTLR) & SCTLR_M or cpu.uc.reg_read(A.UC_ARM_REG_PC) < LINUX_PAGE_OFFSET:
            return False
        try:
            phys_offset = cpu.translate(LINUX_PAGE_OFFSET)
        except GuestMemoryError:
            return False
        ram = bytes(cpu.uc.mem_read(RAM_BASE, cfg.ram))
        at = ram.find(text[:256])
        if at < 0:
            return False
        running_text = [(LINUX_PAGE_OFFSET + RAM_BASE + at - phys_offset, text)]
        machine.timer.trap_ctl_accesses(running_text)
        midr.watch(running_text)
        return True
    machine.boot_hooks.append(find_kernel)
    uc = cpu.uc
    uc.reg_write(A.UC_ARM_REG_R0, 0)
    uc.reg_write(A.UC_ARM_REG_R1, LINUX_MACHINE_DT)
    uc.reg_write(A.UC_ARM_REG_R2, dtb_start)
    return image.entry


class _SemihostingConsole:
    """Semihosting text goes to stderr (as QEMU's), after any UART output before it."""

    def __init__(self, machine: VirtMachine) -> None:
        self.machine = machine

    def write(self, data: bytes) -> None:
        for backend in self.machine.ctx.backends.values():
            if isinstance(backend, Chardev):
                backend.flush()
        sys.stderr.buffer.write(data)
        sys.stderr.buffer.flush()

    def flush(self) -> None:
        for backend in self.machine.ctx.backends.values():
            if isinstance(backend, Chardev):
                backend.flush()
