"""The Python API: pyuser.run (child process) and pyuser.Emulator (in-process hooks).

The examples of docs/python-api.md run as they are, in a directory holding
hello-arm (the guest hello program).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from integration_helpers import fenced_blocks
from test_threads import ENDINGS

import pyuser


@pytest.fixture
def hello_dir(guest_bins: Path, tmp_path: Path) -> Path:
    shutil.copy(guest_bins / "hello", tmp_path / "hello-arm")
    return tmp_path


@pytest.mark.parametrize("index", range(4))
def test_docs_examples(hello_dir: Path, index: int) -> None:
    blocks = fenced_blocks("python-api.md", "python")
    assert len(blocks) == 4
    proc = subprocess.run([sys.executable, "-c", blocks[index]], cwd=hello_dir,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    if index == 1:  # the Emulator's output goes to this process's stdout
        assert proc.stdout == "Hello, world!\nexit status 0\n"


def test_import_is_cheap() -> None:
    code = ("import sys, pyuser; heavy = [m for m in ('unicorn', 'elftools', 'pyuser.api',"
            " 'pyuser.emulator', 'subprocess') if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout == "[]\n"
    assert pyuser.run is pyuser.api.run  # the lazy attributes resolve
    with pytest.raises(AttributeError):
        pyuser.no_such_thing  # noqa: B018


def test_run_exit_status_and_output(guest_bins: Path) -> None:
    result = pyuser.run([guest_bins / "exitcode", "7"], arch="arm", text=True)
    assert result.returncode == 7
    assert result.signal is None
    assert result.stdout == "atexit handler ran\n"
    assert result.syscalls == []


def test_run_guest_crash_is_a_result(guest_bins: Path) -> None:
    result = pyuser.run([guest_bins / "fault", "segv"])
    assert result.returncode == -11
    assert result.signal == 11
    assert result.stdout == b"about to segv\n"
    assert b"uncaught target signal 11" in result.stderr


def test_run_env_stdin_and_strace(guest_bins: Path) -> None:
    result = pyuser.run([guest_bins / "args", "a b"], env={"PYUSER_TEST_VAR": "from-api"},
                        strace=True, text=True)
    assert result.returncode == 0, result.stderr
    assert 'argv[1]="a b"' in result.stdout
    assert "PYUSER_TEST_VAR=from-api" in result.stdout
    assert result.stderr == ""  # the trace goes to its own file, not to stderr
    names = [c.name for c in result.syscalls]
    assert names[-1] == "exit_group" and "write" in names
    assert result.syscalls[-1].result == "?"

    missing = pyuser.run([guest_bins / "stdio_malloc"], stdin="some input\n", strace=True)
    assert missing.returncode == 0, missing.stderr


def test_run_timeout_kills_the_child(guest_bins: Path) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        pyuser.run([guest_bins / "cpuloop", "100000000000"], timeout=1.0)


def test_run_reports_pyuser_errors(tmp_path: Path) -> None:
    not_elf = tmp_path / "script"
    not_elf.write_text("#!/bin/sh\n")
    result = pyuser.run([not_elf], arch="arm", text=True)
    assert result.returncode == 1
    assert result.stderr == f"pyuser-arm: {not_elf}: not an ELF file\n"


def test_parse_strace() -> None:
    from pyuser.api import parse_strace

    calls = parse_strace('12 openat(-100, "/nope", 0x20000, 0) = -1 ENOENT (No such file)\n'
                         '12 write(1, "a) = b", 5) = 5\nnot a trace line\n')
    assert [(c.name, c.error) for c in calls] == [("openat", "ENOENT"), ("write", None)]
    assert calls[1].args == '1, "a) = b", 5' and calls[1].result == "5"


def test_emulator_hooks_see_syscalls_and_exit(guest_bins: Path, capfd) -> None:
    emu = pyuser.Emulator([guest_bins / "exitcode", "3", "_exit"], arch="arm")
    seen: list[pyuser.SyscallEvent] = []
    exits: list[int] = []
    emu.on_syscall(seen.append)
    emu.on_exit(exits.append)
    assert emu.run() == 3
    assert exits == [3]
    assert seen[-1].name == "exit_group" and seen[-1].args[0] == 3 and seen[-1].result is None
    assert any(e.name == "brk" and e.result > 0 for e in seen)
    with pytest.raises(RuntimeError):
        emu.run()


def test_emulator_follows_an_exec_in_place(sysroot: Path, capfd) -> None:
    """A guest exec of a guest program replaces the image inside run(): this
    Python process lives on, the hooks see the new program's calls."""
    emu = pyuser.Emulator([sysroot / "bin" / "busybox", "sh", "-c",
                           "exec /bin/busybox echo replaced"], arch="arm", sysroot=sysroot)
    seen: list[str] = []
    emu.on_syscall(lambda event: seen.append(event.name))
    first = emu.load()
    assert emu.run() == 0
    assert capfd.readouterr().out == "replaced\n"
    assert "execve" in seen and "write" in seen[seen.index("execve"):]
    assert emu.process is not first and emu.process.exe_guest_path == "/bin/busybox"


def test_emulator_guest_crash_does_not_end_the_caller(guest_bins: Path, capfd) -> None:
    emu = pyuser.Emulator([guest_bins / "fault", "segv"])
    exits: list[int] = []
    emu.on_exit(exits.append)
    assert emu.run() == -11
    assert exits == [-11]
    assert capfd.readouterr().out == "about to segv\n"


def test_emulator_hook_exception_ends_run(guest_bins: Path, capfd) -> None:
    emu = pyuser.Emulator([guest_bins / "hello"])

    def boom(call: pyuser.SyscallEvent) -> None:
        if call.name == "write":
            raise KeyError("from the hook")

    emu.on_syscall(boom)
    with pytest.raises(KeyError, match="from the hook"):
        emu.run()


@pytest.mark.parametrize("scenario", sorted(ENDINGS))
def test_emulator_process_ends_on_another_thread(guest_bins: Path, capfd, scenario: str) -> None:
    # exit_group or a fatal signal on a guest thread that is not main ends run()
    # with the status, and this process (the test) lives on
    stdout, status = ENDINGS[scenario]
    emu = pyuser.Emulator([guest_bins / "threads", scenario])
    exits: list[int] = []
    emu.on_exit(exits.append)
    assert emu.run() == status
    assert exits == [status]
    assert capfd.readouterr().out == stdout
