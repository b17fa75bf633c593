"""FreeBSD programs under pyuser: Go's FreeBSD runtime calls the kernel directly
(thr_new, _umtx_op, kevent, __sysctl, sigaction with FreeBSD's sigset and
ucontext...), so one Go program built for freebsd and for linux, the latter run
natively as the reference, checks the FreeBSD personality end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyuser.loader.elf import guess_target

GO_SRC = Path(__file__).resolve().parent / "guest_bins" / "go"
BUILD = Path(__file__).resolve().parent / "guest_bins" / "build" / "go-freebsd"


def _go_build(goos: str, goarch: str, program: str = "bsdabi") -> Path:
    out = BUILD / f"{program}-{goos}-{goarch}"
    source = GO_SRC / ("bsdabi.go" if program == "bsdabi" else f"{program}/{program}.go")
    if out.exists() and out.stat().st_mtime >= source.stat().st_mtime:
        return out
    BUILD.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOOS=goos, GOARCH=goarch, CGO_ENABLED="0",
               GOCACHE=str(BUILD / "gocache"), GOFLAGS="-mod=mod")
    what = "bsdabi.go" if program == "bsdabi" else f"./{program}"
    r = subprocess.run(["go", "build", "-o", str(out), what], cwd=GO_SRC, env=env,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"go build ({goos}/{goarch}) failed:\n{r.stderr}", pytrace=False)
    return out


@pytest.fixture(scope="module")
def bsdabi_amd64() -> Path:
    return _go_build("freebsd", "amd64")


@pytest.fixture(scope="module")
def bsdabi_arm64() -> Path:
    return _go_build("freebsd", "arm64")


@pytest.fixture(scope="module")
def bsdabi_linux() -> Path:
    return _go_build("linux", "amd64")


def _pyuser(*args: str | Path, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, BSDABI_VALUE="from-the-test")
    return subprocess.run([sys.executable, "-m", "pyuser", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300, **kw)


def test_detection_by_osabi(bsdabi_amd64, bsdabi_arm64, bsdabi_linux):
    assert guess_target(str(bsdabi_amd64)) == "freebsd-x86_64"
    assert guess_target(str(bsdabi_arm64)) == "freebsd-aarch64"
    assert guess_target(str(bsdabi_linux)) == "x86_64"


@pytest.mark.parametrize("goarch", ["amd64", "arm64"])
def test_same_output_as_the_linux_build(goarch, bsdabi_amd64, bsdabi_arm64, bsdabi_linux,
                                        tmp_path):
    program = {"amd64": bsdabi_amd64, "arm64": bsdabi_arm64}[goarch]
    env = dict(os.environ, BSDABI_VALUE="from-the-test", TMPDIR=str(tmp_path))
    native = subprocess.run([str(bsdabi_linux)], env=env, capture_output=True, text=True,
                            timeout=120)
    assert native.returncode == 7, native.stderr
    r = subprocess.run([sys.executable, "-m", "pyuser", str(program)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.stdout == native.stdout
    assert r.returncode == 7, r.stderr
    # the sections the reference printed, so a silent skip cannot pass
    for word in ("system:", "files:", "dirs:", "pipe:", "goroutines:", "timers:", "signal: user defined",
                 "recovered: runtime error", "tcp: [ping 0", 'exec: cat "through stdin\\n"',
                 'unix: "fd" rights=1'):
        assert word in r.stdout


def test_strace_shows_freebsd_names(bsdabi_amd64):
    r = _pyuser("-strace", bsdabi_amd64, "hello")
    assert r.stdout == "hello\n"
    for name in ("sysarch(129,", "__sysctl(", "sigaction(", "mmap(", "write(1, \"hello\\n\", 6)"):
        assert name in r.stderr


def test_dedicated_command_and_unimp(bsdabi_amd64):
    exe = Path(sys.executable).parent / "pyuser-freebsd-x86_64"
    r = subprocess.run([str(exe), "-d", "unimp", str(bsdabi_amd64), "hello"],
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout) == (0, "hello\n")
    # a sysctl node pyuser does not have is reported, and the program goes on
    assert "Unsupported sysctl: kern.conftxt" in r.stderr


KQUEUE_EXPECTED = """\
empty pipe:
written: {ident=pipe filter=-1 eof=false data=3}
disabled:
writer closed: {ident=pipe filter=-1 eof=true data=3}
deleted:
delete again: no such file or directory
receipt: 1 <nil> true no such file or directory
timer ticks>=3: true elapsed>=60ms: true
oneshot timer: {ident=8 filter=-7 eof=false data=1}
oneshot again:
user untriggered:
user triggered: {ident=42 filter=-11 eof=false data=0}
signals: {ident=31 filter=-6 eof=false data=2}
child exit: note_exit=true eof=true status=5
waited: 5
jail: function not implemented
"""


@pytest.mark.parametrize("goarch", ["amd64", "arm64"])
def test_kqueue_filters_and_flags(goarch):
    """kevent as FreeBSD's kqueue(2) describes it: read with EV_EOF, DISABLE/ENABLE,
    DELETE and RECEIPT errors, periodic and one-shot timers, user events,
    signals counted while ignored, a child's exit with its status."""
    r = _pyuser("-d", "unimp", _go_build("freebsd", goarch, "kqueue"))
    assert (r.returncode, r.stdout) == (0, KQUEUE_EXPECTED), r.stderr
    assert r.stderr.count("Unsupported syscall: 338 (jail)\n") == 1


