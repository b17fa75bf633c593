"""Misaligned exclusive and atomic accesses (tests/guest_bins/alignment.c):
the signal Linux gives, on every target.

arm and aarch64: SIGBUS BUS_ADRALN at the address, as qemu-user 7.2 also
gives.  riscv64: Linux reports the trap's PC as si_addr (qemu gives the
address); MIPS: a bare SIGBUS with si_code SI_KERNEL (qemu gives BUS_ADRALN);
for those the literal, taken from the kernel source cited in alignment.c, is
the reference (MIPS also emulates misaligned plain loads and stores).  x86: no signal, natively and under qemu.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import build_guest_bins

EXPECTED = {
    "arm": "ldrex at +1: SIGBUS BUS_ADRALN, si_addr the address\n"
           "ldrex at +2: SIGBUS BUS_ADRALN, si_addr the address\n"
           "ldrexh at +1: SIGBUS BUS_ADRALN, si_addr the address\n"
           "ldrexd at +4: SIGBUS BUS_ADRALN, si_addr the address\n",
    "aarch64": "ldxr at +1: SIGBUS BUS_ADRALN, si_addr the address\n"
               "ldxr at +4: SIGBUS BUS_ADRALN, si_addr the address\n"
               "ldaxr at +2: SIGBUS BUS_ADRALN, si_addr the address\n"
               "ldxp at +8: SIGBUS BUS_ADRALN, si_addr the address\n",
    "riscv64": "lr.w at +1: SIGBUS BUS_ADRALN, si_addr the pc\n"
               "lr.d at +4: SIGBUS BUS_ADRALN, si_addr the pc\n"
               "amoadd.w at +1: SIGBUS BUS_ADRALN, si_addr the pc\n"
               "amoswap.d at +4: SIGBUS BUS_ADRALN, si_addr the pc\n",
    "mipsel": "ll at +1: SIGBUS SI_KERNEL, si_addr 0\n"
              "ll at +2: SIGBUS SI_KERNEL, si_addr 0\n"
              "lw at +1: no signal\n"
              "lh at +3: no signal\n"
              "sw at +5: no signal\n"
              "sh at +11: no signal\n"
              "lw at +8190: SIGSEGV SI_KERNEL, si_addr 0\n"
              "lw at +1 reads the bytes there: yes\n"
              "lh at +3 reads the bytes there, sign-extended: yes\n"
              "sw at +5 wrote 0x11223344: yes, sh at +11 wrote 0x5566: yes\n",
    "x86_64": "lock cmpxchg at +1: no signal\nlock cmpxchg at +4094: no signal\n",
}
EXPECTED["mips"] = EXPECTED["mipsel"]
EXPECTED["i386"] = EXPECTED["x86_64"]
QEMU_AGREES = {"arm", "aarch64", "x86_64", "i386"}
_MIPS_ADDRESS_ERROR = (
    "Unicorn 2.1 reports a MIPS address error (AdEL/AdES) with a stale PC (the last "
    "syscall's) and no BadVAddr, so pyuser can neither tell ll/sc (Linux: SIGBUS) from a "
    "plain load or store (Linux emulates it) nor emulate one; it gives SIGSEGV")


def _params() -> list:
    return [pytest.param(t, marks=[pytest.mark.xfail(reason=_MIPS_ADDRESS_ERROR, strict=True)]
                         if t in ("mipsel", "mips") else [], id=t) for t in sorted(EXPECTED)]


@pytest.mark.parametrize("target", _params())
def test_misaligned_exclusive_access(target, run_pyuser, assert_same_as_qemu):
    program = build_guest_bins(target) / "alignment"
    if target in QEMU_AGREES:
        assert_same_as_qemu([program], target, stdout=EXPECTED[target])
    else:
        got = run_pyuser([program], target)
        assert (got.stdout, got.returncode) == (EXPECTED[target], 0), got.stderr


@pytest.mark.parametrize("target", ["x86_64", "i386"])
def test_linux_gives_no_signal_on_x86(target):
    native = subprocess.run([build_guest_bins(target) / "alignment"], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert (native.stdout, native.returncode) == (EXPECTED[target], 0)
