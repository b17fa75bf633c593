#!/usr/bin/env python3
"""Benchmark pyuser against qemu-user and the host itself.

Runs each benchmark under pyuser-<arch>, under qemu-<arch>-static and
natively (where the host can run the same work), takes the median of N
wall-clock runs of each, and prints a table: seconds and the host's peak
resident memory (the ru_maxrss of the run's process tree, from wait4) per
runner, and the ratios pyuser/qemu and pyuser/native.  Then hello's
start-up time, the cost of one syscall (getppid's time less hello's,
divided by the number of calls), and the geometric mean of pyuser/qemu
over the real workloads (the rows marked *).

The rows: the programs of tests/guest_bins/bench (and hello, for start-up
time), a shell script (busybox sh from the Debian sysroot running coreutils
programs) and a python3 script (json, re, hashlib, zlib) from the same
sysroot, tools/make-sysroot.sh's .cache/sysroot-<debian arch>.

A guest exec under qemu-user needs binfmt_misc: for the rows that exec
guest programs, qemu runs inside a private user+mount namespace with its
own binfmt_misc instance, in which qemu-<arch>-static is registered for the
target's ELF files (Linux 6.7 and later give each user namespace its own;
on an older kernel those cells read "no binfmt"); the setup (unshare,
mount, one registration) is part of qemu's time, a few milliseconds.
pyuser needs no binfmt_misc for a guest exec.

    tools/bench.py [--arch arm] [--runs 3] [--only pyuser,qemu,native] [--rows a,b]
                   [--cpu-time]

`make bench` runs it with the project's venv.  The programs are built first
(make -C tests/guest_bins).  Every run's output must be the same as the
reference run's (native, else qemu); a run that fails or differs is
reported, not timed.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUEST_SRC = REPO / "tests" / "guest_bins"
BENCH_SRC = GUEST_SRC / "bench"
GETPPID_CALLS = 1_000_000

# the reference emulator and the CPU model it is told to emulate, per target
# (the same models as tests/conftest.py's ARCHES), and Debian's name for it
QEMU = {
    "arm": ("qemu-arm-static", "cortex-a15"),
    "aarch64": ("qemu-aarch64-static", "cortex-a72"),
    "x86_64": ("qemu-x86_64-static", "max"),
    "i386": ("qemu-i386-static", "max"),
    "riscv64": ("qemu-riscv64-static", "rv64"),
    "mipsel": ("qemu-mipsel-static", "24Kf"),
    "mips": ("qemu-mips-static", "24Kf"),
    "mips64el": ("qemu-mips64el-static", "MIPS64R2-generic"),
    "mips64": ("qemu-mips64-static", "MIPS64R2-generic"),
    "armel": ("qemu-arm-static", "arm926"),
    "s390x": ("qemu-s390x-static", "qemu"),
    "ppc": ("qemu-ppc-static", "7457a"),
    "ppc64": ("qemu-ppc64-static", "power10"),
    "m68k": ("qemu-m68k-static", "m68020"),
}
DEBIAN_ARCH = {"arm": "armhf", "aarch64": "arm64", "x86_64": "amd64", "i386": "i386",
               "riscv64": "riscv64", "mipsel": "mipsel", "mips": "mips"}
RUNNERS = ("pyuser", "qemu", "native")


@dataclass
class Bench:
    name: str
    args: list[str] = field(default_factory=list)
    what: str = ""
    real: bool = False  # a real workload: counts in the geometric mean
    kind: str = "program"  # "program" (tests/guest_bins), "shell" or "python" (sysroot)
    max_runs: int | None = None  # long rows: at most this many runs
    binfmt: bool = False  # the guest execs guest programs (qemu needs binfmt_misc)


SHELL_TURNS = 40  # commands.sh runs five commands a turn
BENCHES = [
    Bench("hello", [], "start-up + one write"),
    Bench("cpuloop", [], "integer loop, ~1 s under qemu"),
    Bench("sieve", [], "sieve over 32 MB", real=True),
    Bench("qsort", [], "qsort of 1M ints"),
    Bench("getppid", [str(GETPPID_CALLS)], f"{GETPPID_CALLS:,} syscalls"),
    Bench("threads4", [], "cpuloop's work over 4 threads"),
    Bench("threadchurn", ["300"], "300 pthread create+join", real=True),
    Bench("forkwait", ["200"], "200 fork+exit+wait"),
    Bench("futexpingpong", ["20000"], "2 threads: 20,000 futex hand-offs"),
    Bench("execchurn", ["100"], "100 fork+exec of a guest prog", real=True, max_runs=1,
          binfmt=True),
    Bench("shell", [str(SHELL_TURNS)], f"busybox sh: {SHELL_TURNS * 5} coreutils cmds",
          real=True, kind="shell", max_runs=1, binfmt=True),
    Bench("python3", [], "python3: json/re/hashlib/zlib 3.5MB", real=True, kind="python"),
]


@dataclass
class Result:
    seconds: float | None = None
    error: str = ""
    stdout: bytes = b""
    max_rss_kib: int = 0


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def binfmt_wrapper(arch: str, qemu: str) -> list[str]:
    """A command prefix: a private user+mount namespace whose own binfmt_misc
    runs the target's ELF files with `qemu`, then exec of the command."""
    sys.path.insert(0, str(REPO))
    from pyuser.binfmt_misc import in_private_namespace, registration_line
    from pyuser.targets import load_target

    magic, mask = load_target(arch).binfmt_magic()
    # F: the interpreter is opened now, so it is found from any mount namespace;
    # P: argv[0] preserved (qemu reads AT_FLAGS_PRESERVE_ARGV0), as pyuser keeps it
    return in_private_namespace(registration_line(f"pyuser-bench-{arch}", magic, mask, qemu,
                                                  "FP"))


