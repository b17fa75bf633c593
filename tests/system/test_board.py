"""The virt board's tree, hot-plug atomicity, and device models without a CPU."""

from __future__ import annotations

import fdt
import pytest

from pyuser.system import devices  # noqa: F401  (registers device types)
from pyuser.system.board_virt import VirtMachine
from pyuser.system.chardev import Chardev
from pyuser.system.cpu import ArmCpu
from pyuser.system.devices import gic as G
from pyuser.system.devices import pl011 as U
from pyuser.system.devicetree import build_dtb
from pyuser.system.errors import RealizeError, SystemError_
from pyuser.system.net.usernet import UserNet
from pyuser.system.qdev import device_add, device_del


class Capture(Chardev):
    def __init__(self) -> None:
        super().__init__("capture")
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        self.out += data


def picture(m: VirtMachine) -> dict:
    return {
        "registries": m.ctx.snapshot(),
        "tree": [(d.path, d.realized, [(b.name, [c.path for c in b.children]) for b in d.child_buses])
                 for d in m.walk()],
        "dtb": build_dtb(m),
    }


@pytest.fixture()
def board() -> VirtMachine:
    m = VirtMachine(serial=Capture())
    m.realize()
    yield m
    m.unrealize()


def test_board_layout(board: VirtMachine) -> None:
    snap = board.ctx.snapshot()
    assert snap["memory"] == [
        (0x08000000, 0x10000, "/machine/gic", "gic-dist"),
        (0x08010000, 0x10000, "/machine/gic", "gic-cpu"),
        (0x09000000, 0x1000, "/machine/uart0", "pl011"),
        (0x09010000, 0x1000, "/machine/rtc", "pl031"),
    ] + [
        (0x0A000000 + 0x200 * n, 0x200, f"/machine/virtio-mmio[{n}]", "virtio-mmio") for n in range(32)
    ] + [
        (0x40000000, 128 << 20, "/machine", "ram"),
    ]
    virtio = {32 + 16 + n: f"/machine/virtio-mmio[{n}]" for n in range(32)}
    assert snap["irqs"] == {27: "/machine/timer", 30: "/machine/timer", 33: "/machine/uart0", 34: "/machine/rtc",
                            **virtio}


def test_board_with_a_cpu_maps_into_unicorn() -> None:
    cpu = ArmCpu()
    m = VirtMachine(cpu=cpu)
    m.realize()
    regions = sorted(cpu.uc.mem_regions())
    assert regions[0][:2] == (0x08000000, 0x0800FFFF) and regions[-1][:2] == (0x40000000, 0x47FFFFFF)
    m.unrealize()
    assert list(cpu.uc.mem_regions()) == []


def hotplug_steps(board: VirtMachine, props: dict, driver: str = "pl011") -> list[tuple[str, str]]:
    steps: list[tuple[str, str]] = []
    board.ctx.fault_injector = lambda path, step: steps.append((path, step))
    device_add(board, driver, props)
    board.ctx.fault_injector = None
    device_del(board, props["id"])
    return steps


def test_failed_hotplug_at_any_step_leaves_no_trace(board: VirtMachine) -> None:
    props = {"id": "uart1", "chardev": "null"}
    steps = hotplug_steps(board, props)
    assert ("/machine/peripheral/uart1", "plug") in steps and len(steps) > 8
    before = picture(board)
    for target in steps:
        def inject(path: str, step: str, target=target) -> None:
            if (path, step) == target:
                raise RuntimeError("injected")
        board.ctx.fault_injector = inject
        with pytest.raises(Exception, match="injected"):
            device_add(board, "pl011", props)
        board.ctx.fault_injector = None
        assert picture(board) == before, target


