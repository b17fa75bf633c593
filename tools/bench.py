#!/usr/bin/env python3
"""Benchmark pyuser against qemu-user and the host itself.

Runs each benchmark program of tests/guest_bins/bench (and hello, for
start-up time) under pyuser-<arch>, under qemu-<arch>-static and natively,
takes the median of N wall-clock runs of each, and prints a table with the
ratios pyuser/qemu and pyuser/native, then hello's start-up time and the
cost of one syscall (getppid's time less hello's, divided by the number of
calls).

    tools/bench.py [--runs 3] [--only pyuser,qemu,native] [--timeout 600]

`make bench` runs it with the project's venv.  The programs are built first
(make -C tests/guest_bins).  Every run's output must be the same as the
native one; a run that fails or differs is reported, not timed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUEST_SRC = REPO / "tests" / "guest_bins"
GETPPID_CALLS = 1_000_000

# the reference emulator and the CPU model it is told to emulate, per target
# (the same models as tests/conftest.py's ARCHES)
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
}


@dataclass
class Bench:
    name: str
    args: list[str] = field(default_factory=list)
    what: str = ""


BENCHES = [
    Bench("hello", [], "start-up + one write"),
    Bench("cpuloop", [], "integer loop, ~1 s under qemu"),
    Bench("sieve", [], "sieve over 32 MB"),
    Bench("qsort", [], "qsort of 1M ints"),
    Bench("getppid", [str(GETPPID_CALLS)], f"{GETPPID_CALLS:,} syscalls"),
    Bench("threads4", [], "cpuloop's work over 4 threads"),
]


@dataclass
class Result:
    seconds: float | None = None
    error: str = ""
    stdout: bytes = b""


def runners(arch: str, only: set[str]) -> dict[str, list[str] | None]:
    """Command prefix for each runner; None when it is not available."""
    out: dict[str, list[str] | None] = {}
    if "native" in only:
        out["native"] = []
    if "qemu" in only:
        qemu, cpu = QEMU[arch]
        path = shutil.which(qemu)
        out["qemu"] = [path, "-cpu", cpu] if path else None
    if "pyuser" in only:
        exe = Path(sys.executable).parent / f"pyuser-{arch}"
        if not exe.exists():
            found = shutil.which(f"pyuser-{arch}")
            exe = Path(found) if found else None
        out["pyuser"] = [str(exe)] if exe else None
    return out


def time_one(cmd: list[str], runs: int, timeout: float) -> Result:
    times = []
    stdout = b""
    for _ in range(runs):
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Result(error=f"timeout>{timeout:g}s")
        except OSError as e:
            return Result(error=e.strerror or str(e))
        elapsed = time.perf_counter() - t0
        if p.returncode != 0:
            return Result(error=f"status {p.returncode}")
        times.append(elapsed)
        stdout = p.stdout
    return Result(seconds=statistics.median(times), stdout=stdout)


def fmt_time(r: Result | None) -> str:
    if r is None:
        return "n/a"
    if r.seconds is None:
        return r.error
    return f"{r.seconds:.3f}"


def fmt_ratio(a: Result | None, b: Result | None) -> str:
    if a is None or b is None or a.seconds is None or b.seconds is None or b.seconds == 0:
        return "-"
    return f"{a.seconds / b.seconds:.1f}x"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="arm",
                    help=f"target(s), comma-separated, or 'all' ({', '.join(QEMU)})")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    ap.add_argument(
        "--only",
        default="pyuser,qemu,native",
        help="comma-separated runners to measure (pyuser, qemu, native)",
    )
    ap.add_argument("--no-build", action="store_true", help="do not run make first")
    opts = ap.parse_args()
    only = {s.strip() for s in opts.only.split(",") if s.strip()}
    if not only <= {"pyuser", "qemu", "native"}:
        ap.error(f"unknown runner in --only: {opts.only}")

    arches = list(QEMU) if opts.arch == "all" else [a.strip() for a in opts.arch.split(",")]
    unknown = [a for a in arches if a not in QEMU]
    if unknown:
        ap.error(f"unknown target(s): {', '.join(unknown)}")
    for arch in arches:
        opts.arch = arch
        status = bench_arch(opts, only)
        if status:
            return status
    return 0


def bench_arch(opts: argparse.Namespace, only: set[str]) -> int:
    """Build, run and print the table for one target."""
    if not opts.no_build:
        subprocess.run(["make", "-s", "-C", str(GUEST_SRC), f"ARCH={opts.arch}"], check=True)
    guest_dir = GUEST_SRC / "build" / opts.arch
    native_dir = GUEST_SRC / "build" / "native"

    prefixes = runners(opts.arch, only)
    order = [r for r in ("pyuser", "qemu", "native") if r in prefixes]
    results: dict[str, dict[str, Result | None]] = {}
    for b in BENCHES:
        row: dict[str, Result | None] = {}
        for name in order:
            prefix = prefixes[name]
            if prefix is None:
                row[name] = None
                continue
            prog = (native_dir if name == "native" else guest_dir) / b.name
            print(f"  {b.name:<8} {name:<6} ...", end="", file=sys.stderr, flush=True)
            row[name] = time_one([*prefix, str(prog), *b.args], opts.runs, opts.timeout)
            print(f" {fmt_time(row[name])}", file=sys.stderr)
        # Every runner must print what the native program prints.
        ref = row.get("native") or next((r for r in row.values() if r and r.seconds), None)
        for r in row.values():
            if r and r.seconds is not None and ref and ref.seconds is not None:
                if r.stdout != ref.stdout:
                    r.seconds, r.error = None, "wrong output"
        results[b.name] = row

    print()
    print(f"median of {opts.runs} wall-clock runs, seconds ({opts.arch} guest)")
    head = f"{'benchmark':<10}{'what':<30}"
    for name in order:
        head += f"{name:>12}"
    head += f"{'pyuser/qemu':>13}{'pyuser/native':>15}"
    print(head)
    print("-" * len(head))
    for b in BENCHES:
        row = results[b.name]
        line = f"{b.name:<10}{b.what:<30}"
        for name in order:
            line += f"{fmt_time(row[name]):>12}"
        line += f"{fmt_ratio(row.get('pyuser'), row.get('qemu')):>13}"
        line += f"{fmt_ratio(row.get('pyuser'), row.get('native')):>15}"
        print(line)

    print()
    for name in order:
        hello = results["hello"].get(name)
        calls = results["getppid"].get(name)
        if hello is None or hello.seconds is None:
            print(f"{name:<7} hello start-up: {fmt_time(hello)}")
            continue
        per_call = "-"
        if calls is not None and calls.seconds is not None:
            per_call = f"{(calls.seconds - hello.seconds) / GETPPID_CALLS * 1e6:.2f} µs"
        print(
            f"{name:<7} hello start-up: {hello.seconds * 1000:8.1f} ms   "
            f"per syscall (getppid): {per_call}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
