"""The target registry (pyuser.targets.registry) and what is derived from it:
the console scripts pyproject.toml lists, the CLI entries, the loader's
machine map, binfmt_misc's magic and the hosts that run a target natively."""

from __future__ import annotations

import importlib
import struct
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from integration_helpers import BIN_DIR, tool_env

from pyuser import binfmt, cli
from pyuser.binfmt_misc import Entry
from pyuser.loader.elf import guess_target
from pyuser.targets import load_target, registry
from pyuser.targets.base import Target

ROOT = Path(__file__).resolve().parent.parent
# pyproject.toml's console scripts that do not run one target's programs
OTHER_SCRIPTS = {
    "pyuser": "pyuser.cli:main",
    "pyuser-system-arm": "pyuser.system.cli:main",
    "pyuser-binfmt": "pyuser.binfmt:entry_point",
    "pyuser-sysroot": "pyuser.sysroot.cli:entry_point",
}
NAMES = registry.target_names()


def test_pyproject_scripts_are_exactly_the_registrys() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {**OTHER_SCRIPTS, **registry.console_scripts()}
    assert registry.console_scripts()["pyuser-freebsd-x86_64"] == \
        "pyuser.cli:main_freebsd_x86_64"


@pytest.mark.parametrize("script", sorted(registry.console_scripts()))
def test_every_console_script_entry_resolves(script: str) -> None:
    module, _, function = registry.console_scripts()[script].partition(":")
    entry = getattr(importlib.import_module(module), function)
    assert callable(entry) and entry.__name__ == function


def test_cli_has_no_entry_for_an_unknown_target() -> None:
    with pytest.raises(AttributeError):
        cli.main_vax  # noqa: B018 - the attribute access is the test
    with pytest.raises(AttributeError):
        cli.not_an_entry  # noqa: B018


def test_installed_console_script_runs_its_target() -> None:
    # the wrapper pip wrote does `from pyuser.cli import main_armel`
    got = subprocess.run([BIN_DIR / "pyuser-armel", "-cpu", "help"], capture_output=True,
                         text=True, timeout=60, env=tool_env())
    assert got.returncode == 0, got.stderr
    assert "  arm926 (default)" in got.stdout


@pytest.mark.parametrize("name", NAMES)
def test_each_target_module_takes_its_identity_from_its_row(name: str) -> None:
    row = registry.TARGETS[name]
    target = load_target(name)
    assert type(target).__module__ == f"pyuser.targets.{row.module}"
    assert target.name == name and target.identity is row
    assert (target.elf_machine, target.elf_machine_number, target.elf_class,
            target.little_endian, target.os_name) == \
        (row.elf_machine, row.elf_machine_number, row.elf_class, row.little_endian,
         row.os_name)
    assert target.abi.__name__.endswith("_abi")


def test_a_class_body_cannot_restate_an_identity_field() -> None:
    with pytest.raises(TypeError, match="comes from the registry row"):
        type("Bad", (Target,), {"name": "arm", "elf_class": 64})
    with pytest.raises(TypeError, match="no target 'vax'"):
        type("Bad", (Target,), {"name": "vax"})


def elf_header(row: registry.TargetEntry, *, e_type: int = 2, flags: int | None = None,
               osabi: int | None = None) -> bytes:
    """A 64-byte ELF header of the row's kind (no program headers)."""
    order = "<" if row.little_endian else ">"
    if osabi is None:
        osabi = registry.ELFOSABI_FREEBSD if row.os_name == "freebsd" else 0
    ident = bytes([0x7F, 0x45, 0x4C, 0x46, 1 if row.elf_class == 32 else 2,
                   1 if row.little_endian else 2, 1, osabi]) + bytes(8)
    header = bytearray(ident + struct.pack(order + "HHI", e_type, row.elf_machine_number, 1))
    header += bytes(64 - len(header))
    at = registry.e_flags_offset(row.elf_class)
    header[at:at + 4] = struct.pack(order + "I", row.e_flags_set if flags is None else flags)
    return bytes(header)


