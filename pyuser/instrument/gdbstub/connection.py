"""The GDB remote serial protocol's framing over one TCP connection.

Packets are `$data#cc` (cc: the modulo-256 sum of data in hex); `}` escapes
the next byte XOR 0x20 in binary data; a lone 0x03 byte is an interrupt
request (Ctrl-C in gdb); `+`/`-` acknowledge until QStartNoAckMode
(gdb/doc/gdb.texinfo, "Overview" of the Remote Protocol appendix).

A reader thread takes packets off the socket as they come, so that an
interrupt is seen while the guest runs; the thread serving a stop takes
them from a queue.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable

CLOSED = None  # what next_packet returns once gdb has gone


def listen(port: int, host: str = "127.0.0.1") -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(1)
    return server


def unescape(data: bytes) -> bytes:
    if b"}" not in data:
        return data
    out = bytearray()
    it = iter(data)
    for byte in it:
        out.append(next(it, 0) ^ 0x20 if byte == 0x7D else byte)
    return bytes(out)


def escape(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in b"#$}*":
            out += bytes([0x7D, byte ^ 0x20])
        else:
            out.append(byte)
    return bytes(out)


class Connection:
    def __init__(self, sock: socket.socket, on_interrupt: Callable[[], None]) -> None:
        self.sock = sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.on_interrupt = on_interrupt
        self.acks = True
        self.closed = False
        self._packets: queue.Queue[bytes | None] = queue.Queue()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_loop, name="pyuser-gdb", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buffer = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                buffer = self._parse(buffer)
        except OSError:
            pass
        self.closed = True
        self._packets.put(CLOSED)

    def _parse(self, buffer: bytes) -> bytes:
        while buffer:
            first = buffer[0]
            if first == 0x03:
                buffer = buffer[1:]
                self.on_interrupt()
            elif first != 0x24:  # '$': skip acks and noise
                buffer = buffer[1:]
            else:
                end = buffer.find(b"#")
                if end < 0 or len(buffer) < end + 3:
                    return buffer  # incomplete
                data = buffer[1:end]
                buffer = buffer[end + 3:]
                if self.acks:
                    self._write(b"+")
                self._packets.put(data)
        return buffer

    def next_packet(self) -> bytes | None:
        return self._packets.get()

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("latin-1")
        checksum = sum(data) & 0xFF
        self._write(b"$" + data + b"#" + f"{checksum:02x}".encode())

    def _write(self, raw: bytes) -> None:
        with self._send_lock:
            try:
                self.sock.sendall(raw)
            except OSError:
                self.closed = True

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
