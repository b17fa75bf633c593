"""One TCP connection between the guest and a host socket, for the user-mode back end.

The back end ends the guest's TCP itself (as slirp does) and carries the
bytes over an ordinary host socket.  The guest link is a virtqueue in the
same process, so segments are not lost on the way; the guest may still drop
one (a full socket buffer), so whatever is unacknowledged is sent again from
the first unacknowledged byte after RTO (go-back-N, RFC 793's retransmission
without its timers' refinements).  No window scaling (the SYN-ACK carries no
window-scale option, so neither side scales: RFC 7323 2.2), MSS 1460.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from enum import Enum

from .packets import TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, Tcp

MSS = 1460
WINDOW = 65535
RTO_NS = 1_000_000_000  # RFC 6298's initial RTO (1 s), never backed off here
MAX_RETRIES = 8


def seq_add(a: int, n: int) -> int:
    return (a + n) & 0xFFFFFFFF


def seq_diff(a: int, b: int) -> int:
    """a - b in sequence space, as a signed 32-bit number."""
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d & 0x80000000 else d


class State(Enum):
    SYN_SENT = "syn-sent"  # host forward: our SYN to the guest
    SYN_RCVD = "syn-rcvd"  # the guest's SYN, our SYN-ACK
    OPEN = "open"
    CLOSED = "closed"


class TcpConnection:
    """The guest's side is (guest_ip, guest_port); ours is (peer_ip, peer_port)."""

    def __init__(self, sock: socket.socket, guest: tuple[bytes, int], peer: tuple[bytes, int],
                 emit: Callable[[Tcp], None], on_open: Callable[[TcpConnection], None],
                 on_close: Callable[[TcpConnection], None]) -> None:
        self.sock = sock
        self.guest, self.peer = guest, peer
        self.emit, self.on_open, self.on_close = emit, on_open, on_close
        self.iss = random.getrandbits(32)
        self.out_seq = seq_add(self.iss, 1)  # sequence number of out[0]
        self.out = bytearray()  # host bytes not yet acknowledged by the guest
        self.sent = 0  # of out, how many are in flight
        self.rcv_nxt = 0
        self.guest_window = WINDOW
        self.mss = 536  # RFC 1122's default until the guest's SYN says otherwise
        self.host_eof = self.fin_sent = self.fin_acked = self.guest_fin = False
        self.state = State.CLOSED
        self.last_send = 0
        self.retries = 0

    # -- opening
    def accept_guest_syn(self, syn: Tcp, now: int) -> None:
        """The guest connects out: the host socket is already connected."""
        self.rcv_nxt = seq_add(syn.seq, 1)
        self.mss = min(syn.mss or 536, MSS)
        self.guest_window = syn.window
        self.state = State.SYN_RCVD
        self._send_syn(now)

    def connect_guest(self, now: int) -> None:
        """A host forward: a host client connected, now open the guest's side."""
        self.state = State.SYN_SENT
        self._send_syn(now)

    def _send_syn(self, now: int) -> None:
        flags = TCP_SYN | (TCP_ACK if self.state is State.SYN_RCVD else 0)
        self._emit(flags, self.iss, b"", now, mss=MSS)

    # -- from the guest
    def from_guest(self, seg: Tcp, now: int) -> None:
        if seg.flags & TCP_RST:
            self.close()
            return
        if self.state is State.SYN_SENT:
            if seg.flags & TCP_SYN and seg.flags & TCP_ACK and seg.ack == self.out_seq:
                self.rcv_nxt = seq_add(seg.seq, 1)
                self.mss = min(seg.mss or 536, MSS)
                self.guest_window = seg.window
                self._opened(now)
                self._ack(now)
            return
        if not seg.flags & TCP_ACK:
            return
        if self.state is State.SYN_RCVD:
            if seg.ack != self.out_seq:
                return
            self._opened(now)
        self.guest_window = seg.window
        self._acked(seg.ack, now)
        if self.state is State.CLOSED:
            return
        self._receive(seg, now)
        if self.state is not State.CLOSED:
            self.pump(now)
            if self.guest_fin and self.fin_acked:
                self.close()

    def _opened(self, now: int) -> None:
        self.state = State.OPEN
        self.retries = 0
        self.on_open(self)

    def _acked(self, ack: int, now: int) -> None:
        advanced = seq_diff(ack, self.out_seq)
        if advanced <= 0:
            return
        data = min(advanced, len(self.out))
        del self.out[:data]
        self.sent = max(0, self.sent - data)
        self.out_seq = seq_add(self.out_seq, data)
        if self.fin_sent and advanced > data:
            self.fin_acked = True
        self.retries = 0
        self.last_send = now

    def _receive(self, seg: Tcp, now: int) -> None:
        if not seg.data and not seg.flags & TCP_FIN:
            return
        if seg.seq != self.rcv_nxt or self.guest_fin:
            self._ack(now)  # out of order or a repeat: say again what is expected
            return
        if seg.data:
            # Never block the emulation thread on a host peer that does not
            # read: take what the socket takes, acknowledge only that, and the
            # guest sends the rest again.
            try:
                taken = self.sock.send(seg.data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                taken = 0
            except OSError:
                self.reset(now)
                return
            self.rcv_nxt = seq_add(self.rcv_nxt, taken)
            if taken < len(seg.data):
                self._ack(now)
                return
        if seg.flags & TCP_FIN:
            self.rcv_nxt = seq_add(self.rcv_nxt, 1)
            self.guest_fin = True
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        self._ack(now)

    # -- from the host
    def host_data(self, data: bytes, now: int) -> None:
        if not data:
            self.host_eof = True
        else:
            self.out += data
        self.pump(now)
        if self.guest_fin and self.fin_acked:
            self.close()

    def pump(self, now: int) -> None:
        if self.state is not State.OPEN:
            return
        while self.sent < len(self.out) and self.sent < self.guest_window:
            size = min(self.mss, len(self.out) - self.sent, self.guest_window - self.sent)
            chunk = bytes(self.out[self.sent:self.sent + size])
            self._emit(TCP_ACK | TCP_PSH, seq_add(self.out_seq, self.sent), chunk, now)
            self.sent += size
        if self.host_eof and not self.fin_sent and self.sent == len(self.out):
            self._emit(TCP_ACK | TCP_FIN, seq_add(self.out_seq, len(self.out)), b"", now)
            self.fin_sent = True

    # -- timers
    def deadline(self) -> int | None:
        waiting = self.state in (State.SYN_SENT, State.SYN_RCVD) or self.sent > 0 \
            or (self.fin_sent and not self.fin_acked)
        return self.last_send + RTO_NS if waiting and self.state is not State.CLOSED else None

    def expire(self, now: int) -> None:
        """RTO passed with something unacknowledged: send it again, or give up."""
        self.retries += 1
        if self.retries > MAX_RETRIES:
            self.reset(now)
            return
        if self.state in (State.SYN_SENT, State.SYN_RCVD):
            self._send_syn(now)
            return
        self.sent = 0
        if not self.fin_acked:
            self.fin_sent = False
        self.pump(now)

    # -- helpers
    def _ack(self, now: int) -> None:
        self._emit(TCP_ACK, seq_add(self.out_seq, self.sent + int(self.fin_sent)), b"", now)

    def _emit(self, flags: int, seq: int, data: bytes, now: int, mss: int | None = None) -> None:
        ack = self.rcv_nxt if flags & TCP_ACK else 0
        self.emit(Tcp(self.peer[1], self.guest[1], seq, ack, flags, WINDOW, data, mss))
        if flags & (TCP_SYN | TCP_FIN) or data:
            self.last_send = now

    def reset(self, now: int) -> None:
        self.emit(Tcp(self.peer[1], self.guest[1], seq_add(self.out_seq, self.sent), self.rcv_nxt,
                      TCP_RST | TCP_ACK, 0))
        self.close()

    def close(self) -> None:
        if self.state is State.CLOSED and self.sock.fileno() < 0:
            return
        self.state = State.CLOSED
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.on_close(self)
