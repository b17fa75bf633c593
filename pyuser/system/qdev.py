"""Devices and buses as a tree, with a realize that can fail and an unrealize that can't.

The lifecycle (QEMU's qdev after "Unrealize must not fail", completed where
QEMU leaves TODOs):

* Creating a device cannot fail: ``Device.__init__`` only builds the object,
  its regions and its IRQ lines.  Properties are checked when set and frozen
  once the device is realized.
* ``Device.realize`` runs numbered *steps*: the device's own realize hook,
  then registrations of what it owns (each memory region in the address map,
  each IRQ line, migration state, reset handler, poller, canonical path,
  device listeners), then each child bus, and each bus realizes the devices
  on it.  Every step that succeeds pushes its undo on an :class:`UndoStack`.
* If a step fails the stack is unwound and a :class:`RealizeError` naming the
  failing device's path propagates: the board is exactly as before.
* On success the stack is kept, and ``Device.unrealize`` unwinds it: child
  buses (and their devices) first, then the registrations, then the device's
  own unrealize hook.  It returns nothing; a step that raises aborts the
  process (:func:`pyuser.system.undo.must_not_fail`).
* A bus with a hotplug handler accepts :func:`device_add` while the board
  runs; the plug is itself a stack of steps, so a failed hot-plug leaves no
  trace.  :func:`device_del` unplugs, unrealizes and detaches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .errors import DeviceNotFound, PropertyError, RealizeError, SystemError_
from .irq import IrqLine, IrqRegistry
from .memory import AddressMap, MemoryRegion
from .undo import UndoStack, must_not_fail

# ---------------------------------------------------------------- properties


@dataclass(frozen=True)
class Prop:
    name: str
    kind: type  # int, str or bool
    default: Any = None
    doc: str = ""

    def parse(self, value: Any) -> Any:
        """Accept Python values and QMP/command-line strings."""
        try:
            if self.kind is bool:
                if isinstance(value, str):
                    if value.lower() in ("on", "true", "yes", "1"):
                        return True
                    if value.lower() in ("off", "false", "no", "0"):
                        return False
                    raise ValueError(value)
                return bool(value)
            if self.kind is int:
                return int(value, 0) if isinstance(value, str) else int(value)
            return str(value)
        except (TypeError, ValueError):
            raise PropertyError(f"property '{self.name}' expects {self.kind.__name__}, got {value!r}") from None

    @property
    def qom_type(self) -> str:
        return {int: "uint32", str: "str", bool: "bool"}[self.kind]


# ---------------------------------------------------------------- the per-board registries


class DeviceListener(Protocol):
    def realize(self, dev: Device) -> None: ...
    def unrealize(self, dev: Device) -> None: ...


FaultInjector = Callable[[str, str], None]  # (path, step) -> raise to fail that step


@dataclass
class MachineContext:
    """Everything realize registers into; one per board."""

    memory: AddressMap = field(default_factory=AddressMap)
    irqs: IrqRegistry = field(default_factory=IrqRegistry)
    vmstate: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    resets: dict[str, Callable[[], None]] = field(default_factory=dict)
    pollers: dict[str, Device] = field(default_factory=dict)
    qom: dict[str, Device] = field(default_factory=dict)
    device_listeners: list[DeviceListener] = field(default_factory=list)
    # Host-side back ends (character devices...) that devices look up by id.
    backends: dict[str, Any] = field(default_factory=dict)
    # `-d unimp`: told of each unimplemented register access (None: not asked)
    unimp: Callable[[str], None] | None = None
    # Test hooks: called before each step; and the order of realize/unrealize hooks.
    fault_injector: FaultInjector | None = None
    trace: list[tuple[str, str]] = field(default_factory=list)

    def step(self, stack: UndoStack, path: str, name: str, do: Callable[[], None], undo: Callable[[], None]) -> None:
        """Run one realize step and remember how to undo it."""
        if self.fault_injector is not None:
            self.fault_injector(path, name)
        do()
        stack.push(name, undo)

    def qom_add(self, path: str, dev: Device) -> None:
        if path in self.qom:
            raise SystemError_(f"duplicate ID or path '{path}'")
        self.qom[path] = dev

    def register(self, table: dict[str, Any], path: str, what: Any) -> None:
        if path in table:
            raise SystemError_(f"'{path}' is already registered")
        table[path] = what

    def snapshot(self) -> dict[str, Any]:
        """A comparable picture of every registry (used by the tests)."""
        return {
            "memory": self.memory.snapshot(),
            "irqs": self.irqs.snapshot(),
            "irq_inputs": sorted(self.irqs.inputs),
            "vmstate": sorted(self.vmstate),
            "resets": list(self.resets),
            "pollers": list(self.pollers),
            "qom": sorted(self.qom),
        }


# ---------------------------------------------------------------- types

DEVICE_TYPES: dict[str, type[Device]] = {}


def device_type(cls: type[Device]) -> type[Device]:
    """Class decorator: make a device creatable by name (-device, device_add)."""
    DEVICE_TYPES[cls.type_name] = cls
    return cls


# ---------------------------------------------------------------- devices


class Device:
    type_name: ClassVar[str] = "device"
    props: ClassVar[tuple[Prop, ...]] = ()
    user_creatable: ClassVar[bool] = False

    def __init__(self, id: str | None = None) -> None:  # noqa: A002 - QEMU's name for it
        # Creating cannot fail: nothing here validates or registers anything.
        self.id = id
        self.prop_values: dict[str, Any] = {p.name: p.default for p in self.props}
        self.parent_bus: Bus | None = None
        self.child_buses: list[Bus] = []
        self.qom_parent = ""  # container path, set when attached
        self.qom_name = ""
        self.realized = False
        self._undo: UndoStack | None = None

    # -- identity

    @property
    def path(self) -> str:
        return f"{self.qom_parent}/{self.qom_name}" if self.qom_name else f"<unattached {self.type_name}>"

    def context(self) -> MachineContext:
        bus = self.parent_bus
        if bus is None:
            raise SystemError_(f"{self.path} is not attached to a board")
        return bus.parent.context()

    # -- properties

    def prop(self, name: str) -> Any:
        return self.prop_values[name]

    def set_prop(self, name: str, value: Any) -> None:
        spec = next((p for p in self.props if p.name == name), None)
        if spec is None:
            raise PropertyError(f"{self.type_name}: no property '{name}'")
        if self.realized:
            raise PropertyError(f"{self.path}: property '{name}' cannot be set after realize")
        self.prop_values[name] = spec.parse(value)

    # -- what subclasses provide

    def realize_hook(self) -> None:
        """Device-specific realize; may raise.  Must not register anything global."""

    def unrealize_hook(self) -> None:
        """Undo realize_hook.  Must not raise."""

    def mappings(self) -> list[tuple[MemoryRegion, int]]:
        """Regions to map and where (read after realize_hook)."""
        return []

    def irq_routes(self) -> list[tuple[IrqLine, int]]:
        """Output lines and the controller inputs they drive."""
        return []

    def irq_inputs(self) -> tuple[range, Callable[[int], Callable[[bool], None]]] | None:
        """For interrupt controllers: the input numbers they offer, and a sink for each."""
        return None

    def reset(self) -> None:
        pass

    def vmstate(self) -> dict[str, Any]:
        return {}

    def poll(self, now_ns: int) -> int | None:
        """Bring time-driven state up to date; return the next deadline (ns) if any."""
        return None

    def fdt_node(self, tree: Any) -> None:
        """Add this device's node to a :class:`pyuser.system.devicetree.DeviceTreeBuilder`."""

    # -- lifecycle

    def add_bus(self, bus: Bus) -> Bus:
        bus.parent = self
        self.child_buses.append(bus)
        return bus

    def realize(self) -> None:
        """Realize this device and everything below it, or raise with nothing changed."""
        if self.realized:
            return
        if self.parent_bus is None:
            raise RealizeError(self.path, SystemError_("device is not on a bus"))
        ctx = self.context()
        path = self.path
        stack = UndoStack(path)
        try:
            ctx.step(stack, path, "realize", lambda: self._run_realize_hook(ctx), lambda: self._run_unrealize_hook(ctx))
            for region, base in self.mappings():
                ctx.step(stack, path, f"mmio:{region.name}",
                         lambda r=region, b=base: ctx.memory.map(r, b, path),
                         lambda r=region: ctx.memory.unmap(r))
            inputs = self.irq_inputs()
            if inputs is not None:
                numbers, sink_for = inputs
                ctx.step(stack, path, "irq-inputs", lambda: ctx.irqs.publish(numbers, sink_for),
                         lambda: ctx.irqs.withdraw(numbers))
            for line, number in self.irq_routes():
                ctx.step(stack, path, f"irq:{number}",
                         lambda li=line, n=number: ctx.irqs.claim(n, path, li),
                         lambda n=number: ctx.irqs.release(n))
            ctx.step(stack, path, "vmstate", lambda: ctx.register(ctx.vmstate, path, self.vmstate),
                     lambda: ctx.vmstate.pop(path))
            ctx.step(stack, path, "reset", lambda: ctx.register(ctx.resets, path, self.reset),
                     lambda: ctx.resets.pop(path))
            if type(self).poll is not Device.poll:
                ctx.step(stack, path, "poller", lambda: ctx.register(ctx.pollers, path, self),
                         lambda: ctx.pollers.pop(path))
            ctx.step(stack, path, "path", lambda: ctx.qom_add(path, self), lambda: ctx.qom.pop(path))
            for listener in ctx.device_listeners:
                ctx.step(stack, path, f"listener:{type(listener).__name__}",
                         lambda li=listener: li.realize(self), lambda li=listener: li.unrealize(self))
            for bus in self.child_buses:
                ctx.step(stack, path, f"bus:{bus.name}", bus.realize, bus.unrealize)
        except BaseException as exc:
            # BaseException: an interrupt (KeyboardInterrupt) in the middle of
            # realize rolls back too, and then propagates as itself.
            stack.unwind()
            if isinstance(exc, RealizeError) or not isinstance(exc, Exception):
                raise  # a device below failed (its path is the one to report), or an interrupt
            raise RealizeError(path, exc) from exc
        self._undo = stack
        self.realized = True

    def unrealize(self) -> None:
        """Tear down in exact reverse of realize.  Cannot fail: returns nothing, or aborts."""
        if not self.realized:
            return
        stack, self._undo = self._undo, None
        assert stack is not None
        stack.unwind()
        self.realized = False

    def _run_realize_hook(self, ctx: MachineContext) -> None:
        self.realize_hook()
        ctx.trace.append(("realize", self.path))

    def _run_unrealize_hook(self, ctx: MachineContext) -> None:
        ctx.trace.append(("unrealize", self.path))
        self.unrealize_hook()

    # -- introspection

    def qom_properties(self) -> list[dict[str, str]]:
        out = [{"name": "type", "type": "string"}, {"name": "realized", "type": "bool"}]
        if self.parent_bus is not None:
            out.append({"name": "parent_bus", "type": "link<bus>"})
        out += [{"name": p.name, "type": p.qom_type} for p in self.props]
        out += [{"name": b.name, "type": f"child<{b.type_name}>"} for b in self.child_buses]
        return out

    def walk(self):
        """This device and every device below it, parents first."""
        yield self
        for bus in self.child_buses:
            for dev in bus.children:
                yield from dev.walk()


