"""The user-mode network back end (-netdev user), driven with hand-made frames.

What a guest would send goes in through from_guest(); what it gets back is
read from to_guest and checked field by field (checksums included), against
the RFCs' layouts and slirp's defaults (10.0.2.2, 10.0.2.15, lease 86400).
The Linux boot in test_linux.py runs the same back end under a real guest.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from pyuser.system.net.packets import (
    ETH_P_ARP,
    ETH_P_IP,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    IPv4,
    Tcp,
    checksum,
    ethernet,
    ip,
    pseudo_header,
    udp,
)
from pyuser.system.net.usernet import GATEWAY_MAC, HostForward, UserNet

GUEST_MAC = bytes.fromhex("525400123456")
GUEST, GATEWAY = ip("10.0.2.15"), ip("10.0.2.2")


@pytest.fixture()
def net():
    backend = UserNet("n0", [])
    yield backend
    backend.close()


def send_ip(net: UserNet, proto: int, payload: bytes, dst: bytes = GATEWAY, src: bytes = GUEST) -> None:
    net.from_guest(ethernet(GATEWAY_MAC, GUEST_MAC, ETH_P_IP, IPv4(src, dst, proto, payload).build(7)))


def send_tcp(net: UserNet, seg: Tcp, dst: bytes = GATEWAY) -> None:
    send_ip(net, IPPROTO_TCP, seg.build(GUEST, dst), dst)


def received(net: UserNet) -> list[tuple[bytes, IPv4 | None]]:
    """Frames for the guest: (ethernet header, IPv4 packet or None), headers' checksums verified."""
    out = []
    while net.to_guest:
        frame = net.to_guest.popleft()
        packet = None
        if struct.unpack("!H", frame[12:14])[0] == ETH_P_IP:
            assert checksum(frame[14:34]) == 0, "IPv4 header checksum"
            packet = IPv4.parse(frame[14:])
            if packet.proto in (IPPROTO_TCP, IPPROTO_UDP):
                pseudo = pseudo_header(packet.src, packet.dst, packet.proto, len(packet.payload))
                assert checksum(pseudo + packet.payload) == 0, "TCP/UDP checksum"
        out.append((frame[:14], packet))
    return out


