"""pyuser-arm's command line: bad programs and bad options.

Every error is one line on stderr and exit status 1, never a Python
traceback; -h and -version succeed.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

import pyuser

EM_386 = 3
EM_ARM = 40
ET_REL = 1
ET_EXEC = 2
PT_LOAD = 1


def elf32(
    *,
    e_type: int = ET_EXEC,
    machine: int = EM_ARM,
    data: int = 1,
    with_load: bool = True,
) -> bytes:
    """A minimal 32-bit ELF file: the header, optionally one PT_LOAD program
    header mapping the file itself, and a few bytes of "code"."""
    endian = "<" if data == 1 else ">"
    ehsize, phentsize = 52, 32
    phnum = 1 if with_load else 0
    phoff = ehsize if with_load else 0
    code = b"\x00" * 16
    filesz = ehsize + phentsize * phnum + len(code)
    entry = 0x10000 + ehsize + phentsize * phnum
    ident = b"\x7fELF" + bytes([1, data, 1, 0]) + b"\x00" * 8
    header = ident + struct.pack(
        endian + "HHIIIIIHHHHHH",
        e_type,
        machine,
        1,  # e_version
        entry,
        phoff,
        0,  # e_shoff
        0x05000400 if machine == EM_ARM else 0,  # e_flags: EABI5, hard float
        ehsize,
        phentsize,
        phnum,
        40,  # e_shentsize
        0,  # e_shnum
        0,  # e_shstrndx
    )
    phdrs = b""
    if with_load:
        phdrs = struct.pack(
            endian + "IIIIIIII", PT_LOAD, 0, 0x10000, 0x10000, filesz, filesz, 5, 0x1000
        )
    blob = header + phdrs + code
    assert len(blob) == filesz
    return blob


def assert_one_line_error(r):
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].strip()


def write(path: Path, data: bytes, mode: int = 0o755) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_missing_file(run_pyuser, tmp_path):
    r = run_pyuser([tmp_path / "does-not-exist"])
    assert_one_line_error(r)
    assert r.stdout == ""


def test_directory(run_pyuser, tmp_path):
    assert_one_line_error(run_pyuser([tmp_path]))


def test_empty_file(run_pyuser, tmp_path):
    assert_one_line_error(run_pyuser([write(tmp_path / "empty", b"")]))


def test_not_elf(run_pyuser, tmp_path):
    prog = write(tmp_path / "text", b"this is a text file, not a program\n" * 4)
    assert_one_line_error(run_pyuser([prog]))


def test_truncated_elf(run_pyuser, guest_bins, tmp_path):
    head = (guest_bins / "hello").read_bytes()[:30]
    assert_one_line_error(run_pyuser([write(tmp_path / "truncated", head)]))


def test_truncated_program_headers(run_pyuser, tmp_path):
    """A complete ELF header whose program headers lie past the end of file."""
    blob = elf32()[:60]
    assert_one_line_error(run_pyuser([write(tmp_path / "short-phdrs", blob)]))


def test_wrong_class_host_binary(run_pyuser):
    """A 64-bit x86-64 program given to the arm emulator."""
    host = shutil.which("true")
    assert host is not None
    assert Path(host).read_bytes()[:5] == b"\x7fELF\x02"
    assert_one_line_error(run_pyuser([host]))


def test_wrong_machine(run_pyuser, tmp_path):
    prog = write(tmp_path / "i386", elf32(machine=EM_386))
    assert_one_line_error(run_pyuser([prog]))


def test_big_endian(run_pyuser, tmp_path):
    prog = write(tmp_path / "armeb", elf32(data=2))
    assert_one_line_error(run_pyuser([prog]))


def test_no_loadable_segment(run_pyuser, tmp_path):
    prog = write(tmp_path / "nophdr", elf32(with_load=False))
    assert_one_line_error(run_pyuser([prog]))


def test_relocatable_object(run_pyuser, tmp_path):
    prog = write(tmp_path / "object.o", elf32(e_type=ET_REL, with_load=False))
    assert_one_line_error(run_pyuser([prog]))


def test_no_program(run_pyuser):
    r = run_pyuser([])
    assert "Traceback" not in r.stderr
    assert r.returncode == 1
    assert r.stderr.strip(), "a usage error is expected on stderr"


def test_version(run_pyuser):
    r = run_pyuser(["-version"])
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    first = r.stdout.strip().splitlines()[0]
    assert pyuser.__version__ in first


def test_help(run_pyuser):
    r = run_pyuser(["-h"])
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "usage" in (r.stdout + r.stderr).lower()


@pytest.mark.parametrize("option", ["-frobnicate", "--frobnicate"])
def test_unknown_option(run_pyuser, guest_bins, option):
    r = run_pyuser([option, guest_bins / "hello"])
    assert_one_line_error(r)
    assert r.stdout == ""