@pytest.mark.parametrize("name", NAMES)
def test_guess_target_picks_the_row_that_claims_the_header(name: str, tmp_path: Path) -> None:
    row = registry.TARGETS[name]
    path = tmp_path / "prog"
    path.write_bytes(elf_header(row))
    assert guess_target(str(path)) == name
    path.write_bytes(elf_header(row, e_type=3))  # PIE
    assert guess_target(str(path)) == name


def test_guess_target_errors_stay_one_line(tmp_path: Path) -> None:
    path = tmp_path / "prog"
    arm = registry.TARGETS["arm"]
    path.write_bytes(elf_header(arm, flags=0x05000400))  # EABI5 hard-float: armhf
    assert guess_target(str(path)) == "arm"
    path.write_bytes(elf_header(arm, osabi=registry.ELFOSABI_FREEBSD))
    with pytest.raises(Exception, match=r"FreeBSD programs for arm are not supported "
                                        r"\(only x86_64, aarch64\)"):
        guess_target(str(path))
    vax = registry.TargetEntry("vax", "EM_VAX", 75, 32, True)
    path.write_bytes(elf_header(vax))
    with pytest.raises(Exception, match="unsupported ELF machine 75"):
        guess_target(str(path))


@pytest.mark.parametrize("name", NAMES)
def test_binfmt_magic_claims_the_targets_programs_only(name: str) -> None:
    """Each entry claims its own programs; the only overlaps are the ones
    binfmt_misc's newest-first order resolves (arm's entry also matches
    armel programs) and a CPU's entry matching its FreeBSD programs, which
    pyuser runs in the personality (pyuser.launch.resolve_program)."""
    row = registry.TARGETS[name]
    claimed_by = set()
    for other in registry.TARGETS.values():
        magic, mask = other.binfmt_magic()
        entry = Entry(name=other.name, enabled=True, interpreter="", flags="P",
                      magic=magic, mask=mask)
        if entry.matches(elf_header(row)):
            assert entry.matches(elf_header(row, e_type=3))
            claimed_by.add(other.name)
    expected = {name, row.cpu}
    if name == "armel":
        expected.add("arm")
    assert claimed_by == expected


def test_freebsd_entries_never_claim_the_hosts_linux_programs() -> None:
    magic, mask = registry.TARGETS["freebsd-x86_64"].binfmt_magic()
    entry = Entry(name="freebsd-x86_64", enabled=True, interpreter="", flags="P",
                  magic=magic, mask=mask)
    assert not entry.matches(Path(sys.executable).resolve().read_bytes()[:64])
    assert entry.matches(elf_header(registry.TARGETS["freebsd-x86_64"]))


def test_native_targets_by_host() -> None:
    assert registry.native_targets("x86_64") == {"x86_64", "i386"}
    assert registry.native_targets("i686") == {"i386"}
    assert registry.native_targets("aarch64") == {"aarch64", "arm", "armel"}
    assert registry.native_targets("armv5tel") == {"armel"}
    assert registry.native_targets("mips64") == {"mips64", "mips64el", "mips", "mipsel"}
    assert registry.native_targets("s390x") == {"s390x"}
    assert registry.native_targets("ppc64le") == set()
    assert binfmt.host_family() == registry.native_targets(__import__("platform").machine())


def test_running_one_target_loads_no_other_target_module(guest_bins: Path) -> None:
    """The registry is data: picking the target of a program and building its
    process imports that target's modules only."""
    program = guest_bins / "hello"
    code = (
        "import sys\n"
        "from pyuser.launch import resolve_program\n"
        "from pyuser.process import Options\n"
        f"target, _ = resolve_program(None, {str(program)!r}, Options())\n"
        "print(target.name)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('pyuser.targets.'))))\n"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=tool_env())
    assert got.returncode == 0, got.stderr
    name, modules = got.stdout.splitlines()
    assert name == "arm"
    others = {f"pyuser.targets.{row.module}" for row in registry.TARGETS.values()} \
        - {"pyuser.targets.arm"}
    assert others.isdisjoint(modules.split()), modules
