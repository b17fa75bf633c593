"""`-d cpu` (registers before each block) and `-d nochain` (each block
dispatched from the CPU loop), on every target."""

from __future__ import annotations

import re

import pytest
from conftest import ARCHES, build_guest_bins, run_pyuser
from elftools.elf.elffile import ELFFile

ALL = list(ARCHES)
# where each dump (in qemu's layout for the CPU) shows the PC
PC_FIELD = {"arm": r"R15=", "aarch64": r" PC=", "x86_64": r"RIP=", "i386": r"EIP=",
            "riscv64": r"^ pc +", "mipsel": r"^pc=0x", "mips": r"^pc=0x", "mips64el": r"^pc=0x",
            "mips64": r"^pc=0x", "armel": r"R15=", "s390x": r"^PSW=mask \S+ addr ",
            "ppc": r"^NIP ", "ppc64": r"^NIP ", "m68k": r"^PC = "}


@pytest.mark.parametrize("arch", ALL)
def test_d_cpu_dumps_registers_before_each_block(arch):
    program = build_guest_bins(arch) / "gdbtarget"
    run = run_pyuser(["-d", "cpu,exec", program], arch)
    assert run.returncode == 7 and run.stdout == "gdbtarget\n"
    traces = re.findall(r"^Trace: \[([0-9a-f]+)\]$", run.stderr, re.M)
    pcs = re.findall(PC_FIELD[arch] + r"([0-9a-f]+)", run.stderr, re.M)
    # one dump per block, each with the PC of the block that follows it
    assert len(pcs) == len(traces) > 100
    assert [int(p, 16) for p in pcs] == [int(t, 16) for t in traces]
    with open(program, "rb") as f:
        elf = ELFFile(f)
        entry = elf.header.e_entry
        if arch == "ppc64":  # ELFv1: e_entry is a function descriptor {entry, TOC}
            opd = elf.get_section_by_name(".opd")
            f.seek(opd["sh_offset"] + entry - opd["sh_addr"])
            entry = int.from_bytes(f.read(8), "big")
    assert int(pcs[0], 16) == entry & ~1


def test_d_cpu_shows_a_syscall_result():
    """arm hello-pie: qemu-arm's layout, and before the second block r0 holds
    write's result (14), r7 the syscall number (4), PSR Thumb in user mode."""
    run = run_pyuser(["-d", "cpu", build_guest_bins("arm") / "hello-pie"])
    dumps = run.stderr.splitlines()[:5]  # the first dump
    assert [line[:4] for line in dumps] == ["R00=", "R04=", "R08=", "R12=", "PSR="], run.stderr
    assert dumps[-1] == "PSR=00000030 ---- T usr32", run.stderr
    assert re.findall(r"^R00=([0-9a-f]{8})", run.stderr, re.M) == ["00000000", "0000000e"]
    assert re.findall(r"R07=([0-9a-f]{8})", run.stderr) == ["00000000", "00000004"]


@pytest.mark.parametrize("arch", ALL)
def test_d_nochain_runs_the_same_blocks(arch):
    bins = build_guest_bins(arch)
    nochain = run_pyuser(["-d", "nochain", bins / "gdbtarget", "threads"], arch)
    assert (nochain.returncode, nochain.stdout) == (7, "started\n")
    single = run_pyuser(["-d", "exec", bins / "gdbtarget"], arch)
    unchained = run_pyuser(["-d", "nochain,exec", bins / "gdbtarget"], arch)
    assert unchained.returncode == single.returncode == 7
    assert re.findall(r"Trace: \S+", unchained.stderr) == re.findall(r"Trace: \S+", single.stderr)
