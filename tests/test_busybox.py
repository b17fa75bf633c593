"""Debian 12's armhf busybox-static, running applets that do not exec.

Each command runs as ``busybox APPLET args`` under qemu-arm-static and under
pyuser-arm, with equal stdout and status expected, and a literal where the
output is easy to know.  The binary comes from tools/debfetch.sh (the
`busybox` fixture in conftest.py).
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile

import pytest


@pytest.fixture
def tree(tmp_path):
    """A small directory tree with fixed contents."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "a.txt").write_text("one\n")
    (src / "sub" / "b.txt").write_text("two\n")
    (src / "sub" / "big.bin").write_bytes(bytes(range(256)) * 40)
    (src / "link").symlink_to("a.txt")
    return src


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["echo", "hello", "  spaced  ", "world"], "hello   spaced   world\n"),
        (["echo", "-n", "no newline"], "no newline"),
        (["echo", "-e", "tab\\there"], "tab\there\n"),
        (
            ["printf", "%s-%d-%x-%5.2f|%c|%%\\n", "foo", "42", "255", "3.14159", "xyz"],
            "foo-42-ff- 3.14|x|%\n",
        ),
        (["seq", "1", "3", "10"], "1\n4\n7\n10\n"),
        (["seq", "-s", ",", "5"], "1,2,3,4,5\n"),
        (["date", "-u", "-d", "@1700000000"], "Tue Nov 14 22:13:20 UTC 2023\n"),
        (["date", "-u", "-d", "@0", "+%Y-%m-%d %H:%M:%S %j %a"], "1970-01-01 00:00:00 001 Thu\n"),
        (
            [
                "awk",
                'BEGIN { for (i = 1; i <= 5; i++) s += i * i; print s, 3/4, sprintf("%05.1f", 3.14159), toupper("abc") }',
            ],
            "55 0.75 003.1 ABC\n",
        ),
        (
            # (Debian's busybox-static awk has no math library: no atan2, no ^)
            [
                "awk",
                'BEGIN { printf "%d %5.2f %s %x\\n", 7 * 6, 22 / 7, substr("hello", 2, 3), 255 }',
            ],
            "42  3.14 ell ff\n",
        ),
        (["true"], ""),
        (["basename", "/usr/lib/foo.so", ".so"], "foo\n"),
        (["expr", "6", "*", "7"], "42\n"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_simple_applets(busybox, assert_same_as_qemu, args, expected):
    assert_same_as_qemu([busybox, *args], stdout=expected)


def test_false_status(busybox, assert_same_as_qemu):
    assert_same_as_qemu([busybox, "false"], stdout="", returncode=1)


def test_sort(busybox, assert_same_as_qemu):
    data = "10\n9\n100\n-1\nbanana\napple\n"
    assert_same_as_qemu(
        [busybox, "sort", "-n"], input=data, stdout="-1\napple\nbanana\n9\n10\n100\n"
    )
    assert_same_as_qemu([busybox, "sort", "-r"], input="b\nc\na\n", stdout="c\nb\na\n")
    assert_same_as_qemu([busybox, "sort", "-u"], input="b\na\nb\na\n", stdout="a\nb\n")


def test_sha256sum(busybox, assert_same_as_qemu):
    assert_same_as_qemu(
        [busybox, "sha256sum"],
        input="abc",
        stdout="ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n",
    )


def test_sha256sum_file(busybox, assert_same_as_qemu, tree):
    big = tree / "sub" / "big.bin"
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    assert_same_as_qemu([busybox, "sha256sum", big], stdout=f"{digest}  {big}\n")
    assert_same_as_qemu(
        [busybox, "md5sum"], input="abc", stdout="900150983cd24fb0d6963f7d28e17f72  -\n"
    )


def test_gzip_roundtrip(busybox, assert_same_as_qemu, run_pyuser):
    data = "".join(f"line {i} {i * i}\n" for i in range(3000)).encode()
    packed = assert_same_as_qemu([busybox, "gzip", "-c"], input=data, text=False).stdout
    assert gzip.decompress(packed) == data
    assert len(packed) < len(data) // 2
    unpacked = assert_same_as_qemu([busybox, "gzip", "-d", "-c"], input=packed, text=False)
    assert unpacked.stdout == data
    # And a stream made by Python's gzip.
    r = run_pyuser([busybox, "gzip", "-d", "-c"], input=gzip.compress(data), text=False)
    assert r.returncode == 0
    assert r.stdout == data


def test_tar_create_and_list(busybox, assert_same_as_qemu, run_pyuser, run_qemu, tree, tmp_path):
    archive_q = tmp_path / "q.tar"
    archive_p = tmp_path / "p.tar"
    # Same input tree, so the archives are byte for byte the same.
    rq = run_qemu([busybox, "tar", "-cf", archive_q, "-C", tree, "."])
    assert rq.returncode == 0, rq.stderr
    rp = run_pyuser([busybox, "tar", "-cf", archive_p, "-C", tree, "."])
    assert rp.returncode == 0, rp.stderr
    assert archive_p.read_bytes() == archive_q.read_bytes()

    with tarfile.open(archive_p) as tf:
        # (tarfile drops the trailing "/" of directory names)
        assert sorted(tf.getnames()) == [
            ".",
            "./a.txt",
            "./empty",
            "./link",
            "./sub",
            "./sub/b.txt",
            "./sub/big.bin",
        ]
        assert tf.extractfile("./sub/big.bin").read() == bytes(range(256)) * 40

    listing = assert_same_as_qemu([busybox, "tar", "-tf", archive_p]).stdout
    assert sorted(listing.splitlines()) == [
        "./",
        "./a.txt",
        "./empty/",
        "./link",
        "./sub/",
        "./sub/b.txt",
        "./sub/big.bin",
    ]
    # Extract through stdin into a fresh directory.
    out = tmp_path / "out"
    out.mkdir()
    r = run_pyuser(
        [busybox, "tar", "-xf", "-", "-C", out], input=archive_p.read_bytes(), text=False
    )
    assert r.returncode == 0, r.stderr
    assert (out / "sub" / "big.bin").read_bytes() == bytes(range(256)) * 40
    assert (out / "link").is_symlink() and str((out / "link").readlink()) == "a.txt"


def test_find(busybox, assert_same_as_qemu, tree):
    r = assert_same_as_qemu([busybox, "find", "."], cwd=tree)
    assert sorted(r.stdout.splitlines()) == [
        ".",
        "./a.txt",
        "./empty",
        "./link",
        "./sub",
        "./sub/b.txt",
        "./sub/big.bin",
    ]
    r = assert_same_as_qemu([busybox, "find", ".", "-type", "f", "-name", "*.txt"], cwd=tree)
    assert sorted(r.stdout.splitlines()) == ["./a.txt", "./sub/b.txt"]
    assert_same_as_qemu([busybox, "find", ".", "-type", "l"], cwd=tree, stdout="./link\n")
    assert_same_as_qemu([busybox, "find", ".", "-size", "+5k"], cwd=tree, stdout="./sub/big.bin\n")


def test_ls(busybox, assert_same_as_qemu, tree):
    assert_same_as_qemu([busybox, "ls", tree], stdout="a.txt\nempty\nlink\nsub\n")
    assert_same_as_qemu([busybox, "ls", "-a"], cwd=tree, stdout=".\n..\na.txt\nempty\nlink\nsub\n")
    assert_same_as_qemu([busybox, "ls", "-F"], cwd=tree, stdout="a.txt\nempty/\nlink@\nsub/\n")
    assert_same_as_qemu([busybox, "ls", "-1", "sub"], cwd=tree, stdout="b.txt\nbig.bin\n")
    assert_same_as_qemu([busybox, "ls", "-s", "-n", "-l", "-R"], cwd=tree)


def test_awk_fields(busybox, assert_same_as_qemu):
    data = "alice 30 paris\nbob 25 london\ncarol 35 rome\n"
    assert_same_as_qemu(
        [busybox, "awk", '$2 > 26 { n++; s = s $1 "," } END { print n, s, NR }'],
        input=data,
        stdout="2 alice,carol, 3\n",
    )


def test_sed(busybox, assert_same_as_qemu):
    assert_same_as_qemu(
        [busybox, "sed", "-e", "s/world/there/", "-e", "s/^/>/"],
        input="hello world\n",
        stdout=">hello there\n",
    )
    assert_same_as_qemu(
        [busybox, "sed", "-n", "2,3p;$=", "-"], input="a\nb\nc\nd\n", stdout="b\nc\n4\n"
    )
    assert_same_as_qemu(
        [busybox, "sed", "-E", r"s/([0-9]+)-([0-9]+)/\2-\1/g"],
        input="12-34 and 5-6\n",
        stdout="34-12 and 6-5\n",
    )


def test_grep(busybox, assert_same_as_qemu, tree):
    data = "abc\nxyz\nbcd\nBCD\n"
    assert_same_as_qemu([busybox, "grep", "-n", "b"], input=data, stdout="1:abc\n3:bcd\n")
    assert_same_as_qemu([busybox, "grep", "-ic", "bcd"], input=data, stdout="2\n")
    assert_same_as_qemu(
        [busybox, "grep", "-v", "-E", "^(abc|xyz)$"], input=data, stdout="bcd\nBCD\n"
    )
    assert_same_as_qemu([busybox, "grep", "nomatch"], input=data, stdout="", returncode=1)
    assert_same_as_qemu(
        [busybox, "grep", "-r", "-l", "-x", "two", "."], cwd=tree, stdout="./sub/b.txt\n"
    )


def test_wc_cat_head(busybox, assert_same_as_qemu, tree):
    assert_same_as_qemu(
        [busybox, "wc", "-c", "sub/big.bin"], cwd=tree, stdout="10240 sub/big.bin\n"
    )
    assert_same_as_qemu([busybox, "cat", "a.txt", "sub/b.txt"], cwd=tree, stdout="one\ntwo\n")
    assert_same_as_qemu([busybox, "head", "-n", "2"], input="1\n2\n3\n", stdout="1\n2\n")
    assert_same_as_qemu([busybox, "tail", "-n", "1"], input="1\n2\n3\n", stdout="3\n")


def test_missing_file_status(busybox, assert_same_as_qemu, tmp_path):
    """Applet errors: stdout and status agree with qemu (stderr names errno)."""
    r = assert_same_as_qemu([busybox, "cat", tmp_path / "nope"], stdout="", returncode=1)
    assert "No such file or directory" in r.stderr
