"""Command-line errors: one line on stderr, status 1, no traceback."""

from __future__ import annotations

import socket

import pytest

from .conftest import run_pyuser


@pytest.mark.parametrize("args, message", [
    ([], "no machine specified"),
    (["-M", "virt"], "no kernel specified"),
    (["-M", "versatilepb", "-kernel", "x.elf"], "unsupported machine type"),
    (["-M", "virt", "-kernel", "/nonexistent/fw.elf"], "No such file or directory"),
    (["-M", "virt", "-kernel"], "requires an argument"),
    (["-M", "virt", "-kernel", "x", "-bogus"], "invalid option"),
    (["-M", "virt", "-kernel", "x", "-m", "lots"], "Invalid RAM size"),
    (["-M", "virt", "-kernel", "x", "-cpu", "pentium"], "unable to find CPU model"),
    (["-M", "virt", "-kernel", "x", "-qmp", "tcp:1234"], "only unix:"),
    (["-M", "virt", "-kernel", "x", "-serial", "pty"], "not a supported serial"),
    (["-M", "virt", "-kernel", "x", "-drive", "file=d.img,format=qcow2,if=none"], "only format=raw"),
    (["-M", "virt", "-kernel", "x", "-drive", "file=d.img"], "does not support if=ide"),
    (["-M", "virt", "-kernel", "x", "-net", "user"], "only 'none'"),
    (["-M", "virt", "-kernel", "x", "-netdev", "user,id=n0,foo=bar"], "-netdev user,id=n0,foo=bar: Invalid parameter 'foo'"),
    (["-M", "virt", "-kernel", "x", "-netdev", "user,id=n0,net=10.1.0.0/24"], "Invalid parameter 'net'"),
    (["-M", "virt", "-kernel", "x", "-netdev", "tap,id=n0"], "only the 'user' back end"),
    (["-M", "virt", "-kernel", "x", "-netdev", "user"], "Parameter 'id' is missing"),
    (["-M", "virt", "-kernel", "x", "-netdev", "user,id=n0", "-netdev", "user,id=n0"], "Duplicate ID 'n0'"),
    (["-M", "virt", "-kernel", "x", "-nic", "user,model=e1000"], "unsupported NIC model 'e1000'"),
    (["-M", "virt", "-kernel", "x", "-nic", "user,hostfwd=udp::5555-:53"], "only tcp"),
    (["-M", "virt", "-kernel", "x", "-nic", "user,hostfwd=tcp::x-:22"], "invalid host forwarding rule"),
    (["-M", "virt,dumpdtb=/tmp/x.dtb,gic-version=3", "-kernel", "x"], "unsupported machine option"),
])
def test_bad_usage_is_one_line(args: list[str], message: str) -> None:
    result = run_pyuser(args, timeout=10)
    err = result.stderr.decode()
    assert result.returncode == 1
    assert message in err
    assert err.count("\n") == 1 and err.startswith("pyuser-system-arm: ")
    assert "Traceback" not in err


def test_empty_kernel(tmp_path) -> None:
    # Any non-ELF file is a raw Linux Image (as under QEMU), but an empty one is refused.
    bogus = tmp_path / "fw.elf"
    bogus.write_bytes(b"")
    result = run_pyuser(["-M", "virt", "-kernel", str(bogus)], timeout=10)
    assert result.returncode == 1
    assert result.stderr.decode() == f"pyuser-system-arm: could not load kernel '{bogus}': empty file\n"


def test_initrd_needs_a_linux_kernel(firmware, tmp_path) -> None:
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"x")
    result = run_pyuser(["-M", "virt", "-kernel", str(firmware / "hello.elf"), "-initrd", str(initrd)], timeout=10)
    assert result.returncode == 1 and b"need a Linux kernel" in result.stderr


def test_bad_device_option_is_one_line(firmware) -> None:
    # A -device that fails to realize (address clash with the board's UART).
    result = run_pyuser(["-M", "virt", "-kernel", str(firmware / "hello.elf"),
                         "-device", "pl011,id=u9,addr=0x09000000"], timeout=10)
    err = result.stderr.decode()
    assert result.returncode == 1 and err.count("\n") == 1, err
    assert "clashes with /machine/uart0" in err


def test_help() -> None:
    result = run_pyuser(["-h"], timeout=10)
    assert result.returncode == 0 and b"-kernel" in result.stdout


def test_drive_if_virtio_plugs_a_virtio_blk(firmware, tmp_path) -> None:
    import fdt

    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    out = tmp_path / "virt.dtb"
    result = run_pyuser(["-M", f"virt,dumpdtb={out}", "-kernel", str(firmware / "hello.elf"),
                         "-drive", f"file={disk},if=virtio"], timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode() == f"pyuser-system-arm: info: dtb dumped to {out}. Exiting.\n"
    tree = fdt.parse_dtb(out.read_bytes())
    node = tree.get_node("virtio_mmio@a003e00")
    assert list(node.get_property("interrupts").data) == [0, 47, 1]
    missing = run_pyuser(["-M", "virt", "-kernel", str(firmware / "hello.elf"),
                          "-drive", f"file={tmp_path / 'nope.img'},if=virtio"], timeout=10)
    assert missing.returncode == 1 and missing.stderr.decode().count("\n") == 1


def test_host_forward_on_a_busy_port_is_one_line(firmware) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_pyuser(["-M", "virt", "-nographic", "-kernel", str(firmware / "hello.elf"),
                             "-nic", f"user,hostfwd=tcp::{port}-:22"], timeout=10)
    err = result.stderr.decode()
    assert result.returncode == 1
    assert err == f"pyuser-system-arm: could not set up host forwarding rule 'tcp:127.0.0.1:{port}-:22': " \
        "Address already in use\n"