class HotplugHandler(Protocol):
    def pre_plug(self, bus: Bus, dev: Device) -> None: ...
    def plug(self, bus: Bus, dev: Device) -> None: ...
    def unplug(self, bus: Bus, dev: Device) -> None: ...


class Bus:
    type_name: ClassVar[str] = "bus"

    def __init__(self, name: str, hotplug_handler: HotplugHandler | None = None) -> None:
        self.name = name
        self.parent: Device = None  # type: ignore[assignment]  # set by Device.add_bus
        self.children: list[Device] = []
        self.hotplug_handler = hotplug_handler
        self.realized = False

    @property
    def path(self) -> str:
        return f"{self.parent.path}/{self.name}"

    def attach(self, dev: Device, qom_parent: str, qom_name: str) -> None:
        if dev.parent_bus is not None:
            raise SystemError_(f"{dev.path} is already on a bus")
        dev.parent_bus, dev.qom_parent, dev.qom_name = self, qom_parent, qom_name
        self.children.append(dev)

    def detach(self, dev: Device) -> None:
        assert not dev.realized, "detach of a realized device"
        self.children.remove(dev)
        dev.parent_bus, dev.qom_parent, dev.qom_name = None, "", ""

    def realize(self) -> None:
        """Realize every device on the bus, in order (QEMU leaves this as a TODO)."""
        ctx = self.parent.context()
        stack = UndoStack(self.path)
        try:
            ctx.step(stack, self.path, "realize", lambda: ctx.trace.append(("realize", self.path)),
                     lambda: ctx.trace.append(("unrealize", self.path)))
            for dev in list(self.children):
                ctx.step(stack, self.path, f"child:{dev.path}", dev.realize, dev.unrealize)
        except BaseException:  # an interrupt rolls back too
            stack.unwind()
            raise
        self.realized = True

    def unrealize(self) -> None:
        """Unrealize the devices on the bus, newest first; includes hot-plugged ones."""
        ctx = self.parent.context()
        for dev in reversed(self.children):
            dev.unrealize()
        ctx.trace.append(("unrealize", self.path))
        self.realized = False


