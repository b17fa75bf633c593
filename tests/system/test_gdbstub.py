"""The system-mode gdbstub (-gdb tcp::PORT, -S), driven by the real gdb-multiarch
against pyuser-system-arm and qemu-system-arm with the same gdb script.

What must be the same is compared as text: gdb's whole session on the
bare-metal `tick` firmware (breakpoint, registers, memory, steps, the exit
code), and on Debian's armmp kernel the stop at start_kernel (its address
read from /proc/kallsyms under qemu-system-arm: Debian ships no symbols),
with the PC, SP, CPSR and the bytes there, through the MMU and physically.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from .conftest import PYUSER_SYSTEM, ROOT, run_pyuser
from .linux_guest import build_initramfs, fetch_kernel

GDB = "gdb-multiarch"
HVC0 = bytes.fromhex("700040e1")  # hvc #0, ARM encoding, little-endian
QEMU = ["qemu-system-arm", "-M", "virt", "-cpu", "cortex-a15", "-nographic"]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something listens on `port` (read from /proc: a probe connection would attach)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                return True
    return False


def session(emulator: list[str], args: list[str], script: str, elf: Path | None = None,
            stdin: bytes = b"", timeout: float = 120) -> tuple[str, subprocess.CompletedProcess]:
    """Start the emulator with a gdbstub, run gdb's script against it; (gdb's output, the emulator's run)."""
    port = free_port()
    machine = subprocess.Popen([*emulator, *args, "-gdb", f"tcp::{port}"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        deadline = time.monotonic() + 30
        while not listening(port):
            assert machine.poll() is None, machine.communicate()
            assert time.monotonic() < deadline, "the gdbstub never listened"
            time.sleep(0.05)
        gdb_cmd = [GDB, "-q", "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off",
                   "-ex", f"target remote :{port}"]
        for line in script.strip().splitlines():
            gdb_cmd += ["-ex", line]
        gdb = subprocess.run(gdb_cmd + ([str(elf)] if elf else []), capture_output=True, text=True,
                             timeout=timeout)
        out, err = machine.communicate(stdin, timeout=timeout)
    finally:
        if machine.poll() is None:
            machine.kill()
            machine.wait()
    run = subprocess.CompletedProcess(machine.args, machine.returncode, out, err)
    return gdb.stdout + gdb.stderr, run


PYUSER = PYUSER_SYSTEM
BARE_SCRIPT = """
info registers pc cpsr
break main
continue
info registers pc sp lr cpsr
x/4xw $pc
stepi
info registers pc
stepi
info registers pc
p/x $r0
continue
"""


def test_bare_metal_session_is_qemus(firmware: Path) -> None:
    elf = firmware / "tick.elf"
    args = ["-semihosting", "-kernel", str(elf), "-S"]
    ours, our_run = session(PYUSER, ["-M", "virt", "-nographic", *args], BARE_SCRIPT, elf)
    theirs, their_run = session(QEMU, args, BARE_SCRIPT, elf)
    assert "Breakpoint 1, main ()" in ours
    assert "exited with code 06" in ours
    assert ours == theirs
    assert (our_run.returncode, our_run.stdout) == (their_run.returncode, their_run.stdout) == (6, their_run.stdout)


REBOOT_SCRIPT = """
break main
continue
info registers pc cpsr
continue
info registers pc cpsr
continue
info registers pc cpsr
p/x $r0
continue
"""


def test_session_across_guest_resets_is_qemus(firmware: Path) -> None:
    """reboot.elf resets the machine twice: gdb stays connected, its breakpoint
    on main is hit once per boot with the CPU as at power-on, the same text
    as against qemu-system-arm's stub."""
    elf = firmware / "reboot.elf"
    args = ["-semihosting", "-kernel", str(elf), "-S"]
    ours, our_run = session(PYUSER, ["-M", "virt", "-nographic", *args], REBOOT_SCRIPT, elf)
    theirs, their_run = session(QEMU, args, REBOOT_SCRIPT, elf)
    assert ours.count("Breakpoint 1, main ()") == 3
    assert "exited with code 03" in ours
    assert ours == theirs
    assert (our_run.returncode, our_run.stdout) == (their_run.returncode, their_run.stdout) == (3, their_run.stdout)


def test_step_onto_a_resetting_hvc_stops_at_the_entry(firmware: Path) -> None:
    """stepi on reboot.elf's hvc (PSCI SYSTEM_RESET): the machine resets and the
    step ends at the entry point, _start, the CPU as at power-on; gdb's next
    stepi runs _start's first instruction, and the session goes on.

    qemu-system-arm 7.2's stub does the same most of the time, but it serves
    the reset request from its main loop, not from the step: measured over 6
    runs, 5 stopped at _start and 1 at _start+4.  So its session is not
    compared as text here."""
    elf = firmware / "reboot.elf"
    with elf.open("rb") as f:
        text = ELFFile(f).get_section_by_name(".text")
        code, base = text.data(), text["sh_addr"]
    hvc = next(base + at for at in range(0, len(code), 4) if code[at:at + 4] == HVC0)
    script = f"break *{hvc:#x}\ncontinue\nstepi\ninfo registers pc cpsr r0\nstepi\ninfo registers pc\ndelete\ncontinue"
    args = ["-semihosting", "-kernel", str(elf), "-S"]
    ours, our_run = session(PYUSER, ["-M", "virt", "-nographic", *args], script, elf)
    registers = [line.split() for line in ours.splitlines() if line.startswith(("pc ", "cpsr ", "r0 "))]
    assert registers == [["pc", "0x40200020", "0x40200020", "<_start>"], ["cpsr", "0x400001d3", "1073742291"],
                         ["r0", "0x0", "0"], ["pc", "0x40200024", "0x40200024", "<_start+4>"]]
    assert "exited with code 03" in ours
    assert our_run.returncode == 3


def test_attach_to_a_running_machine_then_detach(firmware: Path) -> None:
    """Without -S the machine runs; gdb's connection stops it, detach lets it run on."""
    elf = firmware / "echo.elf"
    script = "p $pc >= 0x40200000 && $pc < 0x40210000\ninfo threads\ndetach"
    out, run = session(PYUSER, ["-M", "virt", "-nographic", "-semihosting", "-kernel", str(elf)], script,
                       elf, stdin=b"abc q")
    assert "$1 = 1" in out
    assert '* 1    Thread 1.1 (CPU#0 [running])' in out
    assert "[Inferior 1 (process 1) detached]" in out
    assert run.stdout == b"echo ready\nABC \nechoed 4\n"
    assert run.returncode == 4


def test_kill_ends_the_machine(firmware: Path) -> None:
    elf = firmware / "tick.elf"
    out, run = session(PYUSER, ["-M", "virt", "-nographic", "-semihosting", "-kernel", str(elf), "-S"],
                       "break main\ncontinue\nkill", elf)
    assert "[Inferior 1 (process 1) killed]" in out
    assert run.returncode == 0  # as qemu-system-arm 7.2 after gdb's kill
    assert run.stderr == b"pyuser-system-arm: terminated via gdbstub\n"
    assert b"tick" not in run.stdout


@pytest.mark.parametrize("args, message", [
    (["-gdb", "udp::1"], "-gdb udp::1: only tcp:[HOST]:PORT or none is supported"),
    (["-gdb", "tcp::99999"], "-gdb tcp::99999: only tcp:[HOST]:PORT or none is supported"),
])
def test_bad_gdb_option(firmware: Path, args: list[str], message: str) -> None:
    result = run_pyuser(["-M", "virt", "-kernel", str(firmware / "tick.elf"), *args])
    assert result.returncode == 1
    assert result.stderr.decode() == f"pyuser-system-arm: {message}\n"


def test_port_in_use_is_one_line(firmware: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_pyuser(["-M", "virt", "-kernel", str(firmware / "tick.elf"), "-gdb", f"tcp::{port}"])
    assert result.returncode == 1
    assert result.stderr.decode() == (f"pyuser-system-arm: -gdb tcp:127.0.0.1:{port}: "
                                      "Failed to bind socket: Address already in use\n")


KALLSYMS = """#!/bin/sh
/bin/busybox mount -t proc proc /proc
/bin/busybox grep ' start_kernel$' /proc/kallsyms
/bin/busybox poweroff -f
"""
LINUX_SCRIPT = """
break *{start_kernel:#x}
continue
info registers pc sp cpsr
x/8xw $pc
maint packet Qqemu.PhyMemMode:1
x/4xw 0x40208000
maint packet Qqemu.PhyMemMode:0
kill
"""


def test_linux_stops_at_start_kernel_as_under_qemu(tmp_path: Path) -> None:
    kernel_dir = fetch_kernel()
    initrd = build_initramfs(kernel_dir, KALLSYMS, tmp_path / "initrd.gz")
    args = ["-m", "256M", "-nic", "none", "-kernel", str(kernel_dir / "vmlinuz"), "-initrd", str(initrd),
            "-append", "console=ttyAMA0 quiet panic=-1"]
    boot = subprocess.run([*QEMU, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    line = next(x for x in boot.stdout.decode(errors="replace").splitlines() if x.endswith(" T start_kernel"))
    script = LINUX_SCRIPT.format(start_kernel=int(line.split()[0], 16))
    theirs, _ = session(QEMU, [*args, "-S"], script, timeout=120)
    ours, run = session([sys.executable, "-m", "pyuser.system.cli", "-M", "virt", "-nographic"], [*args, "-S"],
                        script, timeout=300)

    def stop(out: str) -> str:  # from the breakpoint on (QEMU starts in its own boot stub, pyuser at the zImage)
        return out[out.index("\nBreakpoint 1,"):]

    assert f"pc             0x{line.split()[0]}" in ours
    assert stop(ours) == stop(theirs)
    assert "[Inferior 1 (process 1) killed]" in ours
    assert run.returncode == 0


def _packet(data: bytes) -> bytes:
    return b"$" + data + b"#" + f"{sum(data) & 0xFF:02x}".encode()


def _reply(sock: socket.socket) -> bytes:
    buffer = b""
    while True:
        chunk = sock.recv(4096)
        assert chunk, "the stub closed the connection"
        buffer += chunk
        start = buffer.find(b"$")
        end = buffer.find(b"#", start)
        if start >= 0 and end >= 0 and len(buffer) >= end + 3:
            return buffer[start + 1:end]


def _interrupt_session(emulator: list[str], args: list[str]) -> tuple[list[bytes], subprocess.CompletedProcess]:
    """A bare remote-protocol client (gdb's batch mode cannot send Ctrl-C): ?, c, 0x03, k."""
    port = free_port()
    machine = subprocess.Popen([*emulator, *args, "-gdb", f"tcp::{port}"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        while not listening(port):
            assert machine.poll() is None
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            replies = []
            sock.sendall(_packet(b"?"))
            replies.append(_reply(sock))
            sock.sendall(b"+" + _packet(b"c"))
            time.sleep(0.5)
            sock.sendall(b"+\x03")
            replies.append(_reply(sock))
            sock.sendall(b"+" + _packet(b"k"))
            out, err = machine.communicate(timeout=30)
    finally:
        if machine.poll() is None:
            machine.kill()
            machine.wait()
    return replies, subprocess.CompletedProcess(machine.args, machine.returncode, out, err)


def test_ctrl_c_stops_the_machine_as_qemus(firmware: Path) -> None:
    args = ["-semihosting", "-kernel", str(firmware / "echo.elf"), "-S"]
    ours, our_run = _interrupt_session(PYUSER, ["-M", "virt", "-nographic", *args])
    theirs, their_run = _interrupt_session(QEMU, args)
    assert theirs == [b"T05thread:01;", b"T02thread:01;"]
    assert ours == theirs
    assert our_run.stdout == their_run.stdout == b"echo ready\n"
    assert our_run.returncode == their_run.returncode == 0
