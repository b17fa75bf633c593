"""ioctl: the terminal and file requests programs ask of any descriptor.

Requests are matched by name between the target's numbers and the host's
(the termios module's, else the generated x86_64 table's, looked up on first
use).  The structures they carry (winsize, int) have the host's layout; a big-endian
guest's words are swapped on the way in and out, as the layout's struct
format says.  struct termios is translated by meaning (TermiosMap: MIPS has
its own c_cc order and some flag bits of its own).
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import struct
import termios

from pyuser.syscalls.base import SyscallFamily
from pyuser.syscalls.byteorder import to_guest, to_host
from pyuser.syscalls.table import syscall
from pyuser.syscalls.termios_map import HOST_SIZE, TermiosMap
from pyuser.syscalls.types import Fd, Ptr, SyscallError, UInt

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

# struct ifreq (include/uapi/linux/if.h): the interface name, then a union of
# 16 bytes on 32-bit targets and 24 on 64-bit ones (struct ifmap has two
# longs); the host's is 40 bytes.  Each request uses one member, described
# here as a format after the name; all of them read the name, the SIOCG ones
# write back.
_IFR_INT = "16si"
_IFR_SHORT = "16sh"
_IFR_SOCKADDR = "16sH14s"  # sa_family in the guest's byte order, then raw bytes
_IFR_NAME = "16s16s"
_IFREQ_REQUESTS = {
    "SIOCGIFINDEX": (_IFR_INT, True),
    "SIOCGIFNAME": (_IFR_INT, True),
    "SIOCGIFFLAGS": (_IFR_SHORT, True),
    "SIOCSIFFLAGS": (_IFR_SHORT, False),
    "SIOCGIFMTU": (_IFR_INT, True),
    "SIOCSIFMTU": (_IFR_INT, False),
    "SIOCGIFMETRIC": (_IFR_INT, True),
    "SIOCSIFMETRIC": (_IFR_INT, False),
    "SIOCGIFTXQLEN": (_IFR_INT, True),
    "SIOCSIFTXQLEN": (_IFR_INT, False),
    "SIOCGIFADDR": (_IFR_SOCKADDR, True),
    "SIOCSIFADDR": (_IFR_SOCKADDR, False),
    "SIOCGIFNETMASK": (_IFR_SOCKADDR, True),
    "SIOCSIFNETMASK": (_IFR_SOCKADDR, False),
    "SIOCGIFBRDADDR": (_IFR_SOCKADDR, True),
    "SIOCSIFBRDADDR": (_IFR_SOCKADDR, False),
    "SIOCGIFDSTADDR": (_IFR_SOCKADDR, True),
    "SIOCSIFDSTADDR": (_IFR_SOCKADDR, False),
    "SIOCGIFHWADDR": (_IFR_SOCKADDR, True),
    "SIOCSIFHWADDR": (_IFR_SOCKADDR, False),
    "SIOCSIFNAME": (_IFR_NAME, False),
}
_HOST_IFREQ_SIZE = 40
_SIOCGIFCONF = "SIOCGIFCONF"


@functools.cache
def _host_request(name: str) -> int | None:
    number = getattr(termios, name, None)
    if number is None:
        from pyuser.syscalls.byteorder import host_abi

        number = host_abi().CONST.get(name)
    return number


class IoctlCalls(SyscallFamily):
    def setup_family(self) -> None:
        # target number -> (name, layout, copy in, copy out)
        self._ioctls: dict[int, tuple[str, str, bool, bool]] = {}
        for name, (layout, copy_in, copy_out) in _REQUESTS.items():
            target_number = self.abi.CONST.get(name)
            if target_number is not None:
                self._ioctls[target_number] = (name, layout, copy_in, copy_out)
        # target number -> (name, member format, copy out)
        self._ifreq_ioctls: dict[int, tuple[str, str, bool]] = {}
        for name, (member, copy_out) in _IFREQ_REQUESTS.items():
            target_number = self.abi.CONST.get(name)
            if target_number is not None:
                self._ifreq_ioctls[target_number] = (name, member, copy_out)
        self._ifconf_request = self.abi.CONST.get(_SIOCGIFCONF)
        self._ifreq_size = 16 + (24 if self.target.word_size == 8 else 16)
        self._termios = TermiosMap(self.abi)

    @syscall
    def ioctl(self, fd: Fd, request: UInt, arg: Ptr) -> int:
        # the kernel's cmd is an unsigned int: MIPS64 holds one sign-extended
        # in its 64-bit register (TIOCSWINSZ arrives as 0xffffffff80087467)
        request &= 0xFFFFFFFF
        known = self._ioctls.get(request)
        host_request = _host_request(known[0]) if known is not None else None
        if host_request is None and request in self._ifreq_ioctls:
            return self._ifreq_ioctl(fd, request, arg)
        if host_request is None and request == self._ifconf_request:
            return self._ifconf_ioctl(fd, arg)
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

    def _termios_ioctl(self, fd: int, host_request: int, arg: int,
                       set_attributes: bool) -> int:
        translate = self._termios
        if set_attributes:
            fcntl.ioctl(fd, host_request, translate.to_host(self.mem.read(arg, translate.size)))
            return 0
        self.mem.writable(arg, translate.size)
        host = fcntl.ioctl(fd, host_request, bytes(HOST_SIZE))
        self.mem.write(arg, translate.to_guest(host))
        return 0

    def _ifreq_ioctl(self, fd: int, request: int, arg: int) -> int:
        name, member, copy_out = self._ifreq_ioctls[request]
        guest = self.mem.read(arg, self._ifreq_size)
        used = struct.calcsize("<" + member)
        data = to_host(self.target, member, guest[:used]).ljust(_HOST_IFREQ_SIZE, b"\0")
        if copy_out:
            self.mem.writable(arg, self._ifreq_size)
        result = fcntl.ioctl(fd, _host_request(name), data)
        if copy_out:
            self.mem.write(arg, to_guest(self.target, member, result[:used]))
        return 0

    def _ifconf_ioctl(self, fd: int, arg: int) -> int:
        """SIOCGIFCONF: struct ifconf {int ifc_len; pointer ifc_buf} fills
        ifc_buf with one ifreq (name and IPv4 sockaddr) per address."""
        word = self.target.word_size
        length, buffer = self.target.unpack("i" + ("I" if word == 4 else "xxxxQ"),
                                            self.mem.read(arg, 2 * word))
        count = max(length, 0) // self._ifreq_size if buffer else 0
        host_buffer = ctypes.create_string_buffer(count * _HOST_IFREQ_SIZE)
        host_ifconf = struct.pack("=ixxxxQ", count * _HOST_IFREQ_SIZE,
                                  ctypes.addressof(host_buffer) if buffer else 0)
        host_length = struct.unpack_from(
            "=i", fcntl.ioctl(fd, _host_request(_SIOCGIFCONF), host_ifconf))[0]
        entries = host_length // _HOST_IFREQ_SIZE
        if buffer:
            out = bytearray()
            for i in range(entries):
                entry = host_buffer.raw[i * _HOST_IFREQ_SIZE:][:32]
                out += to_guest(self.target, _IFR_SOCKADDR, entry).ljust(self._ifreq_size, b"\0")
            self.mem.write(buffer, bytes(out))
        self.mem.write(arg, self.target.pack("i", entries * self._ifreq_size))
        return 0
