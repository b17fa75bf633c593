"""`-netdev user`: a user-mode network back end that reaches only the host's loopback.

What the guest sees follows QEMU's user networking (slirp) defaults, as its
documentation (docs/system/devices/net.rst) and libslirp's sources state them:
network 10.0.2.0/24, the gateway and "host" at 10.0.2.2 with MAC
52:55:0a:00:02:02, the guest's address 10.0.2.15 handed out by DHCP (lease
86400 s, server id 10.0.2.2).  The subset served here:

- ARP for 10.0.2.2;
- DHCP (DISCOVER/OFFER, REQUEST/ACK) for 10.0.2.15;
- ICMP echo to 10.0.2.2, answered by the back end itself (slirp does too);
- TCP and UDP to 10.0.2.2:PORT, carried to 127.0.0.1:PORT on the host;
- `hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT`: a host TCP port
  (on 127.0.0.1 unless HOSTADDR says otherwise) forwarded into the guest.

Everything else is dropped (a TCP SYN to any other address gets a reset): no
DNS at 10.0.2.3, no route to the outside world, no IPv6, no fragments.

Host sockets are read by one host thread each, which queue what they read
and wake the emulation thread; everything else runs on the emulation thread
(poll(), from_guest()).
"""

from __future__ import annotations

import queue
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError
from .packets import (
    BROADCAST_MAC,
    ETH_P_ARP,
    ETH_P_IP,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_RST,
    TCP_SYN,
    IPv4,
    Tcp,
    checksum,
    ethernet,
    ip,
    udp,
)
from .tcp import TcpConnection

GATEWAY_IP, GUEST_IP, NETMASK = ip("10.0.2.2"), ip("10.0.2.15"), ip("255.255.255.0")
GATEWAY_MAC = bytes.fromhex("52550a000202")  # slirp: 52:55 then the gateway's IPv4 address
LEASE_SECONDS = 86400
DHCP_SERVER_PORT, DHCP_CLIENT_PORT = 67, 68
DHCP_MAGIC = b"\x63\x82\x53\x63"
DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, DHCPACK = 1, 2, 3, 5
ICMP_ECHO_REPLY, ICMP_ECHO = 0, 8
NETDEV_OPTIONS = ("id", "hostfwd")


@dataclass(frozen=True)
class HostForward:
    host_addr: str
    host_port: int
    guest_port: int

    @classmethod
    def parse(cls, rule: str) -> HostForward:
        """tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, as QEMU writes it."""
        bad = UsageError(f"invalid host forwarding rule '{rule}'")
        proto, sep, rest = rule.partition(":")
        if not sep:
            raise bad
        if proto == "udp":
            raise UsageError(f"host forwarding rule '{rule}': only tcp is supported")
        if proto not in ("tcp", ""):
            raise bad
        host, dash, guest = rest.partition("-")
        host_addr, _, host_port = host.rpartition(":")
        guest_addr, _, guest_port = guest.rpartition(":")
        if not dash or not host_port.isdigit() or not guest_port.isdigit():
            raise bad
        if guest_addr not in ("", "10.0.2.15"):
            raise UsageError(f"host forwarding rule '{rule}': the guest is 10.0.2.15")
        return cls(host_addr or "127.0.0.1", int(host_port), int(guest_port))


def parse_netdev_user(text: str, option: str = "-netdev") -> tuple[str, list[HostForward]]:
    """The options after `user,` of -netdev (id=ID required) or -nic (id optional)."""
    netdev_id, rules = "", []
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if key not in NETDEV_OPTIONS or not sep:
            raise UsageError(f"{option} user,{text}: Invalid parameter '{key}'")
        if key == "id":
            netdev_id = value
        else:
            rules.append(HostForward.parse(value))
    return netdev_id, rules


