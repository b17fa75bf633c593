"""`pyuser-sysroot --arch ARCH DIR [PACKAGE...]` (pyuser.sysroot; the code the
tests' own sysroots are built with): a small Debian 12 armhf sysroot whose
programs run under pyuser as under qemu-arm-static -L, and the command's
one-line errors with their documented exit statuses (docs/userland.md).

The private apt state is the repository's .cache/apt-armhf (the one the
other sysroot tests fill), so the packages are downloaded once."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from integration_helpers import BIN_DIR, tool_env

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"


def sysroot_command(*args: str, cache: Path = CACHE, prefix: tuple[str, ...] = (),
                    timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, str(BIN_DIR / "pyuser-sysroot"), "--cache", str(cache),
                           *args], capture_output=True, text=True, timeout=timeout,
                          env=tool_env(), stdin=subprocess.DEVNULL)


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith(
        ("pyuser-sysroot: updating", "pyuser-sysroot: downloading"))]
    assert len(lines) == 1 and lines[0].startswith("pyuser-sysroot: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def coreutils_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sysroot") / "armhf"
    got = sysroot_command("--arch", "arm", str(root), "coreutils")
    assert got.returncode == 0, got.stderr
    assert got.stdout == f"{root}\n"
    return root


def test_programs_of_the_built_sysroot_run_as_under_qemu(coreutils_root: Path,
                                                         assert_same_as_qemu) -> None:
    root = coreutils_root
    assert (root / "lib" / "ld-linux-armhf.so.3").exists()  # libc6 came as a dependency
    assert (root / ".sysroot-done").read_text() == "armhf coreutils"
    conf = root / "etc" / "ld.so.conf.d" / "arm-linux-gnueabihf.conf"
    digest = hashlib.sha256(conf.read_bytes()).hexdigest()
    assert_same_as_qemu(["-L", root, root / "usr/bin/seq", "3"], stdout="1\n2\n3\n")
    assert_same_as_qemu(["-L", root, root / "usr/bin/expr", "6", "*", "7"],
                        stdout="42\n")
    assert_same_as_qemu(["-L", root, root / "usr/bin/sha256sum", conf],
                        stdout=f"{digest}  {conf}\n")


def test_same_list_keeps_the_sysroot_and_another_rebuilds_it(coreutils_root: Path) -> None:
    marker = coreutils_root / "usr" / "bin" / "seq"
    again = sysroot_command("--arch", "armhf", str(coreutils_root), "coreutils")
    assert (again.returncode, again.stdout, again.stderr) == (0, f"{coreutils_root}\n", "")
    assert marker.exists()
    smaller = coreutils_root.parent / "libc-only"
    got = sysroot_command("--arch", "armhf", str(smaller))  # default: libc6
    assert got.returncode == 0, got.stderr
    assert (smaller / "lib" / "ld-linux-armhf.so.3").exists()
    assert not (smaller / "usr" / "bin" / "seq").exists()
    assert sorted(p.name for p in smaller.parent.iterdir()) == ["armhf", "libc-only"]


def test_bad_architectures_are_usage_errors(tmp_path: Path) -> None:
    got = sysroot_command("--arch", "vax", str(tmp_path / "r"))
    assert got.returncode == 2
    assert one_line(got.stderr).startswith("pyuser-sysroot: unknown architecture 'vax' "
                                           "(known: arm (armhf), armel (armel), ")
    got = sysroot_command("--arch", "riscv64", str(tmp_path / "r"))
    assert got.returncode == 2
    assert one_line(got.stderr).startswith(
        "pyuser-sysroot: Debian 12 has no packages for 'riscv64' (known: ")
    got = sysroot_command(str(tmp_path / "r"))
    assert got.returncode == 2
    assert one_line(got.stderr) == \
        "pyuser-sysroot: the following arguments are required: --arch (see --help)"
    assert not (tmp_path / "r").exists()


def test_unwritable_or_foreign_destinations(tmp_path: Path) -> None:
    got = sysroot_command("--arch", "arm", "/proc/pyuser-sysroot-test")
    assert got.returncode == 3
    assert one_line(got.stderr) == \
        "pyuser-sysroot: cannot create /proc/pyuser-sysroot-test: No such file or directory"
    busy = tmp_path / "home"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine\n")
    got = sysroot_command("--arch", "arm", str(busy))
    assert got.returncode == 3
    assert one_line(got.stderr) == (f"pyuser-sysroot: {busy} is not empty and is not a "
                                     "sysroot made by pyuser-sysroot (give an empty or new "
                                     "directory)")
    assert (busy / "notes.txt").read_text() == "mine\n"
    link = tmp_path / "link"
    link.symlink_to(busy)
    got = sysroot_command("--arch", "arm", str(link))
    assert got.returncode == 3
    assert one_line(got.stderr) == (f"pyuser-sysroot: {link} is a symbolic link (give the "
                                    "directory it points to)")
    got = sysroot_command("--arch", "arm", str(busy / "notes.txt" / "root"))
    assert got.returncode == 3
    assert one_line(got.stderr) == (f"pyuser-sysroot: cannot create {busy}/notes.txt/root: "
                                    f"{busy}/notes.txt is not a directory")


def test_unknown_package(tmp_path: Path) -> None:
    got = sysroot_command("--arch", "arm", str(tmp_path / "r"), "no-such-package-here")
    assert got.returncode == 1
    assert one_line(got.stderr) == \
        "pyuser-sysroot: package no-such-package-here is not available for armhf"
    assert list(tmp_path.iterdir()) == []  # nothing half-built left behind


def test_no_network(tmp_path: Path) -> None:
    """A fresh cache in a network namespace with no interface up: the package
    lists cannot be fetched."""
    got = sysroot_command("--arch", "arm", str(tmp_path / "r"), cache=tmp_path / "cache",
                          prefix=("unshare", "--user", "--map-root-user", "--net"),
                          timeout=300)
    assert got.returncode == 4, got.stderr
    assert one_line(got.stderr).startswith(
        "pyuser-sysroot: cannot download the Debian package lists for armhf (no network?): ")
    assert not (tmp_path / "r").exists()
