"""`-d cpu` (registers before each block) and `-d nochain` (each block
dispatched from the CPU loop), on every target."""

from __future__ import annotations

import re

import pytest
from conftest import ARCHES, build_guest_bins, run_pyuser
from elftools.elf.elffile import ELFFile

ALL = list(ARCHES)
PC_NAME = {"arm": "PC", "aarch64": "PC", "x86_64": "RIP", "i386": "EIP", "riscv64": "PC",
           "mipsel": "PC", "mips": "PC"}


@pytest.mark.parametrize("arch", ALL)
def test_d_cpu_dumps_registers_before_each_block(arch):
    program = build_guest_bins(arch) / "gdbtarget"
    run = run_pyuser(["-d", "cpu,exec", program], arch)
    assert run.returncode == 7 and run.stdout == "gdbtarget\n"
    traces = re.findall(r"^Trace: \[([0-9a-f]+)\]$", run.stderr, re.M)
    pcs = re.findall(rf"\b{PC_NAME[arch]} *=([0-9a-f]+)", run.stderr)
    # one dump per block, each with the PC of the block that follows it
    assert len(pcs) == len(traces) > 100
    assert [int(p, 16) for p in pcs] == [int(t, 16) for t in traces]
    with open(program, "rb") as f:
        entry = ELFFile(f).header.e_entry
    assert int(pcs[0], 16) == entry & ~1


def test_d_cpu_shows_a_syscall_result():
    """arm hello-pie: before its second block, r0 holds write's result (14)."""
    run = run_pyuser(["-d", "cpu", build_guest_bins("arm") / "hello-pie"])
    dumps = re.findall(r"^R0  =([0-9a-f]{8})", run.stderr, re.M)
    assert dumps == ["00000000", "0000000e"], run.stderr


@pytest.mark.parametrize("arch", ALL)
def test_d_nochain_runs_the_same_blocks(arch):
    bins = build_guest_bins(arch)
    nochain = run_pyuser(["-d", "nochain", bins / "gdbtarget", "threads"], arch)
    assert (nochain.returncode, nochain.stdout) == (7, "started\n")
    single = run_pyuser(["-d", "exec", bins / "gdbtarget"], arch)
    unchained = run_pyuser(["-d", "nochain,exec", bins / "gdbtarget"], arch)
    assert unchained.returncode == single.returncode == 7
    assert re.findall(r"Trace: \S+", unchained.stderr) == re.findall(r"Trace: \S+", single.stderr)
