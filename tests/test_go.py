"""Go programs (GOARCH=arm GOARM=7, static, built with Debian's golang-go): many
OS threads, futexes, signals for goroutine preemption, timers, the GC, signals
to every thread (syscall.AllThreadsSyscall) and a CPU profile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

GUEST_SRC = Path(__file__).resolve().parent / "guest_bins"

EXPECTED = {
    "goroutines": "total=15149600 counter=16000 gomaxprocs=4\n",
    "ticker": "ticks=5 elapsed>=70ms:true\n",
    "gc": "sums=[5000160 5000160 5000160 5000160] gc_ran=true\n",
    # a signal to every thread while one blocks in a host read (it hung: the
    # kick that ends the read could land just before it and be lost)
    "allthreads": "setuid=20/20 read=1\n",
    # per-thread SIGPROF timers (SIGEV_THREAD_ID): no samples before, the
    # signal stayed pending on the emulator's main host thread
    "cpuprofile": "profile names main.burn: true\n",
}


@pytest.fixture(scope="session")
def go_bins(guest_bins):
    r = subprocess.run(["make", "-C", str(GUEST_SRC), "go"], capture_output=True, text=True,
                       timeout=900)
    if r.returncode != 0:
        pytest.fail(f"building the Go guest programs failed:\n{r.stdout}\n{r.stderr}",
                    pytrace=False)
    return guest_bins / "go"


@pytest.mark.parametrize("program", sorted(EXPECTED))
def test_go_program(go_bins, assert_same_as_qemu, program):
    assert_same_as_qemu([go_bins / program], stdout=EXPECTED[program], timeout=300)
