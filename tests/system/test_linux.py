"""Debian 12's armmp kernel, booted to a busybox script under both emulators.

One boot each (a boot costs about a minute of CPU under pyuser-system-arm,
seconds under qemu-system-arm): the script prints a section per check, and
each test reads its own section.  The script's output and the power-off must
be the same under both; the disk section mounts an ext4 image (made with
mke2fs -d) through virtio-blk; the RTC section reads the PL031 with hwclock.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .linux_guest import build_ext4, build_initramfs, fetch_kernel

ROOT = Path(__file__).resolve().parents[2]
DISK_TEXT = b"read back through virtio-blk\n"
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
echo "== disk"
for m in virtio_mmio virtio_blk crc16 mbcache jbd2 crc32c_generic ext4; do insmod /lib/modules/$m.ko; done
mount -t ext4 -o ro /dev/vda /mnt && cat /mnt/hello.txt && umount /mnt
echo "== rtc"
hwclock -r -u -f /dev/rtc0
date -u +%s
echo "== end"
poweroff -f
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


@pytest.fixture(scope="module")
def boots(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, float]]:
    try:
        kernel_dir = fetch_kernel()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"could not fetch Debian's armmp kernel: {exc}")
    work = tmp_path_factory.mktemp("linux")
    initrd = build_initramfs(kernel_dir, SCRIPT, work / "initrd.gz")
    runs = {}
    for name in ("qemu", "pyuser"):
        disk = build_ext4({"hello.txt": DISK_TEXT}, work / name, work / f"{name}.img")
        common = ["-M", "virt", "-m", "256M", "-nographic", "-nic", "none",
                  "-kernel", str(kernel_dir / "vmlinuz"), "-initrd", str(initrd), "-append", APPEND,
                  "-drive", f"file={disk},format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0"]
        if name == "qemu":
            cmd = ["qemu-system-arm", "-cpu", "cortex-a15", *common]
        else:
            cmd = [sys.executable, "-m", "pyuser.system.cli", *common]
        start = time.monotonic()
        result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=600,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        runs[name] = (result, time.monotonic() - start)
        print(f"{name}: boot to power-off {runs[name][1]:.1f} s wall")
    return runs


def test_script_output_and_power_off_match_qemu(boots) -> None:
    qemu, _ = boots["qemu"]
    ours, _ = boots["pyuser"]
    assert qemu.returncode == 0, qemu.stderr
    assert ours.returncode == 0, ours.stderr.decode(errors="replace")[-2000:]
    expected = sections(qemu.stdout.decode(errors="replace"))
    got = sections(ours.stdout.decode(errors="replace"))
    assert got["script"] == expected["script"]
    assert got["script"][:2] == ["6 * 7 = 42", "armv7l"]
    assert "end" in got
    assert b"reboot: Power down" in ours.stdout


def test_ext4_on_virtio_blk_reads_back(boots) -> None:
    for name in ("qemu", "pyuser"):
        result, _ = boots[name]
        assert sections(result.stdout.decode(errors="replace"))["disk"] == [DISK_TEXT.decode().strip()], name


def test_hwclock_reads_the_pl031(boots) -> None:
    result, _ = boots["pyuser"]
    rtc = sections(result.stdout.decode(errors="replace"))["rtc"]
    # busybox hwclock -r -u: "Sat Dec  5 09:30:28 2026  0.000000 seconds"; then date +%s.
    clock = datetime.datetime.strptime(" ".join(rtc[0].split()[:5]), "%a %b %d %H:%M:%S %Y")
    clock = clock.replace(tzinfo=datetime.UTC)
    assert abs(clock.timestamp() - int(rtc[1])) <= 2
    assert abs(clock.timestamp() - time.time()) < 900  # the PL031 counts host time
