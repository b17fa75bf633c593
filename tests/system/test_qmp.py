"""The QMP monitor, driven by the real qemu.qmp client library."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import fdt
import pytest
from qemu.qmp.legacy import QEMUMonitorProtocol

from .conftest import PYUSER_SYSTEM, ROOT


def _start(firmware, tmp_path, extra: list[str]):
    """echo.elf idles in wfi waiting for input: a running guest to poke at."""
    sock = tmp_path / "qmp.sock"
    proc = subprocess.Popen(
        PYUSER_SYSTEM + ["-M", "virt", "-nographic", "-semihosting", "-kernel", str(firmware / "echo.elf"),
                         "-qmp", f"unix:{sock},server,wait=off", *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "QMP socket never appeared"
        time.sleep(0.02)
    while True:  # the socket file exists from bind(), before listen()
        qmp = QEMUMonitorProtocol(str(sock))
        qmp.settimeout(10)
        try:
            greeting = qmp.connect(negotiate=True)
            break
        except Exception:  # noqa: BLE001 - qemu.qmp wraps the refusal in its own ConnectError
            assert time.monotonic() < deadline, "QMP socket never accepted"
            time.sleep(0.02)
    return proc, qmp, greeting


def _stop(proc, qmp) -> None:
    try:
        qmp.close()
    except (EOFError, ConnectionError):
        pass  # after `quit` the machine may close the socket before we do
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@pytest.fixture()
def machine(firmware, tmp_path):
    proc, qmp, greeting = _start(firmware, tmp_path, [])
    yield proc, qmp, greeting, tmp_path
    _stop(proc, qmp)


def dtb_nodes(qmp: QEMUMonitorProtocol, path: Path) -> list[str]:
    assert qmp.cmd("dumpdtb", filename=str(path)) == {}
    tree = fdt.parse_dtb(path.read_bytes())
    return sorted(node.name for node in tree.root.nodes)


def names(entries: list[dict[str, str]]) -> list[str]:
    return sorted(e["name"] for e in entries)


def test_greeting_status_version(machine) -> None:
    _proc, qmp, greeting, _tmp = machine
    assert "version" in greeting["QMP"] and "capabilities" in greeting["QMP"]
    assert qmp.cmd("query-status") == {"status": "running", "running": True, "singlestep": False}
    assert set(qmp.cmd("query-version")["qemu"]) == {"major", "minor", "micro"}


def test_stop_and_cont(machine) -> None:
    _proc, qmp, _greeting, _tmp = machine
    qmp.cmd("stop")
    assert qmp.cmd("query-status")["status"] == "paused"
    assert any(e["event"] == "STOP" for e in qmp.get_events(wait=5))
    qmp.cmd("cont")
    assert qmp.cmd("query-status")["status"] == "running"
    assert any(e["event"] == "RESUME" for e in qmp.get_events(wait=5))


def test_unknown_command(machine) -> None:
    _proc, qmp, _greeting, _tmp = machine
    reply = qmp.cmd_raw("no-such-command")
    assert reply["error"]["class"] == "CommandNotFound"


def test_unexpected_and_missing_arguments_and_unknown_device(machine) -> None:
    # As QEMU 7.2 answers (qapi's input visitor; qdev_device_del's lookup).
    _proc, qmp, _greeting, _tmp = machine
    reply = qmp.cmd_raw("query-status", {"x": 1})
    assert reply["error"] == {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}
    reply = qmp.cmd_raw("device_del", {})
    assert reply["error"] == {"class": "GenericError", "desc": "Parameter 'id' is missing"}
    reply = qmp.cmd_raw("device_del", {"id": "nosuch"})
    assert reply["error"] == {"class": "DeviceNotFound", "desc": "Device 'nosuch' not found"}


def test_virtio_blk_hot_plug_takes_the_last_free_transport(machine) -> None:
    _proc, qmp, _greeting, tmp = machine
    # No -drive was given: the device fails to realize and leaves no trace.
    reply = qmp.cmd_raw("device_add", {"driver": "virtio-blk-device", "id": "blk0", "drive": "d9"})
    assert "can't find value 'd9'" in reply["error"]["desc"]
    assert names(qmp.cmd("qom-list", path="/machine/peripheral")) == []


def test_failed_device_add_leaves_the_machine_unchanged(machine) -> None:
    _proc, qmp, _greeting, tmp = machine
    qom_before = qmp.cmd("qom-list", path="/machine")
    peripherals_before = qmp.cmd("qom-list", path="/machine/peripheral")
    dtb_before = dtb_nodes(qmp, tmp / "before.dtb")
    # Address clash with the board's UART.
    reply = qmp.cmd_raw("device_add", {"driver": "pl011", "id": "uart1", "addr": 0x09000000})
    assert reply["error"]["class"] == "GenericError"
    assert "clashes with /machine/uart0" in reply["error"]["desc"]
    # IRQ clash with the RTC (SPI 2), on a free address.
    reply = qmp.cmd_raw("device_add", {"driver": "pl011", "id": "uart1", "irq": 2})
    assert "already driven by /machine/rtc" in reply["error"]["desc"]
    # A chardev that does not exist.
    reply = qmp.cmd_raw("device_add", {"driver": "pl011", "id": "uart1", "chardev": "nope"})
    assert "can't find value 'nope'" in reply["error"]["desc"]
    assert "error" in qmp.cmd_raw("device_add", {"driver": "no-such-device"})
    assert qmp.cmd("qom-list", path="/machine") == qom_before
    assert qmp.cmd("qom-list", path="/machine/peripheral") == peripherals_before == []
    assert dtb_nodes(qmp, tmp / "after.dtb") == dtb_before
    assert qmp.cmd("query-status")["status"] == "running"


def test_device_add_and_device_del(machine) -> None:
    _proc, qmp, _greeting, tmp = machine
    assert "pl011@c000000" not in dtb_nodes(qmp, tmp / "a.dtb")
    qmp.cmd("device_add", driver="pl011", id="uart1")
    assert names(qmp.cmd("qom-list", path="/machine/peripheral")) == ["uart1"]
    props = names(qmp.cmd("qom-list", path="/machine/peripheral/uart1"))
    assert {"type", "realized", "addr", "irq", "chardev"} <= set(props)
    assert qmp.cmd("qom-get", path="/machine/peripheral/uart1", property="addr") == 0x0C000000
    assert "pl011@c000000" in dtb_nodes(qmp, tmp / "b.dtb")
    # The same id again fails and changes nothing.
    assert "error" in qmp.cmd_raw("device_add", {"driver": "pl011", "id": "uart1"})
    assert names(qmp.cmd("qom-list", path="/machine/peripheral")) == ["uart1"]

    qmp.clear_events()
    qmp.cmd("device_del", id="uart1")
    events = [e for e in qmp.get_events(wait=5) if e["event"] == "DEVICE_DELETED"]
    assert events and events[0]["data"] == {"device": "uart1", "path": "/machine/peripheral/uart1"}
    assert qmp.cmd("qom-list", path="/machine/peripheral") == []
    assert "pl011@c000000" not in dtb_nodes(qmp, tmp / "c.dtb")
    assert qmp.cmd_raw("device_del", {"id": "uart1"})["error"]["class"] == "DeviceNotFound"
    # The slot is free again.
    qmp.cmd("device_add", driver="pl011", id="uart2")
    assert qmp.cmd("qom-get", path="/machine/peripheral/uart2", property="addr") == 0x0C000000


def test_board_devices_cannot_be_unplugged(machine) -> None:
    _proc, qmp, _greeting, _tmp = machine
    reply = qmp.cmd_raw("device_del", {"id": "/machine/uart0"})
    assert "does not support hotplugging" in reply["error"]["desc"]


def test_guest_keeps_running_across_hotplug(machine) -> None:
    proc, qmp, _greeting, _tmp = machine
    qmp.cmd("device_add", driver="pl011", id="uart1")
    qmp.cmd("device_del", id="uart1")
    proc.stdin.write(b"ok q")
    proc.stdin.flush()
    assert proc.wait(timeout=10) == 3
    assert proc.stdout.read() == b"echo ready\nOK \nechoed 3\n"


def test_quit(machine) -> None:
    proc, qmp, _greeting, _tmp = machine
    qmp.cmd("quit")
    assert proc.wait(timeout=10) == 0


def test_virtio_net_hot_plug_and_unplug(firmware, tmp_path) -> None:
    """device_add/device_del of a virtio-net-device on a -netdev user back end, as for virtio-blk."""
    proc, qmp, _greeting = _start(firmware, tmp_path, ["-netdev", "user,id=n0"])
    try:
        reply = qmp.cmd_raw("device_add", {"driver": "virtio-net-device", "id": "net0", "netdev": "nope"})
        assert reply["error"]["desc"].endswith("Property 'netdev' can't find value 'nope'")
        assert qmp.cmd("qom-list", path="/machine/peripheral") == []
        qmp.cmd("device_add", driver="virtio-net-device", id="net0", netdev="n0")
        assert qmp.cmd("qom-get", path="/machine/peripheral/net0", property="netdev") == "n0"
        reply = qmp.cmd_raw("device_add", {"driver": "virtio-net-device", "id": "net1", "netdev": "n0"})
        assert reply["error"]["desc"].endswith("Property 'netdev' can't take value 'n0', it's in use")
        assert names(qmp.cmd("qom-list", path="/machine/peripheral")) == ["net0"]
        qmp.clear_events()
        qmp.cmd("device_del", id="net0")
        events = [e for e in qmp.get_events(wait=5) if e["event"] == "DEVICE_DELETED"]
        assert events and events[0]["data"]["device"] == "net0"
        qmp.cmd("device_add", driver="virtio-net-device", id="net1", netdev="n0")  # free again
        assert qmp.cmd("query-status")["status"] == "running"
    finally:
        _stop(proc, qmp)


def _power_events(cmd: list[str], sock: Path) -> tuple[list[tuple[str, dict]], int]:
    """Run `cmd` with a QMP server that waits for us; every event until the machine exits."""
    # -S and `cont` after the negotiation: the guest runs only once we listen.
    proc = subprocess.Popen(cmd + ["-S", "-qmp", f"unix:{sock},server=on,wait=on"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    client = socket.socket(socket.AF_UNIX)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.connect(str(sock))
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "no QMP socket"
            time.sleep(0.02)
    client.settimeout(20)
    stream = client.makefile("rwb")
    stream.readline()  # the greeting
    stream.write(b'{"execute": "qmp_capabilities"}\n')
    stream.flush()
    stream.readline()
    stream.write(b'{"execute": "cont"}\n')
    stream.flush()
    events = []
    try:
        for line in stream:
            msg = json.loads(line)
            if msg.get("event") in ("RESET", "SHUTDOWN"):
                events.append((msg["event"], msg.get("data")))
    except ConnectionResetError:
        pass  # qemu-system-arm, exiting, sometimes resets the connection after its last event (measured)
    client.close()
    return events, proc.wait(timeout=20)


@pytest.mark.parametrize("extra", [[], ["-no-reboot"]], ids=["reboot", "no-reboot"])
def test_guest_reset_events(firmware, tmp_path, extra: list[str]) -> None:
    """reboot.elf resets twice: a RESET event each time, or SHUTDOWN under -no-reboot, as qemu-system-arm's."""
    args = ["-M", "virt", "-nographic", "-semihosting", *extra, "-kernel", str(firmware / "reboot.elf")]
    ours = _power_events(PYUSER_SYSTEM + args, tmp_path / "p.sock")
    theirs = _power_events(["qemu-system-arm", "-cpu", "cortex-a15", *args], tmp_path / "q.sock")
    reset = ("RESET", {"guest": True, "reason": "guest-reset"})
    if extra:
        assert ours == theirs == ([("SHUTDOWN", {"guest": True, "reason": "guest-reset"})], 0)
    else:
        assert ours == theirs == ([reset, reset], 3)
