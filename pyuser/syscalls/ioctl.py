"""ioctl: the terminal and file requests programs ask of any descriptor.

Requests are matched by name between the target's numbers and the host's
(the termios module's, else the generated x86_64 table's, looked up on first
use).  The structures they carry (winsize, int) have the host's layout; a big-endian
guest's words are swapped on the way in and out, as the layout's struct
format says.  struct termios is translated by meaning (TermiosMap: MIPS has
its own c_cc order and some flag bits of its own).
"""

from __future__ import annotations

import fcntl
import functools
import struct
import termios
from typing import TYPE_CHECKING

from pyuser.syscalls.byteorder import to_guest, to_host
from pyuser.syscalls.table import syscall
from pyuser.syscalls.termios_map import HOST_SIZE, TermiosMap
from pyuser.syscalls.types import Fd, Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

_TERMIOS = "termios"  # the target's struct termios, through TermiosMap
_WINSIZE = "4H"
_INT = "i"
_BYTE = "B"
_LOFF = "q"
_OPEN_FLAGS = "open flags"  # a plain value: the target's O_* flags

# name -> (the argument's layout as a struct format, "" when the argument is
# a plain value; copied in; copied out)
_REQUESTS = {
    "TCGETS": (_TERMIOS, False, True),
    "TCSETS": (_TERMIOS, True, False),
    "TCSETSW": (_TERMIOS, True, False),
    "TCSETSF": (_TERMIOS, True, False),
    "TIOCGWINSZ": (_WINSIZE, False, True),
    "TIOCSWINSZ": (_WINSIZE, True, False),
    "TIOCGPGRP": (_INT, False, True),
    "TIOCSPGRP": (_INT, True, False),
    "TIOCGSID": (_INT, False, True),
    "FIONREAD": (_INT, False, True),
    "FIONBIO": (_INT, True, False),
    "TIOCOUTQ": (_INT, False, True),
    "TIOCSCTTY": ("", False, False),
    "TIOCNOTTY": ("", False, False),
    "TCFLSH": ("", False, False),
    "TCXONC": ("", False, False),
    "TCSBRK": ("", False, False),
    "FIOCLEX": ("", False, False),
    "FIONCLEX": ("", False, False),
    "FIOASYNC": (_INT, True, False),
    "FIOQSIZE": (_LOFF, False, True),
    # pseudo-terminals: glibc's posix_openpt/grantpt/unlockpt/ptsname
    "TIOCGPTN": (_INT, False, True),
    "TIOCSPTLCK": (_INT, True, False),
    "TIOCGPTLCK": (_INT, False, True),
    "TIOCGPTPEER": (_OPEN_FLAGS, False, False),
    "TIOCPKT": (_INT, True, False),
    "TIOCGPKT": (_INT, False, True),
    "TIOCEXCL": ("", False, False),
    "TIOCNXCL": ("", False, False),
    "TIOCGEXCL": (_INT, False, True),
    "TIOCSTI": (_BYTE, True, False),
    "TIOCGETD": (_INT, False, True),
    "TIOCSETD": (_INT, True, False),
    "TIOCGDEV": (_INT, False, True),
    "TIOCVHANGUP": ("", False, False),
    # serial lines: modem bits and breaks
    "TIOCMGET": (_INT, False, True),
    "TIOCMSET": (_INT, True, False),
    "TIOCMBIS": (_INT, True, False),
    "TIOCMBIC": (_INT, True, False),
    "TIOCSBRK": ("", False, False),
    "TIOCCBRK": ("", False, False),
    "TCSBRKP": ("", False, False),
}


@functools.cache
def _host_request(name: str) -> int | None:
    number = getattr(termios, name, None)
    if number is None:
        from pyuser.syscalls.byteorder import host_abi

        number = host_abi().CONST.get(name)
    return number


class IoctlCalls:
    def setup_family(self: Kernel) -> None:
        # target number -> (name, layout, copy in, copy out)
        self._ioctls: dict[int, tuple[str, str, bool, bool]] = {}
        for name, (layout, copy_in, copy_out) in _REQUESTS.items():
            target_number = self.abi.CONST.get(name)
            if target_number is not None:
                self._ioctls[target_number] = (name, layout, copy_in, copy_out)
        self._termios = TermiosMap(self.abi)

    @syscall
    def ioctl(self: Kernel, fd: Fd, request: UInt, arg: Ptr) -> int:
        known = self._ioctls.get(request)
        host_request = _host_request(known[0]) if known is not None else None
        if host_request is None:
            if self.log.enabled("unimp"):
                self.log.write(f"Unsupported ioctl: cmd={request:#x}")
            raise SyscallError("ENOTTY")
        _name, layout, copy_in, copy_out = known
        if not layout:  # a plain value (or none): fcntl.ioctl passes a C int
            return fcntl.ioctl(fd, host_request, (arg & 0xFFFFFFFF ^ 0x80000000) - 0x80000000)
        if layout == _OPEN_FLAGS:
            return fcntl.ioctl(fd, host_request, self.open_flags.to_host(arg))
        if layout == _TERMIOS:
            return self._termios_ioctl(fd, host_request, arg, copy_in)
        size = struct.calcsize("<" + layout)
        data = to_host(self.target, layout, self.mem.read(arg, size)) if copy_in \
            else bytes(size)
        if copy_out:
            self.mem.writable(arg, size)
        result = fcntl.ioctl(fd, host_request, data)
        if copy_out:
            self.mem.write(arg, to_guest(self.target, layout, result))
        return 0

    def _termios_ioctl(self: Kernel, fd: int, host_request: int, arg: int,
                       set_attributes: bool) -> int:
        translate = self._termios
        if set_attributes:
            fcntl.ioctl(fd, host_request, translate.to_host(self.mem.read(arg, translate.size)))
            return 0
        self.mem.writable(arg, translate.size)
        host = fcntl.ioctl(fd, host_request, bytes(HOST_SIZE))
        self.mem.write(arg, translate.to_guest(host))
        return 0