def wait_for(net: UserNet, timeout: float = 5) -> list[tuple[bytes, IPv4 | None]]:
    """Poll as the CPU loop does until frames for the guest come out of the host threads."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        net.poll(time.monotonic_ns())
        if net.to_guest:
            return received(net)
        time.sleep(0.01)
    return []


def test_arp_answers_for_the_gateway_only(net) -> None:
    def ask(target: str) -> None:
        arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + GUEST_MAC + GUEST + b"\0" * 6 + ip(target)
        net.from_guest(ethernet(b"\xff" * 6, GUEST_MAC, ETH_P_ARP, arp))

    ask("10.0.2.2")
    frame = net.to_guest.popleft()
    assert frame[:14] == GUEST_MAC + GATEWAY_MAC + b"\x08\x06"
    assert frame[14:42] == struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 2) + GATEWAY_MAC + GATEWAY + GUEST_MAC + GUEST
    ask("10.0.2.99")
    assert not net.to_guest


def dhcp_message(kind: int, xid: bytes, extra: bytes = b"") -> bytes:
    body = struct.pack("!BBBB4sHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4, b"\0" * 4,
                       b"\0" * 4, b"\0" * 4, GUEST_MAC, b"", b"")
    return body + b"\x63\x82\x53\x63" + bytes([53, 1, kind]) + extra + b"\xff"


def test_dhcp_offers_and_acks_10_0_2_15(net) -> None:
    replies = []
    for kind, extra in ((1, b""), (3, bytes([50, 4]) + GUEST + bytes([54, 4]) + GATEWAY)):
        message = dhcp_message(kind, b"\x12\x34\x56\x78", extra)
        send_ip(net, IPPROTO_UDP, udp(b"\0" * 4, 68, b"\xff" * 4, 67, message), b"\xff" * 4, b"\0" * 4)
        [(eth, packet)] = received(net)
        assert eth[:6] == GUEST_MAC and packet.src == GATEWAY and packet.dst == b"\xff" * 4
        assert struct.unpack("!HH", packet.payload[:4]) == (67, 68)
        replies.append(packet.payload[8:])
    for reply, kind in zip(replies, (2, 5), strict=True):
        assert reply[0] == 2 and reply[4:8] == b"\x12\x34\x56\x78"
        assert reply[16:20] == GUEST and reply[28:34] == GUEST_MAC
        options = reply[240:]
        assert options == bytes([53, 1, kind, 54, 4]) + GATEWAY + bytes([51, 4]) + struct.pack("!I", 86400) \
            + bytes([1, 4]) + ip("255.255.255.0") + bytes([3, 4]) + GATEWAY + b"\xff"


def test_ping_the_gateway(net) -> None:
    echo = bytes([8, 0, 0, 0]) + struct.pack("!HH", 0x4242, 1) + b"payload!"
    echo = echo[:2] + struct.pack("!H", checksum(echo)) + echo[4:]
    send_ip(net, IPPROTO_ICMP, echo)
    [(_eth, packet)] = received(net)
    assert packet.proto == IPPROTO_ICMP and (packet.src, packet.dst) == (GATEWAY, GUEST)
    assert packet.payload[0] == 0 and packet.payload[4:] == echo[4:] and checksum(packet.payload) == 0
    send_ip(net, IPPROTO_ICMP, echo, dst=ip("10.0.2.77"))  # nobody there
    assert not net.to_guest


def test_tcp_to_the_host_loopback_through_10_0_2_2(net) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    net.start(lambda: None)
    send_tcp(net, Tcp(40000, port, 1000, 0, TCP_SYN, 29200, mss=1460))
    [(_eth, packet)] = received(net)
    syn_ack = Tcp.parse(packet.payload)
    assert syn_ack.flags == TCP_SYN | TCP_ACK and syn_ack.ack == 1001 and syn_ack.mss == 1460
    host, _ = server.accept()
    ours = syn_ack.seq + 1
    send_tcp(net, Tcp(40000, port, 1001, ours, TCP_ACK, 29200, b"GET / HTTP/1.0\r\n\r\n"))
    [(_eth, packet)] = received(net)
    assert Tcp.parse(packet.payload).ack == 1001 + 18
    assert host.recv(100) == b"GET / HTTP/1.0\r\n\r\n"
    host.sendall(b"x" * 3000)
    host.close()
    segments = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (segments and segments[-1].flags & TCP_FIN):
        segments += [Tcp.parse(p.payload) for _e, p in wait_for(net)]
    data = b"".join(s.data for s in segments)
    assert data == b"x" * 3000 and max(len(s.data) for s in segments) == 1460
    assert segments[-1].flags & TCP_FIN and segments[-1].seq == ours + 3000
    send_tcp(net, Tcp(40000, port, 1019, ours + 3001, TCP_ACK | TCP_FIN, 29200))
    [(_eth, packet)] = received(net)
    assert Tcp.parse(packet.payload).ack == 1020
    assert not net.tcp  # both FINs acknowledged: the connection is gone
    server.close()


def test_tcp_nobody_listening_or_elsewhere_is_reset(net) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    for dst, port in ((GATEWAY, closed_port), (ip("93.184.216.34"), 80)):
        send_tcp(net, Tcp(40001, port, 5000, 0, TCP_SYN, 29200), dst)
        [(_eth, packet)] = received(net)
        rst = Tcp.parse(packet.payload)
        assert packet.src == dst and rst.flags == TCP_RST | TCP_ACK and rst.ack == 5001


def test_udp_to_the_host_loopback(net) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        net.start(lambda: None)
        send_ip(net, IPPROTO_UDP, udp(GUEST, 5353, GATEWAY, port, b"question"))
        data, peer = server.recvfrom(100)
        assert data == b"question"
        server.sendto(b"answer", peer)
        [(_eth, packet)] = wait_for(net)
    assert (packet.src, packet.dst) == (GATEWAY, GUEST)
    assert struct.unpack("!HH", packet.payload[:4]) == (port, 5353) and packet.payload[8:] == b"answer"


def test_host_forward_opens_a_connection_into_the_guest() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    net = UserNet("n0", [HostForward.parse(f"tcp::{port}-:22")])
    woken = threading.Event()
    net.start(woken.set)
    try:
        client = socket.create_connection(("127.0.0.1", port))
        assert woken.wait(5)
        [(eth, packet)] = wait_for(net)
        syn = Tcp.parse(packet.payload)
        assert eth[:6] == b"\xff" * 6  # no frame from the guest yet: its MAC is unknown
        assert (packet.src, packet.dst, syn.dport, syn.flags) == (GATEWAY, GUEST, 22, TCP_SYN)
        # No answer from the guest: the SYN goes again after the RTO.
        net.poll(time.monotonic_ns() + 1_100_000_000)
        [(_eth, packet)] = received(net)
        assert Tcp.parse(packet.payload).seq == syn.seq and Tcp.parse(packet.payload).flags == TCP_SYN
        # The guest answers; then says hello.
        send_tcp(net, Tcp(22, syn.sport, 7000, syn.seq + 1, TCP_SYN | TCP_ACK, 29200, mss=1460))
        [(_eth, packet)] = received(net)
        assert Tcp.parse(packet.payload).ack == 7001
        send_tcp(net, Tcp(22, syn.sport, 7001, syn.seq + 1, TCP_ACK, 29200, b"SSH-2.0-guest\r\n"))
        assert client.recv(100) == b"SSH-2.0-guest\r\n"
        client.close()
    finally:
        net.close()


def test_host_forward_rules() -> None:
    assert HostForward.parse("tcp::2222-:22") == HostForward("127.0.0.1", 2222, 22)
    assert HostForward.parse("tcp:0.0.0.0:80-10.0.2.15:8080") == HostForward("0.0.0.0", 80, 8080)
    assert HostForward.parse(":1-:2") == HostForward("127.0.0.1", 1, 2)


def test_a_host_peer_that_does_not_read_never_blocks_the_emulator(net) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    send_tcp(net, Tcp(40002, port, 0, 0, TCP_SYN, 65535, mss=1460))
    [(_eth, packet)] = received(net)
    ours = Tcp.parse(packet.payload).seq + 1
    host, _ = server.accept()  # and never reads
    seq, acks = 1, []
    for _ in range(200):  # 12 MB offered, far beyond the host socket's buffers
        send_tcp(net, Tcp(40002, port, seq, ours, TCP_ACK, 65535, b"z" * 60000))
        [(_eth, packet)] = received(net)
        ack = Tcp.parse(packet.payload).ack
        acks.append(ack)
        seq = ack
    assert acks[-1] == acks[-2] < 1 + 200 * 60000  # the buffers filled: the rest is not acknowledged
    assert len(host.recv(65536)) > 0
    host.close()
    server.close()
