"""Run a hostile command in an unprivileged user + pid + mount namespace.

    from sandbox import run_sandboxed
    result = run_sandboxed(["pyuser-arm", "./mutant"], timeout=10)
    result.outcome   # ("exit", 0), ("signal", 11) or ("timeout", None)

The command runs under ``unshare --user --map-root-user --pid --fork
--mount-proc --net --ipc --kill-child``: root inside the namespace holds no
capability over the host (no clock, no reboot, no network, no signal to a
process outside), its processes see only each other, and when the
namespace's first process ends the kernel kills every process left in it.

That first process is this file run as a script (``--reap``), not the
command: a pid-1 process ignores signals it has no handler for, even ones it
sends itself, and pyuser reports a guest's fatal signal by killing itself
with it.  The reaper starts the command as its child, reaps every orphan,
kills everything in the namespace at the time limit, and reports the
command's end on its last stderr line.

Output goes to files capped by RLIMIT_FSIZE (a mutant printing forever
cannot fill the disk); stdin is /dev/null.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

UNSHARE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc",
           "--net", "--ipc", "--kill-child"]
STATUS_MARK = "\0sandbox-status "
OUTPUT_LIMIT = 16 << 20


@dataclass
class SandboxResult:
    kind: str  # "exit", "signal" or "timeout"
    value: int | None
    stdout: bytes
    stderr: str

    @property
    def outcome(self) -> tuple[str, int | None]:
        return self.kind, self.value


def run_sandboxed(cmd: list[str], timeout: float, env: dict[str, str] | None = None,
                  cwd: str | None = None) -> SandboxResult:
    """Run `cmd` in a fresh namespace; kill it all after `timeout` seconds."""
    reaper = [sys.executable, os.path.abspath(__file__), "--reap", str(timeout), "--"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                UNSHARE + reaper + cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=env, cwd=cwd, timeout=timeout + 30,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                                      (OUTPUT_LIMIT, OUTPUT_LIMIT)))
        except subprocess.TimeoutExpired:  # even the reaper stalled: unshare was killed,
            return SandboxResult("timeout", None, b"", "")  # and the namespace with it
        out.seek(0)
        err.seek(0)
        stdout = out.read(1 << 20)
        stderr = err.read(1 << 20).decode(errors="replace")
    text, mark, status = stderr.rpartition(STATUS_MARK)
    if not mark:
        raise RuntimeError(f"the sandbox failed (status {proc.returncode}): {stderr[-2000:]}")
    kind, _, value = status.strip().partition(" ")
    return SandboxResult(kind, int(value) if value else None, stdout, text)


def _reap(timeout: float, cmd: list[str]) -> None:
    """Pid 1 of the namespace: run `cmd`, reap everything, report how it ended."""
    expired = False

    def on_alarm(_sig: int, _frame: object) -> None:
        nonlocal expired
        expired = True
        os.kill(-1, signal.SIGKILL)  # every process in the namespace but this one

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        child = os.fork()
    except OSError as e:
        sys.stderr.write(f"{STATUS_MARK}exit 127 ({e})\n")
        return
    if child == 0:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        try:
            os.execvp(cmd[0], cmd)
        except OSError as e:
            os.write(2, f"sandbox: cannot run {cmd[0]}: {e.strerror}\n".encode())
        os._exit(127)
    status = None
    while status is None:
        try:
            pid, wstatus = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            break
        if pid == child:
            status = wstatus
    signal.setitimer(signal.ITIMER_REAL, 0)
    if expired:
        report = "timeout"
    elif status is not None and os.WIFSIGNALED(status):
        report = f"signal {os.WTERMSIG(status)}"
    else:
        report = f"exit {os.waitstatus_to_exitcode(status) if status is not None else 127}"
    sys.stderr.write(f"{STATUS_MARK}{report}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--reap" and sys.argv[3] == "--":
        _reap(float(sys.argv[2]), sys.argv[4:])
    else:
        sys.exit("usage: sandbox.py --reap SECONDS -- command [args...]")