def test_virtio_net_hotplug_follows_the_realize_rules(board: VirtMachine) -> None:
    """device_add/device_del of virtio-net-device: the same atomicity as any device, the back end included."""
    net = UserNet("n0", [])
    board.ctx.backends["netdev:n0"] = net
    props = {"id": "net0", "netdev": "n0"}
    steps = hotplug_steps(board, props, "virtio-net-device")
    assert ("/machine/peripheral/net0", "plug") in steps
    assert net.in_use_by is None
    before = picture(board)
    for number, target in enumerate(steps):
        # A failure, or Ctrl-C, at each step in turn: either way the rollback runs.
        error = KeyboardInterrupt("injected") if number % 2 else RuntimeError("injected")

        def inject(path: str, step: str, target=target, error=error) -> None:
            if (path, step) == target:
                raise error
        board.ctx.fault_injector = inject
        with pytest.raises(KeyboardInterrupt if number % 2 else Exception, match="injected"):
            device_add(board, "virtio-net-device", props)
        board.ctx.fault_injector = None
        assert picture(board) == before, target
        assert net.in_use_by is None, target
    dev = device_add(board, "virtio-net-device", props)
    # Like virtio-blk: the free transport QEMU would pick, the highest.
    assert dev.parent_bus.name == "virtio-mmio-bus.31" and net.in_use_by == "/machine/peripheral/net0"
    with pytest.raises(RealizeError, match="can't take value 'n0', it's in use"):
        device_add(board, "virtio-net-device", {"id": "net1", "netdev": "n0"})
    with pytest.raises(RealizeError, match="can't find value 'n9'"):
        device_add(board, "virtio-net-device", {"id": "net1", "netdev": "n9"})
    device_del(board, "net0")
    assert net.in_use_by is None and picture(board) == before
    net.close()


def test_hotplug_places_and_wires(board: VirtMachine) -> None:
    before = picture(board)
    a = device_add(board, "pl011", {"id": "a"})
    b = device_add(board, "pl031", {"id": "b"})
    assert (a.prop("addr"), a.prop("irq")) == (0x0C000000, 112)
    assert (b.prop("addr"), b.prop("irq")) == (0x0C001000, 113)
    tree = fdt.parse_dtb(build_dtb(board))
    assert tree.exist_node("pl011@c000000") and tree.exist_node("pl031@c001000")
    with pytest.raises(RealizeError, match="already driven"):
        device_add(board, "pl011", {"id": "c", "irq": 112})
    assert device_del(board, "a") == "/machine/peripheral/a"
    device_del(board, "b")
    assert picture(board) == before


def test_chardev_has_one_front_end(board: VirtMachine) -> None:
    with pytest.raises(RealizeError, match="already in use by /machine/uart0"):
        device_add(board, "pl011", {"id": "u", "chardev": "serial0"})


def test_non_hotpluggable_board_device(board: VirtMachine) -> None:
    with pytest.raises(SystemError_, match="does not support hotplugging"):
        device_del(board, "/machine/rtc")


def test_pl011_receive_interrupt(board: VirtMachine) -> None:
    uart, gic = board.uart, board.gic
    serial = board.ctx.backends["serial0"]
    uart.mmio_write(U.IMSC, 4, U.INT_RX)
    assert not uart.irq_line.level
    serial.input.extend(b"hi")
    uart.on_input()
    assert uart.irq_line.level and gic.level[33]
    assert uart.mmio_read(U.DR, 4) == ord("h")
    assert uart.mmio_read(U.DR, 4) == ord("i")
    assert uart.mmio_read(U.FR, 4) & U.FR_RXFE and not uart.irq_line.level
    uart.mmio_write(U.DR, 4, ord("!"))
    assert serial.out == b"!"


