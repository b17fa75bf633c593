"""Run by tests/test_freebsd.py inside a user+pid+mount namespace (`unshare --user
--map-root-user --pid --fork --mount-proc`): every
FreeBSD syscall pyuser serves, with seven hostile argument patterns, each in
a forked child with a one-second alarm.  Prints "name pattern: signal S" for
a child killed by a signal other than SIGALRM and "name pattern: exception
..." (with its traceback on stderr) for a Python exception escaping the
dispatcher; nothing for calls answered with a result or an errno."""

from __future__ import annotations

import os
import signal
import sys
import traceback

from pyuser.launch import new_process
from pyuser.memory import PAGE_SIZE
from pyuser.process import Options
from pyuser.syscalls.types import NoReturn
from pyuser.targets import load_target

# calls whose effect would leave the child (other processes, the namespace's
# ids and limits, the CPU affinity) or that start guest code (thr_new, fork)
SKIPPED = {"kill", "thr_kill2", "fork", "vfork", "execve", "setuid", "setgid", "setsid",
           "setpgid", "setrlimit", "cpuset_setaffinity", "thr_new", "mlock"}


REPORT_FD = 1000


def main(target_name: str) -> None:
    proc = new_process(load_target(target_name), Options(seed=1))
    none = proc.memory.find_free(PAGE_SIZE, 0x10000000)
    proc.memory.map(none, PAGE_SIZE, 0)
    top = proc.target.address_space_size - 0x1000
    patterns = [
        [0] * 6, [2**64 - 1] * 6, [0x10] * 6, [0x7FFFFFFF] * 6,
        [1, top, 3, top, 1, top], [100, 2**63, 100, 2**63, 100, 100],
        [3, none, 4096, none, 0, none],
    ]
    kernel = proc.kernel
    entries = [e for e in [*kernel.table, *kernel.sparse.values()]
               if e is not None and e.name not in SKIPPED]
    for entry in sorted(entries, key=lambda e: e.number):
        for p, args in enumerate(patterns):
            sys.stdout.flush()
            child = os.fork()
            if child == 0:
                # the calls may write, seek or truncate descriptors 0-2: give
                # them /dev/null, and report through a descriptor out of the
                # patterns' way
                os.dup2(1, REPORT_FD)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                signal.alarm(1)
                try:
                    kernel.dispatch([entry.number, *args, 0, 0, 0])
                except NoReturn:
                    pass
                except BaseException as e:  # noqa: BLE001 - the finding
                    report = f"{entry.name} {p}: exception {type(e).__name__}: {e}\n"
                    os.write(REPORT_FD, (report + traceback.format_exc()).encode())
                    os._exit(1)
                os._exit(0)
            _pid, status = os.waitpid(child, 0)
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) != signal.SIGALRM:
                print(f"{entry.name} {p}: signal {os.WTERMSIG(status)}")
    print(f"checked {len(entries)} calls")


if __name__ == "__main__":
    main(sys.argv[1])
