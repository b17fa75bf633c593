"""Guest signal handling (tests/guest_bins/signals.c), each scenario compared with
qemu-arm-static and checked against the literal output it must print."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

SCENARIOS = {
    "segv-mprotect": (
        "handler: sig=11 code=2 addr_is_page=1\nafter store: 42 hits=0\n", 0),
    "siglongjmp": (
        "".join(f"jumped out {i} with 11, SIGSEGV blocked=0\n" for i in range(3)), 0),
    "altstack": ("overflow caught: sig=11 on altstack=1 flags_onstack=1\n", 0),
    "alarm": ("pause returned -1 errno=EINTR hits=1\n", 0),
    "itimer": ("ticks=5\n", 0),
    "restart": ("SA_RESTART=0 read=-1 errno=EINTR hits=1\n"
                "SA_RESTART=1 read=1 errno=- hits=2\n", 0),
    "siginfo": ("sig=11 code=1 addr=0x1234 pc_is_fault_insn=1\n"
                "resumed after the faulting instruction\n", 0),
    "mask-vfp": ("in handler: USR1 blocked=1 USR2 blocked=1\n"
                 "after: USR1 blocked=0 USR2 blocked=0 d8 kept=1\n", 0),
    "sigpipe": ("ignored: write=-1 errno=EPIPE\n", -signal.SIGPIPE),
    "queue": ("1100 1101 1102 2100 2101 2102 \ncode_is_queue=1\n", 0),
    "sigsuspend": ("pending before: hits=0\nsigpending has USR1=1\n"
                   "sigsuspend=-1 errno=EINTR hits=1 USR1 blocked again=1\n", 0),
    "thumb": ("thumb handler sig=10\narm handler sig=12\nthumb handler sig=10\n"
              "back in main\n", 0),
    # 2,000 one-shot POSIX timer expirations, each a real-time signal with its value
    "rt-timer": ("rt timer: 2000 signals, bad values=0\n", 0),
    "fork-kill": ("child: got signal 10 from the parent\nparent: child exited=1 status=7\n"
                  "parent: child signaled=1 by 15\nparent: child signaled=1 by 11\n", 0),
    "signalfd": ("empty read=-1 errno=EAGAIN\npoll=1 revents_in=1\n"
                 "signo=10 is_usr1=1 code_is_queue=0 int=0 pid_ok=1\n"
                 "signo=37 is_usr1=0 code_is_queue=1 int=31337 pid_ok=1\npoll after=0\n", 0),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_signal_scenario(guest_bins, assert_same_as_qemu, scenario):
    stdout, status = SCENARIOS[scenario]
    assert_same_as_qemu([guest_bins / "signals", scenario], stdout=stdout, returncode=status,
                        timeout=60)


CORE = {signal.SIGQUIT: "Quit", signal.SIGILL: "Illegal instruction",
        signal.SIGTRAP: "Trace/breakpoint trap", signal.SIGABRT: "Aborted",
        signal.SIGBUS: "Bus error", signal.SIGFPE: "Floating point exception",
        signal.SIGSEGV: "Segmentation fault"}


@pytest.mark.parametrize("signo", sorted(CORE))
def test_default_core_death(guest_bins, assert_same_as_qemu, run_qemu, tmp_path, signo):
    """raise() of a core-dumping signal with the default action: the message, then
    the emulator dies of the same signal (status 128+N in a shell)."""
    prog = [guest_bins / "signals", "raise", str(int(signo))]
    ref = run_qemu(prog, cwd=tmp_path)
    assert ref.stderr == f"qemu: uncaught target signal {int(signo)} ({CORE[signo]}) - core dumped\n"
    assert_same_as_qemu(
        prog, cwd=tmp_path, stdout=f"raising {int(signo)}\n", returncode=-signo,
        stderr=f"pyuser: uncaught target signal {int(signo)} ({CORE[signo]}) - core dumped\n")


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP])
def test_default_terminating_death(guest_bins, assert_same_as_qemu, signo):
    """Terminating, non-core signals end the process quietly, by that signal."""
    assert_same_as_qemu([guest_bins / "signals", "raise", str(int(signo))],
                        stdout=f"raising {int(signo)}\n", returncode=-signo, stderr="")


@pytest.mark.parametrize("signo", [signal.SIGCHLD, signal.SIGWINCH, signal.SIGURG])
def test_default_ignored(guest_bins, assert_same_as_qemu, signo):
    assert_same_as_qemu([guest_bins / "signals", "raise", str(int(signo))],
                        stdout=f"raising {int(signo)}\nsurvived\n", returncode=0)


def test_host_signal_reaches_a_spinning_guest(guest_bins, emulator_command):
    """A SIGTERM from outside ends a guest that computes without syscalls."""
    proc = subprocess.Popen([*emulator_command("pyuser"), str(guest_bins / "cpuloop"),
                             "100000000000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert err == b""


def test_exec_keeps_mask_and_ignored(guest_bins, run_pyuser):
    """execve (of the guest itself, through /proc/self/exe: pyuser runs it with no
    binfmt_misc, which qemu-user cannot) keeps the blocked mask and SIG_IGN, and
    resets handlers to the default."""
    r = run_pyuser([guest_bins / "signals", "exec-mask"])
    assert (r.stdout, r.returncode) == (
        "before exec\nafter exec: USR1 blocked=1 USR2 ignored=1 TERM default=1\n", 0)


def test_signal_reaches_a_computing_guest_without_timers(guest_bins, emulator_command):
    """A handler, no timer, no thread: pyuser installs no block hooks (speed), so
    an outside signal reaches a loop without syscalls through the one-time
    fallback stop (pyuser.signals.FALLBACK_DELAY)."""
    proc = subprocess.Popen([*emulator_command("pyuser"), str(guest_bins / "signals"),
                             "spin-usr1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline() == "spinning\n"
    proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=30)
    assert (out, err, proc.returncode) == ("handler ran, loop left\n", "", 0)
