"""The gdb remote packets a stub answers, one small function each.

This is the protocol core both stubs share: the user-mode one
(pyuser.instrument.gdbstub.stub, threads of a process) and the system-mode
one (pyuser.system.gdbstub, one CPU of a machine).  A handler talks to the
stub only through :class:`StubLike`.  It returns the reply (str or bytes),
or raises the stub's resume exception (through ``resume``) for the packets
that let the guest run.  An empty reply means "not supported" to gdb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from pyuser.instrument.gdbstub.connection import Connection, escape, unescape
from pyuser.targets.gdb_desc import Description

ERROR_MEMORY = "E14"  # EFAULT, as gdbserver answers an unreadable address
ERROR_ARGUMENT = "E16"

SUPPORTED = ";".join([
    "PacketSize=4000", "QStartNoAckMode+", "qXfer:features:read+", "qXfer:auxv:read+",
    "qXfer:exec-file:read+", "qXfer:libraries-svr4:read+", "qXfer:siginfo:read+",
    "QCatchSyscalls+", "QPassSignals+", "vContSupported+", "swbreak+",
])


class StubLike(Protocol):
    """What the packet handlers need from a stub."""

    description: Description
    conn: Connection | None
    supported: str  # the qSupported reply
    last_reply: str
    detached: bool
    reg_thread: int
    breakpoints: set[int]
    watchpoints: dict[tuple[int, int, int], None]  # (kind, addr, len); unused without watch_kinds
    watch_kinds: frozenset[int]  # the Z types 2-4 the stub can watch
    catch: set[int] | None
    catch_all: bool
    pass_signals: set[int]

    def current_thread_id(self) -> int: ...
    def thread_text(self, tid: int) -> str: ...  # a thread-id as the stub writes it
    def thread_ids(self) -> list[int]: ...
    def has_thread(self, tid: int) -> bool: ...
    def thread_name(self, tid: int) -> bytes: ...
    def registers(self) -> Any: ...
    def set_pc(self, address: int) -> None: ...
    def read_memory(self, address: int, length: int) -> bytes: ...
    def write_memory(self, address: int, data: bytes) -> None: ...
    def resume(self, actions: list[tuple[str, int, int]]) -> None: ...
    def kill(self) -> None: ...
    def xfer(self, obj: str, annex: str) -> bytes | None: ...
    def monitor(self, command: str) -> str | None: ...
    def special(self, text: str) -> str | None: ...  # a stub's own packets first (None: not its own)


GdbStub = StubLike  # the handlers' annotations


def _thread_id(text: str) -> int:
    """A thread-id: hex, 0 (any) or -1 (all); p<pid>.<tid> is accepted too."""
    if text.startswith("p"):
        text = text.partition(".")[2] or "-1"
    return -1 if text == "-1" else int(text or "0", 16)


def _query(stub: GdbStub, body: str) -> str | bytes | None:
    if body.startswith("Supported"):
        return stub.supported
    if body == "C":
        return f"QC{stub.thread_text(stub.current_thread_id())}"
    if body == "fThreadInfo":
        return "m" + ",".join(stub.thread_text(tid) for tid in stub.thread_ids())
    if body == "sThreadInfo":
        return "l"
    if body.startswith("ThreadExtraInfo,"):
        return stub.thread_name(_thread_id(body.split(",", 1)[1])).hex()
    if body.startswith("Attached"):
        return "0"  # the stub started the process: quitting gdb kills it
    if body.startswith("Xfer:"):
        return _xfer(stub, body[5:])
    if body.startswith("Symbol"):
        return "OK"
    if body.startswith("Rcmd,"):  # `monitor CMD`: the answer is hex-encoded console text
        answer = stub.monitor(bytes.fromhex(body[5:]).decode("latin-1"))
        if answer is None:
            return ""
        return answer.encode().hex() if answer else "OK"
    return ""


def _xfer(stub: GdbStub, body: str) -> str | bytes:
    # <object>:read:<annex>:<offset>,<length>
    parts = body.split(":")
    if len(parts) != 4 or parts[1] != "read":
        return ""
    obj, _, annex, window = parts
    data = stub.xfer(obj, annex)
    if data is None:
        return "E00" if obj in ("features", "siginfo") else ""
    offset, length = (int(x, 16) for x in window.split(","))
    chunk = data[offset:offset + length]
    return (b"l" if offset + length >= len(data) else b"m") + escape(chunk)


def _read_registers(stub: GdbStub, _body: str) -> str:
    return stub.description.read_all(stub.registers()).hex()


def _write_registers(stub: GdbStub, body: str) -> str:
    stub.description.write_all(stub.registers(), bytes.fromhex(body))
    return "OK"


def _read_register(stub: GdbStub, body: str) -> str:
    reg = stub.description.by_number.get(int(body, 16))
    if reg is None:
        return "E45"
    return stub.description.read(stub.registers(), reg).hex()


def _write_register(stub: GdbStub, body: str) -> str:
    number, _, value = body.partition("=")
    reg = stub.description.by_number.get(int(number, 16))
    if reg is None:
        return "E45"
    stub.description.write(stub.registers(), reg, bytes.fromhex(value))
    return "OK"


def _read_memory(stub: GdbStub, body: str) -> str:
    address, length = (int(x, 16) for x in body.split(","))
    try:
        return stub.read_memory(address, min(length, 0x2000)).hex()
    except (KeyError, Exception):  # noqa: BLE001 - unmapped, or outside any engine map
        return ERROR_MEMORY


def _write_memory(stub: GdbStub, data: bytes, address: int) -> str:
    try:
        stub.write_memory(address, data)
    except (KeyError, Exception):  # noqa: BLE001 - unmapped
        return ERROR_MEMORY
    return "OK"


def _set_thread(stub: GdbStub, body: str) -> str:
    kind, tid = body[0], _thread_id(body[1:])
    if tid > 0 and not stub.has_thread(tid):
        return "E22"
    if kind == "g":
        stub.reg_thread = max(tid, 0)
    return "OK"


def _thread_alive(stub: GdbStub, body: str) -> str:
    return "OK" if stub.has_thread(_thread_id(body)) else "E01"


def _breakpoint(stub: GdbStub, body: str, insert: bool) -> str:
    kind, address, length = body.split(",")[:3]
    number, addr, size = int(kind), int(address, 16), int(length.split(";")[0], 16)
    if number in (0, 1):
        (stub.breakpoints.add if insert else stub.breakpoints.discard)(addr)
    elif number in stub.watch_kinds:
        key = (number, addr, max(size, 1))
        if insert:
            stub.watchpoints[key] = None
        else:
            stub.watchpoints.pop(key, None)
    else:
        return ""
    return "OK"


def _vcont(stub: GdbStub, body: str) -> str:
    if body == "?":
        return "vCont;c;C;s;S"
    actions = []
    for item in filter(None, body.lstrip(";").split(";")):
        action, _, tid = item.partition(":")
        signal = int(action[1:], 16) if action[0] in "CS" and len(action) > 1 else 0
        actions.append((action[0].lower(), signal, _thread_id(tid) if tid else -1))
    stub.resume(actions)
    return ""


def _catch_syscalls(stub: GdbStub, body: str) -> str:
    if body.startswith("0"):
        stub.catch = None
        stub.catch_all = False
        return "OK"
    numbers = [int(x, 16) for x in body.split(";")[1:] if x]
    stub.catch = set(numbers)
    stub.catch_all = not numbers
    return "OK"


def _no_ack(stub: GdbStub) -> str:
    stub.conn.send("OK")  # type: ignore[union-attr] - still acknowledged, as the manual says
    stub.conn.acks = False  # type: ignore[union-attr]
    return None  # type: ignore[return-value]


def _detach(stub: GdbStub) -> str:
    stub.breakpoints.clear()
    stub.watchpoints.clear()
    stub.catch = None
    stub.detached = True
    stub.conn.send("OK")  # type: ignore[union-attr]
    stub.conn.close()  # type: ignore[union-attr]
    stub.resume([])
    return ""


def _v_packet(stub: GdbStub, body: str) -> str:
    if body.startswith("Cont"):
        return _vcont(stub, body[4:])
    if body.startswith("Kill"):
        stub.conn.send("OK")  # type: ignore[union-attr]
        stub.kill()
    if body == "MustReplyEmpty":
        return ""
    return ""


def _resume_simple(stub: GdbStub, body: str, step: bool, with_signal: bool) -> str:
    signal = 0
    if with_signal and body:
        signal = int(body.split(";")[0], 16)
    elif body:  # c/s with an address: resume there
        from_address = int(body, 16)
        stub.set_pc(from_address)
    stub.resume([("s" if step else "c", signal, -1)])
    return ""


HANDLERS: dict[str, Callable[[GdbStub, str], str | bytes | None]] = {
    "q": _query,
    "g": _read_registers,
    "G": _write_registers,
    "p": _read_register,
    "P": _write_register,
    "m": _read_memory,
    "H": _set_thread,
    "T": _thread_alive,
    "Z": lambda s, b: _breakpoint(s, b, True),
    "z": lambda s, b: _breakpoint(s, b, False),
    "v": _v_packet,
    "c": lambda s, b: _resume_simple(s, b, False, False),
    "s": lambda s, b: _resume_simple(s, b, True, False),
    "C": lambda s, b: _resume_simple(s, b, False, True),
    "S": lambda s, b: _resume_simple(s, b, True, True),
    "?": lambda s, b: s.last_reply,
    "D": lambda s, b: _detach(s),
    "k": lambda s, b: s.kill(),  # type: ignore[func-returns-value]
}


def handle(stub: GdbStub, packet: bytes) -> str | bytes | None:
    if packet[:1] in (b"X", b"M"):
        head, _, data = packet[1:].partition(b":")
        address, _length = (int(x, 16) for x in head.decode().split(","))
        raw = unescape(data) if packet[:1] == b"X" else bytes.fromhex(data.decode())
        return _write_memory(stub, raw, address)
    text = packet.decode("latin-1")
    own = stub.special(text)
    if own is not None:
        return own
    if text.startswith("QStartNoAckMode"):
        return _no_ack(stub)
    if text.startswith("QPassSignals:"):
        stub.pass_signals = {int(x, 16) for x in text[len("QPassSignals:"):].split(";") if x}
        return "OK"
    if text.startswith("QCatchSyscalls:"):
        return _catch_syscalls(stub, text[len("QCatchSyscalls:"):])
    handler = HANDLERS.get(text[:1])
    if handler is None:
        return ""
    try:
        return handler(stub, text[1:])
    except (ValueError, IndexError):
        return ERROR_ARGUMENT
