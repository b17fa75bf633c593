"""Soak: minutes of guest churn while the emulator's RSS and descriptors are watched.

    python3 tools/soak.py                          # 300 s on arm, report only
    python3 tools/soak.py --seconds 60 --arch aarch64 --max-rss-growth 8

tests/guest_bins/soak.c runs rounds of: 4 threads created and joined, a
fork, a fork + exec, 1 MiB mapped, touched and unmapped (and a file
mapping), files, pipes and dups opened and closed (--activities picks
among t f e m o).  Every --interval seconds the emulator's VmRSS and
Threads (/proc/PID/status) and its open descriptors (/proc/PID/fd) are
sampled; the curves are printed as a table with bars.

Flat means: the level at the end (the lowest of the last three samples)
within the bar of the level after warm-up (the lowest of the three samples
from --warmup on).  Descriptors must stay flat (--max-fd-growth, default 0);
RSS is reported, and checked only with --max-rss-growth MB.  The exit
status is 0 when the guest ended well and every bar held, else 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUEST_SRC = REPO / "tests" / "guest_bins"
CROSS = {"arm": "arm-linux-gnueabihf-", "aarch64": "aarch64-linux-gnu-",
         "x86_64": "x86_64-linux-gnu-", "i386": "i686-linux-gnu-",
         "riscv64": "riscv64-linux-gnu-", "mipsel": "mipsel-linux-gnu-",
         "mips": "mips-linux-gnu-"}


@dataclass
class Sample:
    t: float
    rss_kb: int
    fds: int
    threads: int


@dataclass
class SoakResult:
    samples: list[Sample]
    returncode: int
    stdout: str
    stderr: str
    warmup: float
    capped: bool = False  # stopped early: RSS passed --rss-cap

    def level(self, which: str, field: str) -> int:
        """The lowest of three samples: from warm-up on, or the last three."""
        if which == "end":
            window = self.samples[-3:]
        else:
            after = [s for s in self.samples if s.t >= self.warmup]
            window = after[:3] or self.samples[-3:]
        return min(getattr(s, field) for s in window)

    def growth(self, field: str) -> int:
        return self.level("end", field) - self.level("warm", field)


def sample(pid: int, t: float) -> Sample | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    if "VmRSS" not in fields:  # a zombie: the run has just ended
        return None
    return Sample(t, int(fields["VmRSS"].split()[0]), fds, int(fields["Threads"]))


def build(arch: str) -> Path:
    path = GUEST_SRC / "build" / arch / "soak"
    subprocess.run(["make", "-s", "-C", str(GUEST_SRC), f"ARCH={arch}", f"CROSS={CROSS[arch]}",
                    str(path)], check=True, stdout=subprocess.DEVNULL)
    return path


def soak(arch: str, seconds: float, activities: str, interval: float, warmup: float,
         venv_bin: Path, rss_cap_mb: float | None = None) -> SoakResult:
    program = build(arch)
    cmd = [str(venv_bin / f"pyuser-{arch}"), str(program), str(seconds), activities]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    start = time.monotonic()
    samples = []
    capped = False
    while proc.poll() is None:
        time.sleep(interval)  # the first sample after start-up, not of the exec itself
        s = sample(proc.pid, time.monotonic() - start)
        if s is not None and proc.poll() is None:
            samples.append(s)
            if rss_cap_mb is not None and s.rss_kb > rss_cap_mb * 1024:
                capped = True
                proc.kill()
                break
        if time.monotonic() - start > seconds + 120:
            proc.kill()
    stdout, stderr = proc.communicate()
    return SoakResult(samples, proc.returncode, stdout, stderr, warmup, capped)


def curves(result: SoakResult) -> str:
    """The samples as a table, RSS and descriptors each with a bar."""
    if not result.samples:
        return "(no samples)"
    top_rss = max(s.rss_kb for s in result.samples)
    low_rss = min(s.rss_kb for s in result.samples)
    top_fds = max(s.fds for s in result.samples)
    lines = [f"{'t/s':>6} {'RSS/MB':>8} {'fds':>4} {'thr':>4}  RSS ({low_rss / 1024:.0f}.."
             f"{top_rss / 1024:.0f} MB)            fds (0..{top_fds})"]
    span = max(10 * 1024, top_rss - low_rss)  # wiggles under 10 MB stay short bars
    for s in result.samples:
        rss_bar = "#" * (1 + round(29 * (s.rss_kb - low_rss) / span))
        fd_bar = "#" * round(20 * s.fds / max(1, top_fds))
        lines.append(f"{s.t:6.0f} {s.rss_kb / 1024:8.1f} {s.fds:4d} {s.threads:4d}  "
                     f"{rss_bar:<30} {fd_bar}")
    return "\n".join(lines)


def verdict(result: SoakResult, max_rss_growth_mb: float | None,
            max_fd_growth: int) -> list[str]:
    """The bars that failed, as lines; empty when the soak passed."""
    failed = []
    if result.capped:
        failed.append(f"stopped at {result.samples[-1].t:.0f} s: RSS passed the cap "
                      f"({result.samples[-1].rss_kb / 1024:.0f} MB)")
    elif result.returncode != 0 or not result.stdout.rstrip().endswith("ok"):
        failed.append(f"the guest ended with status {result.returncode}: "
                      f"{(result.stdout + result.stderr).strip()[-500:]}")
    if len(result.samples) < 6:
        failed.append(f"only {len(result.samples)} samples: run longer")
        return failed
    fd_growth = result.growth("fds")
    if fd_growth > max_fd_growth:
        failed.append(f"descriptors grew by {fd_growth} after warm-up (bar {max_fd_growth})")
    rss_growth = result.growth("rss_kb") / 1024
    if max_rss_growth_mb is not None and rss_growth > max_rss_growth_mb:
        failed.append(f"RSS grew by {rss_growth:.1f} MB after warm-up "
                      f"(bar {max_rss_growth_mb:g} MB)")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--arch", default="arm", choices=sorted(CROSS))
    parser.add_argument("--activities", default="tfemo")
    parser.add_argument("--interval", type=float, help="seconds between samples "
                        "(default: 1/30 of the run, at least 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up (default: 1/5 of the run)")
    parser.add_argument("--max-rss-growth", type=float, metavar="MB",
                        help="fail when RSS grows more than this after warm-up")
    parser.add_argument("--max-fd-growth", type=int, default=0)
    parser.add_argument("--rss-cap", type=float, metavar="MB", default=2048,
                        help="stop the soak when RSS passes this (default 2048)")
    parser.add_argument("--venv", type=Path, default=REPO / ".venv" / "bin")
    args = parser.parse_args()
    interval = args.interval or max(1.0, args.seconds / 30)
    warmup = args.warmup if args.warmup is not None else args.seconds / 5
    result = soak(args.arch, args.seconds, args.activities, interval, warmup, args.venv,
                  args.rss_cap)
    print(curves(result))
    print(f"guest: {result.stdout.strip()} (status {result.returncode})")
    if len(result.samples) >= 3:
        print(f"after warm-up ({warmup:.0f} s): RSS {result.level('warm', 'rss_kb') / 1024:.1f} MB, "
              f"{result.level('warm', 'fds')} fds; at the end: "
              f"RSS {result.level('end', 'rss_kb') / 1024:.1f} MB, {result.level('end', 'fds')} fds "
              f"(growth {result.growth('rss_kb') / 1024:+.1f} MB, {result.growth('fds'):+d} fds)")
    failed = verdict(result, args.max_rss_growth, args.max_fd_growth)
    for line in failed:
        print(f"FAIL: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
