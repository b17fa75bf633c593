"""Guest threads (tests/guest_bins/threads.c) compared with qemu-arm-static."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import pyuser_executable

SCENARIOS = {
    "mutex": "mutex counter=800000\n",
    "atomic": "atomic counter=800000\n",
    "condvar": "condvar sum=500500\n",
    "spin": "spin: flag seen\n",
    "join": "thread 0 returned 50\nthread 1 returned 60\nthread 2 returned 70\n"
            "main tls_value=5\n",
    "blockread": "reader got 5 bytes: hello\nwriter done\n",
    "cancel": "cancelled=1\n",
    "count": "started=10 distinct tids=1\n",
    "kill": "handled on the target thread=1\n",
    "pi": "pi counter=80000\n",
    "membarrier": "membarrier: global=1 expedited=1 register=0 run=0\n",
    "sendfile": "sendfile sent 4194304, offset 4194304, received 4194304\n",
    "flock": "flock: thread locked before the unlock: 0, after: 1\n",
    "fifo": "fifo reader got 4 bytes: fifo\nfifo writer done\n",
    # code rewritten by one thread runs in another (with an engine per thread,
    # aarch64's cache maintenance, which makes no syscall, left the other
    # engine running the old translation)
    "smc": "smc: the other thread runs the code that returns 2\n",
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_threads(guest_bins, assert_same_as_qemu, scenario):
    assert_same_as_qemu([guest_bins / "threads", scenario], stdout=SCENARIOS[scenario],
                        timeout=120)


# How a process ends from a thread other than main: (stdout, exit status)
ENDINGS = {
    "exitgroup": ("thread exits the process\n", 7),   # main spins without syscalls
    "threadsegv": ("thread faults\n", -11),            # main waits in pthread_join
    "mainexit": ("last thread returns\n", 0),          # main called pthread_exit
}


@pytest.mark.parametrize("scenario", sorted(ENDINGS))
def test_process_ends_on_another_thread(guest_bins, assert_same_as_qemu, scenario):
    stdout, status = ENDINGS[scenario]
    assert_same_as_qemu([guest_bins / "threads", scenario], stdout=stdout, returncode=status,
                        timeout=120)


def test_atomics_survive_preemption(guest_bins, run_pyuser):
    """Lock-free increments across threads preempted every millisecond: none lost,
    none doubled (a stop in the middle of ldrex/strex must not replay the store)."""
    for _ in range(3):
        r = run_pyuser([guest_bins / "threads", "atomic"], env={"PYUSER_TIME_SLICE": "0.001"},
                       timeout=120)
        assert (r.stdout, r.returncode) == ("atomic counter=800000\n", 0)


def _peak_rss_mb(argv: list[str]) -> tuple[str, float]:
    """stdout and peak host RSS (MB) of one run of pyuser-arm."""
    proc = subprocess.Popen([str(pyuser_executable("arm")), *argv], stdout=subprocess.PIPE)
    out = proc.stdout.read().decode()  # type: ignore[union-attr]
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    return out, usage.ru_maxrss / 1024


def test_thread_churn_keeps_memory_flat(guest_bins):
    """Nothing of a thread stays after it exits: 300 threads created and joined
    take no more host memory than 20 (one engine per thread kept ~4.4 MB each:
    +1.2 GB)."""
    few_out, few = _peak_rss_mb([str(guest_bins / "threads"), "churn", "20"])
    many_out, many = _peak_rss_mb([str(guest_bins / "threads"), "churn", "300"])
    assert (few_out, many_out) == ("churn 20 threads, sum 210\n",
                                   "churn 300 threads, sum 45150\n")
    assert many - few < 40, f"peak RSS {few:.0f} MB with 20 threads, {many:.0f} MB with 300"
