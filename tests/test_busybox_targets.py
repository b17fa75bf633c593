"""Debian 12's busybox-static for arm64, amd64, i386 and mipsel under
pyuser-<arch>, compared with qemu-<arch>-static: the armhf applet set of
tests/test_busybox.py, leaner (one parametrised test per kind of applet).
The binaries come from tools/debfetch.sh (conftest.debian_root).
"""

from __future__ import annotations

import gzip
import tarfile

import pytest
from conftest import debian_root

ARCHES = ["aarch64", "x86_64", "i386", "mipsel"]


@pytest.fixture(scope="module", params=ARCHES)
def bb(request):
    arch = request.param
    path = debian_root(arch, "busybox", ["busybox-static"]) / "bin" / "busybox"
    if not path.is_file():
        pytest.fail(f"busybox-static did not provide {path}", pytrace=False)
    return arch, path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["echo", "hello", "  spaced  ", "world"], "hello   spaced   world\n"),
        (["printf", "%s-%d-%x-%5.2f|%c|%%\\n", "foo", "42", "255", "3.14159", "xyz"],
         "foo-42-ff- 3.14|x|%\n"),
        (["seq", "-s", ",", "5"], "1,2,3,4,5\n"),
        (["date", "-u", "-d", "@1700000000"], "Tue Nov 14 22:13:20 UTC 2023\n"),
        (["awk", 'BEGIN { printf "%d %5.2f %s %x\\n", 7 * 6, 22 / 7, substr("hello", 2, 3), '
          "255 }"], "42  3.14 ell ff\n"),
        (["basename", "/usr/lib/foo.so", ".so"], "foo\n"),
        (["expr", "6", "*", "7"], "42\n"),
        (["true"], ""),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_simple_applets(bb, assert_same_as_qemu, args, expected):
    arch, busybox = bb
    assert_same_as_qemu([busybox, *args], arch, stdout=expected)


def test_status_sort_and_digests(bb, assert_same_as_qemu):
    arch, busybox = bb
    assert_same_as_qemu([busybox, "false"], arch, stdout="", returncode=1)
    assert_same_as_qemu([busybox, "sort", "-n"], arch, input="10\n9\n100\n-1\n",
                        stdout="-1\n9\n10\n100\n")
    assert_same_as_qemu([busybox, "sha256sum"], arch, input="abc", stdout=(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n"))
    assert_same_as_qemu([busybox, "md5sum"], arch, input="abc",
                        stdout="900150983cd24fb0d6963f7d28e17f72  -\n")


def test_gzip_and_tar(bb, assert_same_as_qemu, run_pyuser, tmp_path):
    arch, busybox = bb
    data = "".join(f"line {i} {i * i}\n" for i in range(3000)).encode()
    packed = assert_same_as_qemu([busybox, "gzip", "-c"], arch, input=data, text=False).stdout
    assert gzip.decompress(packed) == data
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("one\n")
    (src / "sub" / "big.bin").write_bytes(bytes(range(256)) * 40)
    archive = tmp_path / "p.tar"
    r = run_pyuser([busybox, "tar", "-cf", archive, "-C", src, "."], arch)
    assert r.returncode == 0, r.stderr
    with tarfile.open(archive) as tf:
        assert tf.extractfile("./sub/big.bin").read() == bytes(range(256)) * 40
    listing = assert_same_as_qemu([busybox, "tar", "-tf", archive], arch).stdout
    assert sorted(listing.splitlines()) == ["./", "./a.txt", "./sub/", "./sub/big.bin"]
