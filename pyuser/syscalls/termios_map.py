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

    def to_host(self, data: bytes) -> bytes:
        guest = self.layout.from_buffer_copy(data)
        words = [self._remap(getattr(guest, w), self._bits[w], True) for w in _FLAG_NAMES]
        cc = bytearray(19)
        for target_index, host_index in self._cc.items():
            if target_index < len(guest.c_cc) and host_index < len(cc):
                cc[host_index] = guest.c_cc[target_index]
        return _HOST.pack(*words, guest.c_line, bytes(cc))

    def to_guest(self, data: bytes) -> bytes:
        *words, line, cc = _HOST.unpack(data[:HOST_SIZE])
        guest = self.layout()
        for word, value in zip(_FLAG_NAMES, words, strict=True):
            setattr(guest, word, self._remap(value, self._bits[word], False))
        guest.c_line = line
        for target_index, host_index in self._cc.items():
            if target_index < len(guest.c_cc) and host_index < len(cc):
                guest.c_cc[target_index] = cc[host_index]
        return bytes(guest)
