"""Syscall profiler: `-plugin syscalls[,out=FILE]`.

Counts each syscall and the wall time spent in it (from the emulator's
entry to its return), and prints a table at exit, the costliest first:

    syscall            calls   errors   total_us   avg_us
    write                  2        0         31     15.5
"""

from __future__ import annotations

import time


def install(ctx, args):
    out = ctx.open_output(args.get("out"))
    stats: dict[str, list] = {}  # name -> [calls, errors, seconds]

    def finished(event):
        elapsed = time.perf_counter() - event.start
        row = stats.setdefault(event.name, [0, 0, 0.0])
        row[0] += 1
        if event.result is not None and -4096 < event.result < 0:
            row[1] += 1
        row[2] += elapsed

    def report(_status):
        out.write(f"{'syscall':<18} {'calls':>7} {'errors':>8} {'total_us':>10} {'avg_us':>8}\n")
        for name, (calls, errors, seconds) in sorted(stats.items(),
                                                      key=lambda item: -item[1][2]):
            total = seconds * 1e6
            out.write(f"{name:<18} {calls:>7} {errors:>8} {total:>10.0f} "
                      f"{total / calls:>8.1f}\n")

    ctx.on_syscall_exit(finished)
    ctx.on_exit(report)
