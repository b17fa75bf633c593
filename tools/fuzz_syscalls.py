#!/usr/bin/env python3
"""Random syscalls with hostile arguments under pyuser, on every target.

    python3 tools/fuzz_syscalls.py [--arch arm,aarch64|all] [-n CALLS] [--seed S]

(`make fuzz-syscalls N=100000` runs it over every target.)  The guest
program tests/guest_bins/sysfuzz makes the calls, seeded and deterministic,
in batches in forked children, each call with a 100 ms timer that ends a
legitimately blocking call with EINTR; see its header comment.  Each outcome
is classified:

- traceback: pyuser wrote a Python traceback (a bug, always);
- emulator hang: a call slept past the watchdog's 5 s (its timer's signal
  notwithstanding), or waited for that signal (ended with EINTR after
  >= 90 ms), where the same call replayed natively (the x86 build of the
  target's word size, same argument patterns) does not wait on Linux; or
  the harness stopped answering;
- guest block: the call blocks natively too (e.g. rt_sigsuspend with a mask
  that blocks the timer's signal): not a bug;
- busy: after 5 s the child still computes (it mapped zeros over its own
  code, which are no-ops on arm, and runs them): not a bug;
- fine: anything else, including a child the call kills (exit, a sigreturn
  from garbage, SIGSEGV after unmapping its own code) - Linux does the same.

The bar: no traceback and no emulator hang.  Exit status 1 otherwise.

Sandbox.  Everything runs inside a new unprivileged user namespace with its
own pid, mount, UTS, IPC and network namespaces (`unshare --user
--map-root-user --pid --fork --mount-proc --uts --ipc --net`): the calls get
no capability over the real system (no CAP_SYS_TIME for the clock, no
CAP_SYS_BOOT, no signal outside the sandbox), and inside it every mount is
made read-only except the scratch directory the guest works in, since the
sandbox's root is the invoking user (root on a CI machine) and a random path
could name a real file.  File sizes are capped (RLIMIT_FSIZE).  The driver
re-executes itself inside the sandbox and refuses to fuzz outside one.
EXCLUDED lists the calls that would still act outside the child making them.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import importlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BINS = REPO / "tests" / "guest_bins" / "build"
TARGETS = ["arm", "aarch64", "x86_64", "i386", "riscv64", "mipsel", "mips"]
SANDBOX = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc",
           "--uts", "--ipc", "--net"]
INSIDE_MARK = "PYUSER_FUZZ_SANDBOX"

# Calls never made, and why: each would act outside the child that makes it
# even in the sandbox (on the harness processes, which are the sandbox's pid
# 1 and 2, on the sandbox itself, or on kernel objects no namespace separates).
EXCLUDED: dict[str, str] = {
    r"kill|tkill|tgkill|rt_sigqueueinfo|rt_tgsigqueueinfo|pidfd_send_signal":
        "signals to other processes: the harness, or every process in the sandbox (pid -1)",
    r"ptrace|prlimit64|setpriority|sched_set.*|ioprio_set|migrate_pages|move_pages"
    r"|process_vm_writev|process_madvise|process_mrelease":
        "other processes' tracing, limits, priorities and memory (the harness's too)",
    r"reboot":
        "ends the sandbox's pid namespace, harness included",
    r"mount|umount.*|oldumount|pivot_root|move_mount|open_tree|fsopen|fsconfig|fsmount"
    r"|fspick|mount_setattr":
        "the sandbox's mount table, whose read-only protection the harness relies on",
    r"keyctl|add_key|request_key":
        "keyrings: charged to the real user's key quota, which no namespace separates",
}
_EXCLUDED = re.compile("|".join(f"(?:{p})" for p in EXCLUDED))

# the x86_64 name of a call another ABI spells its own way (for the native replay)
_NATIVE_NAMES = {
    "mmap2": "mmap", "_llseek": "lseek", "_newselect": "select", "ugetrlimit": "getrlimit",
    "fstatat64": "newfstatat", "arm_fadvise64_64": "fadvise64", "fadvise64_64": "fadvise64",
    "sendfile64": "sendfile", "old_mmap": "mmap", "oldumount": "umount2",
}

# The native build a target's calls are replayed with: x86 of the same word
# size (the host runs both).  Byte order still differs for MIPS big-endian.
NATIVE_REFERENCE = {"arm": "i386", "i386": "i386", "mipsel": "i386", "mips": "i386",
                    "aarch64": "x86_64", "x86_64": "x86_64", "riscv64": "x86_64"}

# calls with a sigset size argument: MIPS's is 16 (128 signals), x86's 8
_SIGSET_SIZE = re.compile(r"rt_sig(suspend|procmask|action|pending|timedwait.*)|signalfd4?"
                          r"|ppoll.*|pselect6.*|epoll_pwait.*")

CHUNK = 5000  # calls per pyuser run: a harness that stops answering loses one chunk
BATCH = 500  # calls per forked child
REPLAY_TIMEOUT = 10.0
WAITED_MS = 50  # a replayed call that took this long waited for its timer (100 ms)
FILE_SIZE_LIMIT = 64 << 20


def excluded(name: str) -> bool:
    return _EXCLUDED.fullmatch(name) is not None


def syscall_table(arch: str) -> dict[str, int]:
    return dict(importlib.import_module(f"pyuser.targets.generated.{arch}_abi").SYSCALLS)


def native_name(name: str, native: dict[str, int]) -> str | None:
    """The host (x86_64) call with the same meaning as `name`, if any."""
    candidates = [name, _NATIVE_NAMES.get(name, name)]
    for suffix in ("_time64", "64", "32"):
        if name.endswith(suffix):
            candidates.append(name[: -len(suffix)])
    for candidate in candidates:
        if candidate in native:
            return candidate
    return None


@dataclass
class Outcome:
    """What one target's run came to."""

    arch: str
    calls: int = 0
    seconds: float = 0.0
    children: int = 0
    tracebacks: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    guest_blocks: list[str] = field(default_factory=list)
    # slow (waited for the timer's signal, as on Linux), busy (still computing
    # after 5 s: a guest running code it mapped), stopped (by its own SIGSTOP)
    other: dict[str, int] = field(default_factory=dict)
    ends: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.tracebacks and not self.hangs

    def summary(self) -> str:
        kinds: collections.Counter[str] = collections.Counter()
        for end, count in self.ends.items():
            kinds["exit" if end.startswith("exit") else end] += count
        ends = ", ".join(f"{k} x{v}" for k, v in kinds.most_common())
        lines = [f"{self.arch}: {self.calls} calls in {self.seconds:.0f} s, "
                 f"{self.children} children; tracebacks {len(self.tracebacks)}, "
                 f"emulator hangs {len(self.hangs)}, guest blocks {len(self.guest_blocks)}, "
                 + ", ".join(f"{k} {v}" for k, v in sorted(self.other.items())),
                 f"  children that ended early: {ends or 'none'}"]
        lines += [f"  TRACEBACK {t}" for t in self.tracebacks]
        lines += [f"  HANG {h}" for h in self.hangs]
        lines += [f"  guest block (Linux blocks too): {b}" for b in self.guest_blocks]
        return "\n".join(lines)