@functools.cache
def private_binfmt() -> bool:
    """A binfmt_misc of a user namespace's own (Linux 6.7+); without it qemu
    cannot exec guest programs without touching the host's registrations."""
    sys.path.insert(0, str(REPO))
    from pyuser.binfmt_misc import private_namespace_works

    return private_namespace_works()


def sysroot_of(arch: str, build: bool) -> Path | None:
    """The Debian sysroot of tools/make-sysroot.sh; built for arm if missing."""
    path = REPO / ".cache" / f"sysroot-{DEBIAN_ARCH[arch]}"
    if not (path / ".sysroot-done").exists() and build and arch == "arm":
        subprocess.run(["bash", str(REPO / "tools" / "make-sysroot.sh"), DEBIAN_ARCH[arch]],
                       check=True, stdout=subprocess.DEVNULL)
    return path if (path / ".sysroot-done").exists() else None


def pyuser_exe(arch: str) -> str | None:
    exe = Path(sys.executable).parent / f"pyuser-{arch}"
    if exe.exists():
        return str(exe)
    return shutil.which(f"pyuser-{arch}")


def command_for(bench: Bench, runner: str, arch: str, sysroot: Path | None) -> Command | str:
    """How `runner` runs `bench`, or why it cannot."""
    qemu, cpu = QEMU[arch]
    if runner == "pyuser":
        exe = pyuser_exe(arch)
        if exe is None:
            return "no pyuser"
        prefix = [exe]
    elif runner == "qemu":
        path = shutil.which(qemu)
        if path is None:
            return f"no {qemu}"
        prefix = [path, "-cpu", cpu]
        if bench.binfmt and arch != "x86_64":  # x86_64 guests' execs run natively here
            if not private_binfmt():
                return "no binfmt"  # Linux before 6.7: see private_binfmt
            prefix = binfmt_wrapper(arch, path) + prefix
    else:
        prefix = []
    env: dict[str, str] = {}
    if bench.kind == "program":
        build = GUEST_SRC / "build" / ("native" if runner == "native" else arch)
        return Command([*prefix, str(build / bench.name), *bench.args])
    if sysroot is None:
        return "no sysroot"
    if runner == "native":
        if bench.kind == "python":  # the host's python3: the same script, natively
            return Command(["python3", "-I", str(BENCH_SRC / "pywork.py")])
        return "-"
    sysroot_opts = ["-L", str(sysroot)]
    if runner == "qemu":  # for the programs it execs (binfmt_misc starts qemu bare)
        env = {"QEMU_LD_PREFIX": str(sysroot), "QEMU_CPU": cpu}
    if bench.kind == "shell":
        # commands by their host path (qemu does not look an exec'd path up
        # in the sysroot; pyuser finds the host file when the sysroot has none)
        env["BIN"] = str(sysroot / "usr" / "bin")
        return Command([*prefix, *sysroot_opts, str(sysroot / "bin" / "busybox"), "sh",
                        str(BENCH_SRC / "commands.sh"), *bench.args], env)
    return Command([*prefix, *sysroot_opts, str(sysroot / "usr" / "bin" / "python3"), "-I",
                    str(BENCH_SRC / "pywork.py")], env)


