"""pyuser registered with the kernel's binfmt_misc, for real (as root).

Foreign programs are started directly -- from a shell and through
subprocess -- with no emulator on the command line.  Every entry registered
here has a name unique to this run, and the host is put back as it was
(entries removed, other entries for arm programs re-enabled, binfmt_misc
unmounted if it was not mounted) even when a test fails.  To prove that
pyuser, not some other registered emulator, ran a program, runs set
PYUSER_STRACE=1, which only pyuser acts on (it prints a syscall trace).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from integration_helpers import BIN_DIR, build_probe, fenced_blocks, run_sh, tool_env

from pyuser.binfmt_misc import parse_entry
from pyuser.targets import load_target

BINFMT = Path("/proc/sys/fs/binfmt_misc")
PREFIX = f"pyuser-test{os.getpid()}-"
ENTRY = BINFMT / f"{PREFIX}arm"


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _libc_call(name: str, *args: object) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


class HostBinfmt:
    """The host's binfmt_misc state before the tests, and how to restore it."""

    def __init__(self) -> None:
        self.mounted_here = False
        self.enabled_here = False
        self.disabled: list[str] = []

    def prepare(self) -> None:
        if not (BINFMT / "register").exists():
            _libc_call("mount", b"binfmt_misc", bytes(BINFMT), b"binfmt_misc", 0, None)
            self.mounted_here = True
        if (BINFMT / "status").read_text().strip() != "enabled":
            _write(BINFMT / "status", "1")
            self.enabled_here = True
        # other entries that claim arm programs (Debian's qemu-arm, say) would
        # run them instead of pyuser: disabled for the tests
        header = load_target("arm").binfmt_magic()[0]
        for path in sorted(BINFMT.iterdir()):
            if path.name in ("register", "status") or path.name.startswith(PREFIX):
                continue
            entry = parse_entry(path.name, path.read_text(errors="replace"))
            if entry.enabled and entry.matches(header):
                _write(path, "0")
                self.disabled.append(path.name)

    def restore(self) -> None:
        problems = []
        steps = [lambda p=p: _write(p, "-1") for p in BINFMT.glob(f"{PREFIX}*")]
        steps += [lambda n=n: _write(BINFMT / n, "1") for n in self.disabled]
        if self.enabled_here:
            steps.append(lambda: _write(BINFMT / "status", "0"))
        if self.mounted_here:
            steps.append(lambda: _libc_call("umount", bytes(BINFMT)))
        for step in steps:
            try:
                step()
            except OSError as e:
                problems.append(repr(e))
        assert not problems, f"could not restore the host's binfmt_misc: {problems}"


@pytest.fixture(scope="module")
def host(request: pytest.FixtureRequest) -> Iterator[HostBinfmt]:
    if os.geteuid() != 0:
        pytest.fail("the binfmt_misc tests register with the kernel: run them as root",
                    pytrace=False)
    state = HostBinfmt()
    request.addfinalizer(state.restore)  # runs even if prepare() fails halfway
    state.prepare()
    yield state


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory, guest_bins: Path) -> Path:
    """A directory with hello-arm and probe-arm (prints its argv, --cat FILE)."""
    d = tmp_path_factory.mktemp("binfmt-programs")
    shutil.copy(guest_bins / "hello", d / "hello-arm")
    build_probe(d)
    return d


def pyuser_binfmt(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BIN_DIR / "pyuser-binfmt", *args, "--name-prefix", PREFIX],
                          capture_output=True, text=True, env=tool_env(), timeout=120)


@contextmanager
def registered(flags: str, tmp_path: Path) -> Iterator[None]:
    proc = pyuser_binfmt("register", "--arch", "arm", "--flags", flags,
                         "--launcher-dir", str(tmp_path / "launchers"))
    try:
        assert proc.returncode == 0, proc.stderr
        assert ENTRY.exists()
        yield
    finally:
        if ENTRY.exists():
            done = pyuser_binfmt("unregister", "--arch", "arm")
            assert done.returncode == 0, done.stderr
        assert not ENTRY.exists()


def traced_env(**extra: str) -> dict[str, str]:
    return tool_env({"PYUSER_STRACE": "1", **extra})


def assert_pyuser_ran(stderr: str) -> None:
    lines = stderr.splitlines()
    assert any(" exit_group(0) = ?" in line for line in lines), stderr
    assert any(" write(1, " in line for line in lines), stderr


def argv0_seen(programs: Path, flags: str) -> tuple[str, str, str]:
    """argv[0] the guest sees when started as NAME via subprocess, via bash
    `exec -a`, and plainly from a shell."""
    probe = programs / "probe-arm"
    by_python = subprocess.run(["name-from-python", "x"], executable=probe, cwd=programs,
                               capture_output=True, text=True, env=traced_env(), timeout=60)
    assert by_python.returncode == 0, by_python.stderr
    assert_pyuser_ran(by_python.stderr)
    assert by_python.stdout.splitlines()[1] == "argv[1]=x"
    by_bash = run_sh("exec -a name-from-bash ./probe-arm y", programs, tool_env())
    assert by_bash.returncode == 0, by_bash.stderr
    plain = run_sh("./probe-arm", programs, tool_env())
    assert plain.returncode == 0, plain.stderr
    return (by_python.stdout.splitlines()[0], by_bash.stdout.splitlines()[0],
            plain.stdout.splitlines()[0])