class UserNet:
    """The back end: frames from the guest in, frames for the guest out (`to_guest`)."""

    def __init__(self, netdev_id: str, forwards: list[HostForward]) -> None:
        self.id = netdev_id
        self.to_guest: deque[bytes] = deque()
        self.guest_mac = BROADCAST_MAC
        self.events: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self.tcp: dict[tuple[int, bytes, int], TcpConnection] = {}
        self.udp: dict[tuple[int, int], socket.socket] = {}
        self.wake: Callable[[], None] | None = None
        self.ident = 0
        self.in_use_by: str | None = None  # the device that owns it
        self.closed = False
        self.listeners: list[tuple[socket.socket, HostForward]] = []
        for rule in forwards:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((rule.host_addr, rule.host_port))
                listener.listen(8)
            except OSError as exc:
                listener.close()
                self.close()
                raise UsageError(f"could not set up host forwarding rule "
                                 f"'tcp:{rule.host_addr}:{rule.host_port}-:{rule.guest_port}': "
                                 f"{exc.strerror}") from None
            self.listeners.append((listener, rule))

    # -- host threads
    def start(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        for listener, rule in self.listeners:
            self._thread(self._accepter, listener, rule)

    def _thread(self, target: Callable, *args) -> None:
        threading.Thread(target=target, args=args, name=f"netdev-{self.id}", daemon=True).start()

    def _post(self, *event) -> None:
        self.events.put(event)
        if self.wake is not None:
            self.wake()

    def _accepter(self, listener: socket.socket, rule: HostForward) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            self._post("accept", sock, rule)

    def _reader(self, kind: str, key: object, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            self._post(kind, key, data)
            if not data:
                return

    # -- the emulation thread
    def poll(self, now_ns: int) -> int | None:
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            self._host_event(event, now_ns)
        deadline = None
        for conn in list(self.tcp.values()):
            due = conn.deadline()
            if due is not None and due <= now_ns:
                conn.expire(now_ns)
                due = conn.deadline()
            if due is not None and (deadline is None or due < deadline):
                deadline = due
        return deadline

    def _host_event(self, event: tuple, now: int) -> None:
        kind = event[0]
        if kind == "tcp":
            conn, data = event[1], event[2]
            if self.tcp.get(self._tcp_key(conn)) is conn:
                conn.host_data(data, now)
        elif kind == "udp":
            (guest_port, host_port), data = event[1], event[2]
            if data and (guest_port, host_port) in self.udp:
                self._send_ip(IPPROTO_UDP, GATEWAY_IP, GUEST_IP, udp(GATEWAY_IP, host_port, GUEST_IP, guest_port, data))
        elif kind == "accept":
            sock, rule = event[1], event[2]
            try:
                port = sock.getpeername()[1]
            except OSError:  # the client has gone already
                sock.close()
                return
            conn = self._new_tcp(sock, (GUEST_IP, rule.guest_port), (GATEWAY_IP, port))
            if conn is None:
                sock.close()
            else:
                conn.connect_guest(now)

    def from_guest(self, frame: bytes) -> None:
        if len(frame) < 14:
            return
        ethertype = struct.unpack("!H", frame[12:14])[0]
        if frame[6] & 1 == 0:
            self.guest_mac = frame[6:12]
        if ethertype == ETH_P_ARP:
            self._arp(frame[14:])
        elif ethertype == ETH_P_IP:
            packet = IPv4.parse(frame[14:])
            if packet is not None:
                self._ip(packet, time.monotonic_ns())

    def _arp(self, arp: bytes) -> None:
        if len(arp) < 28:
            return
        htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", arp[:8])
        sender_mac, sender_ip, target_ip = arp[8:14], arp[14:18], arp[24:28]
        if (htype, ptype, hlen, plen, op) != (1, ETH_P_IP, 6, 4, 1) or target_ip != GATEWAY_IP:
            return
        reply = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 2) + GATEWAY_MAC + GATEWAY_IP + sender_mac + sender_ip
        self.to_guest.append(ethernet(sender_mac, GATEWAY_MAC, ETH_P_ARP, reply))

    def _send_ip(self, proto: int, src: bytes, dst: bytes, payload: bytes, dst_mac: bytes | None = None) -> None:
        self.ident += 1
        packet = IPv4(src, dst, proto, payload).build(self.ident)
        self.to_guest.append(ethernet(dst_mac or self.guest_mac, GATEWAY_MAC, ETH_P_IP, packet))

    def _ip(self, packet: IPv4, now: int) -> None:
        if packet.proto == IPPROTO_UDP and len(packet.payload) >= 8:
            sport, dport = struct.unpack("!HH", packet.payload[:4])
            data = packet.payload[8:]
            if dport == DHCP_SERVER_PORT:
                self._dhcp(data)
            elif packet.dst == GATEWAY_IP:
                self._udp_out(sport, dport, data)
        elif packet.proto == IPPROTO_ICMP and packet.dst == GATEWAY_IP:
            payload = packet.payload
            if len(payload) >= 8 and payload[0] == ICMP_ECHO and checksum(payload) == 0:
                reply = bytes([ICMP_ECHO_REPLY, 0, 0, 0]) + payload[4:]
                reply = reply[:2] + struct.pack("!H", checksum(reply)) + reply[4:]
                self._send_ip(IPPROTO_ICMP, GATEWAY_IP, packet.src, reply)
        elif packet.proto == IPPROTO_TCP:
            seg = Tcp.parse(packet.payload)
            if seg is not None:
                self._tcp(packet, seg, now)

    # -- DHCP (RFC 2131, options RFC 2132)
    def _dhcp(self, msg: bytes) -> None:
        if len(msg) < 240 or msg[0] != 1 or msg[236:240] != DHCP_MAGIC:
            return
        options = self._dhcp_options(msg[240:])
        kind = options.get(53, b"\0")[0]
        if kind == DHCPDISCOVER:
            reply = DHCPOFFER
        elif kind == DHCPREQUEST:
            wanted = options.get(50, msg[12:16])
            if wanted not in (GUEST_IP, b"\0\0\0\0"):
                return  # not ours to give (a NAK is what slirp sends; udhcpc then starts over)
            reply = DHCPACK
        else:
            return
        xid, chaddr = msg[4:8], msg[28:44]
        lease = struct.pack("!I", LEASE_SECONDS)
        opts = bytes([53, 1, reply, 54, 4]) + GATEWAY_IP + bytes([51, 4]) + lease \
            + bytes([1, 4]) + NETMASK + bytes([3, 4]) + GATEWAY_IP + b"\xff"
        body = struct.pack("!BBBB4sHH4s4s4s4s16s64s128s", 2, 1, 6, 0, xid, 0, 0, b"\0" * 4, GUEST_IP,
                           GATEWAY_IP, b"\0" * 4, chaddr, b"", b"") + DHCP_MAGIC + opts
        broadcast = b"\xff" * 4
        self._send_ip(IPPROTO_UDP, GATEWAY_IP, broadcast,
                      udp(GATEWAY_IP, DHCP_SERVER_PORT, broadcast, DHCP_CLIENT_PORT, body), dst_mac=chaddr[:6])

    @staticmethod
    def _dhcp_options(data: bytes) -> dict[int, bytes]:
        out, i = {}, 0
        while i < len(data) and data[i] != 255:
            if data[i] == 0:
                i += 1
                continue
            if i + 1 >= len(data):
                break
            code, length = data[i], data[i + 1]
            out[code] = data[i + 2:i + 2 + length]
            i += 2 + length
        return out

    # -- UDP to the host's loopback
    def _udp_out(self, guest_port: int, host_port: int, data: bytes) -> None:
        key = (guest_port, host_port)
        sock = self.udp.get(key)
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.connect(("127.0.0.1", host_port))
            except OSError:
                sock.close()
                return
            self.udp[key] = sock
            self._thread(self._reader, "udp", key, sock)
        try:
            sock.send(data)
        except OSError:
            pass  # ICMP port unreachable from the host: UDP loses it, as the guest expects it may

    # -- TCP
    @staticmethod
    def _tcp_key(conn: TcpConnection) -> tuple[int, bytes, int]:
        return (conn.guest[1], conn.peer[0], conn.peer[1])

    def _new_tcp(self, sock: socket.socket, guest: tuple[bytes, int], peer: tuple[bytes, int]) -> TcpConnection | None:
        if self.closed:
            return None
        conn = TcpConnection(sock, guest, peer, emit=lambda seg, p=peer: self._emit_tcp(seg, p[0]),
                             on_open=self._opened, on_close=self._closed)
        self.tcp[self._tcp_key(conn)] = conn
        return conn

    def _emit_tcp(self, seg: Tcp, src: bytes) -> None:
        self._send_ip(IPPROTO_TCP, src, GUEST_IP, seg.build(src, GUEST_IP))

    def _opened(self, conn: TcpConnection) -> None:
        self._thread(self._reader, "tcp", conn, conn.sock)

    def _closed(self, conn: TcpConnection) -> None:
        if self.tcp.get(self._tcp_key(conn)) is conn:
            del self.tcp[self._tcp_key(conn)]

    def _tcp(self, packet: IPv4, seg: Tcp, now: int) -> None:
        conn = self.tcp.get((seg.sport, packet.dst, seg.dport))
        if conn is not None:
            conn.from_guest(seg, now)
            return
        if seg.flags & TCP_RST:
            return
        if seg.flags & TCP_SYN and not seg.flags & TCP_ACK and packet.dst == GATEWAY_IP:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(5)
            try:
                sock.connect(("127.0.0.1", seg.dport))
            except OSError:
                sock.close()
            else:
                sock.settimeout(None)
                conn = self._new_tcp(sock, (packet.src, seg.sport), (packet.dst, seg.dport))
                if conn is not None:
                    conn.accept_guest_syn(seg, now)
                    return
        # Nothing listens, or not a place this back end reaches: a reset (RFC 793, "Reset Generation").
        length = len(seg.data) + (1 if seg.flags & TCP_SYN else 0)
        if seg.flags & TCP_ACK:
            rst = Tcp(seg.dport, seg.sport, seg.ack, 0, TCP_RST, 0)
        else:
            rst = Tcp(seg.dport, seg.sport, 0, (seg.seq + length) & 0xFFFFFFFF, TCP_RST | TCP_ACK, 0)
        self._send_ip(IPPROTO_TCP, packet.dst, packet.src, rst.build(packet.dst, packet.src))

    def close(self) -> None:
        self.closed = True
        for listener, _ in self.listeners:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() of its thread
            except OSError:
                pass
            listener.close()
        for conn in list(self.tcp.values()):
            conn.close()
        for sock in self.udp.values():
            sock.close()
        self.udp.clear()
