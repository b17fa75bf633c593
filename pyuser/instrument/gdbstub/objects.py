"""What gdb reads through qXfer, and gdb's own signal numbers.

- gdb numbers signals its own way in stop replies and resume packets
  (gdb/include/gdb/signals.def): the BSD-like order below, real-time
  signal 32 is 77, 33-63 are 45-75.
- libraries-svr4 (gdb/features/library-list-svr4.dtd) lists the dynamic
  loader's link_map chain: gdb finds r_debug through DT_DEBUG in the main
  program's dynamic section (<link.h>: struct r_debug {int r_version;
  struct link_map *r_map; ElfW(Addr) r_brk; ...}, struct link_map
  {ElfW(Addr) l_addr; char *l_name; ElfW(Dyn) *l_ld; l_next, l_prev}).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from pyuser.memory import GuestFault

if TYPE_CHECKING:
    from pyuser.process import Process

_GDB_SIGNALS = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
    "SIGEMT": 7, "SIGFPE": 8, "SIGKILL": 9, "SIGBUS": 10, "SIGSEGV": 11, "SIGSYS": 12,
    "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15, "SIGURG": 16, "SIGSTOP": 17, "SIGTSTP": 18,
    "SIGCONT": 19, "SIGCHLD": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGIO": 23, "SIGXCPU": 24,
    "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGUSR1": 30,
    "SIGUSR2": 31, "SIGPWR": 32, "SIGPOLL": 23, "SIGSTKFLT": 0,
}
GDB_SIGTRAP = 5
GDB_SIGINT = 2


class SignalNumbers:
    """Target signal numbers <-> gdb's."""

    def __init__(self, consts: dict[str, int]) -> None:
        self.to_gdb: dict[int, int] = {}
        for name, gdb in _GDB_SIGNALS.items():
            number = consts.get(name)
            if number is not None and gdb and number not in self.to_gdb:
                self.to_gdb[number] = gdb
        for number in range(32, 64):
            self.to_gdb.setdefault(number, 77 if number == 32 else 45 + number - 33)
        self.from_gdb = {gdb: number for number, gdb in self.to_gdb.items()}

    def gdb(self, target_signal: int) -> int:
        return self.to_gdb.get(target_signal, 143)  # GDB_SIGNAL_UNKNOWN

    def target(self, gdb_signal: int) -> int:
        return self.from_gdb.get(gdb_signal, 0)


def read_word(process: Process, address: int) -> int:
    size = process.target.word_size
    return int.from_bytes(process.memory.read(address, size), process.target.byteorder)


def _auxv_value(process: Process, key: int) -> int:
    size = process.target.word_size
    data = process.auxv
    for offset in range(0, len(data) - 2 * size + 1, 2 * size):
        tag = int.from_bytes(data[offset:offset + size], process.target.byteorder)
        if tag == key:
            return int.from_bytes(data[offset + size:offset + 2 * size],
                                  process.target.byteorder)
        if tag == 0:
            break
    return 0


def find_r_debug(process: Process) -> int:
    """The address of the dynamic loader's r_debug, 0 before it is set up."""
    size = process.target.word_size
    phdr, phnum = _auxv_value(process, 3), _auxv_value(process, 5)  # AT_PHDR, AT_PHNUM
    phent = 32 if size == 4 else 56
    if not phdr:
        return 0
    load_bias = None
    dynamic = 0
    dyn_size = 0
    try:
        for i in range(phnum):
            header = process.memory.read(phdr + i * phent, phent)
            p_type = process.target.unpack("I", header)[0]
            if size == 4:
                _, _, vaddr, _, _, memsz = process.target.unpack("IIIIII", header)
            else:
                vaddr, _, _, memsz = process.target.unpack("QQQQ", header, 16)
            if p_type == 6:  # PT_PHDR: where the headers should be, unbiased
                load_bias = phdr - vaddr
            elif p_type == 2:  # PT_DYNAMIC
                dynamic, dyn_size = vaddr, memsz
        if not dynamic:
            return 0
        dynamic += load_bias or 0
        for offset in range(0, dyn_size, 2 * size):
            tag = read_word(process, dynamic + offset)
            if tag == 0:
                break
            if tag == 21:  # DT_DEBUG
                return read_word(process, dynamic + offset + size)
    except GuestFault:
        return 0
    return 0


def libraries_svr4(process: Process) -> str:
    """The library-list-svr4 document: the link_map chain from r_debug."""
    size = process.target.word_size
    r_debug = find_r_debug(process)
    if not r_debug:
        return '<library-list-svr4 version="1.0"/>'
    entries = []
    main_lm = 0
    try:
        lm = read_word(process, r_debug + size)  # r_map, after an int padded to a word
        seen = set()
        while lm and lm not in seen and len(seen) < 4096:
            seen.add(lm)
            l_addr, l_name, l_ld, l_next = (read_word(process, lm + i * size) for i in range(4))
            name = process.memory.read_cstr(l_name) if l_name else b""
            if not main_lm:
                main_lm = lm  # the first entry is the main program
            elif name:
                entries.append(f'<library name="{html.escape(name.decode("latin-1"))}" lmid="0x0"'
                               f' lm="{lm:#x}" l_addr="{l_addr:#x}" l_ld="{l_ld:#x}"/>')
            lm = l_next
    except GuestFault:
        pass
    return (f'<library-list-svr4 version="1.0" main-lm="{main_lm:#x}">'
            + "".join(entries) + "</library-list-svr4>")
