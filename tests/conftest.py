"""Shared fixtures and helpers for pyuser's tests.

The reference for every guest program is ``qemu-arm-static``: a test runs the
same command under qemu and under ``pyuser-arm`` and expects the same stdout
and exit status (and, where the output is deterministic, a literal too, which
guards the test itself against a changed reference).

Nothing here skips: the cross compiler, qemu-user-static and the Debian
packages are installed by the project's own set-up (``make deps``), so a
missing tool is a failure.

Helpers, offered as fixtures of the same name (use the fixtures: a test
module's ``from conftest import ...`` can pick up another directory's
conftest.py once tests/ has subdirectories with their own):

* ``run_pyuser(argv, arch="arm", **kw)`` -- ``pyuser-<arch> *argv``
* ``run_qemu(argv, arch="arm", **kw)`` -- ``qemu-<arch>-static *argv``
* ``assert_same_as_qemu(argv, arch="arm", stdout=..., returncode=..., **kw)``

``kw`` goes to :func:`subprocess.run`; output is captured as text unless
``text=False`` is given, stdin is /dev/null unless ``input=`` or ``stdin=``
is, and every run has a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyuser.errors import UserError
from pyuser.sysroot import apt as debian_packages
from pyuser.sysroot import build as sysroot_builder

REPO = Path(__file__).resolve().parent.parent
GUEST_SRC = REPO / "tests" / "guest_bins"
CACHE = REPO / ".cache"
# the private apt states (apt-<arch>/) and their policy, as tools/debfetch.sh takes them
APT_CACHE = Path(os.environ.get("DEBFETCH_CACHE") or CACHE)
APT_UPDATE = os.environ.get("DEBFETCH_UPDATE", "auto")

# Seconds one emulated program may take before the test fails.
DEFAULT_TIMEOUT = 300

# Per-arch settings: the cross compiler prefix the guest Makefile uses, the
# qemu binary, and the CPU model qemu is told to emulate.  qemu's default
# for arm is "max" (an ARMv8 core in AArch32, AT_PLATFORM "v8l"); pyuser's
# default model is cortex-a15 (pyuser/targets/arm_cpu.py, DEFAULT_CPU_MODEL),
# an ARMv7 core like the ones Debian armhf targets, so the reference is run
# with the same model.
ARCHES: dict[str, dict[str, str]] = {
    "arm": {
        "cross": "arm-linux-gnueabihf-",
        "qemu": "qemu-arm-static",
        "qemu_cpu": "cortex-a15",
        "debian": "armhf",
    },
    # Issue 6's targets (tests/test_targets.py); qemu runs the CPU model that
    # is pyuser's default for the arch where qemu has it.
    "aarch64": {"cross": "aarch64-linux-gnu-", "qemu": "qemu-aarch64-static",
                "qemu_cpu": "cortex-a72", "debian": "arm64"},
    "x86_64": {"cross": "x86_64-linux-gnu-", "qemu": "qemu-x86_64-static",
               "qemu_cpu": "max", "debian": "amd64"},
    "i386": {"cross": "i686-linux-gnu-", "qemu": "qemu-i386-static",
             "qemu_cpu": "max", "debian": "i386"},
    "riscv64": {"cross": "riscv64-linux-gnu-", "qemu": "qemu-riscv64-static",
                "qemu_cpu": "rv64", "debian": "riscv64"},
    "mipsel": {"cross": "mipsel-linux-gnu-", "qemu": "qemu-mipsel-static",
               "qemu_cpu": "24Kf", "debian": "mipsel"},
    "mips": {"cross": "mips-linux-gnu-", "qemu": "qemu-mips-static",
             "qemu_cpu": "24Kf", "debian": "mips"},
    "mips64el": {"cross": "mips64el-linux-gnuabi64-", "qemu": "qemu-mips64el-static",
                 "qemu_cpu": "MIPS64R2-generic", "debian": "mips64el"},
    "mips64": {"cross": "mips64-linux-gnuabi64-", "qemu": "qemu-mips64-static",
               "qemu_cpu": "MIPS64R2-generic", "debian": "mips64"},
    "armel": {"cross": "arm-linux-gnueabi-", "qemu": "qemu-arm-static",
              "qemu_cpu": "arm926", "debian": "armel"},
    "s390x": {"cross": "s390x-linux-gnu-", "qemu": "qemu-s390x-static",
              "qemu_cpu": "qemu", "debian": "s390x"},
    "ppc": {"cross": "powerpc-linux-gnu-", "qemu": "qemu-ppc-static",
            "qemu_cpu": "7457a", "debian": "powerpc"},
    "ppc64": {"cross": "powerpc64-linux-gnu-", "qemu": "qemu-ppc64-static",
              "qemu_cpu": "power10", "debian": "ppc64"},
    "m68k": {"cross": "m68k-linux-gnu-", "qemu": "qemu-m68k-static",
             "qemu_cpu": "m68020", "debian": "m68k"},
}


# --------------------------------------------------------------------------
# Guest programs
# --------------------------------------------------------------------------

_built: dict[str, Path] = {}


def build_guest_bins(arch: str = "arm") -> Path:
    """Run ``make -C tests/guest_bins`` for `arch` (once per session); return
    the directory holding the built programs."""
    if arch in _built:
        return _built[arch]
    cfg = ARCHES[arch]
    cc = cfg["cross"] + "gcc"
    if shutil.which(cc) is None:
        pytest.fail(
            f"cross compiler {cc} not found: install the packages listed in "
            "tools/deps/apt-packages.txt (make deps)",
            pytrace=False,
        )
    if shutil.which("make") is None:
        pytest.fail("make not found (make deps)", pytrace=False)
    proc = subprocess.run(
        ["make", "-C", str(GUEST_SRC), f"ARCH={arch}", f"CROSS={cfg['cross']}"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"building the guest programs failed (status {proc.returncode}):\n"
            f"{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    out = GUEST_SRC / "build" / arch
    _built[arch] = out
    return out


@pytest.fixture(scope="session")
def guest_bins() -> Path:
    """Directory of the arm guest programs (tests/guest_bins/build/arm)."""
    return build_guest_bins("arm")


# --------------------------------------------------------------------------
# Running programs
# --------------------------------------------------------------------------


def pyuser_executable(arch: str = "arm") -> Path:
    """The ``pyuser-<arch>`` console script of the Python running the tests."""
    exe = Path(sys.executable).parent / f"pyuser-{arch}"
    if not exe.exists():
        pytest.fail(
            f"{exe} not found: install pyuser into this environment "
            "(pip install -e '.[test]', or make venv)",
            pytrace=False,
        )
    return exe


def qemu_executable(arch: str = "arm") -> str:
    name = ARCHES[arch]["qemu"]
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: it is the reference the tests compare with; "
            "install qemu-user-static (make deps)",
            pytrace=False,
        )
    return path


def _hermetic_env(kw: dict) -> None:
    """Both emulators read options from QEMU_<NAME> variables (pyuser also
    from PYUSER_<NAME>): keep a developer's settings (QEMU_STRACE, QEMU_CPU,
    ...) from changing what a test sees.  QEMU_* are always dropped; PYUSER_*
    only from the inherited environment, not from an ``env=`` a test passes."""
    explicit = kw.get("env")
    env = dict(os.environ if explicit is None else explicit)
    for k in list(env):
        if k.startswith("QEMU_") or (explicit is None and k.startswith("PYUSER_")):
            del env[k]
    kw["env"] = env


def host_child_env() -> dict[str, str]:
    """The environment plus HOST_PPID and HOST_SID: the parent pid and session
    id a host child of this process sees (0 where the sandbox puts the parent
    or the session leader outside the child's pid namespace).
    tests/guest_bins/procinfo compares its getppid and getsid with them."""
    seen = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getppid(), os.getsid(0))"],
        capture_output=True, text=True, check=True).stdout.split()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYUSER_")}
    return dict(env, HOST_PPID=seen[0], HOST_SID=seen[1])


def _run(cmd: list[str], timeout: float | None, kw: dict) -> subprocess.CompletedProcess:
    _hermetic_env(kw)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    if "input" not in kw and "stdin" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    try:
        return subprocess.run(cmd, timeout=timeout or DEFAULT_TIMEOUT, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"timed out after {e.timeout} s: {cmd}", pytrace=False)


def run_pyuser(
    argv, arch: str = "arm", *, timeout: float | None = None, **kw
) -> subprocess.CompletedProcess:
    """Run ``pyuser-<arch> *argv`` and return the CompletedProcess."""
    cmd = [str(pyuser_executable(arch)), *map(str, argv)]
    return _run(cmd, timeout, kw)


def run_qemu(
    argv, arch: str = "arm", *, timeout: float | None = None, **kw
) -> subprocess.CompletedProcess:
    """Run ``qemu-<arch>-static -cpu <model> *argv`` (the reference)."""
    cmd = [qemu_executable(arch), "-cpu", ARCHES[arch]["qemu_cpu"], *map(str, argv)]
    return _run(cmd, timeout, kw)


_UNSET = object()


def assert_same_as_qemu(
    argv,
    arch: str = "arm",
    *,
    stdout=_UNSET,
    returncode=0,
    stderr=_UNSET,
    **kw,
) -> subprocess.CompletedProcess:
    """Run `argv` under qemu and under pyuser; assert equal stdout and status.

    If `stdout` / `returncode` are given (returncode defaults to 0; pass None
    to leave it unchecked), qemu's run is first checked against them, so a
    wrong literal shows up as a reference failure rather than a pyuser one.
    `stderr`, when given, is a literal pyuser's stderr must equal (qemu's
    messages start with "qemu:", so stderr is never compared between the two).
    Returns pyuser's CompletedProcess.
    """
    ref = run_qemu(argv, arch, **dict(kw))
    if stdout is not _UNSET:
        assert ref.stdout == stdout, (
            f"the reference (qemu) printed something else than the test expects; "
            f"qemu stderr: {ref.stderr!r}"
        )
    if returncode is not None:
        assert ref.returncode == returncode, (
            f"the reference (qemu) exited with {ref.returncode}, not {returncode}; "
            f"stderr: {ref.stderr!r}"
        )
    got = run_pyuser(argv, arch, **dict(kw))
    err = got.stderr if isinstance(got.stderr, str) else got.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert got.stdout == ref.stdout, f"pyuser's stdout differs from qemu's; stderr: {got.stderr!r}"
    assert got.returncode == ref.returncode, (
        f"pyuser exited with {got.returncode}, qemu with {ref.returncode}; "
        f"pyuser stderr: {got.stderr!r}"
    )
    if stderr is not _UNSET:
        assert got.stderr == stderr
    return got


@pytest.fixture
def pty_stdin():
    """A new pseudo-terminal's slave end, to give a guest as its stdin (both
    ends are closed after the test)."""
    try:
        master, slave = os.openpty()
    except OSError as e:  # a sandbox without /dev/ptmx: the capability is missing
        pytest.skip(f"no pseudo-terminal can be opened here: {e}")
    yield slave
    os.close(slave)
    os.close(master)


@pytest.fixture(name="run_pyuser")
def _run_pyuser_fixture():
    return run_pyuser


@pytest.fixture(name="run_qemu")
def _run_qemu_fixture():
    return run_qemu


@pytest.fixture(name="assert_same_as_qemu")
def _assert_same_as_qemu_fixture():
    return assert_same_as_qemu


def emulator_command(emulator: str, arch: str = "arm") -> list[str]:
    """The command prefix that runs a guest program: "pyuser" or "qemu"."""
    if emulator == "pyuser":
        return [str(pyuser_executable(arch))]
    if emulator == "qemu":
        return [qemu_executable(arch), "-cpu", ARCHES[arch]["qemu_cpu"]]
    raise ValueError(emulator)


@pytest.fixture(name="emulator_command")
def _emulator_command_fixture():
    return emulator_command


# --------------------------------------------------------------------------
# Debian packages for the guest architecture
# --------------------------------------------------------------------------


def debian_root(arch: str, name: str, packages: list[str], *, deps: bool = False) -> Path:
    """Unpack Debian packages for `arch` into .cache/<name>-<debian arch>/
    with pyuser.sysroot.apt (pyuser-sysroot's code; reusing what an earlier
    run unpacked)."""
    deb_arch = ARCHES[arch]["debian"]
    dest = CACHE / f"{name}-{deb_arch}"
    done = dest / ".debfetch-done"
    want = " ".join(sorted(packages)) + (" +deps" if deps else "")
    if done.exists() and done.read_text() == want:
        return dest
    try:
        debian_packages.fetch(deb_arch, dest, packages, deps=deps, cache=APT_CACHE,
                              update=APT_UPDATE)
    except UserError as e:
        pytest.fail(f"could not fetch {packages} for {deb_arch}: {e}", pytrace=False)
    done.write_text(want)
    return dest


@pytest.fixture(scope="session")
def busybox() -> Path:
    """Debian 12's armhf busybox-static binary."""
    path = debian_root("arm", "busybox", ["busybox-static"]) / "bin" / "busybox"
    if not path.is_file():
        pytest.fail(f"busybox-static did not provide {path}", pytrace=False)
    return path


SYSROOT_PACKAGES = REPO / "tools" / "deps" / "sysroot-packages.txt"


def build_sysroot(arch: str = "arm") -> Path:
    """The Debian 12 sysroot of tools/deps/sysroot-packages.txt
    (.cache/sysroot-<debian arch>/), built on first use by pyuser-sysroot's
    code (as `make sysroot-ARCH` does) and reused while its package list holds."""
    deb_arch = ARCHES[arch]["debian"]
    try:
        return sysroot_builder.build_sysroot(
            deb_arch, CACHE / f"sysroot-{deb_arch}",
            sysroot_builder.read_package_list(SYSROOT_PACKAGES), cache=APT_CACHE,
            update=APT_UPDATE)
    except UserError as e:
        pytest.fail(f"building the {deb_arch} sysroot failed: {e}", pytrace=False)


@pytest.fixture(scope="session")
def sysroot() -> Path:
    """A Debian 12 armhf sysroot: libc, coreutils, busybox, python3, sqlite3,
    lua5.4, grep, sed, gawk (docs/userland.md)."""
    return build_sysroot("arm")
