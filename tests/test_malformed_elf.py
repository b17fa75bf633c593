"""Malformed ELF files built from the bundled guest programs: one line on
stderr and status 1 where Linux refuses the file, the signal Linux gives
where it starts it (qemu as the reference), never a Python traceback.

Each case is a place where a mutant of tools/fuzz_elf.py once ended in a
traceback (or a two-line error).
"""

from __future__ import annotations

import signal
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import ARCHES, GUEST_SRC, run_pyuser, run_qemu

PT_LOAD, PT_INTERP, PT_GNU_STACK = 1, 3, 0x6474E551
SYSROOT = {"arm": "/usr/arm-linux-gnueabihf", "aarch64": "/usr/aarch64-linux-gnu"}


class Elf:
    """A guest program's bytes, with its header and program-header fields editable."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.wide = data[4] == 2
        self.order = "<" if data[5] == 1 else ">"
        self.word = "Q" if self.wide else "I"

    def _header(self, name: str) -> tuple[int, str]:
        wide = self.wide
        return {"e_entry": (24, self.word), "e_phoff": (32 if wide else 28, self.word),
                "e_phentsize": (54 if wide else 42, "H"), "e_phnum": (56 if wide else 44, "H"),
                }[name]

    def get(self, name: str) -> int:
        at, code = self._header(name)
        return struct.unpack_from(self.order + code, self.data, at)[0]

    def set(self, name: str, value: int) -> None:
        at, code = self._header(name)
        struct.pack_into(self.order + code, self.data, at, value)

    def _phdr(self, index: int, name: str) -> tuple[int, str]:
        base = self.get("e_phoff") + index * self.get("e_phentsize")
        w = self.word
        fields = ({"p_type": (0, "I"), "p_offset": (8, w), "p_vaddr": (16, w),
                   "p_filesz": (32, w), "p_memsz": (40, w)} if self.wide else
                  {"p_type": (0, "I"), "p_offset": (4, w), "p_vaddr": (8, w),
                   "p_filesz": (16, w), "p_memsz": (20, w)})
        at, code = fields[name]
        return base + at, code

    def phdr(self, index: int, name: str) -> int:
        at, code = self._phdr(index, name)
        return struct.unpack_from(self.order + code, self.data, at)[0]

    def set_phdr(self, index: int, name: str, value: int) -> None:
        at, code = self._phdr(index, name)
        struct.pack_into(self.order + code, self.data, at, value)

    def find(self, p_type: int) -> int:
        return next(i for i in range(self.get("e_phnum")) if self.phdr(i, "p_type") == p_type)

    def interp_span(self) -> tuple[int, int]:
        i = self.find(PT_INTERP)
        return self.phdr(i, "p_offset"), self.phdr(i, "p_filesz")

    def write(self, path: Path) -> Path:
        path.write_bytes(self.data)
        path.chmod(0o755)
        return path


def program(arch: str, name: str) -> Elf:
    """A bundled guest program (hello, hello-dyn), built if needed."""
    path = GUEST_SRC / "build" / arch / name
    cross = ARCHES[arch]["cross"]
    proc = subprocess.run(["make", "-s", "-C", str(GUEST_SRC), f"ARCH={arch}",
                           f"CROSS={cross}", str(path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return Elf(path.read_bytes())


def run_both(arch: str, path: Path, dynamic: bool):
    args = ["-L", SYSROOT[arch], path] if dynamic else [path]
    # qemu prints a bad path's bytes as they are
    return run_pyuser(args, arch), run_qemu(args, arch, errors="replace")


def assert_one_line_error(r, *fragments: str) -> None:
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# ------------------------------------------------------------ PT_INTERP

@pytest.mark.parametrize("arch", ["arm", "aarch64"])
def test_interpreter_name_without_terminator(arch, tmp_path):
    elf = program(arch, "hello-dyn")
    offset, size = elf.interp_span()
    elf.data[offset + size - 1] = ord("x")
    r, q = run_both(arch, elf.write(tmp_path / "unterminated"), dynamic=True)
    assert_one_line_error(r, "unterminated interpreter name")
    assert q.returncode != 0  # qemu refuses it as well


@pytest.mark.parametrize("offset", ["eof", "2**63"])
def test_interpreter_name_past_end_of_file(offset, tmp_path):
    elf = program("arm", "hello-dyn")
    where = len(elf.data) - 4 if offset == "eof" else 0xFFFFFFF0
    elf.set_phdr(elf.find(PT_INTERP), "p_offset", where)
    r = run_pyuser(["-L", SYSROOT["arm"], elf.write(tmp_path / "past-eof")])
    assert_one_line_error(r, "interpreter name lies past the end")


def test_interpreter_name_offset_near_2_63(tmp_path):
    """A 64-bit offset no host file offset can hold."""
    elf = program("aarch64", "hello-dyn")
    elf.set_phdr(elf.find(PT_INTERP), "p_offset", (1 << 63) - 2)
    r = run_pyuser(["-L", SYSROOT["aarch64"], elf.write(tmp_path / "far")], "aarch64")
    assert_one_line_error(r, "interpreter name lies past the end")


def test_interpreter_name_not_utf8(tmp_path):
    """Linux opens the bytes as they are: no such file; the error escapes them."""
    elf = program("arm", "hello-dyn")
    offset, _size = elf.interp_span()
    elf.data[offset + 2] = 0xFF  # /l\xffb/ld-linux-armhf.so.3
    r, q = run_both("arm", elf.write(tmp_path / "latin"), dynamic=True)
    assert_one_line_error(r, "interpreter /l\\xffb/ld-linux-armhf.so.3 not found")
    assert q.returncode != 0


def test_interpreter_name_with_newline(tmp_path):
    elf = program("arm", "hello-dyn")
    offset, _size = elf.interp_span()
    elf.data[offset + 4] = ord("\n")  # /lib\nld-linux-armhf.so.3
    r = run_pyuser(["-L", SYSROOT["arm"], elf.write(tmp_path / "newline")])
    assert_one_line_error(r, "interpreter /lib\\nld-linux-armhf.so.3 not found")


def test_program_path_with_newline(tmp_path):
    r = run_pyuser([tmp_path / "no\nsuch"])
    assert_one_line_error(r, "no\\nsuch")


# ------------------------------------------------------------ the program headers

@pytest.mark.parametrize("value", [(1 << 63) - 1, 1 << 63, (1 << 64) - 64])
def test_program_headers_offset_near_2_63(value, tmp_path):
    elf = program("aarch64", "hello-dyn")
    elf.set("e_phoff", value)
    r, q = run_both("aarch64", elf.write(tmp_path / "phoff"), dynamic=True)
    assert_one_line_error(r, "program headers lie past the end")
    assert q.returncode != 0


@pytest.mark.parametrize("phnum", [0, 65535])
def test_program_header_count(phnum, tmp_path):
    elf = program("arm", "hello")
    elf.set("e_phnum", phnum)
    r = run_pyuser([elf.write(tmp_path / "phnum")])
    assert_one_line_error(r, f"{phnum} program headers")


@pytest.mark.parametrize("arch,phentsize", [("arm", 64), ("aarch64", 112), ("arm", 33)])
def test_program_header_entry_size(arch, phentsize, tmp_path):
    """Linux reads program headers of its own size only (elf_read_phdrs); with
    a larger e_phentsize pyuser read garbage headers of a dynamic program."""
    elf = program(arch, "hello-dyn")
    elf.set("e_phentsize", phentsize)
    r, q = run_both(arch, elf.write(tmp_path / "phentsize"), dynamic=True)
    assert_one_line_error(r, f"program header size {phentsize}")
    assert q.returncode != 0


def test_empty_load_segment_maps_nothing(tmp_path):
    """A PT_LOAD of no size (GNU_STACK turned into one): Linux maps nothing
    for it and runs the program; pyuser ended in UC_ERR_ARG invalidating an
    empty range of translated code."""
    elf = program("arm", "hello-dyn")
    stack = elf.find(PT_GNU_STACK)
    elf.set_phdr(stack, "p_type", PT_LOAD)
    elf.set_phdr(stack, "p_vaddr", 0x3000)
    r, q = run_both("arm", elf.write(tmp_path / "empty-load"), dynamic=True)
    assert "Traceback" not in r.stderr, r.stderr
    assert (r.returncode, r.stdout) == (q.returncode, q.stdout) == (0, "Hello, world!\n")


# ------------------------------------------------------------ the entry point

@pytest.mark.parametrize("arch,entry", [("aarch64", (1 << 64) - 1), ("aarch64", (1 << 64) - 0x1000),
                                        ("arm", 0xFFFFFFF0)])
def test_dynamic_entry_at_the_top(arch, entry, tmp_path):
    """e_entry + load bias wraps, as the kernel's unsigned long does; ld.so
    jumps there and the guest dies of SIGSEGV, under qemu too (the initial
    stack builder raised struct.error)."""
    elf = program(arch, "hello-dyn")
    elf.set("e_entry", entry)
    r, q = run_both(arch, elf.write(tmp_path / "entry"), dynamic=True)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == q.returncode == -signal.SIGSEGV, (r.returncode, q.returncode)
    assert r.stderr.strip().splitlines() == [
        "pyuser: uncaught target signal 11 (Segmentation fault) - core dumped"]


@pytest.mark.parametrize("length", [4, 5, 6, 15])
def test_truncated_inside_ident(length, tmp_path):
    """A file that ends inside e_ident, past the magic (it raised IndexError)."""
    short = tmp_path / "short"
    short.write_bytes(program("aarch64", "hello").data[:length])
    short.chmod(0o755)
    r = run_pyuser([short], "aarch64")
    assert_one_line_error(r, "truncated ELF header")
