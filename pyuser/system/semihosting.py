"""ARM semihosting (the "Semihosting for AArch32 and AArch64" spec, v2).

The operation number is in r0 and the argument (usually a pointer to a
parameter block of words) in r1; the result goes back in r0.  Traps, as QEMU
recognises them for A-profile CPUs when semihosting is on and the CPU is not
in User mode: ARM ``svc 0x123456`` / ``hlt 0xf000``, Thumb ``svc 0xab`` /
``hlt 0x3c``.  Thumb ``bkpt 0xab`` (the M-profile trap, used by newlib's
libgloss on v6-M/v7-M) is accepted too.

Console output (SYS_WRITEC, SYS_WRITE0, SYS_WRITE to ":tt") goes to the host's
stderr, as qemu-system-arm 7.2 does when no semihosting chardev is configured
(measured: with -nographic the UART is on stdout, SYS_WRITE0 text on stderr).

Exit statuses follow QEMU (semihosting/arm-compat-semi.c): SYS_EXIT on
AArch32 passes the reason itself, and only ADP_Stopped_ApplicationExit is a
success (status 0, anything else 1); SYS_EXIT_EXTENDED passes a block
{reason, subcode} and ApplicationExit returns the subcode as the status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .cpu import ArmCpu, GuestMemoryError

SYS_OPEN, SYS_CLOSE, SYS_WRITEC, SYS_WRITE0, SYS_WRITE, SYS_READ = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
SYS_READC, SYS_ISERROR, SYS_ISTTY, SYS_SEEK, SYS_FLEN = 0x07, 0x08, 0x09, 0x0A, 0x0C
SYS_CLOCK, SYS_TIME, SYS_ERRNO, SYS_GET_CMDLINE, SYS_HEAPINFO = 0x10, 0x11, 0x13, 0x15, 0x16
SYS_EXIT, SYS_EXIT_EXTENDED, SYS_ELAPSED, SYS_TICKFREQ = 0x18, 0x20, 0x30, 0x31
ADP_STOPPED_APPLICATION_EXIT = 0x20026

# The ":semihosting-features" pseudo-file: magic "SHFB" then a feature byte with
# SH_EXT_EXIT_EXTENDED (bit 0) and SH_EXT_STDOUT_STDERR (bit 1) (spec 2.4.2).
FEATURES = b"SHFB\x03"
TT_MODES = {range(0, 4): 0, range(4, 8): 1, range(8, 12): 2}  # ":tt" open modes -> stdin/out/err

ARM_SVC, ARM_HLT = 0xEF123456, 0xE10F0070
THUMB_SVC, THUMB_HLT, THUMB_BKPT = 0xDFAB, 0xBABC, 0xBEAB


class SemihostingExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class UnsupportedSemihosting(Exception):
    pass


@dataclass
class _Handle:
    kind: str  # "tty" or "features"
    fd: int = 1
    pos: int = 0


@dataclass
class Semihosting:
    cpu: ArmCpu
    console: object  # has write(bytes) and flush(); flushes the UART's output first
    cmdline: str = ""
    heap: tuple[int, int, int, int] = (0, 0, 0, 0)
    start_ns: int = field(default_factory=time.monotonic_ns)
    handles: dict[int, _Handle] = field(default_factory=dict)

    def call(self, op: int, arg: int) -> int:
        """Perform operation `op`; returns r0, or raises SemihostingExit."""
        try:
            return self._call(op, arg)
        except GuestMemoryError:
            return 0xFFFFFFFF

    def _args(self, arg: int, n: int) -> list[int]:
        return [self.cpu.read_u32(arg + 4 * i) for i in range(n)]

    def _out(self, fd: int, data: bytes) -> None:
        self.console.write(data)

    def _call(self, op: int, arg: int) -> int:
        if op == SYS_WRITEC:
            self._out(1, self.cpu.read(arg, 1))
            return 0
        if op == SYS_WRITE0:
            self._out(1, self.cpu.read_cstr(arg))
            return 0
        if op == SYS_WRITE:
            handle, buf, length = self._args(arg, 3)
            h = self.handles.get(handle)
            if h is None or h.kind != "tty" or h.fd == 0:
                return length
            self._out(h.fd, self.cpu.read(buf, length))
            return 0  # the number of bytes *not* written
        if op == SYS_OPEN:
            name_ptr, mode, length = self._args(arg, 3)
            name = self.cpu.read(name_ptr, length).decode("latin-1")
            if name == ":tt":
                fd = next((fd for modes, fd in TT_MODES.items() if mode in modes), 1)
                return self._new_handle(_Handle("tty", fd))
            if name == ":semihosting-features" and mode in (0, 1):
                return self._new_handle(_Handle("features"))
            return 0xFFFFFFFF  # no host file system access
        if op == SYS_CLOSE:
            return 0 if self.handles.pop(self.cpu.read_u32(arg), None) else 0xFFFFFFFF
        if op == SYS_READ:
            handle, buf, length = self._args(arg, 3)
            h = self.handles.get(handle)
            if h is None or h.kind != "features":
                return length  # nothing read (stdin belongs to the UART)
            data = FEATURES[h.pos:h.pos + length]
            self.cpu.write(buf, data)
            h.pos += len(data)
            return length - len(data)
        if op == SYS_FLEN:
            h = self.handles.get(self.cpu.read_u32(arg))
            return len(FEATURES) if h and h.kind == "features" else 0xFFFFFFFF
        if op == SYS_SEEK:
            handle, pos = self._args(arg, 2)
            h = self.handles.get(handle)
            if h is None:
                return 0xFFFFFFFF
            h.pos = pos
            return 0
        if op == SYS_ISTTY:
            h = self.handles.get(self.cpu.read_u32(arg))
            return 1 if h and h.kind == "tty" else 0
        if op == SYS_ISERROR:
            return 1 if self.cpu.read_u32(arg) & 0x80000000 else 0
        if op == SYS_READC:
            return 0xFFFFFFFF
        if op == SYS_CLOCK:
            return (time.monotonic_ns() - self.start_ns) // 10_000_000
        if op == SYS_TIME:
            return int(time.time())
        if op == SYS_ERRNO:
            return 0
        if op == SYS_GET_CMDLINE:
            buf, size = self._args(arg, 2)
            data = self.cmdline.encode()[: max(size - 1, 0)] + b"\0"
            self.cpu.write(buf, data)
            self.cpu.write(arg + 4, (len(data) - 1).to_bytes(4, "little"))
            return 0
        if op == SYS_HEAPINFO:
            block = self.cpu.read_u32(arg)
            self.cpu.write(block, b"".join(v.to_bytes(4, "little") for v in self.heap))
            return 0
        if op == SYS_ELAPSED:
            ticks = time.monotonic_ns() - self.start_ns
            self.cpu.write(arg, ticks.to_bytes(8, "little"))
            return 0
        if op == SYS_TICKFREQ:
            return 1_000_000_000
        if op == SYS_EXIT:
            self.console.flush()
            raise SemihostingExit(0 if arg == ADP_STOPPED_APPLICATION_EXIT else 1)
        if op == SYS_EXIT_EXTENDED:
            reason, subcode = self._args(arg, 2)
            self.console.flush()
            raise SemihostingExit(subcode & 0xFF if reason == ADP_STOPPED_APPLICATION_EXIT else 1)
        raise UnsupportedSemihosting(f"unsupported semihosting call {op:#04x}")

    def _new_handle(self, h: _Handle) -> int:
        number = max(self.handles, default=0) + 1
        self.handles[number] = h
        return number
