"""The device lifecycle: realize can fail and leaves no trace; unrealize can't fail.

The tree used here has three levels below the machine's bus:
A (a bridge with bus a.bus) -> B (a bridge with bus b.bus) -> C (a leaf),
each owning a memory region, an IRQ line, migration and reset state.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from unicorn import UC_ARCH_ARM, UC_MODE_ARM, Uc

from pyuser.system.errors import AddressClashError, PropertyError, RealizeError
from pyuser.system.irq import IrqLine
from pyuser.system.memory import MemoryRegion, UnicornListener
from pyuser.system.qdev import Bus, Device, Machine, Prop

from .conftest import ROOT


class InjectedFault(Exception):
    pass


class Leaf(Device):
    type_name = "test-leaf"
    props = (Prop("addr", int, None), Prop("irq", int, None))

    def __init__(self, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id)
        self.region = MemoryRegion("regs", 0x1000, lambda off, size: 0, lambda off, size, val: None)
        self.line = IrqLine("out")
        self.line.level = True  # a device that asserts its line as soon as it is wired

    def mappings(self):
        return [(self.region, self.prop("addr"))]

    def irq_routes(self):
        return [(self.line, self.prop("irq"))]

    def poll(self, now_ns: int) -> int | None:
        return None


class Bridge(Leaf):
    type_name = "test-bridge"

    def __init__(self, bus_name: str) -> None:
        super().__init__()
        self.bus = self.add_bus(Bus(bus_name))


class Controller(Device):
    """An interrupt controller that remembers input levels."""

    type_name = "test-intc"

    def __init__(self) -> None:
        super().__init__()
        self.levels: dict[int, bool] = {}

    def irq_inputs(self):
        return range(0, 8), lambda n: lambda level: self.levels.__setitem__(n, level)


class CountingMemoryListener:
    def __init__(self) -> None:
        self.adds = self.dels = 0
        self.live: set[str] = set()

    def region_add(self, region: MemoryRegion) -> None:
        self.adds += 1
        self.live.add(region.describe())

    def region_del(self, region: MemoryRegion) -> None:
        self.dels += 1
        self.live.remove(region.describe())


class CountingDeviceListener:
    def __init__(self) -> None:
        self.live: list[str] = []
        self.calls = 0

    def realize(self, dev: Device) -> None:
        self.calls += 1
        self.live.append(dev.path)

    def unrealize(self, dev: Device) -> None:
        self.calls += 1
        self.live.remove(dev.path)


def build() -> tuple[Machine, dict[str, Any]]:
    m = Machine()
    uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
    uc.ctl_set_page_size(4096)
    mem_listener, dev_listener = CountingMemoryListener(), CountingDeviceListener()
    m.ctx.memory.listeners += [mem_listener, UnicornListener(uc)]
    m.ctx.device_listeners.append(dev_listener)
    ctrl = Controller()
    m.add(ctrl, "intc")
    a, b, c = Bridge("a.bus"), Bridge("b.bus"), Leaf()
    for dev, addr, irq in ((a, 0x1000, 1), (b, 0x2000, 2), (c, 0x3000, 3)):
        dev.set_prop("addr", addr)
        dev.set_prop("irq", irq)
    m.add(a, "a")
    a.bus.attach(b, "/machine/a", "b")
    b.bus.attach(c, "/machine/a/b", "c")
    return m, {"uc": uc, "mem": mem_listener, "dev": dev_listener, "intc": ctrl, "a": a, "b": b, "c": c}


def picture(m: Machine, parts: dict[str, Any]) -> dict[str, Any]:
    """Everything that must be identical before and after a failed realize."""
    return {
        "registries": m.ctx.snapshot(),
        "unicorn": sorted(parts["uc"].mem_regions()),
        "listeners": sorted(parts["mem"].live),
        "device_listener": list(parts["dev"].live),
        "irq_levels": {n: lvl for n, lvl in parts["intc"].levels.items() if lvl},
        "tree": [(d.path, d.realized, [(bus.name, bus.realized, [c.path for c in bus.children])
                                      for bus in d.child_buses]) for d in m.walk()],
        "regions_mapped": [d.region.base for d in (parts["a"], parts["b"], parts["c"])],
    }


def all_steps() -> list[tuple[str, str]]:
    m, _ = build()
    steps: list[tuple[str, str]] = []
    m.ctx.fault_injector = lambda path, step: steps.append((path, step))
    m.realize()
    return steps


def test_realize_registers_everything_and_unrealize_undoes_it() -> None:
    m, parts = build()
    empty = picture(m, parts)
    m.realize()
    assert all(d.realized for d in m.walk())
    assert list(parts["uc"].mem_regions()) == [(0x1000, 0x1FFF, 3), (0x2000, 0x2FFF, 3), (0x3000, 0x3FFF, 3)]
    assert m.ctx.irqs.snapshot() == {1: "/machine/a", 2: "/machine/a/b", 3: "/machine/a/b/c"}
    assert parts["intc"].levels == {1: True, 2: True, 3: True}
    assert sorted(m.ctx.qom) == ["/machine", "/machine/a", "/machine/a/b", "/machine/a/b/c", "/machine/intc"]
    assert parts["dev"].live == ["/machine", "/machine/intc", "/machine/a", "/machine/a/b", "/machine/a/b/c"]
    m.unrealize()
    assert picture(m, parts) == empty
    assert parts["mem"].adds == parts["mem"].dels == 3


def test_realize_and_unrealize_order() -> None:
    m, _ = build()
    m.realize()
    realized = [p for what, p in m.ctx.trace if what == "realize"]
    # Parents before their buses, buses before the devices on them, in bus order.
    assert realized == [
        "/machine", "/machine/main-system-bus", "/machine/intc", "/machine/a", "/machine/a/a.bus",
        "/machine/a/b", "/machine/a/b/b.bus", "/machine/a/b/c",
    ]
    m.ctx.trace.clear()
    m.unrealize()
    unrealized = [p for what, p in m.ctx.trace if what == "unrealize"]
    assert unrealized == list(reversed(realized))  # children first, exact mirror


def test_there_are_steps_at_every_level() -> None:
    steps = all_steps()
    paths = {p for p, _ in steps}
    assert {"/machine/a", "/machine/a/b", "/machine/a/b/c", "/machine/a/a.bus", "/machine/a/b/b.bus"} <= paths
    kinds = {s.split(":")[0] for _, s in steps}
    assert {"realize", "mmio", "irq", "irq-inputs", "vmstate", "reset", "poller", "path", "listener",
            "bus", "child"} <= kinds


@pytest.mark.parametrize("index", range(len(all_steps())))
def test_failure_at_each_realize_step_leaves_no_trace(index: int) -> None:
    m, parts = build()
    target = all_steps()[index]
    before = picture(m, parts)

    def inject(path: str, step: str) -> None:
        if (path, step) == target:
            raise InjectedFault(f"injected at {step}")

    m.ctx.fault_injector = inject
    with pytest.raises(RealizeError) as info:
        m.realize()
    # The error names the device whose step failed (a bus's failure is its parent's).
    failing_device = target[0]
    if target[0].endswith(".bus") or target[0].endswith("main-system-bus"):
        failing_device = target[0].rsplit("/", 1)[0]
    assert info.value.path == failing_device
    assert isinstance(info.value.cause, InjectedFault)
    assert picture(m, parts) == before
    assert parts["mem"].adds == parts["mem"].dels  # every add was matched by a del
    assert parts["dev"].calls % 2 == 0
    realizes = [p for w, p in m.ctx.trace if w == "realize"]
    unrealizes = [p for w, p in m.ctx.trace if w == "unrealize"]
    assert realizes == list(reversed(unrealizes))
    # And the board is as good as new: it realizes and unrealizes cleanly.
    m.ctx.fault_injector = None
    m.realize()
    assert all(d.realized for d in m.walk())
    m.unrealize()
    assert picture(m, parts) == before


@pytest.mark.parametrize("index", range(0, 45, 4))
def test_keyboard_interrupt_in_realize_leaves_no_trace(index: int) -> None:
    # Ctrl-C in the middle of realize: the rollback runs, and the interrupt itself propagates.
    m, parts = build()
    target = all_steps()[index]
    before = picture(m, parts)

    def inject(path: str, step: str) -> None:
        if (path, step) == target:
            raise KeyboardInterrupt

    m.ctx.fault_injector = inject
    with pytest.raises(KeyboardInterrupt):
        m.realize()
    assert picture(m, parts) == before
    assert parts["mem"].adds == parts["mem"].dels
    assert not m.ctx.qom and not m.ctx.resets and not m.ctx.vmstate


def test_address_clash_fails_with_the_path_and_no_trace() -> None:
    m, parts = build()
    parts["c"].set_prop("addr", 0x1000)  # on top of A's region
    before = picture(m, parts)
    with pytest.raises(RealizeError) as info:
        m.realize()
    assert info.value.path == "/machine/a/b/c"
    assert isinstance(info.value.cause, AddressClashError)
    assert "clashes with /machine/a region 'regs'" in str(info.value)
    assert picture(m, parts) == before


def test_unicorn_refusal_is_rolled_back_too() -> None:
    m, parts = build()
    # A page Unicorn already holds behind the model's back: its mmio_map for C fails
    # (sub-page regions are fine now: they share a dispatching page).
    parts["uc"].mem_map(0x3000, 0x1000)
    before = picture(m, parts)
    with pytest.raises(RealizeError):
        m.realize()
    assert picture(m, parts) == before
    parts["uc"].mem_unmap(0x3000, 0x1000)
    before = picture(m, parts)
    parts["c"].region.size = 0x800
    m.realize()  # a sub-page region is mapped through a shared page, and undone cleanly
    m.unrealize()
    assert picture(m, parts) == before


def test_properties_are_frozen_once_realized() -> None:
    m, parts = build()
    m.realize()
    with pytest.raises(PropertyError, match="after realize"):
        parts["c"].set_prop("addr", 0x5000)
    m.unrealize()
    parts["c"].set_prop("addr", 0x5000)


def test_creating_cannot_fail_but_bad_values_are_refused() -> None:
    leaf = Leaf()
    assert not leaf.realized and leaf.prop("addr") is None
    with pytest.raises(PropertyError):
        leaf.set_prop("addr", "not a number")
    with pytest.raises(PropertyError):
        leaf.set_prop("colour", 1)


UNREALIZE_RAISES = textwrap.dedent("""
    from pyuser.system.qdev import Device, Machine

    class Fragile(Device):
        type_name = "fragile"
        def unrealize_hook(self):
            raise RuntimeError("the hardware is on fire")

    m = Machine()
    m.add(Fragile(), "fragile")
    m.realize()
    m.unrealize()
    print("survived")
""")


def test_unrealize_that_raises_aborts() -> None:
    result = subprocess.run([sys.executable, "-c", UNREALIZE_RAISES], capture_output=True, timeout=20,
                            cwd=ROOT)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert b"survived" not in result.stdout
    assert "fatal: undoing 'realize' of /machine/fragile raised RuntimeError: the hardware is on fire" in err
    assert "unrealize must not fail" in err


ROLLBACK_RAISES = textwrap.dedent("""
    from pyuser.system.qdev import Device, Machine

    class Fragile(Device):
        type_name = "fragile"
        def unrealize_hook(self):
            raise RuntimeError("cannot undo")

    m = Machine()
    m.add(Fragile(), "fragile")
    def inject(path, step):
        if path == "/machine/fragile" and step == "vmstate":
            raise ValueError("fail after realize_hook")
    m.ctx.fault_injector = inject
    m.realize()
""")


def test_rollback_that_raises_aborts_too() -> None:
    result = subprocess.run([sys.executable, "-c", ROLLBACK_RAISES], capture_output=True, timeout=20, cwd=ROOT)
    assert result.returncode != 0
    assert "raised RuntimeError: cannot undo (unrealize must not fail)" in result.stderr.decode()
