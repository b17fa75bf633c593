"""Every syscall with hostile arguments: the emulator answers, it never crashes.

tests/guest_bins/hostile calls each syscall number with seven argument
patterns (bad pointers, negative and huge descriptors, ids and sizes) in a
child process of its own.  Linux answers every one with an errno, or kills the
child with a signal where the call is meant to (a sigreturn from a garbage
frame); pyuser must do the same, with no Python traceback.  Run on arm here (it
forks 2,400 children); the other targets were run the same way by hand (the
numbers come from each target's generated table).

The random fuzzer (tools/fuzz_syscalls.py, `make fuzz-syscalls`) runs a slice
here on every target.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build_guest_bins

from pyuser.targets.generated import arm_abi

REPO = Path(__file__).resolve().parent.parent

# Calls whose effect would leave the child: signals to other processes, the
# host's clock, mounts, modules, other processes' scheduling, limits and
# memory, host-wide SysV objects (IPC_RMID of id 0), namespaces; and the mlock
# calls, which would pin the child's whole guest reservation in host memory.
HOST_WIDE = re.compile(
    r"(kill|tkill|tgkill|rt_sigqueueinfo|rt_tgsigqueueinfo|pidfd_send_signal|reboot"
    r"|sethostname|setdomainname|settimeofday|clock_settime.*|adjtimex|clock_adjtime.*|stime"
    r"|mount|umount.*|swapon|swapoff|pivot_root|init_module|finit_module|delete_module"
    r"|kexec.*|perf_event_open|bpf|process_vm_writev|process_vm_readv|prlimit64|setpriority"
    r"|sched_set.*|ioprio_set|migrate_pages|move_pages|process_madvise|process_mrelease"
    r"|syslog|keyctl|add_key|request_key|ipc|msgctl|semctl|shmctl|fsconfig|fsmount|fsopen"
    r"|fspick|move_mount|open_tree|mount_setattr|quotactl.*|acct|vhangup|setrlimit|ptrace"
    r"|landlock.*|setns|unshare|mlock.*|munlock.*)")

# What Linux does to the child: a sigreturn from a garbage frame is SIGSEGV,
# ARM's private breakpoint call is SIGTRAP.
SIGNALLED = {"sigreturn": 11, "rt_sigreturn": 11, "ARM_breakpoint": 5}


def test_hostile_arguments_arm(guest_bins, run_pyuser, tmp_path):
    numbers = {name: nr for name, nr in arm_abi.SYSCALLS.items()
               if not HOST_WIDE.fullmatch(name)}
    got = run_pyuser([guest_bins / "hostile", *map(str, sorted(numbers.values()))],
                     cwd=tmp_path, timeout=600)
    assert "Traceback" not in got.stderr, got.stderr[-3000:]
    assert got.returncode == 0, got.stderr[-3000:]
    expected = "".join(f"nr {numbers[name]} pattern {p}: signal {signo}\n"
                       for name, signo in sorted(SIGNALLED.items(), key=lambda i: numbers[i[0]])
                       for p in range(7))
    assert got.stdout == expected


# --------------------------------------------------------------- the fuzzer
FUZZ_TARGETS = ["arm", "aarch64", "x86_64", "i386", "riscv64", "mipsel", "mips"]
FUZZ_CALLS = 2000  # per target: CI's slice; `make fuzz-syscalls N=100000` is the full run


def test_random_syscalls_on_every_target(tmp_path):
    """A slice of tools/fuzz_syscalls.py: seeded random calls on every target
    in its sandbox, with no traceback and no emulator hang."""
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--pid", "--fork",
                            "--mount-proc", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no unprivileged user+pid namespace here: {probe.stderr.strip()}")
    for target in {*FUZZ_TARGETS, "i386", "x86_64"}:
        build_guest_bins(target)
    summary = tmp_path / "fuzz.json"
    got = subprocess.run(
        [sys.executable, str(REPO / "tools" / "fuzz_syscalls.py"), "--arch", "all",
         "-n", str(FUZZ_CALLS), "--seed", "7", "--json", str(summary)],
        capture_output=True, text=True, timeout=900)
    assert got.returncode == 0, got.stdout + got.stderr
    outcomes = json.loads(summary.read_text())
    assert [o["arch"] for o in outcomes] == FUZZ_TARGETS
    for o in outcomes:
        assert (o["calls"], o["tracebacks"], o["hangs"]) == (FUZZ_CALLS, [], []), got.stdout
