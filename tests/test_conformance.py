"""Kernel behaviour outside conformance programs and the syscall fuzzer found
different from Linux (tests/guest_bins/conformance.c), on every target.

The reference is Linux itself: the i386 build run natively on the x86_64 host
must print the literal below, and so must pyuser on each target.  qemu-user
7.2 is no reference here: it answers restart_syscall with ENOSYS and refuses
to send MIPS signals above 64.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import build_guest_bins

SCENARIOS = ["times", "restart", "signals", "dontneed", "fuzzed"]
TARGETS = ["arm", "aarch64", "x86_64", "i386", "riscv64", "mipsel", "mips"]

EXPECTED = """\
utime(path, NULL): 0 ok, times now: yes
utimes(path, NULL): 0 ok, times now: yes
futimesat(AT_FDCWD, path, NULL): 0 ok, times now: yes
futimesat(fd, NULL, NULL): 0 ok, times now: yes
utimes(NULL, NULL): -1 EFAULT
utimensat(AT_FDCWD, path, NULL, 0): 0 ok, times now: yes
utimensat(fd, NULL, NULL, 0): 0 ok, times now: yes
restart_syscall with nothing to restart: -1 EINTR
signal 0: rt_sigaction -1 EINVAL, rt_sigqueueinfo 0 ok
signal _NSIG + 1: rt_sigaction -1 EINVAL, kill -1 EINVAL, tgkill -1 EINVAL, \
rt_sigqueueinfo -1 EINVAL
signal _NSIG - 1: rt_sigaction(query) 0 ok, handler installed 0 ok
signal _NSIG: rt_sigaction(query) 0 ok, handler installed 0 ok
block _NSIG: 0 ok
kill(self, _NSIG) while blocked: 0 ok, pending yes (0), hits 0
unblocked: hits 1, signo right
tgkill(self, _NSIG): 0 ok, hits 1, signo right
rt_sigqueueinfo(self, _NSIG, value 42): 0 ok, value 42, code SI_QUEUE, hits 1, signo right
rt_sigtimedwait for _NSIG: _NSIG, si_signo right
signalfd for _NSIG: read 128 bytes, ssi_signo right
hits after all: 0
private file mapping: madvise 0 ok, first page reads 'f', second 'g'
private anonymous mapping: madvise 0 ok, first page reads 97, second 0
shared anonymous mapping: madvise 0 ok, reads 's'
range with a hole: madvise -1 ENOMEM, first page reads 0
unaligned start: madvise -1 EINVAL
mremap of a private mapping with old_size 0: EINVAL
clock_nanosleep on the thread's CPU clock: -1 EOPNOTSUPP
msgrcv(-1, ..., 1 GiB): -1 EINVAL
open of a FIFO with no reader, SIGALRM after 200 ms: -1 EINTR
"""


def test_linux_prints_the_literal(tmp_path):
    native = subprocess.run([build_guest_bins("i386") / "conformance", *SCENARIOS],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            stdin=subprocess.DEVNULL)
    assert (native.stdout, native.returncode) == (EXPECTED, 0), native.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_conformance(target, run_pyuser, tmp_path):
    got = run_pyuser([build_guest_bins(target) / "conformance", *SCENARIOS], target,
                     cwd=tmp_path, timeout=60)
    assert "Traceback" not in got.stderr, got.stderr
    assert (got.stdout, got.returncode) == (EXPECTED, 0), got.stderr