def test_gic_priorities_ack_and_eoi(board: VirtMachine) -> None:
    gic = board.gic
    gic.dist_write(G.D_CTLR, 4, 1)
    gic.cpu_write(G.C_CTLR, 4, 1)
    gic.cpu_write(G.C_PMR, 4, 0xFF)
    for irq, prio in ((40, 0x80), (41, 0x40)):
        gic.dist_write(G.D_IPRIORITYR + irq, 1, prio)
        gic.dist_write(G.D_ISENABLER + 4, 4, 1 << (irq - 32))
    gic.dist_write(G.D_ICFGR + 8, 4, (2 << 16) | (2 << 18))  # 40 and 41 edge-triggered
    gic.set_input(40, True)
    gic.set_input(41, True)
    assert gic.cpu_irq.level
    assert gic.cpu_read(G.C_IAR, 4) == 41  # higher priority (lower value) first
    assert gic.cpu_read(G.C_IAR, 4) == 1023  # 40 cannot preempt the running 0x40
    gic.cpu_write(G.C_EOIR, 4, 41)
    assert gic.cpu_read(G.C_IAR, 4) == 40
    gic.cpu_write(G.C_EOIR, 4, 40)
    assert not gic.cpu_irq.level
    assert gic.dist_read(G.D_TYPER, 4) == 8


def test_gic_level_interrupt_follows_the_line(board: VirtMachine) -> None:
    gic = board.gic
    gic.dist_write(G.D_CTLR, 4, 1)
    gic.cpu_write(G.C_CTLR, 4, 1)
    gic.cpu_write(G.C_PMR, 4, 0xFF)
    gic.dist_write(G.D_ISENABLER + 4, 4, 1 << 2)  # SPI 2 (the RTC), level-sensitive
    board.rtc.mmio_write(0x10, 4, 1)  # IMSC
    board.rtc.ris = 1
    board.rtc.mmio_write(0x10, 4, 1)
    assert gic.cpu_read(G.C_IAR, 4) == 34
    board.rtc.mmio_write(0x1C, 4, 1)  # ICR: the line drops
    gic.cpu_write(G.C_EOIR, 4, 34)
    assert gic.cpu_read(G.C_IAR, 4) == 1023


def _board_with_code(code: bytes, thumb: bool = False):
    cpu = ArmCpu()
    m = VirtMachine(cpu=cpu)
    m.realize()
    cpu.uc.mem_write(0x40000000, code)
    m.timer.trap_ctl_accesses([(0x40000000, code)])
    return m, cpu


def test_timer_ctl_is_shadowed() -> None:
    from unicorn import arm_const as A

    words = [0xE3A00001,  # mov r0, #1
             0xEE0E0F33,  # mcr p15, 0, r0, c14, c3, 1   (CNTV_CTL = enable)
             0xEE1E1F33,  # mrc p15, 0, r1, c14, c3, 1
             0xEAFFFFFE]  # b .
    m, cpu = _board_with_code(b"".join(w.to_bytes(4, "little") for w in words))
    cpu.uc.emu_start(0x40000000, 0x4000000C)
    assert m.timer.ctl == [0, 1]
    # Enabled, and CVAL (0) is in the past: ISTATUS is set too.
    assert cpu.uc.reg_read(A.UC_ARM_REG_R1) == 0b101
    m.unrealize()


def test_thumb_bkpt_semihosting() -> None:
    from pyuser.system.cpu_loop import CpuLoop
    from pyuser.system.semihosting import Semihosting

    halfwords = [0x2031,  # movs r0, #0x31   SYS_TICKFREQ
                 0xBEAB,  # bkpt 0xab
                 0x4604,  # mov r4, r0
                 0x2018,  # movs r0, #0x18   SYS_EXIT
                 0x2100,  # movs r1, #0      (not ApplicationExit: status 1)
                 0xBEAB,  # bkpt 0xab
                 0xE7FE]  # b .
    m, cpu = _board_with_code(b"".join(h.to_bytes(2, "little") for h in halfwords))
    loop = CpuLoop(m, cpu, Semihosting(cpu, Capture()))
    assert loop.run(0x40000001) == 1
    assert loop.error is None
    from unicorn import arm_const as A

    assert cpu.uc.reg_read(A.UC_ARM_REG_R4) == 1_000_000_000
    m.unrealize()
