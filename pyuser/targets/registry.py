"""The targets pyuser emulates: one row each, the only list of them.

A row is a target's identity -- its name, the ELF files it runs, the hosts
that run those natively -- and nothing that needs the CPU: reading it imports
no target module and no engine, so `pyuser PROGRAM` picks its target, and
`pyuser-binfmt` writes its entries, without loading the other targets.
Everything else that lists targets is derived from these rows:

- the target's module, ``pyuser.targets.<module>`` (the name with ``-`` as
  ``_``), loaded by name only when the target runs (pyuser.targets.load_target);
- the identity fields of its Target class (elf_machine, elf_machine_number,
  elf_class, little_endian, os_name), filled in from the row by
  Target.__init_subclass__;
- the loader's machine map (pyuser.loader.elf.guess_target, through `claims`);
- binfmt_misc's magic and mask, and which hosts skip the target because they
  run it natively (pyuser.binfmt);
- the console script ``pyuser-<name>`` and its entry ``pyuser.cli:main_<module>``
  (pyproject.toml lists them statically; tests/test_registry.py checks that
  the list there is exactly this one).

A FreeBSD personality (docs/freebsd.md) is a row of its own made from its
CPU's row (`_freebsd`).  Adding a target: docs/targets.md, "Adding a target".
"""

from __future__ import annotations

import struct

# EI_OSABI of FreeBSD programs (glibc's elf.h ELFOSABI_FREEBSD)
ELFOSABI_FREEBSD = 9
# e_flags bit of ARM EABI soft-float programs, Debian's armel (glibc's elf.h)
EF_ARM_ABI_FLOAT_SOFT = 0x200

ET_EXEC = 2


class TargetEntry:
    """One target's identity: what ELF files it runs, who runs them natively.

    A plain class, not a dataclass: the rows are made at every start of
    pyuser, and a frozen dataclass's generated methods cost ~0.7 ms of it
    (measured with python -X importtime).  Rows are read-only by convention."""

    __slots__ = ("name", "elf_machine", "elf_machine_number", "elf_class", "little_endian",
                 "native_on", "e_flags_set", "os_name", "cpu", "debian_arch")

    def __init__(self, name: str, elf_machine: str, elf_machine_number: int, elf_class: int,
                 little_endian: bool, *, native_on: tuple[str, ...] = (),
                 e_flags_set: int = 0, os_name: str = "linux", cpu: str | None = None,
                 debian_arch: str | None = None) -> None:
        self.name = name  # "arm", "freebsd-x86_64": the target's name everywhere
        self.elf_machine = elf_machine  # pyelftools' e_machine name, e.g. "EM_ARM"
        self.elf_machine_number = elf_machine_number  # its value (include/uapi/linux/elf-em.h)
        self.elf_class = elf_class  # 32 or 64
        self.little_endian = little_endian
        # `uname -m` of hosts that run these programs themselves: pyuser-binfmt
        # does not register the target there unless asked by name
        self.native_on = native_on
        # e_flags bits a file must have for this target to claim it rather
        # than another row of the same machine (armel: EF_ARM_ABI_FLOAT_SOFT)
        self.e_flags_set = e_flags_set
        # the kernel personality: "linux", or "freebsd" (pyuser.syscalls.freebsd)
        self.os_name = os_name
        # the CPU target whose machine this is (a personality's Linux target)
        self.cpu = cpu or name
        # Debian 12's name for the architecture, None where Debian 12 has no
        # packages (pyuser-sysroot builds sysroots from them)
        self.debian_arch = debian_arch

    def __repr__(self) -> str:
        return f"<TargetEntry {self.name}>"

    @property
    def module(self) -> str:
        """The module under pyuser.targets that defines TARGET."""
        return self.name.replace("-", "_")

    @property
    def script(self) -> str:
        """The console script that runs this target's programs."""
        return f"pyuser-{self.name}"

    @property
    def entry_point(self) -> str:
        """The function the console script calls (pyuser.cli derives it)."""
        return f"pyuser.cli:main_{self.module}"

    def claims(self, elf_class: int, little_endian: bool, machine: int, flags: int) -> bool:
        """Whether an ELF header with these fields is one of this target's
        (the OS, which the header alone does not always say, apart)."""
        return (elf_class == self.elf_class and little_endian == self.little_endian
                and machine == self.elf_machine_number
                and flags & self.e_flags_set == self.e_flags_set)

    def binfmt_magic(self) -> tuple[bytes, bytes]:
        """binfmt_misc magic and mask for this target's ELF executables.

        They match the ident (class, data, version) and e_machine, and e_type
        without its low bit, so that ET_EXEC (2) and ET_DYN (3, PIE) both
        match (the layout qemu's qemu-binfmt-conf.sh uses); EI_OSABI and the
        padding are ignored, except that a FreeBSD personality asks for
        EI_OSABI 9 (so that it never claims the host's own Linux programs).
        A row with e_flags_set extends them to e_flags (armel: binfmt_misc
        tries the newest entry first, and `register --all` registers armel
        after arm, so armel programs come to pyuser-armel; with arm alone
        they run under pyuser-arm, which runs them too)."""
        order = "<" if self.little_endian else ">"
        osabi = ELFOSABI_FREEBSD if self.os_name == "freebsd" else 0
        ident = bytes([0x7F, ord("E"), ord("L"), ord("F"), 1 if self.elf_class == 32 else 2,
                       1 if self.little_endian else 2, 1, osabi]) + bytes(8)
        magic = ident + struct.pack(order + "HH", ET_EXEC, self.elf_machine_number)
        type_mask = struct.pack(order + "H", 0xFFFE)
        mask = b"\xff" * 7 + (b"\xff" if osabi else b"\x00") + b"\xff" * 8 + type_mask \
            + b"\xff\xff"
        if self.e_flags_set:
            pad = bytes(e_flags_offset(self.elf_class) - len(magic))
            flags = struct.pack(order + "I", self.e_flags_set)
            magic, mask = magic + pad + flags, mask + pad + flags
        return magic, mask