def test_docs_example(host: HostBinfmt, programs: Path, tmp_path: Path) -> None:
    """docs/binfmt.md's commands, as written (pyuser-binfmt gets this run's
    --name-prefix through a wrapper first on PATH)."""
    register, run, status_and_unregister = fenced_blocks("binfmt.md", "sh")[:3]
    wrapper = tmp_path / "bin" / "pyuser-binfmt"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{BIN_DIR}/pyuser-binfmt" "$@" --name-prefix {PREFIX}\n')
    wrapper.chmod(0o755)
    env = tool_env({"PATH": f"{wrapper.parent}:{tool_env()['PATH']}"})
    try:
        proc = run_sh(register, programs, env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.endswith(f"registered {PREFIX}arm: {BIN_DIR}/pyuser-arm (flags 'P')\n")
        proc = run_sh(run, programs, env)
        assert (proc.returncode, proc.stdout) == (0, "Hello, world!\n"), proc.stderr
        proc = run_sh(run, programs, {**env, "PYUSER_STRACE": "1"})
        assert_pyuser_ran(proc.stderr)
        proc = run_sh(status_and_unregister, programs, env)
        assert proc.returncode == 0, proc.stderr
        assert f"  {PREFIX}arm [pyuser]: enabled, flags 'P', interpreter {BIN_DIR}/pyuser-arm" \
            in proc.stdout.splitlines()
        assert proc.stdout.endswith(f"unregistered {PREFIX}arm\n")
        assert not ENTRY.exists()
    finally:
        if ENTRY.exists():
            pyuser_binfmt("unregister", "--arch", "arm")


def test_without_p_the_guest_sees_its_path(host: HostBinfmt, programs: Path,
                                           tmp_path: Path) -> None:
    with registered("", tmp_path):
        assert ENTRY.read_text().splitlines()[:3] == [
            "enabled", f"interpreter {BIN_DIR}/pyuser-arm", "flags: "]
        # the path given to execve (bash's `exec -a` execs the full path)
        assert argv0_seen(programs, "") == (
            f"argv[0]={programs}/probe-arm", f"argv[0]={programs}/probe-arm",
            "argv[0]=./probe-arm")


def test_with_p_the_guest_sees_its_argv0(host: HostBinfmt, programs: Path,
                                         tmp_path: Path) -> None:
    with registered("P", tmp_path):
        assert argv0_seen(programs, "P") == (
            "argv[0]=name-from-python", "argv[0]=name-from-bash", "argv[0]=./probe-arm")


def test_open_binary_through_the_native_launcher(host: HostBinfmt, programs: Path,
                                                 tmp_path: Path) -> None:
    launcher = tmp_path / "launchers" / f"{PREFIX}arm"
    with registered("PO", tmp_path):
        assert ENTRY.read_text().splitlines()[1:3] == [f"interpreter {launcher}", "flags: PO"]
        assert argv0_seen(programs, "PO")[:2] == (
            "argv[0]=name-from-python", "argv[0]=name-from-bash")
        # the program opened by the kernel is the file of that name: loaded by name
        proc = subprocess.run(["./probe-arm", "--cat", "/proc/self/maps"], cwd=programs,
                              capture_output=True, text=True, env=tool_env(), timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert f"{programs}/probe-arm" in proc.stdout
    assert not launcher.exists()  # unregister removed it


def test_fix_binary(host: HostBinfmt, programs: Path, tmp_path: Path) -> None:
    with registered("PF", tmp_path):
        assert ENTRY.read_text().splitlines()[2] == "flags: PF"
        proc = subprocess.run(["./hello-arm"], cwd=programs, capture_output=True, text=True,
                              env=traced_env(), timeout=60)
        assert proc.stdout == "Hello, world!\n"
        assert_pyuser_ran(proc.stderr)


def test_existing_entry(host: HostBinfmt, tmp_path: Path) -> None:
    with registered("P", tmp_path):
        proc = pyuser_binfmt("register", "--arch", "arm")
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        assert f"entry named {PREFIX}arm already exists" in proc.stderr
        assert "--replace" in proc.stderr
        proc = pyuser_binfmt("register", "--arch", "arm", "--flags", "", "--replace")
        assert proc.returncode == 0, proc.stderr
        assert ENTRY.read_text().splitlines()[2] == "flags: "


def test_sysroot_from_the_config_file(host: HostBinfmt, programs: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "pyuser-marker").write_text("inside the sysroot\n")
    conf = tmp_path / "config" / "pyuser" / "arm.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(f"sysroot = {root}\n")
    with registered("P", tmp_path):
        proc = subprocess.run(["./probe-arm", "--cat", "/etc/pyuser-marker"], cwd=programs,
                              capture_output=True, text=True, timeout=60,
                              env=tool_env({"XDG_CONFIG_HOME": str(tmp_path / "config")}))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-1] == "cat: inside the sysroot"