class Machine(Device):
    """The root of the tree: owns the registries and the main system bus."""

    type_name = "machine"

    def __init__(self) -> None:
        super().__init__()
        self.ctx = MachineContext()
        self.qom_parent, self.qom_name = "", "machine"
        self.sysbus = self.add_bus(Bus("main-system-bus"))
        self._anon = 0

    def context(self) -> MachineContext:
        return self.ctx

    def realize(self) -> None:
        # The root has no parent bus; otherwise it realizes like any device.
        if self.parent_bus is None:
            self.parent_bus = _RootBus(self)
        super().realize()

    def add(self, dev: Device, name: str, bus: Bus | None = None) -> Device:
        """Board-created device at /machine/<name>."""
        (bus or self.sysbus).attach(dev, "/machine", name)
        return dev

    def find(self, id_or_path: str) -> Device:
        if id_or_path.startswith("/"):
            dev = self.ctx.qom.get(id_or_path)
        else:
            dev = self.ctx.qom.get(f"/machine/peripheral/{id_or_path}")
        if dev is None:
            raise DeviceNotFound(f"Device '{id_or_path}' not found")
        return dev

    def hotplug_buses(self) -> list[Bus]:
        return [b for d in self.walk() for b in d.child_buses if b.hotplug_handler is not None]

    def next_anon_name(self) -> str:
        name = f"device[{self._anon}]"
        self._anon += 1
        return name