# ------------------------------------------------------------------ the sandbox
class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


_SYS_mount_setattr = 442  # x86_64 (arch/x86/entry/syscalls/syscall_64.tbl)
_MOUNT_ATTR_RDONLY = 1
_AT_RECURSIVE = 0x8000
_AT_FDCWD = -100


def _set_read_only(path: str, read_only: bool, recursive: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    attr = _MountAttr(_MOUNT_ATTR_RDONLY if read_only else 0,
                      0 if read_only else _MOUNT_ATTR_RDONLY, 0, 0)
    if libc.syscall(_SYS_mount_setattr, _AT_FDCWD, path.encode(),
                    _AT_RECURSIVE if recursive else 0, ctypes.byref(attr),
                    ctypes.sizeof(attr)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount_setattr {path}: {os.strerror(err)}")


def enter_sandbox_setup(workdir: Path) -> None:
    """Inside the new namespaces: check them, make every mount read-only
    but `workdir`, and cap file sizes."""
    uid_map = Path("/proc/self/uid_map").read_text().split()
    if uid_map[:3] == ["0", "0", "4294967295"]:
        sys.exit("fuzz_syscalls: not inside a new user namespace; refusing to fuzz")
    if os.getpid() != 1:
        sys.exit("fuzz_syscalls: not the first process of a new pid namespace; refusing")
    subprocess.run(["mount", "--bind", str(workdir), str(workdir)], check=True)
    _set_read_only("/", True, recursive=True)
    _set_read_only(str(workdir), False, recursive=False)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# ------------------------------------------------------------------ running
def _run(cmd: list[str], cwd: Path, timeout: float) -> tuple[str, str, bool]:
    """stdout, stderr and whether it timed out (its whole process group killed)."""
    with subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace",
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
            return out, err, False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return out, err, True


def _reap() -> None:
    """As the sandbox's pid 1, wait for the orphans the calls left (children
    of a random fork whose parent has ended)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _describe(names: dict[int, str], fields: list[str]) -> str:
    index, nr, patterns = fields[0], int(fields[1]), fields[2:8]
    return f"call {index}: {names.get(nr, '?')} (nr {nr}) patterns {' '.join(patterns)}"


def _one_result(out: str) -> tuple[str, float] | None:
    """(errno name or "ok", milliseconds) from `sysfuzz one`'s output."""
    for line in out.splitlines():
        if line.startswith("one: returned"):
            fields = line.split()
            return fields[3], float(fields[4])
    return None


def _replay_natively(arch: str, name: str, fields: list[str], workdir: Path
                     ) -> tuple[str, float] | None:
    """How the call (patterns and random value `fields`) ends on Linux: the x86
    build of the target's word size (so that structs read from the scratch
    bytes have the same layout), natively.  None if it is still blocked after
    REPLAY_TIMEOUT (its 100 ms timer notwithstanding), or has no native twin."""
    reference = NATIVE_REFERENCE[arch]
    native = syscall_table(reference)
    twin = native_name(name, native)
    if twin is None or excluded(twin):
        return None
    cmd = [str(BINS / reference / "sysfuzz"), "one", str(native[twin]), *fields]
    out, _err, timed_out = _run(cmd, workdir, REPLAY_TIMEOUT)
    result = _one_result(out)
    return result if result is not None or timed_out else ("died", 0.0)


def _replay(arch: str, pyuser_bin: Path, nr: str, fields: list[str], workdir: Path
            ) -> tuple[tuple[str, float] | None, str]:
    """How the call ends under pyuser, made alone (None: it blocked), and
    what pyuser wrote to stderr."""
    cmd = [str(pyuser_bin / f"pyuser-{arch}"), str(BINS / arch / "sysfuzz"), "one", nr, *fields]
    out, err, _timed_out = _run(cmd, workdir, REPLAY_TIMEOUT + 20)
    return _one_result(out), err


def fuzz_target(arch: str, calls: int, seed: int, workdir: Path, pyuser_bin: Path) -> Outcome:
    table = syscall_table(arch)
    names = {nr: name for name, nr in table.items()}
    numbers = sorted(nr for name, nr in table.items() if not excluded(name))
    outcome = Outcome(arch)
    ends: collections.Counter[str] = collections.Counter()
    program = BINS / arch / "sysfuzz"
    start = time.monotonic()
    for first in range(0, calls, CHUNK):
        count = min(CHUNK, calls - first)
        chunk_dir = Path(tempfile.mkdtemp(dir=workdir, prefix=f"{arch}-{first}-"))
        cmd = [str(pyuser_bin / f"pyuser-{arch}"), str(program), str(seed), str(first),
               str(count), str(BATCH), *map(str, numbers)]
        out, err, timed_out = _run(cmd, chunk_dir, 120 + 0.2 * count)
        if "Traceback (most recent call last)" in err:
            last = [line for line in err.splitlines() if line and not line.startswith(" ")]
            outcome.tracebacks.append(f"in the harness process, calls {first}..: {last[-1]}")
        finished = False
        slow: list[list[str]] = []
        # a child that ended with status 1 in a call other than exit: Python's
        # status after a traceback, which the child cannot report if a call
        # closed its stderr; replayed alone to see
        suspects: list[list[str]] = []
        for line in out.splitlines():
            fields = line.split()
            if not fields:
                continue
            kind = fields[0]
            if kind == "calls":
                outcome.calls += int(fields[1])
                outcome.children += int(fields[5])
                finished = True
            elif kind == "end":
                ends[" ".join(fields[10:])] += 1
                if fields[10:] == ["exit", "1"] and names.get(int(fields[2])) not in (
                        "exit", "exit_group"):
                    suspects.append(fields)
            elif kind in ("stopped", "busy"):
                outcome.other[kind] = outcome.other.get(kind, 0) + 1
            elif kind == "traceback":
                head, _, text = line.partition(": ")
                outcome.tracebacks.append(f"{_describe(names, head.split()[1:])}: {text}")
            elif kind == "stuck":
                what = _describe(names, fields[1:])
                if _replay_natively(arch, names.get(int(fields[2]), "?"), fields[3:10],
                                    chunk_dir) is None:
                    outcome.guest_blocks.append(what)
                else:
                    outcome.hangs.append(f"{what}: never returned")
            elif kind == "slow":
                slow.append(fields)
        for fields in suspects:
            _result, err = _replay(arch, pyuser_bin, fields[2], fields[3:10], chunk_dir)
            if "Traceback (most recent call last)" in err:
                last = [line for line in err.splitlines() if line and not line.startswith(" ")]
                outcome.tracebacks.append(f"{_describe(names, fields[1:])}: {last[-1]}")
        for fields in slow:
            # Ended by the timer's signal (EINTR): does Linux wait there too?
            # If not, does pyuser, when the call is replayed alone?  (Other
            # slow calls are emulation work: big mappings, a sync.)
            outcome.other["slow"] = outcome.other.get("slow", 0) + 1
            if fields[11] != "EINTR":
                continue
            native = _replay_natively(arch, names.get(int(fields[2]), "?"), fields[3:10],
                                      chunk_dir)
            if native is None or native[1] >= WAITED_MS:
                continue
            if native[0] == "EINVAL" and arch in ("mipsel", "mips") and \
                    _SIGSET_SIZE.fullmatch(names.get(int(fields[2]), "")):
                continue  # a 16-byte sigset: right on MIPS, EINVAL on the x86 reference
            # alone, it must wait for the signal again (end with EINTR): a call
            # whose wait came from what earlier calls left (a mapping, a FIFO)
            # returns at once here as it does natively
            again, _err = _replay(arch, pyuser_bin, fields[2], fields[3:10], chunk_dir)
            if again is None or (again[0] == "EINTR" and again[1] >= WAITED_MS):
                outcome.hangs.append(f"{_describe(names, fields[1:])}: waited {fields[10]} ms "
                                     f"for a signal (alone: {again}), Linux returns "
                                     f"{native[0]} in {native[1]:.0f} ms")
        if timed_out or not finished:
            outcome.hangs.append(f"the harness of calls {first}..{first + count - 1} "
                                 f"{'stopped answering' if timed_out else 'ended early'}; "
                                 f"stderr: {err.strip().splitlines()[-1:]}")
        shutil.rmtree(chunk_dir, ignore_errors=True)
        _reap()
    outcome.seconds = time.monotonic() - start
    outcome.ends = dict(ends)
    return outcome


def inside(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    enter_sandbox_setup(workdir)
    results = []
    for arch in args.arch:
        outcome = fuzz_target(arch, args.calls, args.seed, workdir, Path(args.pyuser_bin))
        print(outcome.summary(), flush=True)
        results.append(outcome)
    (workdir / "summary.json").write_text(json.dumps([asdict(r) for r in results]))
    return 0 if all(r.ok for r in results) else 1


def outside(args: argparse.Namespace) -> int:
    if shutil.which("unshare") is None:
        sys.exit("fuzz_syscalls: unshare (util-linux) is needed for the sandbox")
    for arch in args.arch:
        for build in (BINS / arch / "sysfuzz", BINS / NATIVE_REFERENCE[arch] / "sysfuzz"):
            if not build.exists():
                sys.exit(f"fuzz_syscalls: {build} missing: make -C tests/guest_bins ARCH=...")
    workdir = Path(tempfile.mkdtemp(prefix="pyuser-fuzz-"))
    try:
        cmd = [*SANDBOX, sys.executable, __file__, "--inside", "--workdir", str(workdir),
               "--arch", ",".join(args.arch), "-n", str(args.calls), "--seed", str(args.seed),
               "--pyuser-bin", str(args.pyuser_bin)]
        status = subprocess.run(cmd, env=dict(os.environ, **{INSIDE_MARK: "1"})).returncode
        summary = workdir / "summary.json"
        if args.json and summary.exists():
            shutil.copy(summary, args.json)
        return status
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="all",
                        help="comma-separated targets, or all (default)")
    parser.add_argument("-n", "--calls", type=int, default=2000, help="calls per target")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the outcomes to this file")
    parser.add_argument("--list-excluded", action="store_true",
                        help="print the calls never made, and why")
    parser.add_argument("--pyuser-bin", default=str(Path(sys.executable).parent),
                        help="the directory of the pyuser-<arch> scripts")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.list_excluded:
        for pattern, why in EXCLUDED.items():
            print(f"{pattern}\n    {why}")
        return 0
    args.arch = TARGETS if args.arch == "all" else args.arch.split(",")
    for arch in args.arch:
        if arch not in TARGETS:
            parser.error(f"unknown target {arch}")
    if args.inside:
        if os.environ.get(INSIDE_MARK) != "1":
            parser.error("--inside is the sandboxed half of this tool")
        return inside(args)
    return outside(args)


if __name__ == "__main__":
    sys.exit(main())
