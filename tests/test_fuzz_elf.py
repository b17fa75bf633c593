"""A slice of tools/fuzz_elf.py: mutated ELF files through every target.

280 mutants (40 per target, over hello, hello-pie and hello-dyn), each in an
unprivileged user + pid + mount namespace with a time limit.  The bar: no
Python traceback, no error of more than one line, and no hang that
qemu-<arch>-static does not show on the same file.  `make fuzz-elf
N=10000` runs the whole fuzzer.
"""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import fuzz_elf  # noqa: E402

SLICE = 280
SEED = 1


def test_fuzz_elf_slice():
    results = fuzz_elf.fuzz(list(fuzz_elf.TRIPLES), SLICE, SEED, jobs=2, timeout=20.0,
                            venv_bin=Path(sys.executable).parent)
    assert len(results) == SLICE
    bad = fuzz_elf.failures(results)
    report = "\n".join(f"{r.seed.target} {r.seed.name} #{r.index} ({r.mutation}): "
                       f"{r.outcome} {r.detail}" for r in bad)
    assert not bad, f"{fuzz_elf.summary(results)}\n{report}"
    # the mutants do reach every outcome a loader should give
    outcomes = {r.outcome for r in results}
    assert {"error", "signal", "exit"} <= outcomes, fuzz_elf.summary(results)