def run_once(cmd: Command, timeout: float, cpu_time: bool = False) -> Result:
    """One run: wall time (or user+system CPU time of the process tree), and
    the peak RSS of the tree (wait4)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        try:
            child = subprocess.Popen(cmd.argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.DEVNULL, env={**os.environ, **cmd.env},
                                     start_new_session=True)
        except OSError as e:
            return Result(error=e.strerror or str(e))
        timer = threading.Timer(timeout, os.killpg, (child.pid, signal.SIGKILL))
        timer.start()
        try:
            _pid, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - t0
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        stdout = out.read()
    if elapsed >= timeout:
        return Result(error=f"timeout>{timeout:g}s")
    if child.returncode != 0:
        return Result(error=f"status {child.returncode}")
    seconds = usage.ru_utime + usage.ru_stime if cpu_time else elapsed
    return Result(seconds=seconds, stdout=stdout, max_rss_kib=usage.ru_maxrss)


def time_runs(cmd: Command, runs: int, timeout: float, cpu_time: bool = False) -> Result:
    results = []
    for _ in range(runs):
        r = run_once(cmd, timeout, cpu_time)
        if r.seconds is None:
            return r
        results.append(r)
    median = statistics.median(r.seconds for r in results)  # type: ignore[misc]
    return Result(seconds=median, stdout=results[-1].stdout,
                  max_rss_kib=max(r.max_rss_kib for r in results))


def fmt_time(r: Result | None) -> str:
    if r is None:
        return "-"
    if r.seconds is None:
        return r.error
    return f"{r.seconds:.3f}"


def fmt_rss(r: Result | None) -> str:
    if r is None or r.seconds is None:
        return ""
    return f"{r.max_rss_kib / 1024:.0f}"


def ratio(a: Result | None, b: Result | None) -> float | None:
    if a is None or b is None or a.seconds is None or b.seconds is None or b.seconds == 0:
        return None
    return a.seconds / b.seconds


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="arm",
                    help=f"target(s), comma-separated, or 'all' ({', '.join(QEMU)})")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    ap.add_argument("--only", default="pyuser,qemu,native",
                    help="comma-separated runners to measure (pyuser, qemu, native)")
    ap.add_argument("--rows", default="",
                    help=f"comma-separated rows (default all: {', '.join(b.name for b in BENCHES)})")
    ap.add_argument("--no-build", action="store_true", help="do not run make first")
    ap.add_argument("--cpu-time", action="store_true",
                    help="report user+system CPU time of each run's process tree instead of "
                         "wall time (steadier on a busy machine; blind to time spent waiting)")
    opts = ap.parse_args()
    only = {s.strip() for s in opts.only.split(",") if s.strip()}
    if not only <= set(RUNNERS):
        ap.error(f"unknown runner in --only: {opts.only}")
    names = [s.strip() for s in opts.rows.split(",") if s.strip()]
    unknown_rows = [n for n in names if n not in {b.name for b in BENCHES}]
    if unknown_rows:
        ap.error(f"unknown row(s): {', '.join(unknown_rows)}")
    benches = [b for b in BENCHES if not names or b.name in names]

    arches = list(QEMU) if opts.arch == "all" else [a.strip() for a in opts.arch.split(",")]
    unknown = [a for a in arches if a not in QEMU]
    if unknown:
        ap.error(f"unknown target(s): {', '.join(unknown)}")
    for arch in arches:
        status = bench_arch(opts, arch, only, benches)
        if status:
            return status
    return 0


def bench_arch(opts: argparse.Namespace, arch: str, only: set[str],
               benches: list[Bench]) -> int:
    """Build, run and print the table for one target."""
    if not opts.no_build:
        subprocess.run(["make", "-s", "-C", str(GUEST_SRC), f"ARCH={arch}"], check=True)
    needs_sysroot = any(b.kind != "program" for b in benches)
    sysroot = sysroot_of(arch, not opts.no_build) if needs_sysroot else None
    order = [r for r in RUNNERS if r in only]
    results: dict[str, dict[str, Result | None]] = {}
    for b in benches:
        row: dict[str, Result | None] = {}
        for name in order:
            cmd = command_for(b, name, arch, sysroot)
            if isinstance(cmd, str):
                row[name] = None if cmd == "-" else Result(error=cmd)
                continue
            runs = min(opts.runs, b.max_runs or opts.runs)
            print(f"  {b.name:<13} {name:<6} ...", end="", file=sys.stderr, flush=True)
            row[name] = time_runs(cmd, runs, opts.timeout, opts.cpu_time)
            print(f" {fmt_time(row[name])}", file=sys.stderr)
        # every runner must print what the reference prints (native, else qemu)
        ref = next((row[n] for n in ("native", "qemu", "pyuser")
                    if row.get(n) is not None and row[n].seconds is not None), None)
        for r in row.values():
            if r and r.seconds is not None and ref and r.stdout != ref.stdout:
                r.seconds, r.error = None, "wrong output"
        results[b.name] = row

    print()
    clock = "CPU-time (user+system)" if opts.cpu_time else "wall-clock"
    print(f"median of {opts.runs} {clock} runs (rows with one run: execchurn, shell), "
          f"seconds and peak host RSS in MiB ({arch} guest); * = real workload")
    head = f"{'benchmark':<15}{'what':<37}"
    for name in order:
        head += f"{name:>10}{'MiB':>6}"
    head += f"{'pyuser/qemu':>13}{'pyuser/native':>15}"
    print(head)
    print("-" * len(head))
    real_ratios = []
    for b in benches:
        row = results[b.name]
        mark = "*" if b.real else " "
        line = f"{mark}{b.name:<14}{b.what:<37}"
        for name in order:
            line += f"{fmt_time(row[name]):>10}{fmt_rss(row[name]):>6}"
        vs_qemu = ratio(row.get("pyuser"), row.get("qemu"))
        line += f"{fmt_ratio(vs_qemu):>13}"
        line += f"{fmt_ratio(ratio(row.get('pyuser'), row.get('native'))):>15}"
        print(line)
        if b.real and vs_qemu is not None:
            real_ratios.append(vs_qemu)

    print()
    if arch == "x86_64" and any(b.binfmt for b in benches):
        print("x86_64: the programs qemu's guest execs run natively (a binfmt_misc entry for "
              "the host's own format would send qemu to itself): those rows flatter qemu.")
    if real_ratios:
        mean = math.exp(sum(math.log(r) for r in real_ratios) / len(real_ratios))
        print(f"geometric mean pyuser/qemu over the {len(real_ratios)} real workloads: "
              f"{mean:.2f}x")
    for name in order:
        hello = results.get("hello", {}).get(name)
        calls = results.get("getppid", {}).get(name)
        if hello is None or hello.seconds is None:
            continue
        per_call = "-"
        if calls is not None and calls.seconds is not None:
            per_call = f"{(calls.seconds - hello.seconds) / GETPPID_CALLS * 1e6:.2f} µs"
        print(f"{name:<7} hello start-up: {hello.seconds * 1000:8.1f} ms   "
              f"per syscall (getppid): {per_call}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
