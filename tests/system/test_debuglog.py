"""-d in_asm,int,unimp and -D in system mode, against qemu-system-arm 7.2's own log.

QEMU's "Exception return" and "AArch32 mode switch" lines are left out of
the comparison: pyuser does not write them (they would need a hook on every
exception return and cps).  A block pyuser logs and QEMU does not is a tail
of one QEMU logs: pyuser's slices end every 200,000 instructions, and the
next slice starts a block mid-way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import QEMU, run_pyuser

RUN = ["-M", "virt", "-nographic", "-semihosting", "-kernel"]


def qemu_log(kernel: Path, items: str, log: Path) -> subprocess.CompletedProcess:
    return subprocess.run(QEMU + ["-kernel", str(kernel), "-d", items, "-D", str(log)],
                          capture_output=True, timeout=20, stdin=subprocess.DEVNULL)


def blocks(text: str) -> list[list[str]]:
    return [[line for line in chunk.splitlines() if line.startswith(("IN:", "0x"))]
            for chunk in text.split("----------------\n")[1:]]


def exception_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.startswith(("Taking exception", "..."))]


def test_int_log_is_qemus(firmware: Path, tmp_path: Path) -> None:
    """Data aborts (alignment faults) and the semihosting exit, line for line; IRQs as QEMU words them."""
    kernel = firmware / "align.elf"
    qemu_log(kernel, "int", tmp_path / "qemu.log")
    ours = run_pyuser(RUN + [str(kernel), "-d", "int", "-D", str(tmp_path / "ours.log")])
    expected = exception_lines((tmp_path / "qemu.log").read_text())
    assert expected[:4] == ["Taking exception 4 [Data Abort] on CPU 0", "...from EL1 to EL1",
                            "...with ESR 0x25/0x9600003f", expected[3]]
    assert exception_lines((tmp_path / "ours.log").read_text()) == expected
    assert ours.stderr == b""  # the log went to -D's file
    tick = run_pyuser(RUN + [str(firmware / "tick.elf"), "-d", "int"])
    irqs = tick.stderr.decode().split("Taking exception 5 [IRQ] on CPU 0\n...from EL1 to EL1\n"
                                      "...with ESR 0x0/0x0\n")
    assert len(irqs) - 1 == tick.returncode == 6  # one IRQ per tick


def test_in_asm_blocks_are_qemus(firmware: Path, tmp_path: Path) -> None:
    kernel = firmware / "tick.elf"
    qemu_log(kernel, "in_asm", tmp_path / "qemu.log")
    ours = run_pyuser(RUN + [str(kernel), "-d", "in_asm"])
    theirs = blocks((tmp_path / "qemu.log").read_text())
    mine = blocks(ours.stderr.decode())
    assert mine[0] == ["IN: ", "0x40200020:  e59f006c  ldr      r0, [pc, #0x6c]",
                       "0x40200024:  ee0c0f10  mcr      p15, #0, r0, c12, c0, #0"]
    assert ["IN: main", "0x40200448:  e3000530  movw     r0, #0x530"] == mine[[b[0] for b in mine].index("IN: main")][:2]
    for block in theirs:
        assert block in mine
    for block in mine:
        assert block in theirs or any(b[0] == block[0] and b[-len(block) + 1:] == block[1:] for b in theirs), block


def test_guest_reset_logs_as_qemus(firmware: Path, tmp_path: Path) -> None:
    """reboot.elf resets twice through PSCI: -d int line for line (QEMU's CPU
    reset clears the exception state its log reads, so the semihosting exit
    after the resets says EL0), and in_asm logs the image's blocks again on
    each boot, as QEMU translates the reloaded image again."""
    kernel = firmware / "reboot.elf"
    qemu_log(kernel, "in_asm,int", tmp_path / "qemu.log")
    ours = run_pyuser(RUN + [str(kernel), "-d", "in_asm,int", "-D", str(tmp_path / "ours.log")])
    assert ours.returncode == 3
    theirs_text, ours_text = (tmp_path / "qemu.log").read_text(), (tmp_path / "ours.log").read_text()
    hvc = ["Taking exception 11 [Hypervisor Call] on CPU 0", "...from EL1 to EL2",
           "...with ESR 0x12/0x4a000000", "...handled as PSCI call"]
    assert exception_lines(theirs_text) == hvc + hvc + [
        "Taking exception 16 [Semihosting call] on CPU 0", "...from EL1 to EL0", "...handling as semihosting call 0x20"]
    assert exception_lines(ours_text) == exception_lines(theirs_text)
    theirs, mine = blocks(theirs_text), blocks(ours_text)

    def boots(logged: list[list[str]]) -> int:
        return sum(1 for block in logged if block[1].startswith("0x40200020:"))  # _start's first block

    assert boots(mine) == boots(theirs) == 3
    for block in theirs:
        assert block in mine


def test_unimp_reports_each_thing_once(firmware: Path) -> None:
    result = run_pyuser(RUN + [str(firmware / "align.elf"), "-d", "unimp"])
    assert result.returncode == 0
    assert result.stderr.decode() == "pl011: unimplemented register read at offset 0x80 (size 4)\n"


def test_no_log_unless_asked(firmware: Path, tmp_path: Path) -> None:
    result = run_pyuser(RUN + [str(firmware / "align.elf"), "-D", str(tmp_path / "log")])
    assert result.returncode == 0 and result.stderr == b""
    assert (tmp_path / "log").read_bytes() == b""  # made empty, as qemu-system-arm's -D does


@pytest.mark.parametrize("items, message", [
    ("in_asm,bogus", "-d in_asm,bogus: unknown log item 'bogus' (-d help lists them)"),
])
def test_bad_log_item(firmware: Path, items: str, message: str) -> None:
    result = run_pyuser(RUN + [str(firmware / "tick.elf"), "-d", items])
    assert result.returncode == 1
    assert result.stderr.decode() == f"pyuser-system-arm: {message}\n"


def test_log_help() -> None:
    result = run_pyuser(["-d", "help"])
    assert result.returncode == 0
    assert result.stdout.decode().splitlines()[1:] == [
        "in_asm     show target assembly code for each compiled TB",
        "int        show interrupts/exceptions in short format",
        "unimp      log unimplemented functionality",
    ]


def test_unwritable_log_file_is_one_line(firmware: Path, tmp_path: Path) -> None:
    path = tmp_path / "missing" / "log"
    result = run_pyuser(RUN + [str(firmware / "tick.elf"), "-d", "int", "-D", str(path)])
    assert result.returncode == 1
    assert result.stderr.decode() == f"pyuser-system-arm: -D {path}: No such file or directory\n"
