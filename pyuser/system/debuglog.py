"""`-d in_asm,int,unimp` and `-D FILE` for the machine, in qemu-system-arm's words.

Only what is asked for is installed: in_asm is the one item that needs an
engine hook (a block hook); int and unimp are told by the Python code that
already runs for an exception or an unimplemented access.  A plain run
makes no :class:`MachineLog` at all.

The formats are qemu-system-arm 7.2's (measured with `-d in_asm,int` on the
test firmware):

- in_asm: `----------------`, `IN: <function>` (the ELF symbol of type
  FUNC containing the block, as QEMU's lookup_symbol finds it, empty
  otherwise), then `0xADDR:  BYTES  MNEMONIC OPERANDS` per instruction (an
  ARM word as 8 hex digits; Thumb as 16-bit halfwords, padded to 9
  characters), then an empty line.  A block is logged the first time it
  runs at that virtual address, and again after a machine reset (QEMU logs
  each translation; it translates again after a flush, where pyuser does
  not log again, and after a reset, which writes the image again);
- int: `Taking exception N [NAME] on CPU 0`, `...from ELx to EL1`,
  `...with ESR EC/SYNDROME` and, for aborts, `...with DFSR ... DFAR ...` or
  `...with IFSR ... IFAR ...`; semihosting and PSCI calls as QEMU words
  them.  QEMU's "Exception return" and "AArch32 mode switch" lines are not
  written: they would need a hook on every exception return and `cps`;
- unimp: each unimplemented device register, unassigned physical address
  page and unsupported PSCI function, once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from unicorn import UC_HOOK_BLOCK, Uc
from unicorn.arm_const import UC_ARM_REG_CPSR

LOG_ITEMS = {
    "in_asm": "show target assembly code for each compiled TB",
    "int": "show interrupts/exceptions in short format",
    "unimp": "log unimplemented functionality",
}

# QEMU's exception numbers and names (target/arm/cpu.h, arm_log_exception).
EXCEPTIONS = {
    "undef": (1, "Undefined Instruction"),
    "svc": (2, "SVC"),
    "prefetch": (3, "Prefetch Abort"),
    "data": (4, "Data Abort"),
    "irq": (5, "IRQ"),
    "hvc": (11, "Hypervisor Call"),
    "semihosting": (16, "Semihosting call"),
}
# Exception classes of the syndrome (ARMv8-A ARM D17.2.37, ESR_ELx.EC), as
# QEMU's syndrome helpers (target/arm/syndrome.h) build them for AArch32.
EC_UNCATEGORIZED, EC_SVC, EC_HVC = 0x00, 0x11, 0x12
EC_INSN_ABORT, EC_DATA_ABORT = 0x20, 0x24  # +1: taken from the same EL
IL = 1 << 25  # a 32-bit instruction
FSC_SHORT_DESCRIPTOR = 0x3F  # ESR.FSC when the fault uses the short-descriptor format
WNR = 1 << 6


class MachineLog:
    def __init__(self, items: Iterable[str], path: str | None = None) -> None:
        self.items = set(items)
        self._path = path
        self._stream: TextIO | None = None
        self._seen: set[str] = set()
        # QEMU's IRQ entry logs the last syndrome, which it leaves as it was,
        # and its semihosting entry the last exception's target EL (0 at
        # power-on: measured with -d int on hello.elf, "...from EL1 to EL0").
        self.syndrome = 0
        self.target_el = 0
        self.on_reset: list[Callable[[], None]] = []

    def reset(self) -> None:
        """The CPU was reset: QEMU's CPU reset clears the exception state these
        come from (measured: reboot.elf's semihosting exit after two resets
        logs "...from EL1 to EL0")."""
        self.syndrome = 0
        self.target_el = 0
        for forget in self.on_reset:
            forget()

    def enabled(self, item: str) -> bool:
        return item in self.items

    @property
    def stream(self) -> TextIO:
        if self._stream is None:
            self._stream = open(self._path, "a", buffering=1) if self._path else sys.stderr  # noqa: SIM115
        return self._stream

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self._stream is not None and self._stream is not sys.stderr:
            self._stream.close()

    # ------------------------------------------------------------ unimp
    def unimp(self, message: str) -> None:
        if "unimp" in self.items and message not in self._seen:
            self._seen.add(message)
            self.write(message + "\n")

    # ------------------------------------------------------------ int
    def exception(self, kind: str, from_user: bool, *, insn: int | None = None, thumb: bool = False,
                  fault: tuple[int, int] | None = None, write: bool = False) -> None:
        """An exception taken to the guest's vector (`insn`: the SVC's encoding)."""
        if "int" not in self.items:
            return
        number, name = EXCEPTIONS[kind]
        syndrome = self._syndrome(kind, from_user, insn, thumb, write)
        if syndrome is not None:
            self.syndrome = syndrome
        self.target_el = 1
        lines = [f"Taking exception {number} [{name}] on CPU 0",
                 f"...from EL{0 if from_user else 1} to EL1",
                 f"...with ESR 0x{self.syndrome >> 26:x}/0x{self.syndrome:x}"]
        if fault is not None:
            fsr, far = fault
            lines.append(f"...with DFSR 0x{fsr:x} DFAR 0x{far:x}" if kind == "data"
                         else f"...with IFSR 0x{fsr:x} IFAR 0x{far:x}")
        self.write("\n".join(lines) + "\n")

    @staticmethod
    def _syndrome(kind: str, from_user: bool, insn: int | None, thumb: bool, write: bool) -> int | None:
        same_el = 0 if from_user else 1
        if kind == "svc":
            imm = (insn or 0) & (0xFF if thumb else 0xFFFF)
            return EC_SVC << 26 | (0 if thumb else IL) | imm
        if kind == "undef":
            return EC_UNCATEGORIZED << 26 | IL
        if kind == "data":
            return (EC_DATA_ABORT + same_el) << 26 | IL | (WNR if write else 0) | FSC_SHORT_DESCRIPTOR
        if kind == "prefetch":
            return (EC_INSN_ABORT + same_el) << 26 | IL | FSC_SHORT_DESCRIPTOR
        return None  # IRQ: the syndrome is left as it was

    def call(self, kind: str, from_user: bool, detail: str) -> None:
        """A trap the machine serves itself: semihosting, or PSCI over hvc."""
        if "int" not in self.items:
            return
        number, name = EXCEPTIONS[kind]
        if kind == "hvc":
            self.target_el = 2
        lines = [f"Taking exception {number} [{name}] on CPU 0",
                 f"...from EL{0 if from_user else 1} to EL{self.target_el}"]
        if kind == "hvc":
            self.syndrome = EC_HVC << 26 | IL
            lines.append(f"...with ESR 0x{EC_HVC:x}/0x{self.syndrome:x}")
        lines.append(detail)
        self.write("\n".join(lines) + "\n")


class InAsm:
    """in_asm: a block hook that disassembles each block the first time it runs."""

    def __init__(self, log: MachineLog, uc: Uc, read: object, symbols: list[tuple[int, int, str]]) -> None:
        import capstone

        self.log = log
        self.read = read  # (va, size) -> bytes, through the guest's MMU
        self.symbols = sorted(symbols)
        self.seen: set[int] = set()
        self.arm = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_ARM)
        self.thumb = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB)
        self.uc = uc
        self.hook = uc.hook_add(UC_HOOK_BLOCK, self._on_block)
        # A reset writes the image again, and QEMU translates (and logs) its
        # blocks again: measured, reboot.elf's start block is logged once per boot.
        log.on_reset.append(self.seen.clear)

    def _on_block(self, uc: Uc, address: int, size: int, _data: object) -> None:
        thumb = bool(uc.reg_read(UC_ARM_REG_CPSR) & (1 << 5))
        key = address | int(thumb)
        if key in self.seen:
            return
        self.seen.add(key)
        try:
            code = self.read(address, size)  # type: ignore[operator]
        except Exception:  # noqa: BLE001 - an unreadable block is logged without its bytes
            code = b""
        lines = ["----------------", f"IN: {self.symbol(address)}"]
        done = 0
        for insn in (self.thumb if thumb else self.arm).disasm(code, address):
            lines.append(_line(insn.address, insn.bytes, thumb, insn.mnemonic, insn.op_str))
            done += insn.size
        unit = 2 if thumb else 4
        for at in range(done, len(code) - unit + 1, unit):  # what capstone cannot decode (hlt, say)
            raw = code[at:at + unit]
            lines.append(_line(address + at, raw, thumb, ".byte", ", ".join(f"0x{b:02x}" for b in raw)))
        self.log.write("\n".join(lines) + "\n\n")

    def symbol(self, address: int) -> str:
        for start, size, name in self.symbols:  # a handful of symbols in a bare-metal program
            if start <= address < start + size:
                return name
        return ""


def _line(address: int, raw: bytes, thumb: bool, mnemonic: str, operands: str) -> str:
    return f"0x{address:08x}:  {_hex(raw, thumb)}  {mnemonic:<8} {operands}"


def _hex(raw: bytes, thumb: bool) -> str:
    if not thumb:
        return f"{int.from_bytes(raw, 'little'):08x}"
    halves = [f"{int.from_bytes(raw[i:i + 2], 'little'):04x}" for i in range(0, len(raw), 2)]
    return " ".join(halves).ljust(9)


def elf_functions(path: str) -> list[tuple[int, int, str]]:
    """(address, size, name) of the FUNC symbols of an ELF file (Thumb bit cleared); [] otherwise."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            table = elf.get_section_by_name(".symtab")
            if table is None:
                return []
            return [(sym["st_value"] & ~1, sym["st_size"], sym.name) for sym in table.iter_symbols()
                    if sym["st_info"]["type"] == "STT_FUNC" and sym["st_shndx"] != "SHN_UNDEF"]
    except (OSError, ELFError):
        return []
