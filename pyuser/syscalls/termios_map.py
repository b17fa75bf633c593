"""struct termios between a target and the host, by meaning.

The kernel's struct termios has the same fields everywhere but not the same
numbers: MIPS has 23 c_cc entries in its own order (VMIN 4, VEOF 16) and
swaps some c_lflag bits (IEXTEN 0x100, TOSTOP 0x8000, FLUSHO 0x2000;
arch/mips/include/uapi/asm/termbits.h).  Flag bits and c_cc slots are matched
by name between the generated target constants and the host's `termios`
module; the target's layout (and byte order) is its generated ctypes struct.
"""

from __future__ import annotations

import ctypes
import struct
import termios as host_termios
from types import ModuleType

# the single-bit flags of each flag word that a target may number its own way
_FLAG_NAMES = {
    "c_iflag": ("IGNBRK", "BRKINT", "IGNPAR", "PARMRK", "INPCK", "ISTRIP", "INLCR", "IGNCR",
                "ICRNL", "IUCLC", "IXON", "IXANY", "IXOFF", "IMAXBEL", "IUTF8"),
    "c_oflag": ("OPOST", "OLCUC", "ONLCR", "OCRNL", "ONOCR", "ONLRET", "OFILL", "OFDEL"),
    "c_cflag": ("CSTOPB", "CREAD", "PARENB", "PARODD", "HUPCL", "CLOCAL", "CMSPAR", "CRTSCTS"),
    "c_lflag": ("ISIG", "ICANON", "XCASE", "ECHO", "ECHOE", "ECHOK", "ECHONL", "NOFLSH",
                "TOSTOP", "ECHOCTL", "ECHOPRT", "ECHOKE", "FLUSHO", "PENDIN", "IEXTEN",
                "EXTPROC"),
}
# the multi-bit fields of each flag word, and their values, matched by name:
# PowerPC puts CSIZE at 0x300 and the baud rate in the low byte without
# CBAUDEX (B57600 is 0x10, the host's 0x1001), and numbers the output delays
# its own way (arch/powerpc/include/uapi/asm/termbits.h)
_BAUDS = ("B0", "B50", "B75", "B110", "B134", "B150", "B200", "B300", "B600", "B1200",
          "B1800", "B2400", "B4800", "B9600", "B19200", "B38400", "B57600", "B115200",
          "B230400", "B460800", "B500000", "B576000", "B921600", "B1000000", "B1152000",
          "B1500000", "B2000000", "B2500000", "B3000000", "B3500000", "B4000000")
_FIELD_NAMES = {
    "c_iflag": (),
    "c_oflag": (("NLDLY", ("NL0", "NL1")), ("CRDLY", ("CR0", "CR1", "CR2", "CR3")),
                ("TABDLY", ("TAB0", "TAB1", "TAB2", "TAB3")), ("BSDLY", ("BS0", "BS1")),
                ("VTDLY", ("VT0", "VT1")), ("FFDLY", ("FF0", "FF1"))),
    "c_cflag": (("CSIZE", ("CS5", "CS6", "CS7", "CS8")), ("CBAUD", _BAUDS)),
    "c_lflag": (),
}
_CC_NAMES = ("VINTR", "VQUIT", "VERASE", "VKILL", "VEOF", "VTIME", "VMIN", "VSWTC", "VSTART",
             "VSTOP", "VSUSP", "VEOL", "VREPRINT", "VDISCARD", "VWERASE", "VLNEXT", "VEOL2")
# the host's (x86_64) kernel struct termios: four tcflag_t, c_line, c_cc[19]
_HOST = struct.Struct("<4IB19s")
HOST_SIZE = _HOST.size


class TermiosMap:
    def __init__(self, abi: ModuleType) -> None:
        self.layout = abi.termios
        self.size = ctypes.sizeof(self.layout)
        const = abi.CONST
        # per flag word: [(target bit, host bit)] for the bits numbered differently
        self._bits: dict[str, list[tuple[int, int]]] = {}
        for word, names in _FLAG_NAMES.items():
            self._bits[word] = [(const[n], getattr(host_termios, n)) for n in names
                                if n in const and hasattr(host_termios, n)
                                and const[n] != getattr(host_termios, n)]
        # per flag word: [(target mask, host mask, {target value: host value})]
        # for the fields numbered differently
        self._fields: dict[str, list[tuple[int, int, dict[int, int]]]] = {}
        for word, fields in _FIELD_NAMES.items():
            self._fields[word] = []
            for mask, names in fields:
                if mask not in const or not hasattr(host_termios, mask):
                    continue
                values = {const[n]: getattr(host_termios, n) for n in names
                          if n in const and hasattr(host_termios, n)}
                host_mask = getattr(host_termios, mask)
                if const[mask] != host_mask or any(t != h for t, h in values.items()):
                    self._fields[word].append((const[mask], host_mask, values))
        # target c_cc index -> host c_cc index
        self._cc = {const[n]: getattr(host_termios, n) for n in _CC_NAMES
                    if n in const and hasattr(host_termios, n)}

    @staticmethod
    def _remap(value: int, pairs: list[tuple[int, int]], to_host: bool) -> int:
        if not pairs:
            return value
        out = value
        for target_bit, host_bit in pairs:
            out &= ~(host_bit if to_host else target_bit)
        for target_bit, host_bit in pairs:
            if value & (target_bit if to_host else host_bit):
                out |= host_bit if to_host else target_bit
        return out

    def _convert(self, word: str, value: int, to_host: bool) -> int:
        """One flag word: its single bits, then its multi-bit fields."""
        fields = self._fields[word]
        stripped = value
        for target_mask, host_mask, _values in fields:
            stripped &= ~(target_mask if to_host else host_mask)
        out = self._remap(stripped, self._bits[word], to_host)
        for target_mask, host_mask, values in fields:
            out &= ~(host_mask if to_host else target_mask)
            if to_host:
                out |= values.get(value & target_mask, 0)
            else:
                back = {h: t for t, h in values.items()}
                out |= back.get(value & host_mask, 0)
        return out

    def to_host(self, data: bytes) -> bytes:
        guest = self.layout.from_buffer_copy(data)
        words = [self._convert(w, getattr(guest, w), True) for w in _FLAG_NAMES]
        cc = bytearray(19)
        for target_index, host_index in self._cc.items():
            if target_index < len(guest.c_cc) and host_index < len(cc):
                cc[host_index] = guest.c_cc[target_index]
        return _HOST.pack(*words, guest.c_line, bytes(cc))

    def to_guest(self, data: bytes) -> bytes:
        *words, line, cc = _HOST.unpack(data[:HOST_SIZE])
        guest = self.layout()
        for word, value in zip(_FLAG_NAMES, words, strict=True):
            setattr(guest, word, self._convert(word, value, False))
        guest.c_line = line
        for target_index, host_index in self._cc.items():
            if target_index < len(guest.c_cc) and host_index < len(cc):
                guest.c_cc[target_index] = cc[host_index]
        return bytes(guest)
