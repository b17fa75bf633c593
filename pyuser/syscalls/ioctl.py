"""ioctl: the terminal and file requests programs ask of any descriptor.

Requests are matched by name between the target's numbers and the host's.
The structures they carry (kernel termios, winsize, int) have the same
layout on the little-endian targets, so their bytes pass through unchanged.
"""

from __future__ import annotations

import fcntl
import termios
from typing import TYPE_CHECKING

from pyuser.syscalls.table import syscall
from pyuser.syscalls.types import Fd, Ptr, SyscallError, UInt

if TYPE_CHECKING:
    from pyuser.syscalls.kernel import Kernel

# name -> (bytes carried, copied in, copied out)
_REQUESTS = {
    "TCGETS": (36, False, True),
    "TCSETS": (36, True, False),
    "TCSETSW": (36, True, False),
    "TCSETSF": (36, True, False),
    "TIOCGWINSZ": (8, False, True),
    "TIOCSWINSZ": (8, True, False),
    "TIOCGPGRP": (4, False, True),
    "TIOCSPGRP": (4, True, False),
    "TIOCGSID": (4, False, True),
    "FIONREAD": (4, False, True),
    "FIONBIO": (4, True, False),
    "TIOCOUTQ": (4, False, True),
    "TIOCSCTTY": (0, False, False),
    "TIOCNOTTY": (0, False, False),
    "TCFLSH": (0, False, False),
    "TCXONC": (0, False, False),
    "TCSBRK": (0, False, False),
    "FIOCLEX": (0, False, False),
    "FIONCLEX": (0, False, False),
}


class IoctlCalls:
    def setup_family(self: Kernel) -> None:
        self._ioctls: dict[int, tuple[int, int, bool, bool]] = {}
        for name, (size, copy_in, copy_out) in _REQUESTS.items():
            target_number = self.abi.CONST.get(name)
            host_number = getattr(termios, name, None)
            if target_number is not None and host_number is not None:
                self._ioctls[target_number] = (host_number, size, copy_in, copy_out)

    @syscall
    def ioctl(self: Kernel, fd: Fd, request: UInt, arg: Ptr) -> int:
        known = self._ioctls.get(request)
        if known is None:
            if self.log.enabled("unimp"):
                self.log.write(f"Unsupported ioctl: cmd={request:#x}")
            raise SyscallError("ENOTTY")
        host_request, size, copy_in, copy_out = known
        if size == 0:
            return fcntl.ioctl(fd, host_request, arg)
        data = self.mem.read(arg, size) if copy_in else bytes(size)
        if copy_out:
            self.mem.writable(arg, size)
        result = fcntl.ioctl(fd, host_request, data)
        if copy_out:
            self.mem.write(arg, result)
        return 0
