"""pyuser under a lowered RLIMIT_AS (`ulimit -v`), set in the child.

The guest reservation is 2 GiB (mips, mipsel), 3 GiB (arm, i386), 4 GiB
(aarch64, shrunk down to 2 GiB to fit a limit) or 64 GiB (x86_64, riscv64)
of host address space; the translation buffer is cut to what the limit
leaves.  Where both fit the program runs;
where the reservation does not, one line on stderr and status 1, never a
traceback or Unicorn's bare "Could not allocate dynamic translator buffer".
"""

from __future__ import annotations

import resource
import subprocess

import pytest
from conftest import ARCHES, GUEST_SRC, run_pyuser

GIB = 1 << 30
HELLO = "Hello, world!\n"

# (target, RLIMIT_AS in GiB, whether hello runs)
CASES = [
    ("arm", 2, False), ("arm", 4, True), ("arm", 6, True),
    ("i386", 2, False), ("i386", 4, True),
    ("mipsel", 2, False), ("mipsel", 3, True),
    ("mips", 4, True),
    ("aarch64", 3, False), ("aarch64", 4, True), ("aarch64", 6, True),
    ("x86_64", 4, False), ("x86_64", 16, False), ("x86_64", 66, True),
    ("riscv64", 6, False), ("riscv64", 66, True),
]


def program(arch: str, name: str):
    path = GUEST_SRC / "build" / arch / name
    proc = subprocess.run(["make", "-s", "-C", str(GUEST_SRC), f"ARCH={arch}",
                           f"CROSS={ARCHES[arch]['cross']}", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return path


def limited(gib: float):
    size = int(gib * GIB)
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (size, size))


@pytest.mark.parametrize("arch,gib,runs", CASES, ids=[f"{a}-{g}G" for a, g, _ in CASES])
def test_hello_under_address_space_limit(arch, gib, runs):
    r = run_pyuser([program(arch, "hello")], arch, preexec_fn=limited(gib))
    assert "Traceback" not in r.stderr, r.stderr
    if runs:
        assert (r.returncode, r.stdout, r.stderr) == (0, HELLO, "")
    else:
        assert r.returncode == 1, (r.returncode, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith(f"pyuser-{arch}: cannot reserve ")
        assert f"under ulimit -v (RLIMIT_AS) of {gib} GiB" in lines[0]


def test_translation_buffer_left_no_room():
    """The reservation fits but nothing is left for code: one line, not
    Unicorn's own message (3 GiB of arm guest in 3.15 GiB)."""
    r = run_pyuser([program("arm", "hello")], "arm", preexec_fn=limited(3.15))
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.splitlines() == [
        "pyuser-arm: no host address space left for a translation buffer "
        "(ulimit -v, RLIMIT_AS, is 3225 MiB)"]


@pytest.mark.parametrize("arch,scenario", [("arm", "count"), ("aarch64", "count"),
                                           ("aarch64", "mutex")])
def test_threads_under_limit(arch, scenario):
    """Guest threads, each with an engine of its own, within 4 GiB (aarch64's
    guest space shrunk to leave them room); the same output as unlimited."""
    threads = program(arch, "threads")
    r = run_pyuser([threads, scenario], arch, preexec_fn=limited(4))
    unlimited = run_pyuser([threads, scenario], arch)
    assert "Traceback" not in r.stderr, r.stderr
    assert (r.returncode, r.stdout) == (unlimited.returncode, unlimited.stdout)
    assert r.returncode == 0


def test_shrunk_aarch64_space_keeps_signals_and_dynamic_programs():
    """Within 4 GiB aarch64's space is shrunk: the vDSO's sigreturn page and
    the stack move down with it; signal frames and ld.so still work."""
    for scenario in ("siginfo", "altstack", "queue"):
        argv = [program("aarch64", "signals"), scenario]
        signals = run_pyuser(argv, "aarch64", preexec_fn=limited(4))
        assert (signals.returncode, signals.stdout) == (0, run_pyuser(argv, "aarch64").stdout)
    dyn = run_pyuser(["-L", "/usr/aarch64-linux-gnu", program("aarch64", "hello-dyn")],
                     "aarch64", preexec_fn=limited(4))
    assert (dyn.returncode, dyn.stdout, dyn.stderr) == (0, HELLO, "")