class _RootBus(Bus):
    """Stand-in parent bus of the machine, so Device.realize needs no special case."""

    def __init__(self, machine: Machine) -> None:
        super().__init__("root")
        self.parent = machine


# ---------------------------------------------------------------- hot-plug


def create_device(driver: str, id: str | None = None) -> Device:  # noqa: A002
    cls = DEVICE_TYPES.get(driver)
    if cls is None or not cls.user_creatable:
        raise PropertyError(f"'{driver}' is not a valid device model name")
    return cls(id=id)


def device_add(machine: Machine, driver: str, props: dict[str, Any]) -> Device:
    """Create, plug and realize a device on a hotplug-capable bus, atomically."""
    props = dict(props)
    dev_id = props.pop("id", None)
    bus_name = props.pop("bus", None)
    dev = create_device(driver, dev_id)
    for name, value in props.items():
        dev.set_prop(name, value)
    bus_type = getattr(dev, "bus_type", None)
    buses = [b for b in machine.hotplug_buses() if b.type_name == (bus_type or "bus")]
    if bus_name is not None:
        bus = next((b for d in machine.walk() for b in d.child_buses if b.name == bus_name), None)
        if bus is None:
            raise DeviceNotFound(f"Bus '{bus_name}' not found")
    elif bus_type is not None:
        # QEMU's pick for a device of a bus type: the first free bus in its
        # list, which holds them newest first (on virt: the highest address).
        free = [b for b in buses if not b.children]
        if not free:
            raise SystemError_(f"No '{bus_type}' bus found for device '{driver}'")
        bus = free[-1]
    elif buses:
        bus = buses[0]
    else:
        raise SystemError_(f"No hotplug-capable bus for device '{driver}'")
    handler = bus.hotplug_handler
    if handler is None:
        raise SystemError_(f"Bus '{bus.name}' does not support hotplugging")
    container = "/machine/peripheral" if dev_id else "/machine/peripheral-anon"
    name = dev_id or machine.next_anon_name()
    ctx = machine.ctx
    stack = UndoStack(f"{container}/{name}")
    try:
        ctx.step(stack, stack.owner, "attach", lambda: bus.attach(dev, container, name), lambda: bus.detach(dev))
        ctx.step(stack, stack.owner, "pre_plug", lambda: handler.pre_plug(bus, dev), lambda: None)
        ctx.step(stack, stack.owner, "device-realize", dev.realize, dev.unrealize)
        ctx.step(stack, stack.owner, "plug", lambda: handler.plug(bus, dev), lambda: handler.unplug(bus, dev))
    except BaseException:  # an interrupt rolls back too
        stack.unwind()
        raise
    return dev


def device_del(machine: Machine, id_or_path: str) -> str:
    """Unplug, unrealize and detach a hot-plugged device; returns its former path."""
    dev = machine.find(id_or_path)
    bus = dev.parent_bus
    if bus is None or bus.hotplug_handler is None:
        raise SystemError_(f"Bus '{bus.name if bus else '?'}' does not support hotplugging")
    path, handler = dev.path, bus.hotplug_handler
    # Past the look-ups nothing may fail: a half-removed device is worse than an abort.
    must_not_fail(f"unplug of {path}", lambda: handler.unplug(bus, dev))
    dev.unrealize()
    must_not_fail(f"detach of {path}", lambda: bus.detach(dev))
    return path
