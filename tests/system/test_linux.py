"""Debian 12's armmp kernel, booted to a busybox script under both emulators.

One boot each (a boot costs about a minute of CPU under pyuser-system-arm,
seconds under qemu-system-arm): the script prints a section per check, and
each test reads its own section.  The script's output and the power-off must
be the same under both; the disk section mounts an ext4 image (made with
mke2fs -d) through virtio-blk; the RTC section reads the PL031 with hwclock;
the net section brings eth0 up by DHCP from the user-mode network back end,
pings the gateway, fetches a file from an HTTP server on the host's loopback
through 10.0.2.2, and answers a host client through a host forward (qemu's
own back end is slirp).
"""

from __future__ import annotations

import datetime
import functools
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .linux_guest import build_ext4, build_initramfs, fetch_kernel

ROOT = Path(__file__).resolve().parents[2]
DISK_TEXT = b"read back through virtio-blk\n"
HTTP_TEXT = b"fetched over TCP from the host's loopback\n"
GUEST_PORT = 2222
SCRIPT = """#!/bin/sh
/bin/busybox mkdir -p /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "== script"
echo "6 * 7 = $((6 * 7))"
uname -m
cat /proc/cmdline
grep -E '^CPU (implementer|part|variant|revision)' /proc/cpuinfo
echo "== disk"
for m in virtio_mmio virtio_blk crc16 mbcache jbd2 crc32c_generic ext4; do insmod /lib/modules/$m.ko; done
mount -t ext4 -o ro /dev/vda /mnt && cat /mnt/hello.txt && umount /mnt
echo "== net"
for m in failover net_failover virtio_net; do insmod /lib/modules/$m.ko; done
ifconfig lo up
ifconfig eth0 up
udhcpc -q -n -t 5 -T 2 -i eth0 -s /udhcpc.sh 2>&1 | grep -e "lease of" -e "^bound"
ping -c 1 -W 10 10.0.2.2 | grep transmitted
wget -q -O - http://10.0.2.2:$httpport/hello.txt
echo "from the guest" > /msg
timeout 120 nc -l -p 2222 < /msg > /got &
echo "== hostfwd"
wait
cat /got
echo "== rtc"
hwclock -r -u -f /dev/rtc0
date -u +%s
echo "== end"
poweroff -f
"""
UDHCPC_SCRIPT = """#!/bin/sh
# busybox udhcpc runs this with the lease in the environment (docs: udhcpc's default.script)
if [ "$1" = bound ]; then
    ifconfig "$interface" "$ip" netmask "$subnet" up
    route add default gw "$router" dev "$interface"
    echo "bound $ip/$subnet router $router lease $lease"
fi
"""
APPEND = "console=ttyAMA0 quiet panic=-1"


def sections(output: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in output.replace("\r", "").splitlines():
        if line.startswith("== "):
            current = line[3:]
            out[current] = []
        elif current is not None and not line.startswith("["):  # kernel messages start with [ time ]
            out[current].append(line)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def http_port(tmp_path_factory):
    """An HTTP server on the host's loopback, which the guests reach as 10.0.2.2."""
    root = tmp_path_factory.mktemp("www")
    (root / "hello.txt").write_bytes(HTTP_TEXT)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _talk_to_guest(port: int, deadline: float) -> bytes:
    """Through the host forward: send a line, read the guest's answer (retry until it listens)."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"from the host\n")
                sock.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := sock.recv(4096):
                    answer += chunk
            if answer:
                return answer
        except OSError:
            pass
        time.sleep(1)  # the guest's nc was not listening yet: its reset closed us
    return b""


def _boot(cmd: list[str], host_port: int, timeout: float) -> tuple[subprocess.CompletedProcess, float, bytes]:
    """Run one boot, answering its host-forward step; (result, wall seconds, what the guest sent)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    stderr: list[bytes] = []
    drain = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    drain.start()
    out, answer = b"", b""
    try:
        for line in proc.stdout:
            out += line
            if line.rstrip(b"\r\n") == b"== hostfwd":
                answer = _talk_to_guest(host_port, start + timeout)
        proc.wait()
    finally:
        killer.cancel()
    drain.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, b"".join(stderr)), time.monotonic() - start, answer