def test_personality_errors_and_binfmt_style_switch(bsdabi_amd64, bsdabi_linux, tmp_path):
    """pyuser-x86_64 (binfmt_misc's interpreter for that CPU, whose magic masks
    EI_OSABI) runs a FreeBSD program with the FreeBSD personality; the FreeBSD
    command refuses a Linux program, and an unsupported FreeBSD CPU is one
    clear line with status 1."""
    bindir = Path(sys.executable).parent
    r = subprocess.run([str(bindir / "pyuser-x86_64"), str(bsdabi_amd64), "hello"],
                       capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout) == (0, "hello\n")
    r = subprocess.run([str(bindir / "pyuser-freebsd-x86_64"), str(bsdabi_linux), "hello"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr == (f"pyuser-freebsd-x86_64: {bsdabi_linux}: not a FreeBSD program "
                        "(for freebsd-x86_64; `pyuser` picks the target from the ELF header)\n")
    i386 = tmp_path / "prog"
    data = bytearray(bsdabi_amd64.read_bytes()[:4096])
    data[4], data[18:20] = 1, (3).to_bytes(2, "little")  # ELFCLASS32, EM_386
    i386.write_bytes(bytes(data))
    i386.chmod(0o755)
    r = _pyuser(i386)
    assert r.returncode == 1
    assert r.stderr.endswith(f"{i386}: FreeBSD programs for i386 are not supported "
                             "(only x86_64, aarch64)\n")


def test_documented_syscall_list():
    """docs/freebsd.md lists exactly the syscalls the FreeBSD tables dispatch."""
    import re

    from pyuser.launch import new_process
    from pyuser.process import Options
    from pyuser.targets import load_target

    doc = (Path(__file__).resolve().parent.parent / "docs" / "freebsd.md").read_text()
    section = doc.split("## Implemented syscalls", 1)[1]
    listed = set(re.search(r"`([^`]+)`", section).group(1).replace("(amd64)", "").split())
    counts = {}
    for name in ("freebsd-x86_64", "freebsd-aarch64"):
        kernel = new_process(load_target(name), Options()).kernel
        served = {e.name for e in [*kernel.table, *kernel.sparse.values()] if e is not None}
        counts[name] = len(served)
        assert served <= listed and listed - served <= {"sysarch"}
    assert f"({counts['freebsd-x86_64']} on amd64, {counts['freebsd-aarch64']} on arm64)" in doc


@pytest.mark.parametrize("target", ["freebsd-x86_64", "freebsd-aarch64"])
def test_hostile_arguments(target, tmp_path):
    """Every FreeBSD syscall pyuser serves, with seven hostile argument patterns
    (tests/freebsd_hostile_driver.py, in a user+pid+mount namespace, each call
    in a child of its own): an errno or a result, never a Python exception;
    only sigreturn of a garbage context kills (SIGSEGV, as FreeBSD's
    sigexit does for a frame it cannot copy in)."""
    driver = Path(__file__).resolve().parent / "freebsd_hostile_driver.py"
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc",
                        sys.executable, str(driver), target], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[:-1] == [], r.stdout[-3000:]
    assert lines[-1].startswith("checked ") and int(lines[-1].split()[1]) > 110
