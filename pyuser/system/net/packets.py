"""Ethernet, ARP, IPv4, ICMP, UDP and TCP headers: parse and build.

Layouts from the RFCs (826 ARP, 791 IPv4, 792 ICMP, 768 UDP, 793 TCP) and
IEEE 802.3 framing; only what the user-mode back end needs (no IP options,
no fragments, no VLAN tags).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ETH_P_IP, ETH_P_ARP = 0x0800, 0x0806
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17
BROADCAST_MAC = b"\xff" * 6
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def ip(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's complement sum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


@dataclass
class IPv4:
    src: bytes
    dst: bytes
    proto: int
    payload: bytes
    ttl: int = 64

    @classmethod
    def parse(cls, packet: bytes) -> IPv4 | None:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return None
        header_len = (packet[0] & 0xF) * 4
        total = struct.unpack("!H", packet[2:4])[0]
        flags_frag = struct.unpack("!H", packet[6:8])[0]
        if flags_frag & 0x3FFF or total < header_len or total > len(packet):
            return None  # fragments (MF set or an offset) are not reassembled
        return cls(packet[12:16], packet[16:20], packet[9], packet[header_len:total], packet[8])

    def build(self, ident: int = 0) -> bytes:
        header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(self.payload), ident & 0xFFFF,
                             0x4000, self.ttl, self.proto, 0, self.src, self.dst)  # DF set
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        return header + self.payload


def pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    return src + dst + struct.pack("!BBH", 0, proto, length)


def udp(src: bytes, sport: int, dst: bytes, dport: int, data: bytes) -> bytes:
    header = struct.pack("!HHHH", sport, dport, 8 + len(data), 0)
    csum = checksum(pseudo_header(src, dst, IPPROTO_UDP, 8 + len(data)) + header + data) or 0xFFFF
    return header[:6] + struct.pack("!H", csum) + data


@dataclass
class Tcp:
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    data: bytes = b""
    mss: int | None = None

    @classmethod
    def parse(cls, segment: bytes) -> Tcp | None:
        if len(segment) < 20:
            return None
        sport, dport, seq, ack, off, flags, window = struct.unpack("!HHIIBBH", segment[:16])
        data_at = (off >> 4) * 4
        if data_at < 20 or data_at > len(segment):
            return None
        mss = None
        options = segment[20:data_at]
        i = 0
        while i < len(options):
            kind = options[i]
            if kind == 0:
                break
            if kind == 1:
                i += 1
                continue
            if i + 1 >= len(options) or options[i + 1] < 2:
                break
            if kind == 2 and options[i + 1] == 4:
                mss = struct.unpack("!H", options[i + 2:i + 4])[0]
            i += options[i + 1]
        return cls(sport, dport, seq, ack, flags & 0x3F, window, segment[data_at:], mss)

    def build(self, src: bytes, dst: bytes) -> bytes:
        options = struct.pack("!BBH", 2, 4, self.mss) if self.mss is not None else b""
        header = struct.pack("!HHIIBBHHH", self.sport, self.dport, self.seq & 0xFFFFFFFF, self.ack & 0xFFFFFFFF,
                             (20 + len(options)) // 4 << 4, self.flags, self.window, 0, 0) + options
        length = len(header) + len(self.data)
        csum = checksum(pseudo_header(src, dst, IPPROTO_TCP, length) + header + self.data)
        return header[:16] + struct.pack("!H", csum) + header[18:] + self.data