def e_flags_offset(elf_class: int) -> int:
    """Where e_flags is in the ELF header (after e_entry, e_phoff, e_shoff)."""
    return 36 if elf_class == 32 else 48


def _freebsd(cpu: TargetEntry) -> TargetEntry:
    """The FreeBSD personality of a CPU target: the same machine, FreeBSD's
    kernel; no host runs it natively (the host is Linux), no Debian packages."""
    return TargetEntry(f"freebsd-{cpu.name}", cpu.elf_machine, cpu.elf_machine_number,
                       cpu.elf_class, cpu.little_endian, e_flags_set=cpu.e_flags_set,
                       os_name="freebsd", cpu=cpu.name)


_ARM_HOSTS = ("aarch64", "arm64", "armv7l", "armv6l", "armv8l")

_CPUS = (
    TargetEntry("arm", "EM_ARM", 40, 32, True, native_on=_ARM_HOSTS, debian_arch="armhf"),
    TargetEntry("armel", "EM_ARM", 40, 32, True, native_on=(*_ARM_HOSTS, "armv5tel"),
                e_flags_set=EF_ARM_ABI_FLOAT_SOFT, debian_arch="armel"),
    TargetEntry("aarch64", "EM_AARCH64", 183, 64, True, native_on=("aarch64", "arm64"),
                debian_arch="arm64"),
    TargetEntry("x86_64", "EM_X86_64", 62, 64, True, native_on=("x86_64",),
                debian_arch="amd64"),
    TargetEntry("i386", "EM_386", 3, 32, True,
                native_on=("x86_64", "i386", "i486", "i586", "i686"), debian_arch="i386"),
    # Debian 12 has no riscv64, mips or mips64 packages (riscv64 came in 13)
    TargetEntry("riscv64", "EM_RISCV", 243, 64, True, native_on=("riscv64",)),
    TargetEntry("mipsel", "EM_MIPS", 8, 32, True, native_on=("mipsel", "mips64"),
                debian_arch="mipsel"),
    TargetEntry("mips", "EM_MIPS", 8, 32, False, native_on=("mips", "mips64")),
    TargetEntry("mips64el", "EM_MIPS", 8, 64, True, native_on=("mips64",),
                debian_arch="mips64el"),
    TargetEntry("mips64", "EM_MIPS", 8, 64, False, native_on=("mips64",)),
    TargetEntry("s390x", "EM_S390", 22, 64, False, native_on=("s390x",), debian_arch="s390x"),
    # 32-bit PowerPC is only a Debian ports architecture (none in Debian 12)
    TargetEntry("ppc", "EM_PPC", 20, 32, False, native_on=("ppc", "ppc64")),
    # ELFv1 big-endian, Debian's ppc64 ports architecture (none in Debian 12)
    TargetEntry("ppc64", "EM_PPC64", 21, 64, False, native_on=("ppc64",)),
    # Debian's m68k ports architecture (none in Debian 12)
    TargetEntry("m68k", "EM_68K", 4, 32, False, native_on=("m68k",)),
)
_CPU_BY_NAME = {row.name: row for row in _CPUS}

# every target, by name: the CPUs, then the FreeBSD personalities
TARGETS: dict[str, TargetEntry] = {
    row.name: row for row in (
        *_CPUS,
        _freebsd(_CPU_BY_NAME["x86_64"]),
        _freebsd(_CPU_BY_NAME["aarch64"]),
    )
}


def target_names() -> list[str]:
    return sorted(TARGETS)


def entry(name: str) -> TargetEntry | None:
    return TARGETS.get(name)


def candidates(elf_class: int, little_endian: bool, machine: int,
               flags: int) -> list[TargetEntry]:
    """The rows that claim an ELF header with these fields, the most specific
    (most e_flags bits asked for) first."""
    rows = [r for r in TARGETS.values() if r.claims(elf_class, little_endian, machine, flags)]
    return sorted(rows, key=lambda r: -bin(r.e_flags_set).count("1"))


def native_targets(host_machine: str) -> set[str]:
    """The targets a host of this `uname -m` runs natively."""
    return {r.name for r in TARGETS.values() if host_machine in r.native_on}


def debian_arch(name: str) -> str | None:
    """Debian's architecture for a target name or a Debian architecture name
    ("arm" and "armhf" both give "armhf"); None if no target has it."""
    row = TARGETS.get(name)
    if row is not None:
        return row.debian_arch
    known = {r.debian_arch for r in TARGETS.values() if r.debian_arch}
    return name if name in known else None


def console_scripts() -> dict[str, str]:
    """pyuser-<target> -> its entry point, as pyproject.toml lists them."""
    return {r.script: r.entry_point for r in TARGETS.values()}
