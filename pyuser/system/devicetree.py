"""Flattened device tree generation, from the device tree of the board.

Each realized device contributes its own node (``Device.fdt_node``); this
module only provides the builder and the board-wide nodes.  The blob is built
with the `fdt` package from PyPI.  Node names, compatibles and cell layouts
follow what QEMU's virt board generates (hw/arm/virt.c), so the same
bare-metal code and Linux drivers find things where they expect.
"""

from __future__ import annotations

from typing import Any

import fdt

from .errors import UsageError

FIRST_PHANDLE = 0x8000


class DeviceTreeBuilder:
    def __init__(self) -> None:
        self.tree = fdt.FDT()
        self._phandles: dict[str, int] = {}

    def phandle(self, label: str) -> int:
        """Stable phandle numbers by label, allocated on first use from 0x8000, as QEMU's
        (softmmu/device_tree.c qemu_fdt_alloc_phandle; virt's phandle_start)."""
        return self._phandles.setdefault(label, len(self._phandles) + FIRST_PHANDLE)

    def set_root(self, props: dict[str, Any]) -> None:
        for name, value in props.items():
            self._apply(self.tree.root, name, value)

    def add_node(self, path: str, props: dict[str, Any]) -> None:
        """Add `path` (relative to /, e.g. "cpus/cpu@0") with its properties."""
        parent, _, name = path.rpartition("/")
        node = fdt.Node(name)
        for key, value in props.items():
            self._apply(node, key, value)
        self.tree.add_item(node, "/" + parent if parent else "/")

    @staticmethod
    def _apply(node: Any, name: str, value: Any) -> None:
        if value is None:
            item = fdt.Property(name)
        elif isinstance(value, str):
            item = fdt.PropStrings(name, value)
        elif isinstance(value, int):
            item = fdt.PropWords(name, value)
        elif isinstance(value, bytes):
            item = fdt.PropBytes(name, data=list(value))
        elif value and all(isinstance(v, str) for v in value):
            item = fdt.PropStrings(name, *value)
        else:
            item = fdt.PropWords(name, *value)
        if node.exist_property(name):
            node.remove_property(name)
        node.append(item)

    def to_dtb(self) -> bytes:
        return self.tree.to_dtb(version=17)


def build_dtb(machine: Any) -> bytes:
    """The DTB of `machine` as it is now (hot-plugged devices included)."""
    tree = DeviceTreeBuilder()
    machine.fdt_root(tree)
    for dev in machine.walk():
        if dev is not machine and dev.realized:
            dev.fdt_node(tree)
    return tree.to_dtb()


def patch_dtb(blob: bytes, chosen: dict[str, Any], ram_base: int, ram_size: int) -> bytes:
    """A user's -dtb with /chosen and /memory set as QEMU sets them (hw/arm/boot.c arm_load_dtb)."""
    try:
        tree = fdt.parse_dtb(blob)
    except Exception as exc:  # noqa: BLE001 - the fdt package raises plain Exceptions on bad blobs
        raise UsageError(f"-dtb: not a valid device tree blob ({exc})") from None
    builder = DeviceTreeBuilder()
    builder.tree = tree
    if not tree.exist_node("chosen"):
        tree.add_item(fdt.Node("chosen"), "/")
    node = tree.get_node("chosen")
    for name, value in chosen.items():
        builder._apply(node, name, value)
    cells = [ram_base >> 32, ram_base & 0xFFFFFFFF, ram_size >> 32, ram_size & 0xFFFFFFFF]
    for item in tree.root.nodes:
        if item.exist_property("device_type") and item.get_property("device_type").value == "memory":
            builder._apply(item, "reg", cells)
    return builder.to_dtb()