@pytest.fixture(scope="module")
def boots(tmp_path_factory, http_port) -> dict[str, tuple[subprocess.CompletedProcess, float, bytes]]:
    try:
        kernel_dir = fetch_kernel()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"could not fetch Debian's armmp kernel: {exc}")
    work = tmp_path_factory.mktemp("linux")
    initrd = build_initramfs(kernel_dir, SCRIPT, work / "initrd.gz",
                             extra={"udhcpc.sh": (0o100755, UDHCPC_SCRIPT.encode())})
    runs = {}
    for name in ("qemu", "pyuser"):
        disk = build_ext4({"hello.txt": DISK_TEXT}, work / name, work / f"{name}.img")
        host_port = _free_port()
        forward = f"hostfwd=tcp:127.0.0.1:{host_port}-:{GUEST_PORT}"
        common = ["-M", "virt", "-m", "256M", "-nographic",
                  "-kernel", str(kernel_dir / "vmlinuz"), "-initrd", str(initrd),
                  "-append", f"{APPEND} httpport={http_port}",
                  "-drive", f"file={disk},format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0"]
        if name == "qemu":
            cmd = ["qemu-system-arm", "-cpu", "cortex-a15", *common,
                   "-netdev", f"user,id=n0,{forward}", "-device", "virtio-net-device,netdev=n0"]
        else:
            # The short form: under qemu-system-arm, -nic user on virt is a
            # virtio-net-pci (virt's default NIC); here it is the same
            # virtio-net-device as the long form above.
            cmd = [sys.executable, "-m", "pyuser.system.cli", *common, "-nic", f"user,{forward}"]
        runs[name] = _boot(cmd, host_port, timeout=600)
        print(f"{name}: boot to power-off {runs[name][1]:.1f} s wall")
    return runs


def test_script_output_and_power_off_match_qemu(boots) -> None:
    qemu, _, _ = boots["qemu"]
    ours, _, _ = boots["pyuser"]
    assert qemu.returncode == 0, qemu.stderr
    assert ours.returncode == 0, ours.stderr.decode(errors="replace")[-2000:]
    expected = sections(qemu.stdout.decode(errors="replace"))
    got = sections(ours.stdout.decode(errors="replace"))
    assert got["script"] == expected["script"]
    assert got["script"][:2] == ["6 * 7 = 42", "armv7l"]
    # the CPU as qemu-system-arm 7.2 shows it: Cortex-A15 r4p0 (Unicorn's own is r2p1)
    cpuinfo = {" ".join(line.split()) for line in got["script"] if line.startswith("CPU ")}
    assert {"CPU part : 0xc0f", "CPU variant : 0x4", "CPU revision : 0"} <= cpuinfo
    assert "end" in got
    assert b"reboot: Power down" in ours.stdout


def test_ext4_on_virtio_blk_reads_back(boots) -> None:
    for name in ("qemu", "pyuser"):
        result, _, _ = boots[name]
        assert sections(result.stdout.decode(errors="replace"))["disk"] == [DISK_TEXT.decode().strip()], name


def test_hwclock_reads_the_pl031(boots) -> None:
    result, _, _ = boots["pyuser"]
    rtc = sections(result.stdout.decode(errors="replace"))["rtc"]
    # busybox hwclock -r -u: "Sat Dec  5 09:30:28 2026  0.000000 seconds"; then date +%s.
    clock = datetime.datetime.strptime(" ".join(rtc[0].split()[:5]), "%a %b %d %H:%M:%S %Y")
    clock = clock.replace(tzinfo=datetime.UTC)
    assert abs(clock.timestamp() - int(rtc[1])) <= 2
    assert abs(clock.timestamp() - time.time()) < 900  # the PL031 counts host time


def test_dhcp_ping_and_tcp_to_the_host_loopback(boots) -> None:
    expected = [
        "udhcpc: lease of 10.0.2.15 obtained from 10.0.2.2, lease time 86400",
        "bound 10.0.2.15/255.255.255.0 router 10.0.2.2 lease 86400",
        "1 packets transmitted, 1 packets received, 0% packet loss",
        HTTP_TEXT.decode().strip(),
    ]
    for name in ("qemu", "pyuser"):
        result, _, _ = boots[name]
        net = sections(result.stdout.decode(errors="replace"))["net"]
        assert sorted(net) == sorted(expected), (name, net)


def test_host_forward_reaches_the_guest(boots) -> None:
    for name in ("qemu", "pyuser"):
        result, _, answer = boots[name]
        assert answer == b"from the guest\n", name
        assert sections(result.stdout.decode(errors="replace"))["hostfwd"] == ["from the host"], name
