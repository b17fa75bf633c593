"""ioctl: the terminal and file requests programs ask of any descriptor.

Requests are matched by name between the target's numbers and the host's.
The structures they carry (winsize, int) have the host's layout; a big-endian
guest's words are swapped on the way in and out, as the layout's struct
format says.  struct termios is translated by meaning (TermiosMap: MIPS has
its own c_cc order and some flag bits of its own).
"""

from __future__ import annotations

import fcntl
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
}


class IoctlCalls:
    def setup_family(self: Kernel) -> None:
        self._ioctls: dict[int, tuple[int, str, bool, bool]] = {}
        for name, (layout, copy_in, copy_out) in _REQUESTS.items():
            target_number = self.abi.CONST.get(name)
            host_number = getattr(termios, name, None)
            if target_number is not None and host_number is not None:
                self._ioctls[target_number] = (host_number, layout, copy_in, copy_out)
        self._termios = TermiosMap(self.abi)

    @syscall
    def ioctl(self: Kernel, fd: Fd, request: UInt, arg: Ptr) -> int:
        known = self._ioctls.get(request)
        if known is None:
            if self.log.enabled("unimp"):
                self.log.write(f"Unsupported ioctl: cmd={request:#x}")
            raise SyscallError("ENOTTY")
        host_request, layout, copy_in, copy_out = known
        if not layout:
            return fcntl.ioctl(fd, host_request, arg)
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
